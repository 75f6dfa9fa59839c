"""What ``/health`` and the CLI ask the database itself."""

from __future__ import annotations

from app.store.core import Db, Store, using


async def schema_revision(store: Store) -> str | None:
    """The Alembic revision the database is at (None: no schema yet)."""
    async with store.connection() as conn:
        cur = await conn.execute(
            "SELECT version_num FROM alembic_version"
            " WHERE to_regclass('alembic_version') IS NOT NULL"
        )
        row = await cur.fetchone()
    return str(row[0]) if row else None


async def location_count(db: Db) -> int:
    async with using(db) as conn:
        cur = await conn.execute("SELECT count(*) FROM locations")
        row = await cur.fetchone()
    return int(row[0]) if row else 0
