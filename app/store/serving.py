"""The reads the API's nearby index is built from and kept live by (``app.live.nearby_index``).

All on the primary: the index keeps what it reads until the change feed (or an event) says it
changed, so it must never read a replica that is still before such a change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from psycopg.rows import dict_row

from app.domain.filters import NO_FILTERS
from app.store.core import Store
from app.store.pieces import Sql, summary_columns

Row = dict[str, Any]


class Network(NamedTuple):
    last_contact_at: datetime | None
    stale_after_s: int | None  # its own limit, else the service's


async def points(store: Store) -> tuple[int, list[tuple[str, float, float]]]:
    """Every visible location's (public id, lat, lon), and the change-feed number that snapshot
    is consistent with: every change numbered after it is newer than what was read."""
    async with store.discovery_connection(on_primary=True) as conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # Numbered changes become visible together (one sequencing round at a time): one not
        # in this snapshot has a number after this one, committed or not yet numbered.
        cur = await conn.execute("SELECT coalesce(max(seq), 0) FROM changes")
        row = await cur.fetchone()
        cursor = int(row[0]) if row else 0
        cur = await conn.execute("SELECT public_id, lat, lon FROM locations WHERE visible")
        return cursor, await cur.fetchall()


async def points_of(store: Store, public_ids: list[str]) -> dict[str, tuple[float, float]]:
    """Where those of these locations that are visible are now."""
    async with store.discovery_connection(on_primary=True) as conn:
        cur = await conn.execute(
            "SELECT public_id, lat, lon FROM locations WHERE public_id = ANY(%s) AND visible",
            (public_ids,),
        )
        return {public_id: (lat, lon) for public_id, lat, lon in await cur.fetchall()}


async def networks(store: Store) -> dict[int, Network]:
    """When each network was last heard from, and its own staleness limit."""
    async with store.discovery_connection(on_primary=True) as conn:
        cur = await conn.execute("SELECT id, last_contact_at, stale_after_s FROM networks")
        return {pk: Network(at, limit) for pk, at, limit in await cur.fetchall()}


def _summaries_sql(q: Sql, where: str, tail: str = "") -> str:
    # The unfiltered summary, and what the index needs to know how long it holds: the network
    # (whose silence turns every status stale) and when open_now may change.
    return f"""
        SELECT {summary_columns(q, NO_FILTERS)}, l.network_id,
               CASE WHEN l.open_24_7 THEN NULL
                    ELSE wattlas_open_now_until(l.opening_times, l.time_zone, %(now)s)
               END AS open_until
        FROM locations l JOIN networks n ON n.id = l.network_id
        WHERE {where} AND l.visible
        {tail}
    """


async def summaries(
    store: Store, *, public_ids: list[str], now: datetime, stale_after_s: int
) -> list[Row]:
    """The unfiltered summary rows of those of these locations that are visible."""
    q = Sql.at(now, stale_after_s)
    sql = _summaries_sql(q, f"l.public_id = ANY({q.bind('public_ids', public_ids)})")
    return await _rows(store, sql, q.params)


async def summaries_after(
    store: Store, *, after_pk: int, limit: int, now: datetime, stale_after_s: int
) -> list[Row]:
    """The next ``limit`` unfiltered summary rows in primary-key order (the index's warm-up)."""
    q = Sql.at(now, stale_after_s)
    sql = _summaries_sql(
        q,
        f"l.id > {q.bind('after_pk', after_pk)}",
        f"ORDER BY l.id LIMIT {q.bind('limit', limit)}",
    )
    return await _rows(store, sql, q.params)


async def sample_summaries(
    store: Store, *, count: int, now: datetime, stale_after_s: int
) -> list[Row]:
    """About ``count`` summary rows picked at random (what the index's compression learns
    from); the pick is made on ids alone, so only the picked rows are summarised."""
    q = Sql.at(now, stale_after_s)
    sql = _summaries_sql(
        q,
        "l.id IN (SELECT id FROM locations WHERE visible ORDER BY random() "
        f"LIMIT {q.bind('count', count)})",
    )
    return await _rows(store, sql, q.params)


async def _rows(store: Store, sql: str, params: dict[str, Any]) -> list[Row]:
    async with (
        store.discovery_connection(on_primary=True) as conn,
        conn.cursor(row_factory=dict_row) as cur,
    ):
        await cur.execute(sql, params)
        return await cur.fetchall()
