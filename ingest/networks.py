"""Networks we exchange OCPI with (or load dumps from): their parties, tokens and health."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb


@dataclass(frozen=True, slots=True)
class Party:
    country_code: str
    party_id: str
    role: str = "CPO"
    name: str | None = None

    @classmethod
    def parse(cls, text: str) -> Party:
        """``CC*PID`` (also ``CC-PID`` or ``CCPID``), as operators type it."""
        cleaned = text.strip().upper()
        for sep in ("*", "-", " "):
            if sep in cleaned:
                cc, pid = cleaned.split(sep, 1)
                break
        else:
            cc, pid = cleaned[:2], cleaned[2:]
        if len(cc) != 2 or not cc.isalpha() or not 1 <= len(pid) <= 3 or not pid.isalnum():
            raise ValueError(f"party must look like CC*PID (e.g. NL*FLA), got {text!r}")
        return cls(cc, pid)

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id}"


@dataclass(frozen=True, slots=True)
class NetworkAuth:
    """Who a presented token belongs to, and which parties it may write."""

    network_id: int
    name: str
    status: str
    token_kind: str
    ocpi_version: str | None
    parties: frozenset[tuple[str, str]]

    def may_write(self, country_code: str, party_id: str) -> bool:
        return (country_code.upper(), party_id.upper()) in self.parties


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def generate_token() -> str:
    """A credentials token: printable non-whitespace ASCII, at most 64 characters (OCPI 2.2.1)."""
    return secrets.token_urlsafe(32)


class NetworkExists(ValueError):
    pass


class UnknownNetwork(LookupError):
    pass


async def create_network(
    conn: AsyncConnection,
    name: str,
    *,
    kind: str = "ocpi",
    status: str,
    ocpi_version: str | None = None,
    versions_url: str | None = None,
) -> int:
    async with conn.cursor() as cur:
        await cur.execute(
            """
            INSERT INTO networks (name, kind, status, ocpi_version, versions_url)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (name) DO NOTHING
            RETURNING id
            """,
            (name, kind, status, ocpi_version, versions_url),
        )
        row = await cur.fetchone()
    if row is None:
        raise NetworkExists(f"a network named {name!r} exists already")
    return int(row[0])


async def ensure_file_network(conn: AsyncConnection, name: str) -> int:
    async with conn.cursor() as cur:
        await cur.execute(
            """
            INSERT INTO networks (name, kind, status) VALUES (%s, 'file', 'FILE')
            ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
            RETURNING id
            """,
            (name,),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def network_id_by_name(conn: AsyncConnection, name: str) -> int:
    async with conn.cursor() as cur:
        await cur.execute("SELECT id FROM networks WHERE name = %s", (name,))
        row = await cur.fetchone()
    if row is None:
        raise UnknownNetwork(f"no network named {name!r}")
    return int(row[0])


async def get_network(conn: AsyncConnection, network_id: int) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT * FROM networks WHERE id = %s", (network_id,))
        row = await cur.fetchone()
    if row is None:
        raise UnknownNetwork(f"no network with id {network_id}")
    return row


async def set_parties(
    conn: AsyncConnection, network_id: int, parties: list[Party], *, replace: bool = True
) -> None:
    async with conn.cursor() as cur:
        if replace:
            await cur.execute("DELETE FROM network_parties WHERE network_id = %s", (network_id,))
        for party in parties:
            await cur.execute(
                """
                INSERT INTO network_parties (network_id, country_code, party_id, role, name)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (network_id, country_code, party_id)
                DO UPDATE SET role = EXCLUDED.role,
                              name = coalesce(EXCLUDED.name, network_parties.name)
                """,
                (network_id, party.country_code, party.party_id, party.role, party.name),
            )


async def add_token(conn: AsyncConnection, network_id: int, token: str, kind: str) -> None:
    await conn.execute(
        "INSERT INTO network_tokens (token_sha256, network_id, kind) VALUES (%s, %s, %s)",
        (hash_token(token), network_id, kind),
    )


async def revoke_tokens(conn: AsyncConnection, network_id: int, kind: str | None = None) -> None:
    await conn.execute(
        """
        UPDATE network_tokens SET revoked_at = now()
        WHERE network_id = %s AND revoked_at IS NULL AND (%s::text IS NULL OR kind = %s)
        """,
        (network_id, kind, kind),
    )


async def authenticate(conn: AsyncConnection, candidates: list[str]) -> NetworkAuth | None:
    """The network one of the candidate tokens belongs to (not revoked), with its parties."""
    if not candidates:
        return None
    async with conn.cursor() as cur:
        await cur.execute(
            """
            SELECT n.id, n.name, n.status, t.kind, n.ocpi_version,
                   coalesce(array_agg(p.country_code || '*' || p.party_id)
                            FILTER (WHERE p.party_id IS NOT NULL), '{}')
            FROM network_tokens t
            JOIN networks n ON n.id = t.network_id
            LEFT JOIN network_parties p ON p.network_id = n.id
            WHERE t.token_sha256 = ANY(%s) AND t.revoked_at IS NULL AND n.status <> 'REVOKED'
            GROUP BY n.id, t.kind
            LIMIT 1
            """,
            ([hash_token(c) for c in candidates],),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    parties = frozenset(tuple(p.split("*", 1)) for p in row[5])
    return NetworkAuth(row[0], row[1], row[2], row[3], row[4], parties)


async def touch(
    conn: AsyncConnection, network_id: int, *, push: bool = False, at: datetime | None = None
) -> None:
    """Record contact with a network (staleness of its statuses is measured from this)."""
    await conn.execute(
        """
        UPDATE networks
        SET last_contact_at = greatest(last_contact_at, coalesce(%(at)s, now())),
            last_push_at = CASE WHEN %(push)s THEN coalesce(%(at)s, now()) ELSE last_push_at END
        WHERE id = %(id)s
        """,
        {"id": network_id, "push": push, "at": at},
    )


async def update_registration(
    conn: AsyncConnection,
    network_id: int,
    *,
    status: str,
    ocpi_version: str,
    versions_url: str | None,
    endpoints: list[dict[str, Any]],
    outbound_token: str | None,
    outbound_auth: str,
    business_details: dict[str, Any] | None,
) -> None:
    await conn.execute(
        """
        UPDATE networks
        SET status = %s, ocpi_version = %s, versions_url = %s, endpoints = %s,
            outbound_token = %s, outbound_auth = %s, business_details = %s,
            last_contact_at = now(), revoked_at = NULL
        WHERE id = %s
        """,
        (
            status,
            ocpi_version,
            versions_url,
            Jsonb(endpoints),
            outbound_token,
            outbound_auth,
            Jsonb(business_details) if business_details is not None else None,
            network_id,
        ),
    )


class NetworkSummary(msgspec.Struct, kw_only=True):
    name: str
    kind: str
    status: str
    ocpi_version: str | None
    parties: list[str]
    last_pull_ok_at: datetime | None
    last_full_pull_ok_at: datetime | None
    last_push_at: datetime | None
    last_contact_at: datetime | None
    last_pull_error: str | None
    locations: int
    visible_locations: int
    evses: int
    quarantined: int
    notes: int
    healthy: bool
    health: str


async def list_networks(conn: AsyncConnection, *, stale_after_s: int) -> list[NetworkSummary]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT n.*,
                   coalesce((SELECT array_agg(p.country_code || '*' || p.party_id
                                              ORDER BY p.country_code, p.party_id)
                             FROM network_parties p WHERE p.network_id = n.id), '{}') AS parties,
                   (SELECT count(*) FROM locations l WHERE l.network_id = n.id) AS locations,
                   (SELECT count(*) FROM locations l WHERE l.network_id = n.id AND l.visible)
                       AS visible_locations,
                   (SELECT coalesce(sum(l.evse_count), 0) FROM locations l
                    WHERE l.network_id = n.id) AS evses,
                   (SELECT count(*) FROM quarantine q
                    WHERE q.network_id = n.id AND q.severity = 'rejected') AS quarantined,
                   (SELECT count(*) FROM quarantine q
                    WHERE q.network_id = n.id AND q.severity = 'note') AS notes,
                   extract(epoch FROM now() - n.last_contact_at) AS silent_s
            FROM networks n
            ORDER BY n.name
            """
        )
        rows = await cur.fetchall()
    out = []
    for r in rows:
        healthy, health = _health(r, stale_after_s)
        out.append(
            NetworkSummary(
                name=r["name"],
                kind=r["kind"],
                status=r["status"],
                ocpi_version=r["ocpi_version"],
                parties=list(r["parties"]),
                last_pull_ok_at=r["last_pull_ok_at"],
                last_full_pull_ok_at=r["last_full_pull_ok_at"],
                last_push_at=r["last_push_at"],
                last_contact_at=r["last_contact_at"],
                last_pull_error=r["last_pull_error"],
                locations=r["locations"],
                visible_locations=r["visible_locations"],
                evses=int(r["evses"]),
                quarantined=r["quarantined"],
                notes=r["notes"],
                healthy=healthy,
                health=health,
            )
        )
    return out


def _health(row: dict[str, Any], stale_after_s: int) -> tuple[bool, str]:
    if row["status"] == "REVOKED":
        return False, "revoked"
    if row["kind"] == "file":
        return True, "static dump (statuses are a snapshot, never live)"
    if row["status"] in ("INVITED", "PENDING"):
        return False, "registration not completed"
    limit = row["stale_after_s"] or stale_after_s
    silent = row["silent_s"]
    if silent is None:
        return False, "never in contact"
    if row["last_pull_error"] and row["last_pull_ok_at"] is None:
        return False, f"pull failing: {row['last_pull_error']}"
    if silent > limit:
        return False, f"silent for {int(silent)} s (limit {limit} s): statuses are stale"
    if row["last_pull_error"]:
        return True, f"live; last pull failed: {row['last_pull_error']}"
    return True, "live"
