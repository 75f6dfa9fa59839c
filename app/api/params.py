"""Query parameters of the discovery API: parsed and checked here, so that every bad value gets a
400 naming the parameter and the problem (never a 500)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.params import QueryParameter

from app.api.errors import ApiError, InvalidParameter
from app.domain.connectors import UnknownConnector, resolve_connector_filter
from app.domain.filters import Bbox, Filters
from app.services import Services

MAX_RADIUS_M = 200_000
MAX_LIMIT = 500
DEFAULT_NEARBY_RADIUS_M = 5_000  # an int, as the document shows it
DEFAULT_NEARBY_LIMIT = 20
# Every text parameter is bounded before it costs anything (issue 9, finding 2: the cost of a
# text search grows with its length).
MAX_QUERY_CHARS = 200
MAX_NAME_CHARS = 100
MAX_LIST_ITEMS = 50
MAX_ITEM_CHARS = 64
MAX_CURSOR_CHARS = 512
# updated_since: an RFC 3339 date-time with its offset, of a year in this range.
EARLIEST_YEAR = 2000
LATEST_YEAR = 2100
_RFC_3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})?"
)
PARKING_TYPES = (
    "ALONG_MOTORWAY",
    "PARKING_GARAGE",
    "PARKING_LOT",
    "ON_DRIVEWAY",
    "ON_STREET",
    "UNDERGROUND_GARAGE",
)


def check_text(name: str, value: str, maximum: int) -> str:
    if len(value) > maximum:
        raise InvalidParameter(name, f"must be at most {maximum} characters, got {len(value):,}")
    return value


def _list(value: str | None, name: str = "list") -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()] if value else []
    if len(items) > MAX_LIST_ITEMS:
        raise InvalidParameter(name, f"at most {MAX_LIST_ITEMS} values, got {len(items)}")
    for item in items:
        if len(item) > MAX_ITEM_CHARS:
            raise InvalidParameter(
                name, f"{item[:20]!r}… is longer than {MAX_ITEM_CHARS} characters"
            )
    return items


def check_lat_lon(lat: float, lon: float, *, lat_name: str = "lat", lon_name: str = "lon") -> None:
    if not -90 <= lat <= 90:
        raise InvalidParameter(lat_name, f"latitude {lat} is out of range (−90 to 90)")
    if not -180 <= lon <= 180:
        raise InvalidParameter(lon_name, f"longitude {lon} is out of range (−180 to 180)")


def check_limit(limit: int, name: str = "limit", maximum: int = MAX_LIMIT) -> int:
    if not 1 <= limit <= maximum:
        raise InvalidParameter(name, f"must be between 1 and {maximum}, got {limit}")
    return limit


def check_radius(radius_m: float) -> float:
    if not 0 < radius_m <= MAX_RADIUS_M:
        raise InvalidParameter(
            "radius_m", f"must be more than 0 and at most {MAX_RADIUS_M:,} m, got {radius_m:g}"
        )
    return radius_m


def parse_instant(name: str, value: str) -> datetime:
    """An RFC 3339 date-time with a UTC offset (``Z`` or ``±hh:mm``), of a year (in UTC) from
    ``EARLIEST_YEAR`` to ``LATEST_YEAR``, as an aware UTC datetime."""
    # Not stripped: the document says date-time, and so does this check.
    wrong = f"must be an RFC 3339 date-time such as 2026-01-01T00:00:00Z, got {value[:40]!r}"
    if not _RFC_3339.fullmatch(value):
        if _RFC_3339.fullmatch(value.replace(" ", "+")):
            # An unescaped + of the offset arrives as a space in a query string.
            raise InvalidParameter(name, f"{wrong}: send the + of an offset as %2B")
        raise InvalidParameter(name, wrong)
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:  # 2026-02-30, 25:00, …
        raise InvalidParameter(name, wrong) from None
    if moment.tzinfo is None:
        raise InvalidParameter(name, "needs a UTC offset (e.g. 2026-01-01T00:00:00Z or +01:00)")
    years = f"must be in the years {EARLIEST_YEAR} to {LATEST_YEAR} (UTC)"
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00, 9999-12-31T23:00:00-02:00
        raise InvalidParameter(name, years) from None
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise InvalidParameter(name, years)
    return moment


def parse_bbox(value: str) -> Bbox:
    check_text("bbox", value, 120)
    parts = value.split(",")
    if len(parts) != 4:
        raise InvalidParameter("bbox", "must be minLon,minLat,maxLon,maxLat (four numbers)")
    try:
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
    except ValueError:
        raise InvalidParameter(
            "bbox", "must be minLon,minLat,maxLon,maxLat (four numbers)"
        ) from None
    for name, lon in (("minLon", min_lon), ("maxLon", max_lon)):
        if not -180 <= lon <= 180:
            raise InvalidParameter("bbox", f"{name} {lon} is out of range (−180 to 180)")
    for name, lat in (("minLat", min_lat), ("maxLat", max_lat)):
        if not -90 <= lat <= 90:
            raise InvalidParameter("bbox", f"{name} {lat} is out of range (−90 to 90)")
    if min_lat >= max_lat:
        raise InvalidParameter("bbox", "minLat must be below maxLat")
    if min_lon == max_lon:
        raise InvalidParameter("bbox", "minLon and maxLon are equal: the box is empty")
    # minLon > maxLon is a box across the antimeridian (e.g. 170,-20,-170,0 around Fiji):
    # answered as the two boxes either side of it.
    return Bbox(min_lon, min_lat, max_lon, max_lat)


async def no_unknown_parameters(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """A guard: a query parameter the operation does not take is a 400 naming it (issue 11: a
    typo such as ``radius=900`` must not silently widen a search to the default). What an
    operation takes is read from the OpenAPI document (``app.state.query_parameters``, by
    operation id), so the document and the check cannot disagree. A coroutine: Litestar runs a
    plain function guard on a thread (a hand-off each way, on every request)."""
    if not connection.scope.get("query_string"):
        return
    state = connection.app.state
    table: dict[str, frozenset[str]] | None = state.get("query_parameters")
    if table is None:  # once per process, on the first request with a query string
        table = state.query_parameters = query_parameters(connection.app.openapi_schema.to_schema())
    known = table.get(str(getattr(handler, "operation_id", "")))
    if known is None:
        return
    unknown = sorted(set(connection.query_params) - known)
    if unknown:
        names = ", ".join(unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise ApiError(
            400,
            "unknown_parameter",
            f"unknown query parameter{plural} {names}; this endpoint takes "
            f"{', '.join(sorted(known))}",
            parameter=names,
        )


def query_parameters(document: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Per operation id of an OpenAPI document, the query parameters it takes."""
    out = {}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "operationId" in operation:
                out[operation["operationId"]] = frozenset(
                    p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"
                )
    return out


# ---- filters -----------------------------------------------------------------------------------
def _bool(name: str, value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise InvalidParameter(name, f"must be true or false, got {value!r}")


def _networks(name: str, value: str | None) -> tuple[str, ...]:
    out = []
    for item in _list(value, name):
        cc, sep, pid = item.upper().replace("-", "*").partition("*")
        if not sep or len(cc) != 2 or not 1 <= len(pid) <= 3 or not (cc + pid).isalnum():
            raise InvalidParameter(name, f"{item!r} is not a network CC*PID (e.g. NL*FLA)")
        out.append(f"{cc}*{pid}")
    return tuple(out)


def build_filters(
    *,
    connector: str | None,
    min_power_kw: float | None,
    max_power_kw: float | None,
    power_type: str | None,
    available: str | None,
    max_status_age_s: int | None,
    capability: str | None,
    network: str | None,
    exclude_network: str | None,
    operator: str | None,
    parking_type: str | None,
    facility: str | None,
    open_now: str | None,
    updated_since: str | None = None,
) -> Filters:
    try:
        standards = resolve_connector_filter(_list(connector, "connector"))
    except UnknownConnector as exc:
        raise InvalidParameter(
            "connector",
            f"unknown connector {exc.args[0]!r}: use an OCPI ConnectorType (e.g. "
            "IEC_62196_T2_COMBO) or an alias: ccs1, ccs2, ccs, type1, type2, chademo, nacs, "
            "gbt, mcs",
        ) from None
    for name, kw in (("min_power_kw", min_power_kw), ("max_power_kw", max_power_kw)):
        if kw is not None and not 0 <= kw <= 10_000:
            raise InvalidParameter(name, f"must be between 0 and 10000 kW, got {kw:g}")
    if min_power_kw is not None and max_power_kw is not None and min_power_kw > max_power_kw:
        raise InvalidParameter("max_power_kw", "must not be below min_power_kw")
    power_class = None
    if power_type:
        power_class = power_type.strip().upper()
        if power_class not in ("AC", "DC"):
            raise InvalidParameter("power_type", f"must be AC or DC, got {power_type!r}")
    if max_status_age_s is not None and max_status_age_s <= 0:
        raise InvalidParameter("max_status_age_s", "must be a positive number of seconds")
    parking = tuple(p.upper() for p in _list(parking_type, "parking_type"))
    for p in parking:
        if p not in PARKING_TYPES:
            raise InvalidParameter(
                "parking_type", f"unknown parking type {p!r}: one of {', '.join(PARKING_TYPES)}"
            )
    return Filters(
        standards=standards,
        min_power_kw=min_power_kw,
        max_power_kw=max_power_kw,
        power_class=power_class,
        available=_bool("available", available),
        max_status_age_s=max_status_age_s,
        capabilities=tuple(c.upper() for c in _list(capability, "capability")),
        networks=_networks("network", network),
        exclude_networks=_networks("exclude_network", exclude_network),
        operator=check_text("operator", operator.strip(), MAX_NAME_CHARS)
        if operator and operator.strip()
        else None,
        parking_types=parking,
        facilities=tuple(f.upper() for f in _list(facility, "facility")),
        open_now=_bool("open_now", open_now),
        updated_since=parse_instant("updated_since", updated_since)
        if updated_since is not None
        else None,
    )


async def provide_filters(
    # Not used here: taking it makes Litestar resolve the services before the filters, one after
    # the other, instead of both in an anyio task group (~20 µs a request, measured).
    services: NamedDependency[Services],
    connector: Annotated[
        str | None,
        QueryParameter(
            description="Comma list of OCPI ConnectorType values or aliases (ccs1, ccs2, ccs, "
            "type1, type2, chademo, nacs, gbt, mcs). Matched on one EVSE.",
        ),
    ] = None,
    min_power_kw: Annotated[
        float | None,
        QueryParameter(
            description="A connector of at least this power (kW), on the same EVSE as the other "
            "EVSE filters.",
            ge=0,
        ),
    ] = None,
    max_power_kw: Annotated[
        float | None, QueryParameter(description="A connector of at most this power (kW).", ge=0)
    ] = None,
    power_type: Annotated[str | None, QueryParameter(description="AC or DC.")] = None,
    available: Annotated[
        str | None,
        QueryParameter(
            description="true: an EVSE (with the other EVSE filters) is AVAILABLE now, with a "
            "status that is not stale."
        ),
    ] = None,
    max_status_age_s: Annotated[
        int | None,
        QueryParameter(
            description="A status older than this (seconds) is stale: counted as stale and never "
            "as available."
        ),
    ] = None,
    capability: Annotated[
        str | None,
        QueryParameter(
            description="Comma list of OCPI Capability values the EVSE must all have (e.g. "
            "CREDIT_CARD_PAYABLE,RESERVABLE)."
        ),
    ] = None,
    network: Annotated[
        str | None, QueryParameter(description="Comma list of networks (CC*PID): only these.")
    ] = None,
    exclude_network: Annotated[
        str | None, QueryParameter(description="Comma list of networks (CC*PID) to leave out.")
    ] = None,
    operator: Annotated[
        str | None, QueryParameter(description="Operator name contains this (case-insensitive).")
    ] = None,
    parking_type: Annotated[
        str | None,
        QueryParameter(description="Comma list of OCPI ParkingType values: any of them."),
    ] = None,
    facility: Annotated[
        str | None, QueryParameter(description="Comma list of OCPI Facility values: any of them.")
    ] = None,
    open_now: Annotated[
        str | None,
        QueryParameter(
            description="true: leave out locations known to be closed now (in their own time "
            "zone). Locations without opening hours are kept."
        ),
    ] = None,
    updated_since: Annotated[
        str | None,
        QueryParameter(
            description="RFC 3339 date-time with an offset (e.g. 2026-01-01T00:00:00Z): only "
            "locations whose last_updated is strictly later. last_updated moves with every "
            "change of the location, its EVSEs or connectors (statuses included)."
        ),
    ] = None,
) -> Filters:
    return build_filters(
        connector=connector,
        min_power_kw=min_power_kw,
        max_power_kw=max_power_kw,
        power_type=power_type,
        available=available,
        max_status_age_s=max_status_age_s,
        capability=capability,
        network=network,
        exclude_network=exclude_network,
        operator=operator,
        parking_type=parking_type,
        facility=facility,
        open_now=open_now,
        updated_since=updated_since,
    )


def filters_from_body(body: dict[str, Any]) -> Filters:
    """The ``filters`` object of a POST body, with the same names as the query parameters."""
    unknown = set(body) - FILTER_NAMES
    if unknown:
        raise InvalidParameter(f"filters.{sorted(unknown)[0]}", "unknown filter")

    def text(name: str) -> str | None:
        value = body.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return str(value)

    def number(name: str) -> float | None:
        value = body.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameter(f"filters.{name}", "must be a number")
        return float(value)

    age = body.get("max_status_age_s")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int)):
        raise InvalidParameter("filters.max_status_age_s", "must be an integer")
    try:
        return build_filters(
            connector=text("connector"),
            min_power_kw=number("min_power_kw"),
            max_power_kw=number("max_power_kw"),
            power_type=text("power_type"),
            available=text("available"),
            max_status_age_s=age,
            capability=text("capability"),
            network=text("network"),
            exclude_network=text("exclude_network"),
            operator=text("operator"),
            parking_type=text("parking_type"),
            facility=text("facility"),
            open_now=text("open_now"),
            updated_since=text("updated_since"),
        )
    except InvalidParameter as exc:
        raise InvalidParameter(f"filters.{exc.parameter}", exc.message) from None


FILTER_NAMES = frozenset(
    {
        "connector",
        "min_power_kw",
        "max_power_kw",
        "power_type",
        "available",
        "max_status_age_s",
        "capability",
        "network",
        "exclude_network",
        "operator",
        "parking_type",
        "facility",
        "open_now",
        "updated_since",
    }
)


# ---- cursors -----------------------------------------------------------------------------------
def _fingerprint(query: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:12]


def encode_cursor(position: list[Any], query: dict[str, Any]) -> str:
    payload = json.dumps({"p": position, "q": _fingerprint(query)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, query: dict[str, Any], name: str = "cursor") -> list[Any]:
    """The position a cursor points at; 400 if it is malformed or from another query."""
    check_text(name, cursor, MAX_CURSOR_CHARS)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position = payload["p"]
        fingerprint = payload["q"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidParameter(name, "is not a cursor this API issued") from None
    if fingerprint != _fingerprint(query):
        raise InvalidParameter(name, "belongs to a different query (same parameters required)")
    if not isinstance(position, list):
        raise InvalidParameter(name, "is not a cursor this API issued")
    return position


def list_param(value: str | None, name: str) -> list[str]:
    """A comma list parameter, bounded like every other (``MAX_LIST_ITEMS`` values)."""
    return _list(value, name)
