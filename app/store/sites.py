"""One station once (issue 12): records of different sources that describe the same site become
one location.

``merge_sites`` recomputes every merge from the records as they are now, so the outcome does
not depend on the order in which sources were imported or pulled: candidates are the records
within ``MAX_DISTANCE_M`` (found through their H3 resolution-9 cells, ~174 m edges, and the
cells around them), scored by ``app.domain.matching``; the pairs that reach the threshold form
sites, best pair first. Each site's head (live OCPI first) answers for it; every other record
of the site points at it (``merged_into``) and is hidden, and the head lists what each of them
says in ``merged_sources``. Only the rows whose merge changed are written, and their search
projection is refreshed, so a second run over unchanged data writes nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import h3
import msgspec
from psycopg.rows import dict_row

from app.domain import matching
from app.domain.matching import Match, SiteRecord
from app.domain.sources import licence_of, source_name
from app.logs import get_logger
from app.store import locks
from app.store.core import Db, Store, Tx, using
from app.store.locations import refresh_projection

log = get_logger(__name__)

_RECORDS = """
SELECT l.id, l.network_id, n.name AS network_name, n.kind, l.ocpi_id_raw, l.public_id, l.name,
       l.operator_name, l.address, l.postal_code, l.lat, l.lon, l.h3_r9, l.evse_count,
       l.connector_standards, l.max_power_kw, l.own_updated_at
FROM locations l JOIN networks n ON n.id = l.network_id
WHERE l.publish AND l.absent_since IS NULL AND l.evse_count > 0
"""


@dataclass
class MergeReport:
    records: int = 0
    candidates: int = 0
    sites: int = 0  # sites of more than one record
    merged: int = 0  # records merged into another
    changed: int = 0  # rows whose merge changed in this run
    seconds: float = 0.0
    busy: bool = False  # another process was merging: nothing done


def _record(row: dict[str, Any]) -> SiteRecord:
    standards = frozenset(s for s in row["connector_standards"] or () if s != "UNKNOWN")
    return SiteRecord(
        pk=row["id"],
        network_id=row["network_id"],
        source=source_name(row["network_name"], row["kind"]),
        live=row["kind"] != "registry",
        record_id=row["ocpi_id_raw"],
        name=row["name"],
        operator=row["operator_name"],
        address=row["address"],
        postal_code=row["postal_code"],
        lat=row["lat"],
        lon=row["lon"],
        evse_count=row["evse_count"],
        standards=standards,
        max_power_kw=row["max_power_kw"],
        updated_at=row["own_updated_at"],
        details_known=bool(standards) or row["max_power_kw"] is not None,
    )


def _cell(h3_r9: int) -> str:
    return str(h3.int_to_str(h3_r9))


def candidate_matches(records: Sequence[SiteRecord], cells: dict[int, int]) -> list[Match]:
    """Every pair that may merge within ``MAX_DISTANCE_M``, scored (``cells``: pk → H3 r9)."""
    by_cell: dict[int, list[SiteRecord]] = defaultdict(list)
    for record in records:
        by_cell[cells[record.pk]].append(record)
    around: dict[int, list[int]] = {}
    matches = []
    for record in records:
        if record.live:
            continue  # pairs are found from their registry record
        cell = cells[record.pk]
        if cell not in around:
            around[cell] = [h3.str_to_int(c) for c in h3.grid_disk(_cell(cell), 1)]
        for near in around[cell]:
            for other in by_cell.get(near, ()):
                if other.pk == record.pk or (not other.live and other.pk < record.pk):
                    continue  # each registry pair once
                if not matching.may_merge(record, other):
                    continue
                d = matching.distance_m(record.lat, record.lon, other.lat, other.lon)
                if d <= matching.MAX_DISTANCE_M:
                    matches.append(matching.score(record, other))
    return matches


def claim(record: SiteRecord, row: dict[str, Any], match: Match | None) -> dict[str, Any]:
    """What one merged record says, as the head's ``merged_sources`` keeps it."""
    out: dict[str, Any] = {
        "source": record.source,
        "record_id": record.record_id,
        "location_id": row["public_id"],
        "name": record.name,
        "coordinates": {"lat": record.lat, "lon": record.lon},
        "licence": licence_of(row["network_name"], row["kind"]),
        "updated_at": record.updated_at,
        "address": record.address,
        "postal_code": record.postal_code,
        "operator": record.operator,
        "evse_count": record.evse_count if record.details_known else None,
        "max_power_kw": record.max_power_kw,
        "connector_standards": sorted(record.standards),
    }
    if match is not None:
        out["match_score"] = match.score
        out["distance_m"] = round(match.distance_m, 1)
    return out


async def _rows(db: Db, where: str = "", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    async with using(db) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_RECORDS + where, params)
        return await cur.fetchall()


def _near_cells(rows: list[dict[str, Any]]) -> list[int]:
    return list({h3.str_to_int(c) for row in rows for c in h3.grid_disk(_cell(row["h3_r9"]), 1)})


Wanted = tuple[dict[int, tuple[int, float]], dict[int, list[dict[str, Any]]]]


def _plan(rows: list[dict[str, Any]], report: MergeReport) -> Wanted:
    """Who is merged into whom, and what each head lists (pure CPU work)."""
    by_pk = {row["id"]: row for row in rows}
    records = [_record(row) for row in rows]
    cells = {row["id"]: row["h3_r9"] for row in rows}
    matches = candidate_matches(records, cells)
    report.records, report.candidates = len(records), len(matches)
    best: dict[frozenset[int], Match] = {frozenset((m.a.pk, m.b.pk)): m for m in matches}
    wanted_into: dict[int, tuple[int, float]] = {}
    wanted_sources: dict[int, list[dict[str, Any]]] = {}
    for site in matching.clusters(records, matches):
        head, *others = site
        report.sites += 1
        claims = []
        for other in others:
            link = best[frozenset((head.pk, other.pk))]  # every pair of a site matched
            wanted_into[other.pk] = (head.pk, link.score)
            claims.append(claim(other, by_pk[other.pk], link))
        wanted_sources[head.pk] = claims
    report.merged = len(wanted_into)
    return wanted_into, wanted_sources


async def last_change(store: Store) -> datetime | None:
    """When a location was last written (the scheduler merges again only after a change)."""
    async with store.connection() as conn, conn.cursor() as cur:
        await cur.execute("SELECT max(received_at) FROM locations")
        row = await cur.fetchone()
    return row[0] if row else None


async def merge_sites(store: Store) -> MergeReport:
    """Recompute every merge, in one transaction, one process at a time. The scoring runs in a
    thread: in an API process, the event loop keeps answering meanwhile (the GIL is handed
    over every few milliseconds) instead of stalling for the whole merge."""
    started = time.perf_counter()
    report = MergeReport()
    async with store.transaction() as tx:
        if not await locks.try_transaction_lock(tx, locks.SITE_MERGE):
            report.busy = True
            return report
        # The registries' records, then every other record in or around their cells.
        rows = await _rows(tx, " AND n.kind = 'registry'")
        if rows:
            near = await asyncio.to_thread(_near_cells, rows)
            around = " AND n.kind <> 'registry' AND l.h3_r9 = ANY(%s)"
            rows += await _rows(tx, around, (near,))
        wanted_into, wanted_sources = await asyncio.to_thread(_plan, rows, report)
        report.changed = await _write(tx, wanted_into, wanted_sources)
    report.seconds = round(time.perf_counter() - started, 2)
    log.info("sites.merged", **vars(report))
    return report


async def _write(
    tx: Tx,
    wanted_into: dict[int, tuple[int, float]],
    wanted_sources: dict[int, list[dict[str, Any]]],
) -> int:
    async with tx.conn.cursor() as cur:
        await cur.execute(
            "SELECT id, merged_into, merged_sources FROM locations "
            "WHERE merged_into IS NOT NULL OR merged_sources IS NOT NULL"
        )
        current = {row[0]: (row[1], row[2]) for row in await cur.fetchall()}
        ids = set(current) | set(wanted_into) | set(wanted_sources)
        into_changed, sources_changed = [], []
        for pk in ids:
            into, sources = current.get(pk, (None, None))
            want_into = wanted_into.get(pk, (None, None))
            if into != want_into[0]:
                into_changed.append((pk, *want_into))
            want_sources = wanted_sources.get(pk)
            encoded = msgspec.json.decode(msgspec.json.encode(want_sources))
            if sources != encoded:
                sources_changed.append((pk, msgspec.json.encode(want_sources).decode()))
        touched = sorted({c[0] for c in into_changed} | {c[0] for c in sources_changed})
        if touched:
            # Rows locked in id order first, as one statement: no deadlock with a writer that
            # locks the same rows in another order mid-way through our updates.
            await cur.execute(
                "SELECT id FROM locations WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (touched,)
            )
        if into_changed:
            await cur.execute(
                """
                UPDATE locations l SET merged_into = d.head, merge_score = d.score
                FROM unnest(%s::bigint[], %s::bigint[], %s::float8[]) AS d(id, head, score)
                WHERE l.id = d.id
                """,
                (
                    [c[0] for c in into_changed],
                    [c[1] for c in into_changed],
                    [c[2] for c in into_changed],
                ),
            )
        if sources_changed:
            await cur.execute(
                """
                UPDATE locations l SET merged_sources = d.sources::jsonb
                FROM unnest(%s::bigint[], %s::text[]) AS d(id, sources)
                WHERE l.id = d.id
                """,
                ([c[0] for c in sources_changed], [c[1] for c in sources_changed]),
            )
    changed = sorted({c[0] for c in into_changed})
    for start in range(0, len(changed), 2000):
        await refresh_projection(tx, changed[start : start + 2000])
    # A head whose merged records changed shows other sources and filled fields: the change
    # feed (and what follows it: offline copies, the nearby index) hears of it too.
    sources_only = sorted({c[0] for c in sources_changed} - set(changed))
    tx.record("location", sources_only)
    return len(changed) + len(sources_only)


# ---- explaining ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    record: SiteRecord
    location_id: str
    match: Match
    merged_into: str | None  # the location id it is merged into, if any


@dataclass(frozen=True)
class Explanation:
    record: SiteRecord
    location_id: str
    merged_into: str | None
    candidates: list[Candidate]


async def explain(db: Db, public_id: str) -> Explanation | None:
    """The record, every candidate within ``MAX_DISTANCE_M`` that may merge with it, and each
    candidate's evidence (``wattlas sources explain``)."""
    rows = await _rows(db, " AND l.public_id = %s", (public_id,))
    if not rows:
        return None
    row = rows[0]
    record = _record(row)
    near = [h3.str_to_int(c) for c in h3.grid_disk(_cell(row["h3_r9"]), 1)]
    others = await _rows(db, " AND l.h3_r9 = ANY(%s) AND l.id <> %s", (near, row["id"]))
    async with using(db) as conn, conn.cursor() as cur:
        await cur.execute(
            "SELECT l.id, h.public_id FROM locations l JOIN locations h ON h.id = l.merged_into "
            "WHERE l.id = ANY(%s)",
            ([row["id"], *(o["id"] for o in others)],),
        )
        heads: dict[int, str] = {pk: head for pk, head in await cur.fetchall()}
    candidates = []
    for other_row in others:
        other = _record(other_row)
        if not matching.may_merge(record, other):
            continue
        match = matching.score(record, other)
        if match.distance_m <= matching.MAX_DISTANCE_M:
            candidates.append(Candidate(other, other_row["public_id"], match, heads.get(other.pk)))
    candidates.sort(key=lambda c: -c.match.score)
    return Explanation(record, row["public_id"], heads.get(record.pk), candidates)
