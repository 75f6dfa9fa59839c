"""Registry imports (issue 12): the registry networks and one row per ``wattlas import`` run,
and what ``GET /v1/sources`` reports per source. Each run's ``files`` (JSON) holds, per file,
its name, SHA-256 and size, and once the run is done what its sites' pricing text gave
(``pricing``, issue 13)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from psycopg.rows import dict_row

from app.store.core import Db, Store, Tx, discovery_read, using


class PricingFacts(msgspec.Struct):
    """The pricing text of a file's (or an import's) sites, as the importer stored it."""

    sites_with_text: int = 0
    parsed: int = 0  # read into a tariff
    unparsed: int = 0  # kept as text, with the reason it could not be read
    unparsed_reasons: dict[str, int] = msgspec.field(default_factory=dict)  # reason class → sites

    def add(self, other: PricingFacts) -> None:
        self.sites_with_text += other.sites_with_text
        self.parsed += other.parsed
        self.unparsed += other.unparsed
        for reason, count in other.unparsed_reasons.items():
            self.unparsed_reasons[reason] = self.unparsed_reasons.get(reason, 0) + count

    def top_reasons(self, n: int = 5) -> list[tuple[str, int]]:
        return sorted(self.unparsed_reasons.items(), key=lambda rc: (-rc[1], rc[0]))[:n]


async def ensure_registry_network(db: Db, name: str) -> int:
    async with using(db) as conn, conn.cursor() as cur:
        await cur.execute(
            """
            INSERT INTO networks (name, kind, status) VALUES (%s, 'registry', 'FILE')
            ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
            RETURNING id, kind
            """,
            (name,),
        )
        row = await cur.fetchone()
    assert row is not None
    if row[1] != "registry":
        raise ValueError(f"network {name!r} exists and is not a registry ({row[1]})")
    return int(row[0])


async def start(db: Db, network_id: int, files: list[dict[str, Any]]) -> int:
    async with using(db) as conn, conn.cursor() as cur:
        await cur.execute(
            "INSERT INTO source_imports (network_id, files) VALUES (%s, %s::jsonb) RETURNING id",
            (network_id, msgspec.json.encode(files).decode()),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def finish(
    db: Db,
    import_id: int,
    *,
    error: str | None = None,
    files: list[dict[str, Any]] | None = None,
    **counts: int,
) -> None:
    """The run's end: its counts, and ``files`` (when given) replacing the file facts."""
    files_json = msgspec.json.encode(files).decode() if files is not None else None
    async with using(db) as conn:
        await conn.execute(
            """
            UPDATE source_imports SET
                status = CASE WHEN %(error)s::text IS NULL THEN 'complete' ELSE 'failed' END,
                files = coalesce(%(files)s::jsonb, files),
                finished_at = now(), error = %(error)s, rows = %(rows)s, records = %(records)s,
                accepted = %(accepted)s, unchanged = %(unchanged)s,
                skipped_older = %(skipped_older)s, quarantined = %(quarantined)s
            WHERE id = %(id)s
            """,
            {"id": import_id, "error": error, "files": files_json, **counts},
        )


async def last_complete_files(db: Db, network_id: int) -> list[dict[str, Any]] | None:
    async with using(db) as conn, conn.cursor() as cur:
        await cur.execute(
            "SELECT files FROM source_imports WHERE network_id = %s AND status = 'complete' "
            "ORDER BY started_at DESC LIMIT 1",
            (network_id,),
        )
        row = await cur.fetchone()
    return row[0] if row else None


class SourceCounts(msgspec.Struct):
    name: str
    kind: str
    locations: int  # records stored
    visible: int  # shown (not merged, not hidden)
    merged: int  # merged into another source's record of the site
    quarantined: int  # rejected records and rows
    last_import_at: datetime | None
    last_import_status: str | None
    last_import_files: list[Any] | None

    @property
    def last_import_pricing(self) -> PricingFacts | None:
        """The last import's pricing facts, summed over its files (None: it recorded none)."""
        files = self.last_import_files or []
        facts = [f["pricing"] for f in files if isinstance(f, dict) and f.get("pricing")]
        if not facts:
            return None
        total = PricingFacts()
        for fact in facts:
            total.add(msgspec.convert(fact, PricingFacts))
        return total


@discovery_read
async def counts(store: Store) -> list[SourceCounts]:
    """Every source (registries, and OCPI networks with locations) with its record counts and
    last import (a driver-facing read: the discovery pool)."""
    async with store.discovery_connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT n.name, n.kind,
                   coalesce(l.locations, 0) AS locations, coalesce(l.visible, 0) AS visible,
                   coalesce(l.merged, 0) AS merged,
                   -- a registry: its last import's (a re-import re-records its rows' reasons)
                   CASE WHEN n.kind = 'registry' THEN coalesce(i.quarantined, 0)
                        ELSE coalesce(q.quarantined, 0) END AS quarantined,
                   coalesce(i.finished_at, i.started_at) AS last_import_at,
                   i.status AS last_import_status, i.files AS last_import_files
            FROM networks n
            LEFT JOIN LATERAL (
                SELECT count(*) AS locations, count(*) FILTER (WHERE visible) AS visible,
                       count(*) FILTER (WHERE merged_into IS NOT NULL) AS merged
                FROM locations WHERE network_id = n.id
            ) l ON true
            LEFT JOIN LATERAL (
                SELECT count(*) AS quarantined FROM quarantine
                WHERE network_id = n.id AND severity = 'rejected'
                  AND object_kind IN ('location', 'row', 'page')
            ) q ON true
            LEFT JOIN LATERAL (
                SELECT started_at, finished_at, status, files, quarantined FROM source_imports
                WHERE network_id = n.id ORDER BY started_at DESC LIMIT 1
            ) i ON true
            WHERE n.status <> 'REVOKED' AND (n.kind = 'registry' OR l.locations > 0)
            ORDER BY n.kind = 'registry' DESC, n.name
            """
        )
        rows = await cur.fetchall()
    return [msgspec.convert(r, SourceCounts) for r in rows]


async def remove_registry(db: Db, name: str) -> int:
    """Every record of a registry, its tariffs, its quarantine and its runs (the benchmark's
    clean-up); the locations removed."""
    async with using(db) as conn, conn.cursor() as cur:
        await cur.execute("SELECT id FROM networks WHERE name = %s AND kind = 'registry'", (name,))
        row = await cur.fetchone()
        if row is None:
            return 0
        network_id = row[0]
        if isinstance(db, Tx):
            # Tombstones in the change feed, written while the rows still say their ids.
            await cur.execute(
                "SELECT id FROM locations WHERE network_id = %s AND visible", (network_id,)
            )
            db.record("removed", [r[0] for r in await cur.fetchall()])
            await cur.execute(
                "SELECT id FROM tariffs WHERE network_id = %s AND deleted_at IS NULL",
                (network_id,),
            )
            db.record_tariffs([r[0] for r in await cur.fetchall()])
            await db.write_changes()
        await cur.execute(
            "UPDATE locations SET merged_into = NULL, merged_sources = NULL "
            "WHERE merged_into IN (SELECT id FROM locations WHERE network_id = %s)",
            (network_id,),
        )
        await cur.execute("DELETE FROM locations WHERE network_id = %s", (network_id,))
        removed = cur.rowcount
        await cur.execute("DELETE FROM quarantine WHERE network_id = %s", (network_id,))
        # Its tariffs (issue 13: its sites' pricing text); their FK has no cascade.
        await cur.execute("DELETE FROM tariffs WHERE network_id = %s", (network_id,))
        await cur.execute("DELETE FROM network_parties WHERE network_id = %s", (network_id,))
        await cur.execute("DELETE FROM networks WHERE id = %s", (network_id,))
    return removed
