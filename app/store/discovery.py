"""The discovery queries (drivers' questions): one SQL statement each, composed from the
public pieces in ``app.store.pieces`` with every value bound as a parameter (style.md, tipg
anchor). Each is answered from an index: the partial GiST on ``geog`` (nearby, along-route), on
``geom`` (viewport) or the trigram GIN (text search), then a small join per result. Filter
semantics: ``app.domain.filters``.

Every function takes the ``Store`` and runs on its discovery pool (short statement timeout).
Text search has its own module, ``app.store.search``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from app.domain.filters import NO_FILTERS, Bbox, Filters
from app.domain.route import Pieces
from app.store.core import Store, discovery_read
from app.store.pieces import Sql, in_bbox, location_filters, point, summary_columns

Row = dict[str, Any]


@discovery_read
async def _fetch(
    store: Store, sql: str, params: dict[str, Any], *, on_primary: bool = False
) -> list[Row]:
    async with (
        store.discovery_connection(on_primary=on_primary) as conn,
        conn.cursor(row_factory=dict_row) as cur,
    ):
        await cur.execute(sql, params)
        return await cur.fetchall()


# ---- nearby ------------------------------------------------------------------------------------
async def nearby(
    store: Store,
    *,
    lat: float,
    lon: float,
    radius_m: float,
    limit: int,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[Row]:
    """Ordered by true (spheroid) distance. The GiST KNN order is on the sphere, so it picks a
    few more than asked and the outer query orders them exactly."""
    q = Sql.at(now, stale_after_s)
    here = point(q, lat, lon)
    q.where.append(f"ST_DWithin(l.geog, {here}, {q.bind('radius_m', radius_m)})")
    location_filters(q, filters)
    inner_limit = q.bind("inner_limit", limit + max(8, limit // 4))
    sql = f"""
        SELECT * FROM (
            SELECT {summary_columns(q, filters)},
                   ST_Distance(l.geog, {here}) AS distance_m
            FROM locations l JOIN networks n ON n.id = l.network_id
            WHERE {" AND ".join(q.where)}
            ORDER BY l.geog <-> {here}
            LIMIT {inner_limit}
        ) nearest
        ORDER BY distance_m, public_id
        LIMIT {q.bind("limit", limit)}
    """
    return await _fetch(store, sql, q.params)


# ---- viewport ----------------------------------------------------------------------------------
async def viewport(
    store: Store,
    *,
    bbox: Bbox,
    limit: int,
    after: tuple[int, int] | None,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[Row]:
    """In a stable pseudo-random order (``sort_key``): a truncated page is an even sample of
    the viewport, not a corner of it (OCM #194). Keyset pagination on (sort_key, id)."""
    q = Sql.at(now, stale_after_s)
    q.where.append(in_bbox(q, bbox))
    if after is not None:
        q.where.append(
            f"(l.sort_key, l.id) > ({q.bind('after_key', after[0])}, "
            f"{q.bind('after_id', after[1])})"
        )
    location_filters(q, filters)
    sql = f"""
        SELECT {summary_columns(q, filters)}, l.sort_key
        FROM locations l JOIN networks n ON n.id = l.network_id
        WHERE {" AND ".join(q.where)}
        ORDER BY l.sort_key, l.id
        LIMIT {q.bind("limit", limit)}
    """
    return await _fetch(store, sql, q.params)


async def viewport_keys(
    store: Store, *, bbox: Bbox, limit: int, after: tuple[int, int] | None
) -> list[Row]:
    """``viewport`` without filters, its rows' keys only (``public_id``, ``pk``, ``sort_key``):
    for a caller that holds the summaries already (the nearby index). Building each summary is
    three quarters of the viewport statement: 10 ms instead of 40 for a city page of 500 at
    300k locations (EXPLAIN ANALYZE, devtools/bench)."""
    q = Sql()
    q.where.append(in_bbox(q, bbox))
    if after is not None:
        q.where.append(
            f"(l.sort_key, l.id) > ({q.bind('after_key', after[0])}, "
            f"{q.bind('after_id', after[1])})"
        )
    location_filters(q, NO_FILTERS)
    sql = f"""
        SELECT l.public_id, l.id AS pk, l.sort_key
        FROM locations l
        WHERE {" AND ".join(q.where)}
        ORDER BY l.sort_key, l.id
        LIMIT {q.bind("limit", limit)}
    """
    return await _fetch(store, sql, q.params)


_FLAT_MARGIN = 1.02
_M_PER_DEGREE = 111_195.0  # a degree of latitude on the mean sphere
# The stretches of the first window read along a route (about 10 km: on a busy road, a page of
# 500); the next windows grow with what the page still needs.
FIRST_WINDOW_PIECES = 1
_BOX_SIDES = ("west", "south", "east", "north")  # the columns of ``Pieces.reach``


# ---- along a route -----------------------------------------------------------------------------
@discovery_read
async def along_route(
    store: Store,
    *,
    pieces: Pieces,
    corridor_m: float,
    start_offset_m: float,
    limit: int,
    after: tuple[float, int] | None,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[Row]:
    """Locations within ``corridor_m`` (true metres) of the route, in route order.

    The route comes as consecutive pieces (WKB linestrings) so that each index probe covers only
    the bounding box of a short stretch. A location's offset is the length along the route to
    its closest point; its distance is the spheroid distance to the route.

    A page in route order needs only the stretches up to its last row, so the route is read in
    windows of stretches from the page's start until the page is full: the first stretch, then
    as many as the rows found so far say the page still needs, at least twice the last window
    (``_along_route_sql`` says why a window's rows are exact). The rows of later windows are at
    least as far along as the start of their first stretch, so the page is complete once its
    last row comes before the start of the next unread stretch. One transaction: every window
    sees the same data.
    """
    q = Sql.at(now, stale_after_s)
    q.params["corridor_m"] = corridor_m
    location_filters(q, filters)
    margin_m = corridor_m * _FLAT_MARGIN
    q.params["margin_m"] = margin_m
    q.params["inside_m"] = corridor_m / _FLAT_MARGIN
    outer = [f"offset_m >= {q.bind('start_offset_m', start_offset_m)}"]
    if after is not None:
        outer.append(
            f"(offset_m, id) > ({q.bind('after_offset', after[0])}, {q.bind('after_id', after[1])})"
        )
    sql = _along_route_sql(q, filters, outer, limit)
    reach = pieces.reach(margin_m)
    lo = pieces.first_ending_at(max(start_offset_m, after[0]) if after else start_offset_m)
    first, size = lo, FIRST_WINDOW_PIECES
    rows: list[Row] = []
    async with (
        store.discovery_connection() as conn,
        conn.transaction(),
        conn.cursor(row_factory=dict_row) as cur,
    ):
        await cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        while lo < len(pieces):
            hi = min(len(pieces), lo + size)
            taken = [*range(lo, hi), *Pieces.neighbours(reach, lo, hi)]
            boxes = reach[taken]
            # Longitude degrees shrink with latitude: locating the closest point in plain
            # lon/lat skews it along the route, so it is done with longitudes scaled by
            # cos(latitude) (``scales``).
            window = {
                "idxs": taken,
                "in_window": [lo <= i < hi for i in taken],
                "pieces": [pieces.wkb[i] for i in taken],
                "starts": [pieces.start_m[i] for i in taken],
                "lengths": [pieces.length_m[i] for i in taken],
                "scales": [pieces.scale[i] for i in taken],
                **{side: boxes[:, i].tolist() for i, side in enumerate(_BOX_SIDES)},
            }
            await cur.execute(sql, {**q.params, **window})
            rows += await cur.fetchall()
            rows.sort(key=lambda row: (row["offset_m"], row["pk"]))
            if hi == len(pieces) or (
                len(rows) >= limit and rows[limit - 1]["offset_m"] < pieces.start_m[hi]
            ):
                break
            # The next window: twice this one, or as many stretches as the rows found so far
            # say the page still needs (all the rest when none were found: a rare filter).
            need = limit - min(len(rows), limit)
            size = max(2 * size, math.ceil(1.25 * need * (hi - first) / max(len(rows), 1)))
            lo = hi
    return rows[:limit]


def _along_route_sql(q: Sql, filters: Filters, outer: list[str], limit: int) -> str:
    """One window's statement. It is given the window's stretches and their neighbours (every
    stretch whose reach overlaps the window's): a location within the corridor of a window's
    stretch lies in that stretch's reach, so any stretch closer to it has a reach overlapping
    it and is among them. Each location takes its closest stretch of those (ties to the first),
    which is its closest of the whole route, and the window keeps the locations whose closest
    stretch is its own: every location along the route is read by exactly one window."""
    network_join = (
        "JOIN networks n ON n.id = l.network_id" if any("n." in w for w in q.where) else ""
    )
    return f"""
        WITH pieces AS (
            SELECT u.idx, u.in_window, g.geom, u.start_m, u.length_m, u.k,
                   ST_Scale(g.geom, u.k, 1) AS scaled,
                   ST_MakeEnvelope(u.west, u.south, u.east, u.north, 4326) AS reach
            FROM unnest(%(idxs)b::int[], %(in_window)b::bool[], %(pieces)b::bytea[],
                        %(starts)b::float8[], %(lengths)b::float8[], %(scales)b::float8[],
                        %(west)b::float8[], %(south)b::float8[], %(east)b::float8[],
                        %(north)b::float8[])
                     AS u(idx, in_window, wkb, start_m, length_m, k, west, south, east, north),
                 LATERAL (SELECT ST_SetSRID(ST_GeomFromWKB(u.wkb), 4326) AS geom) g
        ),
        -- Candidates from the lon/lat index within the reach of the window's stretches.
        candidates AS (
            SELECT l.id, l.lon, l.lat, l.geom, p.idx
            FROM pieces p
            JOIN locations l ON l.visible AND l.geom && p.reach
            {network_join}
            WHERE p.in_window AND {" AND ".join(q.where)}
        ),
        -- Each with its window stretches, and with the neighbours whose reach holds it.
        pairs AS (
            SELECT c.id, c.lon, c.lat, c.idx FROM candidates c
            UNION ALL
            SELECT c.id, c.lon, c.lat, p.idx
            FROM (SELECT DISTINCT id, lon, lat, geom FROM candidates) c
            JOIN pieces p ON NOT p.in_window AND c.geom && p.reach
        ),
        -- A planar distance in each stretch's locally true-to-scale frame (good to a fraction
        -- of a per cent over 10 km; the margin covers it), with the offset from the same frame.
        measured AS (
            SELECT pr.id, pr.lon, pr.lat, p.idx, p.in_window, p.scaled, s.point,
                   ST_Distance(p.scaled, s.point) * {_M_PER_DEGREE} AS flat_m
            FROM pairs pr
            JOIN pieces p ON p.idx = pr.idx,
                 LATERAL (SELECT ST_SetSRID(ST_MakePoint(pr.lon * p.k, pr.lat), 4326) AS point) s
        ),
        near AS (
            SELECT DISTINCT ON (id) id, lon, lat, idx, in_window, flat_m, scaled, point
            FROM measured
            WHERE flat_m <= %(margin_m)s
            ORDER BY id, flat_m, idx
        ),
        -- Exact (spheroid) distance only where the flat one cannot decide.
        hits AS (
            SELECT near.id, near.idx,
                   p.start_m + p.length_m * ST_LineLocatePoint(near.scaled, near.point) AS offset_m
            FROM near JOIN pieces p ON p.idx = near.idx
            WHERE near.in_window
              AND (near.flat_m <= %(inside_m)s
                   OR ST_Distance(ST_SetSRID(ST_MakePoint(near.lon, near.lat), 4326)::geography,
                                  p.geom::geography) <= %(corridor_m)s)
        ),
        page AS (
            SELECT * FROM hits
            WHERE {" AND ".join(outer)}
            ORDER BY offset_m, id
            LIMIT {q.bind("limit", limit)}
        ),
        -- Each stretch of the page as geography once, not once per row.
        lines AS MATERIALIZED (
            SELECT p.idx, p.geom::geography AS geog FROM pieces p
            WHERE p.idx IN (SELECT idx FROM page)
        )
        SELECT {summary_columns(q, filters)}, page.offset_m,
               ST_Distance(l.geog, lines.geog) AS distance_from_route_m
        FROM page
        JOIN lines ON lines.idx = page.idx
        JOIN locations l ON l.id = page.id
        JOIN networks n ON n.id = l.network_id
        ORDER BY page.offset_m, l.id
    """
