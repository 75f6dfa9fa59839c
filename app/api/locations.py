"""The discovery API (issue 4): nearby, viewport, along-route, text search and detail.

Each handler validates, calls one query, and shapes the answer (style.md, habit 1).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, cast

import msgspec
from litestar import Request, Router, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.params import PathParameter, QueryParameter
from litestar.response import Response

from app.api import caching, pricing
from app.api import params as p
from app.api.errors import ApiError, InvalidParameter, invalid_body
from app.api.geojson import GEOJSON, feature, feature_collection, wants_geojson
from app.api.nearby_fast import NearbyFromIndex
from app.api.pricer import PriceAsk, PricedTariff
from app.api.pricing import PRICE_CANDIDATES
from app.api.schemas import (
    AlongRouteRequest,
    Connector,
    Coordinates,
    Evse,
    LocationDetail,
    LocationSummary,
    ParkingPlace,
    Results,
    SourceInfo,
    TariffInfo,
)
from app.api.summaries import summarise
from app.domain.filters import NO_FILTERS, Bbox, Filters
from app.domain.route import Pieces, Points, RouteError, pieces, route_points, validate
from app.domain.tariffs import display_tariff
from app.domain.text import search_text
from app.live.nearby_index import NearbyIndex
from app.services import Services
from app.store import detail as detail_store
from app.store import discovery, read_lag_s, search

AnyRequest = Request[Any, Any, Any]
JSON = "application/json"
# A string checked by wants_geojson, not a Literal: Litestar's lax conversion reads the text
# ``null`` as None for an optional Literal, so ``format=null`` was silently the default (found
# by tests/api/test_contract.py). The document shows it as ``ResponseFormat`` (app.api.openapi).
FormatParam = Annotated[
    str | None,
    QueryParameter(
        name="format", description="json (default) or geojson; or send Accept: application/geo+json"
    ),
]
_encoder = msgspec.json.Encoder()


def _answer(request: AnyRequest, results: Results, format_: str | None) -> Response[Any]:
    if wants_geojson(request.headers.get("accept"), format_):
        return caching.answer(request, feature_collection(results), media_type=GEOJSON)
    return caching.answer(request, _encoder.encode(results), media_type=JSON)


def results_of(
    rows: list[dict[str, Any]], filters: Filters, next_cursor: str | None = None
) -> Results:
    return answer_of([summarise(row, filters) for row in rows], next_cursor)


def answer_of(summaries: list[LocationSummary], next_cursor: str | None = None) -> Results:
    """The list answer, saying how old its data may be when a replica answered (issue 15)."""
    now = datetime.now(UTC)
    lag_s = read_lag_s()
    as_of = None if lag_s is None else now - timedelta(seconds=lag_s)
    return Results(summaries, len(summaries), now, next_cursor, data_as_of=as_of)


Row = dict[str, Any]


async def priced(
    services: Services,
    rows: list[Row],
    filters: Filters,
    ask: PriceAsk,
) -> list[tuple[Row, LocationSummary]]:
    """The rows' summaries with prices, filtered and ordered by price as asked; each with its
    row (for the cursor)."""
    now = datetime.now(UTC)
    summaries = [summarise(row, filters) for row in rows]
    found = await pricing.price_summaries(services.pricer, rows, summaries, ask, filters, now)
    row_of = {id(summary): row for row, summary in zip(rows, summaries, strict=True)}
    return [(row_of[id(summary)], summary) for summary in pricing.rank(found, ask)]


def _priced_page(
    ranked: list[tuple[Row, LocationSummary]],
    rows: list[Row],
    read: int,
    limit: int,
    ask: PriceAsk,
    query: dict[str, Any],
    keys: tuple[str, str],
    after: tuple[Any, Any] | None,
    skip: int,
) -> Results:
    """A priced page of a paged endpoint and its cursor (``[key, key]``: after that row;
    ``[key, key, skip]``: the run after that row, ranked, from its ``skip``-th).

    Filtered in the endpoint's order, the next page starts after the last one shown (or after
    the run read, when fewer were kept). Ranked by price, a run of up to ``PRICE_CANDIDATES``
    is paged through in price order, then the next run is ranked."""
    if ask.sort:
        shown = ranked[skip : skip + limit]
        position: list[Any] | None = None
        if skip + limit < len(ranked):
            position = [*(after or (None, None)), skip + limit]
        elif len(rows) == read:
            position = [rows[-1][k] for k in keys]
    else:
        shown = ranked[:limit]
        last = shown[-1][0] if len(shown) == limit else rows[-1] if len(rows) == read else None
        position = [last[k] for k in keys] if last else None
    cursor = p.encode_cursor(position, query) if position else None
    summaries = [summary for _, summary in shown]
    return answer_of(summaries, cursor)


def _position(position: list[Any], kinds: tuple[type, type]) -> tuple[tuple[Any, Any] | None, int]:
    """(after which row, how many of its ranked run to skip) from a cursor's position."""
    if len(position) == 3 and isinstance(position[2], int) and position[2] >= 0:
        if position[:2] == [None, None]:
            return None, position[2]
        head, skip = position[:2], position[2]
    elif len(position) == 2:
        head, skip = position, 0
    else:
        raise InvalidParameter("cursor", "is not a cursor this API issued")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in head):
        raise InvalidParameter("cursor", "is not a cursor this API issued")
    if any(kind is int and not isinstance(v, int) for kind, v in zip(kinds, head, strict=True)):
        raise InvalidParameter("cursor", "is not a cursor this API issued")
    return (kinds[0](head[0]), kinds[1](head[1])), skip


def _candidates(limit: int, ask: PriceAsk | None) -> int:
    """How many rows to read: more than a page when the order or the filter is the price."""
    return max(limit, PRICE_CANDIDATES) if ask is not None and ask.reorders else limit


def _query_key(query: dict[str, Any], ask: PriceAsk | None) -> dict[str, Any]:
    """A cursor belongs to its question, price parameters included when they pick the rows."""
    return {**query, "price": repr(ask)} if ask is not None and ask.reorders else query


# The filters are a dependency of the GET handlers only, not of the router: Litestar takes a
# body field named like a dependency of the route for that dependency, so a bad ``filters`` of
# the along-route body was a 500 instead of a 400 (found by tests/api/test_contract.py).
FILTERS = {
    "filters": Provide(p.provide_filters),
    "price_ask": Provide(pricing.provide_price_ask),
}


@get(
    "/nearby",
    summary="Locations near a point, closest first",
    operation_id="nearbyLocations",
    dependencies=FILTERS,
    middleware=[NearbyFromIndex],
)
async def nearby(
    request: AnyRequest,
    filters: NamedDependency[Filters],
    services: NamedDependency[Services],
    price_ask: NamedDependency[PriceAsk | None],
    lat: Annotated[float, QueryParameter(description="Latitude (WGS 84).", examples=[])],
    lon: Annotated[float, QueryParameter(description="Longitude (WGS 84).")],
    radius_m: Annotated[
        float, QueryParameter(description="Search radius in metres (max 200,000).")
    ] = p.DEFAULT_NEARBY_RADIUS_M,
    limit: Annotated[
        int, QueryParameter(description="At most this many results (1–500).")
    ] = p.DEFAULT_NEARBY_LIMIT,
    format_: FormatParam = None,
) -> Response[Results]:
    """Ordered by true distance on the Earth (``distance_m``), with live availability. With
    ``energy_kwh``, priced; ``sort=price`` / ``max_price`` rank or filter the nearest 500.

    A question of only a point, radius and limit is answered before this handler runs, by the
    route's middleware, when the nearby index can (``app.api.nearby_fast``)."""
    p.check_lat_lon(lat, lon)
    p.check_radius(radius_m)
    p.check_limit(limit)
    index = services.nearby_index
    if (
        index is not None
        and price_ask is None
        and index.answers(filters, radius_m, limit)
        and not wants_geojson(request.headers.get("accept"), format_)
    ):
        body = await index.nearby(lat, lon, radius_m, limit)
        if body is not None:  # Results, already encoded
            return cast("Response[Results]", caching.answer(request, body, media_type=JSON))
    rows = await discovery.nearby(
        services.store,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        limit=_candidates(limit, price_ask),
        filters=filters,
        now=datetime.now(UTC),
        stale_after_s=services.settings.stale_after_s,
    )
    if price_ask is None:
        return _answer(request, results_of(rows, filters), format_)
    kept = [summary for _, summary in (await priced(services, rows, filters, price_ask))[:limit]]
    return _answer(request, answer_of(kept), format_)


@get(
    "/",
    summary="Locations in a map viewport",
    operation_id="viewportLocations",
    dependencies=FILTERS,
)
async def viewport(
    request: AnyRequest,
    filters: NamedDependency[Filters],
    services: NamedDependency[Services],
    price_ask: NamedDependency[PriceAsk | None],
    bbox: Annotated[
        str,
        QueryParameter(
            description="minLon,minLat,maxLon,maxLat. minLon > maxLon means a box across the "
            "antimeridian."
        ),
    ],
    limit: Annotated[int, QueryParameter(description="Page size (1–500).")] = 500,
    cursor: Annotated[
        str | None, QueryParameter(description="next_cursor of the previous page.")
    ] = None,
    format_: FormatParam = None,
) -> Response[Results]:
    """A stable order that spreads a truncated page evenly over the viewport; ``next_cursor``
    pages through the rest. With ``energy_kwh``, priced; ``max_price`` filters and
    ``sort=price`` ranks each run of up to 500 locations in that order."""
    box = p.parse_bbox(bbox)
    p.check_limit(limit)
    query = _query_key({"bbox": bbox, "filters": filters}, price_ask)
    after, skip = None, 0
    if cursor:
        after, skip = _position(p.decode_cursor(cursor, query), (int, int))
    index = services.nearby_index
    if (
        index is not None
        and price_ask is None
        and filters == NO_FILTERS
        and not wants_geojson(request.headers.get("accept"), format_)
    ):
        body = await _viewport_from_index(services, index, box, limit, after, query)
        if body is not None:
            return cast("Response[Results]", caching.answer(request, body, media_type=JSON))
    read = _candidates(limit, price_ask)
    rows = await discovery.viewport(
        services.store,
        bbox=box,
        limit=read,
        after=after,
        filters=filters,
        now=datetime.now(UTC),
        stale_after_s=services.settings.stale_after_s,
    )
    if price_ask is None:
        next_cursor = None
        if len(rows) == limit:
            next_cursor = p.encode_cursor([rows[-1]["sort_key"], rows[-1]["pk"]], query)
        return _answer(request, results_of(rows, filters, next_cursor), format_)
    ranked = await priced(services, rows, filters, price_ask)
    keys = ("sort_key", "pk")
    page = _priced_page(ranked, rows, read, limit, price_ask, query, keys, after, skip)
    return _answer(request, page, format_)


async def _viewport_from_index(
    services: Services,
    index: NearbyIndex,
    box: Bbox,
    limit: int,
    after: tuple[int, int] | None,
    query: dict[str, Any],
) -> bytes | None:
    """The unfiltered page: its keys from PostgreSQL, its summaries from the nearby index (the
    same bodies; None when the index cannot give them all). The rest of the answer is encoded
    as the handler's, the bodies put in its empty list."""
    rows = await discovery.viewport_keys(services.store, bbox=box, limit=limit, after=after)
    bodies = await index.bodies([row["public_id"] for row in rows])
    if bodies is None:
        return None
    next_cursor = None
    if len(rows) == limit:
        next_cursor = p.encode_cursor([rows[-1]["sort_key"], rows[-1]["pk"]], query)
    rest = _encoder.encode(answer_of([], next_cursor))
    assert rest.startswith(EMPTY_ANSWER)
    head = b'{"results":[' + b",".join(bodies) + b'],"count":%d' % len(bodies)
    return head + rest[len(EMPTY_ANSWER) :]


EMPTY_ANSWER = b'{"results":[],"count":0'  # how msgspec begins an empty Results

MAX_CORRIDOR_M = 50_000
MAX_ROUTE_POINTS = 50_000
# 50,000 GeoJSON positions with 7 decimals and a little whitespace fit in ~1.5 MB; beyond this a
# body is refused before it is read whole, let alone decoded (issue 9, finding 3).
MAX_ROUTE_BODY_BYTES = 4 * 1024 * 1024
# Cutting a long route (numpy) runs in a thread: the event loop keeps answering meanwhile.
THREAD_FROM_POINTS = 5_000


async def route_size_guard(connection: ASGIConnection[Any, Any, Any, Any], _: Any) -> None:
    """Counts the positions of a route in the raw body (one ``[`` each, a cheap byte scan)
    before the body is decoded: a route of a million points costs a scan, not a decode."""
    body = await cast("Request[Any, Any, Any]", connection).body()
    if body.count(b"[") > MAX_ROUTE_POINTS + 10:
        raise InvalidParameter(
            "route", f"has more than {MAX_ROUTE_POINTS:,} points (at most {MAX_ROUTE_POINTS:,})"
        )


_along_route_body: Final = msgspec.json.Decoder(AlongRouteRequest)


def _decode_body(body: bytes) -> AlongRouteRequest:
    """Decoded here, not by Litestar: it decodes a body into Python objects and then converts
    them, so a route of 28,000 points became 28,000 lists (40 ms, most of it the garbage
    collector) before it was read again; the route stays raw JSON until ``route_points``."""
    try:
        return _along_route_body.decode(body)
    except msgspec.DecodeError as error:
        raise invalid_body(error) from None


def _read_route(raw: bytes) -> tuple[Points, Pieces]:
    """The route's points, validated, and its stretches."""
    try:
        points = validate(route_points(raw))
    except RouteError as exc:
        raise InvalidParameter("route", str(exc)) from None
    return points, pieces(points)


@post(
    "/along-route",
    summary="Locations along a route, in route order",
    operation_id="locationsAlongRoute",
    status_code=200,
    request_max_body_size=MAX_ROUTE_BODY_BYTES,
    guards=[route_size_guard],
)
async def along_route(
    request: AnyRequest,
    services: NamedDependency[Services],
    format_: FormatParam = None,
) -> Response[Results]:
    """Every location within ``corridor_m`` metres of the route, ordered by ``route_offset_m``
    (distance along the route to its closest point), with ``distance_from_route_m`` (the
    straight distance from the route, not a driving detour). Routes of up to 50,000 points /
    10,000 km: a GeoJSON LineString, a Feature or FeatureCollection holding one, or an encoded
    polyline."""
    data = _decode_body(await request.body())
    route = bytes(data.route)
    if route.count(b"[") > THREAD_FROM_POINTS:  # about one per position
        points, route_pieces = await asyncio.to_thread(_read_route, route)
    else:
        points, route_pieces = _read_route(route)
    if not 0 < data.corridor_m <= MAX_CORRIDOR_M:
        raise InvalidParameter(
            "corridor_m",
            f"must be more than 0 and at most {MAX_CORRIDOR_M:,} m, got {data.corridor_m:g}",
        )
    if data.start_offset_m < 0:
        raise InvalidParameter("start_offset_m", "must not be negative")
    p.check_limit(data.limit)
    filters = p.filters_from_body(data.filters)
    price_ask = pricing.build_price_ask(
        energy_kwh=data.energy_kwh,
        car_max_power_kw=data.car_max_power_kw,
        start_at=data.start_at,
        parking_min=data.parking_min,
        sort=data.sort,
        max_price=data.max_price,
        currency=data.currency,
    )
    query = _query_key(
        {
            # The points as read: the same route is the same question however it was sent.
            "route": hashlib.sha256(points.tobytes()).hexdigest(),
            "corridor_m": data.corridor_m,
            "start_offset_m": data.start_offset_m,
            "filters": filters,
        },
        price_ask,
    )
    after, skip = None, 0
    if data.cursor:
        after, skip = _position(p.decode_cursor(data.cursor, query), (float, int))
    read = _candidates(data.limit, price_ask)
    rows = await discovery.along_route(
        services.store,
        pieces=route_pieces,
        corridor_m=data.corridor_m,
        start_offset_m=data.start_offset_m,
        limit=read,
        after=after,
        filters=filters,
        now=datetime.now(UTC),
        stale_after_s=services.settings.stale_after_s,
    )
    if price_ask is None:
        next_cursor = None
        if len(rows) == data.limit:
            next_cursor = p.encode_cursor([rows[-1]["offset_m"], rows[-1]["pk"]], query)
        return _answer(request, results_of(rows, filters, next_cursor), format_)
    # Each stop is priced in its own time zone; ranked by price: the cheapest of the next 500.
    ranked = await priced(services, rows, filters, price_ask)
    keys = ("offset_m", "pk")
    page = _priced_page(ranked, rows, read, data.limit, price_ask, query, keys, after, skip)
    return _answer(request, page, format_)


@get(
    "/v1/search",
    summary="Text search over name, address, city, postal code, operator and EVSE ids",
    operation_id="searchLocations",
)
async def text_search(
    request: AnyRequest,
    filters: NamedDependency[Filters],
    services: NamedDependency[Services],
    price_ask: NamedDependency[PriceAsk | None],
    q: Annotated[
        str,
        QueryParameter(
            description="What to look for, in any script (transliterated: moskva finds Москва); "
            "typos are tolerated; an EVSE id or uid (NL*PGO*ABL00002*1) finds its location."
        ),
    ],
    lat: Annotated[
        float | None, QueryParameter(description="Rank equal matches by distance from this point.")
    ] = None,
    lon: Annotated[float | None, QueryParameter(description="See lat.")] = None,
    limit: Annotated[int, QueryParameter(description="At most this many results (1–100).")] = 20,
    format_: FormatParam = None,
) -> Response[Results]:
    """EVSE ids first, then locations with every word (closest first when a point is given),
    then similar spellings by similarity weighed by distance. Locations whose names say they
    are tests come after every real match."""
    p.check_text("q", q, p.MAX_QUERY_CHARS)
    if len(search_text(q)) < 2:
        raise InvalidParameter("q", "needs at least two letters or digits")
    if (lat is None) != (lon is None):
        raise InvalidParameter("lat" if lat is None else "lon", "lat and lon go together")
    if lat is not None and lon is not None:
        p.check_lat_lon(lat, lon)
    p.check_limit(limit, maximum=100)
    rows = await search.text_search(
        services.store,
        query=q,
        lat=lat,
        lon=lon,
        limit=100 if price_ask is not None and price_ask.reorders else limit,
        filters=filters,
        now=datetime.now(UTC),
        stale_after_s=services.settings.stale_after_s,
    )
    if price_ask is None:
        return _answer(request, results_of(rows, filters), format_)
    kept = [summary for _, summary in (await priced(services, rows, filters, price_ask))[:limit]]
    return _answer(request, answer_of(kept), format_)


@get(
    "/{location_id:str}",
    summary="Everything about one location",
    operation_id="getLocation",
)
async def detail(
    request: AnyRequest,
    services: NamedDependency[Services],
    detail_price_ask: NamedDependency[PriceAsk],
    location_id: Annotated[str, PathParameter(description="The stable public id of a location.")],
    format_: FormatParam = None,
) -> Response[LocationDetail]:
    """Every visible EVSE with status and status age, connectors with power and tariffs, the
    tariffs and a price summary, opening times, operator, and the source network's freshness.
    Each connector, connector group and the location carry the ``price`` of a session
    (``energy_kwh``, default 30 kWh).
    ``ETag`` lets a client ask again cheaply (``If-None-Match`` → 304)."""
    found = await detail_store.location_detail(
        services.store,
        location_id,
        now=datetime.now(UTC),
        stale_after_s=services.settings.stale_after_s,
    )
    if found is None and (head := await detail_store.merged_head(services.store, location_id)):
        # A record merged into another source's record of its site answers as that site.
        found = await detail_store.location_detail(
            services.store,
            head,
            now=datetime.now(UTC),
            stale_after_s=services.settings.stale_after_s,
        )
    if found is None:
        raise ApiError(404, "not_found", f"no location {location_id}", parameter="location_id")
    priced_detail = await pricing.price_detail(
        services.pricer, *found, detail_price_ask, datetime.now(UTC)
    )
    body = detail_body(*found, priced_detail.tariffs, priced_detail)
    geojson = wants_geojson(request.headers.get("accept"), format_)
    payload = _encoder.encode(feature(body) if geojson else body)
    return caching.answer(
        request,
        payload,
        media_type=GEOJSON if geojson else JSON,
        version=_encoder.encode(_without_ages(body)),
    )


def _without_ages(body: LocationDetail) -> LocationDetail:
    """The detail without what only the clock changes (its ETag is of this)."""
    return msgspec.structs.replace(
        body,
        evses=[msgspec.structs.replace(e, status_age_s=0) for e in body.evses],
        source=body.source and msgspec.structs.replace(body.source, silent_s=None),
    )


def detail_body(
    location: dict[str, Any],
    evses: list[dict[str, Any]],
    tariffs: list[dict[str, Any]],
    decoded: dict[str, PricedTariff],
    prices: pricing.DetailPrices | None,
) -> LocationDetail:
    """The detail of one location from its rows (``app.store.detail``), its tariffs as decoded
    by the pricer (by stored tariff id), and the session priced on it. Without ``prices`` (the
    snapshot and the change feed) it has no ``price`` keys."""
    summary = summarise(location, NO_FILTERS)
    if prices is not None:
        pricing.attach_groups(summary, prices.groups, prices.ask)
    silent = bool(location["network_silent"])
    tariff_infos = [tariff_info(t, decoded.get(t["tariff_id"])) for t in tariffs]
    known = {t["tariff_id"] for t in tariffs}
    referenced = sorted({tid for e in evses for c in e["connectors"] for tid in c["tariff_ids"]})
    shown = display_tariff(
        [
            {
                "type": t.type,
                "start_date_time": t.start_date_time and t.start_date_time.isoformat(),
                "end_date_time": t.end_date_time and t.end_date_time.isoformat(),
                "summary": t.summary,
            }
            for t in tariff_infos
        ],
        datetime.now(UTC),
    )
    return LocationDetail(
        **{f: getattr(summary, f) for f in LocationSummary.__struct_fields__},
        state=location["state"],
        time_zone=location["time_zone"],
        parking_type=location["parking_type"],
        facilities=location["facilities"],
        opening_times=location["opening_times"],
        charging_when_closed=location["charging_when_closed"],
        directions=location["directions"],
        images=location["images"],
        operator_details=location["operator_details"],
        suboperator=location["suboperator"],
        owner=location["owner"],
        energy_mix=location["energy_mix"],
        help_phone=location["help_phone"],
        evses=[
            Evse(
                uid=e["uid_raw"],
                evse_id=e["evse_id"],
                status=e["status"],
                status_bucket=e["status_bucket"],
                status_updated_at=e["status_updated_at"],
                status_age_s=max(0, e["status_age_s"]),
                stale=silent,
                capabilities=e["capabilities"],
                floor_level=e["floor_level"],
                physical_reference=e["physical_reference"],
                parking_restrictions=e["parking_restrictions"],
                coordinates=Coordinates(e["lat"], e["lon"]) if e["lat"] is not None else None,
                connectors=[_connector(c, prices, e["uid_raw"]) for c in e["connectors"]],
                parking=[msgspec.convert(p, ParkingPlace) for p in e["parking"]],
                accepted_service_providers=e["accepted_service_providers"],
            )
            for e in evses
        ],
        tariffs=tariff_infos,
        unknown_tariff_ids=[t for t in referenced if t not in known],
        price_summary=shown["summary"] if shown else None,
        last_updated=location["last_updated"],
        source=SourceInfo(
            network=location["network_name"],
            ocpi_version=location["ocpi_version"],
            last_contact_at=location["last_contact_at"],
            silent_s=location["silent_s"],
            live=not silent,
            last_updated=location["last_updated"],
            received_at=location["received_at"],
        ),
    )


def _connector(
    raw: dict[str, Any], prices: pricing.DetailPrices | None, evse_uid: str
) -> Connector:
    connector = msgspec.convert(raw, Connector)
    if prices is not None:
        price = prices.connectors.get((evse_uid, raw["id"]))
        connector.price = price.wire if price else None
    return connector


def tariff_info(t: dict[str, Any], decoded: PricedTariff | None) -> TariffInfo:
    return TariffInfo(
        id=t["tariff_id_raw"],
        currency=t["currency"],
        type=t["type"],
        summary=t["summary"],
        elements=t["elements"],
        min_price=t["min_price"],
        max_price=t["max_price"],
        alt_text=t["alt_text"],
        alt_url=t["alt_url"],
        start_date_time=t["start_date_time"],
        end_date_time=t["end_date_time"],
        active=t["active"],
        last_updated=t["last_updated"],
        tax_included=t["tax_included"],
        summary_incl_vat=decoded.summary_incl_vat if decoded else None,
        basis=decoded.basis if decoded else "tariff",
        source_text=decoded.source_text if decoded else None,
        unpriceable_reason=decoded.reason if decoded else None,
    )


locations_router = Router(
    path="/v1/locations",
    route_handlers=[nearby, viewport, along_route, detail],
    dependencies={"detail_price_ask": Provide(pricing.provide_detail_price_ask)},
    guards=[p.no_unknown_parameters],
    tags=["discovery"],
)
search_router = Router(
    path="/",
    route_handlers=[text_search],
    dependencies=FILTERS,
    guards=[p.no_unknown_parameters],
    tags=["discovery"],
)
