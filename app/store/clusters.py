"""Server-side clusters for the map (issue 5): locations grouped by the H3 cells stored with
each of them, at a resolution that follows the map zoom, honouring the discovery filters.

An unfiltered view at low zoom (a country, a continent) over a big database (``MATERIALISE_FROM``
locations or more) reads ``cluster_cells``: per-network aggregates refreshed every
``cluster_refresh_s`` seconds by one process at a time. Anything else (filters, closer zooms, a
small database, or aggregates missing or older than ``STALE_FACTOR`` refreshes) is aggregated
from the locations when asked. The two differ only in that the refreshed aggregates
may be one refresh behind, and that they count a cell whole when its mean position is in view
(the live path counts only the locations inside the view).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from app.domain.filters import NO_FILTERS, Bbox, Filters
from app.store import locks
from app.store.core import Store, discovery_read
from app.store.pieces import NETWORK_SILENT, Sql, in_bbox, location_filters

# Map zoom → H3 resolution: a cell a few tens of pixels wide at that zoom.
_RESOLUTION_BY_ZOOM = (2, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9)
MAX_CLUSTER_ZOOM = len(_RESOLUTION_BY_ZOOM) - 1
MATERIALISED = (2, 3, 4, 5)
STALE_FACTOR = 4
# Below this many visible locations, aggregating live is fast enough (tens of ms) and never behind.
MATERIALISE_FROM = 50_000


def resolution_for(zoom: float) -> int:
    return _RESOLUTION_BY_ZOOM[max(0, min(int(zoom), MAX_CLUSTER_ZOOM))]


def _cell_column(resolution: int) -> str:
    return "l.region_key" if resolution == 2 else f"l.h3_r{resolution}"


_SILENT_NETWORKS = f"""(SELECT id, {NETWORK_SILENT} AS silent FROM networks n)"""


@discovery_read
async def clusters(
    store: Store,
    *,
    bbox: Bbox,
    zoom: float,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
    refresh_s: float,
    materialise_from: int = MATERIALISE_FROM,
) -> tuple[int, list[dict[str, Any]]]:
    """(resolution, cells): per cell the matching locations, their EVSEs and how many of those
    are available now (a silent network's statuses are stale: none of them counts).
    ``refresh_s`` is the refresher's interval (0: no refresher, always aggregate live)."""
    resolution = resolution_for(zoom)
    async with store.discovery_connection() as conn:
        if refresh_s > 0 and resolution in MATERIALISED and filters == NO_FILTERS:
            rows = await _from_materialised(
                conn,
                resolution,
                bbox,
                now,
                stale_after_s,
                refresh_s * STALE_FACTOR,
                materialise_from,
            )
            if rows is not None:
                return resolution, rows
        return resolution, await _live(conn, resolution, bbox, filters, now, stale_after_s)


async def _live(
    conn: AsyncConnection,
    resolution: int,
    bbox: Bbox,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[dict[str, Any]]:
    q = Sql.at(now, stale_after_s)
    q.where.append(in_bbox(q, bbox))
    location_filters(q, filters)
    cell = _cell_column(resolution)
    # The filters may need the network row itself (available=true): join it in full as `n`.
    sql = f"""
        SELECT {cell} AS cell,
               count(*) AS locations,
               sum(l.evse_count) AS evses,
               coalesce(sum(l.available_count) FILTER (WHERE NOT s.silent), 0) AS available,
               coalesce(sum(l.occupied_count) FILTER (WHERE NOT s.silent), 0) AS occupied,
               coalesce(sum(l.out_of_service_count) FILTER (WHERE NOT s.silent), 0)
                   AS out_of_service,
               coalesce(sum(l.evse_count) FILTER (WHERE s.silent), 0) AS stale,
               count(*) FILTER (WHERE l.available_count > 0 AND NOT s.silent)
                   AS locations_available,
               avg(l.lat) AS lat, avg(l.lon) AS lon
        FROM locations l
        JOIN networks n ON n.id = l.network_id
        JOIN {_SILENT_NETWORKS} s ON s.id = l.network_id
        WHERE {" AND ".join(q.where)}
        GROUP BY {cell}
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, q.params)
        return await cur.fetchall()


async def _from_materialised(
    conn: AsyncConnection,
    resolution: int,
    bbox: Bbox,
    now: datetime,
    stale_after_s: int,
    max_age_s: float,
    materialise_from: int,
) -> list[dict[str, Any]] | None:
    """The refreshed aggregates; None when they are missing, older than ``max_age_s``, or
    cover fewer than ``materialise_from`` locations (the live answer is cheap then)."""
    params: dict[str, Any] = {
        "now": now,
        "stale_after_s": stale_after_s,
        "r": resolution,
        "s": bbox.min_lat,
        "n": bbox.max_lat,
    }
    lon_tests = []
    for i, (west, east) in enumerate(bbox.lon_ranges()):
        params[f"w{i}"], params[f"e{i}"] = west, east
        lon_tests.append(f"sum(c.lon_sum) / sum(c.locations) BETWEEN %(w{i})s AND %(e{i})s")
    sql = f"""
        SELECT c.cell,
               sum(c.locations) AS locations,
               sum(c.evses) AS evses,
               coalesce(sum(c.available) FILTER (WHERE NOT s.silent), 0) AS available,
               coalesce(sum(c.occupied) FILTER (WHERE NOT s.silent), 0) AS occupied,
               coalesce(sum(c.out_of_service) FILTER (WHERE NOT s.silent), 0)
                   AS out_of_service,
               coalesce(sum(c.evses) FILTER (WHERE s.silent), 0) AS stale,
               coalesce(sum(c.locations_available) FILTER (WHERE NOT s.silent), 0)
                   AS locations_available,
               sum(c.lat_sum) / sum(c.locations) AS lat,
               sum(c.lon_sum) / sum(c.locations) AS lon
        FROM cluster_cells c JOIN {_SILENT_NETWORKS} s ON s.id = c.network_id
        WHERE c.resolution = %(r)s
        GROUP BY c.cell
        HAVING sum(c.lat_sum) / sum(c.locations) BETWEEN %(s)s AND %(n)s
           AND ({" OR ".join(lon_tests)})
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT max(refreshed_at) AS at, sum(locations) AS total FROM cluster_cells"
            " WHERE resolution = 2"
        )
        row = await cur.fetchone()
        if row is None or row["at"] is None or row["total"] < materialise_from:
            return None
        if (now - row["at"]).total_seconds() > max_age_s:
            return None
        await cur.execute(sql, params)
        return await cur.fetchall()


async def refresh_cluster_cells(store: Store) -> bool:
    """Rebuild the aggregates in one transaction; False if another process is doing it."""
    async with store.transaction() as tx:
        if not await locks.try_transaction_lock(tx, locks.CLUSTER_REFRESH):
            return False
        await tx.conn.execute("DELETE FROM cluster_cells")
        await tx.conn.execute(
            """
            INSERT INTO cluster_cells (resolution, cell, network_id, locations,
                locations_available, evses, available, occupied, out_of_service, lat_sum,
                lon_sum)
            SELECT v.resolution, v.cell, l.network_id, count(*),
                   count(*) FILTER (WHERE l.available_count > 0), sum(l.evse_count),
                   sum(l.available_count), sum(l.occupied_count), sum(l.out_of_service_count),
                   sum(l.lat), sum(l.lon)
            FROM locations l,
                 LATERAL (VALUES (2, l.region_key), (3, l.h3_r3), (4, l.h3_r4), (5, l.h3_r5))
                     AS v(resolution, cell)
            WHERE l.visible
            GROUP BY v.resolution, v.cell, l.network_id
            """
        )
    return True
