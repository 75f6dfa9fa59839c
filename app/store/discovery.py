"""The discovery queries (drivers' questions): one SQL statement each, composed from the
public pieces in ``app.store.pieces`` with every value bound as a parameter (style.md, tipg
anchor). Each is answered from an index: the partial GiST on ``geog`` (nearby, along-route), on
``geom`` (viewport) or the trigram GIN (text search), then a small join per result. Filter
semantics: ``app.domain.filters``.

Every function takes the ``Store`` and runs on its discovery pool (short statement timeout).
Text search has its own module, ``app.store.search``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from app.domain.filters import Bbox, Filters
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


async def points_near(
    store: Store, *, lat: float, lon: float, reach_m: float
) -> list[tuple[str, float, float]]:
    """(public id, lat, lon) of every visible location within ``reach_m`` (spheroid), by id:
    the candidates the API's nearby cache answers from. On the primary: the cache keeps what it
    reads until an event says it changed, and a replica could still be before that change."""
    async with store.discovery_connection(on_primary=True) as conn:
        cur = await conn.execute(
            """
            SELECT public_id, lat, lon FROM locations l
            WHERE l.visible AND ST_DWithin(
                l.geog, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography, %(reach_m)s)
            ORDER BY public_id
            """,
            {"lat": lat, "lon": lon, "reach_m": reach_m},
        )
        return await cur.fetchall()


async def summaries(
    store: Store, *, public_ids: list[str], now: datetime, stale_after_s: int
) -> list[Row]:
    """The unfiltered summary rows of these locations (those still visible), read on the
    primary: the nearby cache keeps them until an event says they changed."""
    q = Sql.at(now, stale_after_s)
    sql = f"""
        SELECT {summary_columns(q, Filters())}
        FROM locations l JOIN networks n ON n.id = l.network_id
        WHERE l.public_id = ANY({q.bind("public_ids", public_ids)}) AND l.visible
    """
    return await _fetch(store, sql, q.params, on_primary=True)


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


_FLAT_MARGIN = 1.02
_M_PER_DEGREE = 111_195.0  # a degree of latitude on the mean sphere


# ---- along a route -----------------------------------------------------------------------------
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
    """
    q = Sql.at(now, stale_after_s)
    q.params["corridor_m"] = corridor_m
    location_filters(q, filters)
    # Longitude degrees shrink with latitude: locating the closest point in plain lon/lat skews
    # it along the route, so it is done with longitudes scaled by cos(latitude) (``scales``).
    q.params.update(
        pieces=pieces.wkb,
        starts=pieces.start_m,
        lengths=pieces.length_m,
        scales=pieces.scale,
        **pieces.reach(corridor_m * _FLAT_MARGIN),
    )
    network_join = (
        "JOIN networks n ON n.id = l.network_id" if any("n." in w for w in q.where) else ""
    )
    outer = [f"offset_m >= {q.bind('start_offset_m', start_offset_m)}"]
    if after is not None:
        outer.append(
            f"(offset_m, id) > ({q.bind('after_offset', after[0])}, {q.bind('after_id', after[1])})"
        )
    q.params["margin_m"] = corridor_m * _FLAT_MARGIN
    q.params["inside_m"] = corridor_m / _FLAT_MARGIN
    sql = f"""
        WITH pieces AS (
            SELECT u.ord AS idx, g.geom, g.geom::geography AS geog, u.start_m, u.length_m,
                   u.k, ST_Scale(g.geom, u.k, 1) AS scaled,
                   ST_Expand(g.geom, u.dx, u.dy) AS reach
            FROM unnest(%(pieces)s::bytea[], %(starts)s::float8[], %(lengths)s::float8[],
                        %(scales)s::float8[], %(dxs)s::float8[], %(dys)s::float8[])
                     WITH ORDINALITY AS u(wkb, start_m, length_m, k, dx, dy, ord),
                 LATERAL (SELECT ST_SetSRID(ST_GeomFromWKB(u.wkb), 4326) AS geom) g
        ),
        -- Candidates from the lon/lat index within each stretch's reach, kept by a planar
        -- distance in its locally true-to-scale frame (good to a fraction of a per cent over
        -- 10 km; the margin covers it), with the offset from the same frame.
        near AS (
            SELECT DISTINCT ON (l.id)
                   l.id, l.geog, p.idx,
                   ST_Distance(p.scaled, ST_Scale(l.geom, p.k, 1)) * {_M_PER_DEGREE} AS flat_m,
                   p.start_m + p.length_m * ST_LineLocatePoint(
                       p.scaled, ST_Scale(l.geom, p.k, 1)) AS offset_m
            FROM pieces p
            JOIN locations l ON l.visible AND l.geom && p.reach
            {network_join}
            WHERE {" AND ".join(q.where)}
              AND ST_Distance(p.scaled, ST_Scale(l.geom, p.k, 1)) * {_M_PER_DEGREE}
                  <= %(margin_m)s
            ORDER BY l.id, flat_m, p.idx
        ),
        -- Exact (spheroid) distance only where the flat one cannot decide.
        hits AS (
            SELECT near.id, near.idx, near.offset_m
            FROM near JOIN pieces p ON p.idx = near.idx
            WHERE near.flat_m <= %(inside_m)s
               OR ST_Distance(near.geog, p.geog) <= %(corridor_m)s
        ),
        page AS (
            SELECT * FROM hits
            WHERE {" AND ".join(outer)}
            ORDER BY offset_m, id
            LIMIT {q.bind("limit", limit)}
        )
        SELECT {summary_columns(q, filters)}, page.offset_m,
               ST_Distance(l.geog, ST_SetSRID(ST_GeomFromWKB(
                   (%(pieces)s::bytea[])[page.idx]), 4326)::geography) AS distance_from_route_m
        FROM page
        JOIN locations l ON l.id = page.id
        JOIN networks n ON n.id = l.network_id
        ORDER BY page.offset_m, l.id
    """
    return await _fetch(store, sql, q.params)
