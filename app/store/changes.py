"""The change feed and the snapshot it starts from (issue 14): what carmakers' offline copies and
downstream platforms read to stay in step with us.

Every writing transaction appends what it changed to ``change_queue`` as its last statement
(``Tx.record``); ``sequence`` numbers what is committed into ``changes`` (migration 0011 says
why that keeps exactly-once and each location's order). Here they are read back with what each
location or tariff is now, and the snapshot streams every visible location from one database
snapshot together with the feed position it is consistent with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, NamedTuple

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from app.domain.tariffs import tax_included
from app.store.core import Db, Store, using
from app.store.detail import Found, read_details


class Change(NamedTuple):
    seq: int
    kind: str  # location | removed | availability | tariff
    location_pk: int | None
    public_id: str | None  # a location's public id, or a tariff's CC*PARTY*ID
    tariff_pk: int | None
    committed_at: datetime


class Horizon(NamedTuple):
    pruned_through: int  # a cursor before this has missed changes
    last: int  # the newest committed change (0: none yet)


async def sequence(db: Db) -> int:
    """Number every committed change of the queue; how many (-1: another process is at it)."""
    async with using(db) as conn:
        cur = await conn.execute("SELECT wattlas_sequence_changes()")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def horizon(db: Db | AsyncConnection) -> Horizon:
    async with _conn(db) as conn:
        cur = await conn.execute(
            "SELECT h.pruned_through, coalesce((SELECT max(seq) FROM changes), h.pruned_through)"
            " FROM changes_horizon h"
        )
        row = await cur.fetchone()
    return Horizon(int(row[0]), int(row[1])) if row else Horizon(0, 0)


async def read_changes(store: Store, after: int, limit: int) -> list[Change]:
    """The committed changes after number ``after``, oldest first."""
    async with store.discovery_connection(on_primary=True) as conn:
        cur = await conn.execute(
            "SELECT seq, kind, location_pk, public_id, tariff_pk, committed_at FROM changes"
            " WHERE seq > %s ORDER BY seq LIMIT %s",
            (after, limit),
        )
        return [Change(*row) for row in await cur.fetchall()]


async def newest_change(store: Store) -> int:
    async with store.discovery_connection(on_primary=True) as conn:
        cur = await conn.execute("SELECT coalesce(max(seq), 0) FROM changes")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def details(
    store: Store, location_pks: Sequence[int], now: datetime, stale_after_s: int
) -> dict[int, Found]:
    """The detail rows of those of these locations that are visible, by primary key."""
    if not location_pks:
        return {}
    async with store.discovery_connection(on_primary=True) as conn:
        found = await read_details(
            conn, "l.id = ANY(%(ids)s)", {"ids": list(location_pks)}, now, stale_after_s
        )
    return {f[0]["pk"]: f for f in found}


async def availability(store: Store, location_pks: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Counts and each visible EVSE's status of those of these locations that are visible."""
    if not location_pks:
        return {}
    async with (
        store.discovery_connection(on_primary=True) as conn,
        conn.cursor(row_factory=dict_row) as cur,
    ):
        await cur.execute(
            """
            SELECT l.id AS pk, l.public_id, l.evse_count, l.available_count, l.occupied_count,
                   l.out_of_service_count, l.unknown_count, l.planned_count, l.status_updated_at,
                   l.last_updated,
                   coalesce((SELECT jsonb_agg(jsonb_build_object(
                                 'uid', e.uid_raw, 'status', e.status,
                                 'status_updated_at', e.status_updated_at) ORDER BY e.uid)
                             FROM evses e WHERE e.location_id = l.id AND e.visible), '[]')
                       AS evses
            FROM locations l
            WHERE l.id = ANY(%s) AND l.visible
            """,
            (list(location_pks),),
        )
        return {row["pk"]: row for row in await cur.fetchall()}


async def tariffs(store: Store, tariff_pks: Sequence[int], now: datetime) -> dict[int, Any]:
    """The tariffs as the detail shows them, by primary key; deleted ones are left out."""
    if not tariff_pks:
        return {}
    async with (
        store.discovery_connection(on_primary=True) as conn,
        conn.cursor(row_factory=dict_row) as cur,
    ):
        await cur.execute(
            """
            SELECT t.id AS row_id, t.country_code, t.party_id, t.tariff_id_raw, t.tariff_id,
                   t.currency, t.type, t.summary, t.elements, t.min_price, t.max_price,
                   t.alt_text, t.alt_url, t.start_date_time, t.end_date_time, t.last_updated,
                   t.raw->'tax_included' AS tax_included,
                   (t.start_date_time IS NULL OR t.start_date_time <= %(now)s)
                   AND (t.end_date_time IS NULL OR t.end_date_time > %(now)s) AS active
            FROM tariffs t
            WHERE t.id = ANY(%(ids)s) AND t.deleted_at IS NULL
            """,
            {"ids": list(tariff_pks), "now": now},
        )
        rows = await cur.fetchall()
    for row in rows:  # read as the detail reads it (YES, NO or N/A; NO before 2.3.0)
        row["tax_included"] = tax_included({"tax_included": row["tax_included"]})
    return {row["row_id"]: row for row in rows}


async def prune(db: Db, *, older_than: datetime) -> int:
    """Forget the changes committed before ``older_than`` (a cursor before them answers 410);
    the number pruned."""
    async with using(db) as conn:
        cur = await conn.execute(
            """
            WITH gone AS (DELETE FROM changes WHERE committed_at < %s RETURNING seq)
            UPDATE changes_horizon
            SET pruned_through = greatest(pruned_through, (SELECT max(seq) FROM gone))
            WHERE EXISTS (SELECT 1 FROM gone)
            RETURNING (SELECT count(*) FROM gone)
            """,
            (older_than,),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


class SnapshotFilters(NamedTuple):
    bbox: tuple[float, float, float, float] | None  # west, south, east, north
    countries: tuple[str, ...]  # ISO 3166-1 alpha-3 or alpha-2 country codes, upper-cased
    networks: tuple[str, ...]
    updated_since: datetime | None


def _snapshot_where(filters: SnapshotFilters) -> tuple[str, dict[str, Any]]:
    where = ["l.id > %(after_pk)s"]
    params: dict[str, Any] = {}
    if filters.bbox is not None:
        west, south, east, north = filters.bbox
        params.update(west=west, south=south, east=east, north=north)
        where.append("l.lat BETWEEN %(south)s AND %(north)s")
        if west <= east:
            where.append("l.lon BETWEEN %(west)s AND %(east)s")
        else:  # across the antimeridian
            where.append("(l.lon >= %(west)s OR l.lon <= %(east)s)")
    if filters.countries:
        params["countries"] = list(filters.countries)
        where.append(
            "(upper(l.country) = ANY(%(countries)s) OR l.country_code = ANY(%(countries)s))"
        )
    if filters.networks:
        params["networks"] = list(filters.networks)
        where.append("n.name = ANY(%(networks)s)")
    if filters.updated_since is not None:
        params["updated_since"] = filters.updated_since
        where.append("l.last_updated > %(updated_since)s")
    return " AND ".join(where), params


class Snapshot:
    """One database snapshot (REPEATABLE READ, read only): the feed position it is consistent
    with, then its locations in batches."""

    def __init__(self, conn: AsyncConnection, position: Horizon) -> None:
        self._conn = conn
        self.position = position

    async def batches(
        self, filters: SnapshotFilters, *, batch: int, now: datetime, stale_after_s: int
    ) -> AsyncIterator[list[Found]]:
        """Keyset pages by primary key (each a few statements, memory bounded by ``batch``)."""
        where, params = _snapshot_where(filters)
        after_pk = 0
        while True:
            found = await read_details(
                self._conn,
                # the page's ids by the primary key's order, then their details
                f"l.id IN (SELECT l.id FROM locations l JOIN networks n ON n.id = l.network_id"
                f" WHERE {where} AND l.visible ORDER BY l.id LIMIT %(batch)s)",
                {**params, "after_pk": after_pk, "batch": batch},
                now,
                stale_after_s,
            )
            if not found:
                return
            yield found
            after_pk = found[-1][0]["pk"]


@asynccontextmanager
async def snapshot(store: Store) -> AsyncIterator[Snapshot]:
    """A long read on a discovery connection; each statement has the driver's timeout, the
    snapshot as a whole does not. Its position is the newest change numbered when it starts:
    everything up to it is in the snapshot; changes committed since may be too, and are
    numbered after it (applying them again changes nothing)."""
    await sequence(store)
    async with store.discovery_connection(on_primary=True) as conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield Snapshot(conn, await horizon(conn))


@asynccontextmanager
async def _conn(db: Db | AsyncConnection) -> AsyncIterator[AsyncConnection]:
    if isinstance(db, AsyncConnection):
        yield db
    else:
        async with using(db) as conn:
            yield conn
