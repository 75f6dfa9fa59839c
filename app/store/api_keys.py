"""API keys of the public API (issue 11; table ``api_keys``, migration 0005).

A key is stored as its SHA-256 only: a key is 256 random bits, so its hash can neither be
reversed nor guessed, and a fast hash lets every request be checked cheaply (a password hash
such as bcrypt exists to slow down guessing low-entropy secrets, which keys are not). What a
listing shows is the prefix. Usage counters live in Redis (``app.access.quota``).
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from psycopg.rows import class_row

from app.store.core import Db, using
from app.store.errors import NotFound


class ApiKey(msgspec.Struct, frozen=True):
    id: int
    name: str
    key_prefix: str
    rate_per_min: int
    daily_quota: int
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


_COLUMNS = "id, name, key_prefix, rate_per_min, daily_quota, created_at, rotated_at, revoked_at"


async def create(
    db: Db, *, name: str, key_sha256: bytes, key_prefix: str, rate_per_min: int, daily_quota: int
) -> ApiKey:
    """A new key; ``Duplicate`` (from the error boundary) when the name is taken."""
    async with using(db) as conn, conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(
            f"""
            INSERT INTO api_keys (name, key_sha256, key_prefix, rate_per_min, daily_quota)
            VALUES (%s, %s, %s, %s, %s)
            RETURNING {_COLUMNS}
            """,
            (name, key_sha256, key_prefix, rate_per_min, daily_quota),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def by_hash(db: Db, key_sha256: bytes) -> ApiKey | None:
    """The key with this hash (revoked ones too: the caller says why it refuses), or None."""
    async with using(db) as conn, conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_sha256 = %s", (key_sha256,))
        return await cur.fetchone()


async def by_name(db: Db, name: str) -> ApiKey:
    async with using(db) as conn, conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE name = %s", (name,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no API key named {name!r}")
    return row


async def all_keys(db: Db) -> list[ApiKey]:
    async with using(db) as conn, conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY name")
        return await cur.fetchall()


async def rotate(db: Db, name: str, *, key_sha256: bytes, key_prefix: str) -> ApiKey:
    """The key gets a new secret; the old one stops working. Its limits and counters stay."""
    async with using(db) as conn, conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(
            f"""
            UPDATE api_keys SET key_sha256 = %s, key_prefix = %s, rotated_at = now()
            WHERE name = %s AND revoked_at IS NULL
            RETURNING {_COLUMNS}
            """,
            (key_sha256, key_prefix, name),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no API key named {name!r} that is not revoked")
    return row


async def revoke(db: Db, name: str) -> ApiKey:
    """The key stops working (it stays listed, with when it was revoked)."""
    async with using(db) as conn, conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(
            f"""
            UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
            WHERE name = %s
            RETURNING {_COLUMNS}
            """,
            (name,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no API key named {name!r}")
    return row
