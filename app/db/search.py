"""The discovery queries: one SQL statement each, composed from small named pieces with every
value bound as a parameter (style.md, tipg anchor). Each is answered from an index: the partial
GiST on ``geog`` (nearby, along-route), on ``geom`` (viewport) or the trigram GIN (text search),
then a small join per result.

Filter semantics (issue 4): connector, power, power type, capability and availability are
matched on ONE EVSE — a location matches when one of its visible EVSEs has a connector meeting the
connector and power filters, has the capabilities and, with ``available``, is AVAILABLE with a
status that is not stale. Network, operator, parking, facility and opening hours are about the
location.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from app.domain.route import Pieces


@dataclass(frozen=True)
class Filters:
    standards: tuple[str, ...] = ()
    min_power_kw: float | None = None
    max_power_kw: float | None = None
    power_class: str | None = None  # AC | DC
    available: bool = False
    max_status_age_s: int | None = None
    capabilities: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()  # CC*PID
    exclude_networks: tuple[str, ...] = ()
    operator: str | None = None
    parking_types: tuple[str, ...] = ()
    facilities: tuple[str, ...] = ()
    open_now: bool = False

    @property
    def evse_level(self) -> bool:
        """Filters that must hold on one EVSE (and change the counts reported as ``matching``)."""
        return bool(
            self.standards
            or self.min_power_kw is not None
            or self.max_power_kw is not None
            or self.power_class
            or self.capabilities
            or self.available
        )


@dataclass
class _Sql:
    """A statement under construction: text fragments and their bound values."""

    params: dict[str, Any] = field(default_factory=dict)
    where: list[str] = field(default_factory=list)

    def bind(self, name: str, value: Any) -> str:
        self.params[name] = value
        return f"%({name})s"


# Staleness (architecture.md): the network silent for too long, or (when asked) the status
# older than max_status_age_s.
_NETWORK_SILENT = (
    "(n.last_contact_at IS NULL OR n.last_contact_at < %(now)s"
    " - make_interval(secs => coalesce(n.stale_after_s, %(stale_after_s)s)))"
)


def _evse_stale(q: _Sql, filters: Filters) -> str:
    if filters.max_status_age_s is None:
        return "false"
    age = q.bind("max_status_age_s", filters.max_status_age_s)
    return f"(e.status_updated_at < %(now)s - make_interval(secs => {age}))"


def _connector_predicate(q: _Sql, filters: Filters) -> str | None:
    parts = []
    if filters.standards:
        parts.append(f"c.standard = ANY({q.bind('standards', list(filters.standards))})")
    if filters.min_power_kw is not None:
        parts.append(f"c.max_power_kw >= {q.bind('min_power_kw', filters.min_power_kw)}")
    if filters.max_power_kw is not None:
        parts.append(f"c.max_power_kw <= {q.bind('max_power_kw', filters.max_power_kw)}")
    if filters.power_class == "DC":
        parts.append("c.power_type = 'DC'")
    elif filters.power_class == "AC":
        parts.append("c.power_type LIKE 'AC%%'")
    if not parts:
        return None
    return (
        "EXISTS (SELECT 1 FROM connectors c WHERE c.evse_pk = e.id AND c.visible AND "
        + " AND ".join(parts)
        + ")"
    )


def evse_match(q: _Sql, filters: Filters) -> str:
    """The one-EVSE predicate, on alias ``e`` (with ``n`` the location's network)."""
    parts = ["e.visible"]
    if filters.capabilities:
        parts.append(f"e.capabilities @> {q.bind('capabilities', list(filters.capabilities))}")
    if filters.available:
        parts.append(
            f"e.status_bucket = 'available' AND NOT {_NETWORK_SILENT}"
            f" AND NOT {_evse_stale(q, filters)}"
        )
    connector = _connector_predicate(q, filters)
    if connector is not None:
        parts.append(connector)
    return " AND ".join(parts)


def _location_filters(q: _Sql, filters: Filters) -> None:
    w = q.where
    w.append("l.visible")
    # Cheap pruning on the projection before the per-EVSE check.
    if filters.standards:
        w.append(f"l.connector_standards && {q.bind('standards', list(filters.standards))}")
    if filters.min_power_kw is not None:
        w.append(f"l.max_power_kw >= {q.bind('min_power_kw', filters.min_power_kw)}")
    if filters.power_class:
        w.append(f"{q.bind('power_class', filters.power_class)} = ANY(l.power_types)")
    if filters.available:
        w.append("l.available_count > 0")
    if filters.evse_level:
        w.append(
            f"EXISTS (SELECT 1 FROM evses e WHERE e.location_id = l.id AND "
            f"{evse_match(q, filters)})"
        )
    if filters.networks:
        w.append(
            "l.country_code || '*' || l.party_id = "
            f"ANY({q.bind('networks', list(filters.networks))})"
        )
    if filters.exclude_networks:
        w.append(
            "NOT (l.country_code || '*' || l.party_id = "
            f"ANY({q.bind('exclude_networks', list(filters.exclude_networks))}))"
        )
    if filters.operator:
        w.append(f"l.operator_name ILIKE {q.bind('operator', '%' + _like(filters.operator) + '%')}")
    if filters.parking_types:
        w.append(f"l.parking_type = ANY({q.bind('parking_types', list(filters.parking_types))})")
    if filters.facilities:
        w.append(f"l.facilities && {q.bind('facilities', list(filters.facilities))}")
    if filters.open_now:
        # Unknown hours are not excluded: only a location known to be closed is.
        w.append(
            "(l.open_24_7 OR wattlas_open_now(l.opening_times, l.time_zone, %(now)s) IS NOT FALSE)"
        )


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _summary_columns(q: _Sql, filters: Filters) -> str:
    columns = f"""
        l.id AS pk, l.public_id, l.name, l.address, l.city, l.postal_code, l.country,
        l.lat, l.lon, l.country_code, l.party_id, n.name AS network_name, l.ocpi_id_raw,
        l.operator_name, l.max_power_kw,
        CASE WHEN l.open_24_7 THEN true
             ELSE wattlas_open_now(l.opening_times, l.time_zone, %(now)s) END AS open_now,
        l.connector_groups::text AS connector_groups_json, l.evse_count, l.available_count,
        l.occupied_count,
        l.out_of_service_count, l.unknown_count, l.planned_count, l.status_updated_at,
        {_NETWORK_SILENT} AS network_silent"""
    if filters.max_status_age_s is not None or filters.evse_level:
        # Per-EVSE facts for these results only: staleness by status age, and which EVSEs
        # match the EVSE-level filters (the counts reported as `matching`).
        columns += f""",
        (SELECT jsonb_agg(jsonb_build_object(
                    'b', e.status_bucket,
                    's', {_evse_stale(q, filters)},
                    'm', {evse_match(q, filters) if filters.evse_level else "true"},
                    'c', (SELECT jsonb_agg(DISTINCT jsonb_build_array(
                                     c.standard, c.power_type, c.max_power_kw))
                          FROM connectors c WHERE c.evse_pk = e.id AND c.visible)))
         FROM evses e WHERE e.location_id = l.id AND e.visible) AS evse_facts"""
    return columns


def _base_params(q: _Sql, now: datetime, stale_after_s: int) -> None:
    q.params["now"] = now
    q.params["stale_after_s"] = stale_after_s


async def _fetch(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


# ---- nearby ------------------------------------------------------------------------------------
async def nearby(
    conn: AsyncConnection,
    *,
    lat: float,
    lon: float,
    radius_m: float,
    limit: int,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[dict[str, Any]]:
    """Ordered by true (spheroid) distance. The GiST KNN order is on the sphere, so it picks a
    few more than asked and the outer query orders them exactly."""
    q = _Sql()
    _base_params(q, now, stale_after_s)
    point = f"ST_SetSRID(ST_MakePoint({q.bind('lon', lon)}, {q.bind('lat', lat)}), 4326)::geography"
    q.where.append(f"ST_DWithin(l.geog, {point}, {q.bind('radius_m', radius_m)})")
    _location_filters(q, filters)
    inner_limit = q.bind("inner_limit", limit + max(8, limit // 4))
    sql = f"""
        SELECT * FROM (
            SELECT {_summary_columns(q, filters)},
                   ST_Distance(l.geog, {point}) AS distance_m
            FROM locations l JOIN networks n ON n.id = l.network_id
            WHERE {" AND ".join(q.where)}
            ORDER BY l.geog <-> {point}
            LIMIT {inner_limit}
        ) nearest
        ORDER BY distance_m, public_id
        LIMIT {q.bind("limit", limit)}
    """
    return await _fetch(conn, sql, q.params)


async def points_near(
    conn: AsyncConnection, *, lat: float, lon: float, reach_m: float
) -> list[tuple[str, float, float]]:
    """(public id, lat, lon) of every visible location within ``reach_m`` (spheroid), by id:
    the candidates the API's nearby cache answers from."""
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
    conn: AsyncConnection, *, public_ids: list[str], now: datetime, stale_after_s: int
) -> list[dict[str, Any]]:
    """The unfiltered summary rows of these locations (those still visible)."""
    q = _Sql()
    _base_params(q, now, stale_after_s)
    sql = f"""
        SELECT {_summary_columns(q, Filters())}
        FROM locations l JOIN networks n ON n.id = l.network_id
        WHERE l.public_id = ANY({q.bind("public_ids", public_ids)}) AND l.visible
    """
    return await _fetch(conn, sql, q.params)


# ---- viewport ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bbox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @property
    def crosses_antimeridian(self) -> bool:
        return self.min_lon > self.max_lon


async def viewport(
    conn: AsyncConnection,
    *,
    bbox: Bbox,
    limit: int,
    after: tuple[int, int] | None,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[dict[str, Any]]:
    """In a stable pseudo-random order (``sort_key``): a truncated page is an even sample of
    the viewport, not a corner of it (OCM #194). Keyset pagination on (sort_key, id)."""
    q = _Sql()
    _base_params(q, now, stale_after_s)
    boxes = (
        [(bbox.min_lon, 180.0), (-180.0, bbox.max_lon)]
        if bbox.crosses_antimeridian
        else [(bbox.min_lon, bbox.max_lon)]
    )
    envelopes = []
    for i, (west, east) in enumerate(boxes):
        envelopes.append(
            f"l.geom && ST_MakeEnvelope({q.bind(f'w{i}', west)}, {q.bind('s', bbox.min_lat)}, "
            f"{q.bind(f'e{i}', east)}, {q.bind('n', bbox.max_lat)}, 4326)"
        )
    q.where.append("(" + " OR ".join(envelopes) + ")")
    if after is not None:
        q.where.append(
            f"(l.sort_key, l.id) > ({q.bind('after_key', after[0])}, "
            f"{q.bind('after_id', after[1])})"
        )
    _location_filters(q, filters)
    sql = f"""
        SELECT {_summary_columns(q, filters)}, l.sort_key
        FROM locations l JOIN networks n ON n.id = l.network_id
        WHERE {" AND ".join(q.where)}
        ORDER BY l.sort_key, l.id
        LIMIT {q.bind("limit", limit)}
    """
    return await _fetch(conn, sql, q.params)


_FLAT_MARGIN = 1.02
_M_PER_DEGREE = 111_195.0  # a degree of latitude on the mean sphere


# ---- along a route -----------------------------------------------------------------------------
async def along_route(
    conn: AsyncConnection,
    *,
    pieces: Pieces,
    corridor_m: float,
    start_offset_m: float,
    limit: int,
    after: tuple[float, int] | None,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[dict[str, Any]]:
    """Locations within ``corridor_m`` (true metres) of the route, in route order.

    The route comes as consecutive pieces (WKB linestrings) so that each index probe covers only
    the bounding box of a short stretch. A location's offset is the length along the route to
    its closest point; its distance is the spheroid distance to the route.
    """
    q = _Sql()
    _base_params(q, now, stale_after_s)
    q.params["corridor_m"] = corridor_m
    _location_filters(q, filters)
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
        SELECT {_summary_columns(q, filters)}, page.offset_m,
               ST_Distance(l.geog, ST_SetSRID(ST_GeomFromWKB(
                   (%(pieces)s::bytea[])[page.idx]), 4326)::geography) AS distance_from_route_m
        FROM page
        JOIN locations l ON l.id = page.id
        JOIN networks n ON n.id = l.network_id
        ORDER BY page.offset_m, l.id
    """
    return await _fetch(conn, sql, q.params)


# ---- text search -------------------------------------------------------------------------------
async def text_search(
    conn: AsyncConnection,
    *,
    query: str,
    lat: float | None,
    lon: float | None,
    limit: int,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[dict[str, Any]]:
    """Over name, address, postal code, city and operator (``query`` normalised by
    ``app.domain.text.search_text``). Locations with every word first (the last word may be a
    prefix, as typed so far), closest first when a point is given, else best match first; then,
    if there are fewer than ``limit``, similar spellings (typos) by similarity and distance."""
    exact = await _exact_words(
        conn,
        query=query,
        lat=lat,
        lon=lon,
        limit=limit,
        filters=filters,
        now=now,
        stale_after_s=stale_after_s,
    )
    if len(exact) >= limit:
        return exact
    fuzzy = await _similar(
        conn,
        query=query,
        lat=lat,
        lon=lon,
        limit=limit - len(exact),
        exclude=[row["pk"] for row in exact],
        filters=filters,
        now=now,
        stale_after_s=stale_after_s,
    )
    return exact + fuzzy


def _ts_query(query: str) -> str:
    words = query.split()
    return " & ".join([*words[:-1], f"{words[-1]}:*"]) if words else ""


def _point(q: _Sql, lat: float | None, lon: float | None) -> str | None:
    if lat is None or lon is None:
        return None
    return f"ST_SetSRID(ST_MakePoint({q.bind('lon', lon)}, {q.bind('lat', lat)}), 4326)::geography"


async def _exact_words(
    conn: AsyncConnection,
    *,
    query: str,
    lat: float | None,
    lon: float | None,
    limit: int,
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[dict[str, Any]]:
    q = _Sql()
    _base_params(q, now, stale_after_s)
    words = f"to_tsquery('simple', {q.bind('tsq', _ts_query(query))})"
    q.where.append(f"l.search_words @@ {words}")
    _location_filters(q, filters)
    point = _point(q, lat, lon)
    # With a point, the GiST nearest-neighbour scan meets the matches closest first.
    key = f"l.geog <-> {point}" if point else f"-ts_rank(l.search_words, {words})"
    distance = f"ST_Distance(l.geog, {point})" if point else "NULL::float8"
    sql = f"""
        WITH page AS (
            SELECT l.id, {key} AS sort_key
            FROM locations l JOIN networks n ON n.id = l.network_id
            WHERE {" AND ".join(q.where)}
            ORDER BY {key}, l.id
            LIMIT {q.bind("limit", limit)}
        )
        SELECT {_summary_columns(q, filters)},
               word_similarity({q.bind("q", query)}, l.search_text) AS score,
               {distance} AS distance_m
        FROM page
        JOIN locations l ON l.id = page.id
        JOIN networks n ON n.id = l.network_id
        ORDER BY page.sort_key, l.id
    """
    return await _fetch(conn, sql, q.params)


async def _similar(
    conn: AsyncConnection,
    *,
    query: str,
    lat: float | None,
    lon: float | None,
    limit: int,
    exclude: list[int],
    filters: Filters,
    now: datetime,
    stale_after_s: int,
) -> list[dict[str, Any]]:
    q = _Sql()
    _base_params(q, now, stale_after_s)
    text = q.bind("q", query)
    q.where.append(f"{text} <%% l.search_text")
    if exclude:
        q.where.append(f"NOT (l.id = ANY({q.bind('exclude', exclude)}))")
    _location_filters(q, filters)
    point = _point(q, lat, lon)
    distance = f"ST_Distance(l.geog, {point})" if point else "NULL::float8"
    # Equally good matches (to two decimals) closest first.
    order = "round(m.score::numeric, 2) DESC, m.distance_m, m.id" if point else "m.score DESC, m.id"
    sql = f"""
        WITH matches AS (
            SELECT l.id, word_similarity({text}, l.search_text) AS score,
                   {distance} AS distance_m
            FROM locations l JOIN networks n ON n.id = l.network_id
            WHERE {" AND ".join(q.where)}
        ),
        page AS (
            SELECT * FROM matches m ORDER BY {order} LIMIT {q.bind("limit", limit)}
        )
        SELECT {_summary_columns(q, filters)}, page.score, page.distance_m
        FROM page
        JOIN locations l ON l.id = page.id
        JOIN networks n ON n.id = l.network_id
        ORDER BY {order.replace("m.", "page.")}
    """
    return await _fetch(conn, sql, q.params)
