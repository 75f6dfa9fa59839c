"""The OpenAPI 3.1 document at ``/schema`` (issue 11: "an OpenAPI a generator can use").

Litestar writes the paths and parameters from the handlers' signatures. This module finishes
the document where Litestar cannot say what the API does:

- every component schema of a wire type is msgspec's own JSON Schema of that type (what the
  API encodes is what the document says; ``msgspec.json.schema_components``);
- every error answer is the API's ``ErrorBody`` (Litestar documents its own
  ``{status_code, detail}``), with ``Retry-After`` and the ``RateLimit`` fields where they are
  sent; 304 for the answers that carry an ETag; ``application/geo+json`` beside JSON;
- ``route`` of the along-route body is one of the four shapes it accepts;
- the bounds that ``app.api.params`` and the handlers enforce are stated (``minimum``,
  ``maximum``, ``maxLength``), and ``format`` is one shared ``ResponseFormat``;
- the stream is ``text/event-stream``;
- an example per endpoint, built from the wire types (``app.api.examples``);
- the API key schemes.

Operation ids are set on the handlers; ``OPERATIONS`` here says, per operation id, what the
finishing adds. ``tests/api/test_public_api.py`` and the generated-client test hold it true.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin

from app.api import examples
from app.api import params as p
from app.api.live import Clusters
from app.api.locations import MAX_CORRIDOR_M
from app.api.networks import NetworkInfo
from app.api.price import PlanIn, PriceRequest
from app.api.pricing import MAX_CAR_POWER_KW, MAX_ENERGY_KWH, MAX_PARKING_MIN, MIN_ENERGY_KWH
from app.api.schemas import (
    ROUTE_SHAPES,
    AlongRouteRequest,
    ErrorBody,
    LocationDetail,
    Results,
)
from app.price import ChargingSessionIn, PriceResult

REF = "#/components/schemas/{name}"
ERROR_REF = {"$ref": REF.format(name="ErrorBody")}
GEOJSON = "application/geo+json"

ERRORS = {
    400: "Bad input: ``parameter`` names the query parameter, body field or header at fault.",
    401: "An API key is required and missing, unknown or revoked (``WWW-Authenticate``).",
    404: "No such location (or route).",
    408: "The request body did not arrive in time (15 s from the start of the request).",
    413: "The body is larger than the route limit (4 MiB).",
    414: "The query string is longer than 4,096 bytes (app.limits, in front of every route).",
    429: "The key's rate limit or daily quota is spent: retry after ``Retry-After`` seconds.",
    500: "An internal error; ``request_id`` is in the service's log line of it.",
    503: "The database (or, for the stream, Redis) is unavailable: retry after "
    "``Retry-After`` seconds.",
    504: "The query ran past its time limit and was cancelled: ask for less, or retry.",
    410: "The cursor is older than the changes kept, or after the newest: load the snapshot "
    "(``GET /v1/export``) again and follow its ``Wattlas-Cursor``.",
}
HEADER_DOCS = {
    "Wattlas-Cursor": "The change-feed cursor the snapshot is consistent with: follow "
    "``GET /v1/changes?cursor=`` from it.",
    "Retry-After": "Seconds to wait before retrying.",
    "RateLimit": 'The key\'s remaining quota, e.g. ``"minute";r=59;t=42`` (IETF '
    "draft-ietf-httpapi-ratelimit-headers): r calls remain in the window, which ends in t "
    "seconds. Sent on every answer to a call made with a key.",
    "RateLimit-Policy": 'The key\'s limits, e.g. ``"minute";q=60;w=60, "day";q=10000;w=86400``.',
    "ETag": "A weak tag of the answer's content (not of its ages): send it back in "
    "If-None-Match to get a 304 while nothing changed.",
    "Cache-Control": "How long shared caches (a CDN) and browsers may keep the answer.",
    "WWW-Authenticate": "How to authenticate: a Bearer key (or the X-Api-Key header).",
    "X-Request-ID": "The id of the failure in the service's log.",
    "Wattlas-Replica-Lag-S": "Sent when a read replica answered (part of) the question: its "
    "replay lag behind the primary, in seconds (at most ``WATTLAS_REPLICA_MAX_LAG_S``). "
    "Absent: the primary answered.",
}


@dataclass(frozen=True)
class Operation:
    example: Any  # the 200 body, as a wire type (or text for the stream)
    errors: tuple[int, ...] = (400, 401, 414, 429, 500, 503, 504)
    geojson: bool = True  # answers application/geo+json too (format=geojson / Accept)
    revalidates: bool = True  # ETag and 304
    keyed: bool = True  # counted against an API key when one is sent
    request_examples: dict[str, Any] = field(default_factory=dict)
    request_summary: str = "route as {name}"  # of each request example
    request_body: str | None = None  # a body the handler reads itself: its component's name
    max_limit: int = p.MAX_LIMIT  # the largest ``limit`` it takes


OPERATIONS: dict[str, Operation] = {
    "nearbyLocations": Operation(examples.NEARBY),
    "viewportLocations": Operation(examples.VIEWPORT),
    "locationsAlongRoute": Operation(
        examples.ALONG_ROUTE,
        errors=(400, 401, 408, 413, 414, 429, 500, 503, 504),
        request_examples=examples.ROUTE_BODIES,
        request_body="AlongRouteRequest",
    ),
    "searchLocations": Operation(examples.SEARCH, max_limit=100),
    "getLocation": Operation(examples.DETAIL, errors=(400, 401, 404, 414, 429, 500, 503, 504)),
    "getClusters": Operation(examples.CLUSTERS, geojson=False),
    "listNetworks": Operation(examples.NETWORKS, geojson=False),
    "streamAvailability": Operation(examples.STREAM, geojson=False, revalidates=False),
    "listChanges": Operation(
        examples.CHANGES,
        errors=(400, 401, 410, 414, 429, 500, 503, 504),
        geojson=False,
        revalidates=False,
        max_limit=1000,  # app.api.sync.MAX_CHANGES
    ),
    "exportLocations": Operation(
        examples.EXPORT, errors=(400, 401, 414, 429, 500, 503), geojson=False, revalidates=False
    ),
    "priceSession": Operation(
        examples.PRICE,
        errors=(400, 401, 408, 413, 414, 429, 500, 503),
        geojson=False,
        revalidates=False,
        request_examples=examples.PRICE_BODIES,
        request_summary="{name}",
        request_body="PriceRequest",
    ),
}

# What the checks in app.api.params and the handlers refuse with a 400, said in the document:
# a client knows the bounds before it is refused, and generated input (the contract tests)
# reaches the queries instead of stopping at a 400. ``limit`` is per operation (max_limit).
KW_BOUNDS = {"minimum": 0, "maximum": 10_000}
# The price parameters (app.api.pricing), in the query and in the along-route body alike.
PRICE_BOUNDS: dict[str, dict[str, Any]] = {
    "energy_kwh": {"minimum": MIN_ENERGY_KWH, "maximum": MAX_ENERGY_KWH},
    "car_max_power_kw": {"exclusiveMinimum": 0, "maximum": MAX_CAR_POWER_KW},
    "parking_min": {"minimum": 0, "maximum": MAX_PARKING_MIN},
    "max_price": {"minimum": 0, "maximum": 1_000_000},
    "currency": {"pattern": "^[A-Za-z]{3}$"},
    "start_at": {"format": "date-time"},
}
QUERY_BOUNDS: dict[str, dict[str, Any]] = {
    "lat": {"minimum": -90, "maximum": 90},
    "lon": {"minimum": -180, "maximum": 180},
    "radius_m": {"exclusiveMinimum": 0, "maximum": p.MAX_RADIUS_M},
    "zoom": {"minimum": 0, "maximum": 22},
    "min_power_kw": KW_BOUNDS,
    "max_power_kw": KW_BOUNDS,
    "max_status_age_s": {"minimum": 1},
    "q": {"maxLength": p.MAX_QUERY_CHARS},
    "operator": {"maxLength": p.MAX_NAME_CHARS},
    "bbox": {"maxLength": 120},
    "cursor": {"maxLength": p.MAX_CURSOR_CHARS},
    "updated_since": {"format": "date-time"},
    "wait_s": {"minimum": 0, "maximum": 30},  # app.api.sync.MAX_WAIT_S
    **PRICE_BOUNDS,
    "sort": {"enum": ["price"]},
}
BODY_BOUNDS: dict[str, dict[str, Any]] = {
    "corridor_m": {"exclusiveMinimum": 0, "maximum": MAX_CORRIDOR_M},
    "start_offset_m": {"minimum": 0},
    "limit": {"minimum": 1, "maximum": p.MAX_LIMIT},
    "cursor": {"maxLength": p.MAX_CURSOR_CHARS},
    **PRICE_BOUNDS,
}
OTHER_FEATURE = {
    "title": "OtherFeature",
    "description": "Any other GeoJSON Feature of a FeatureCollection route (a waypoint, …): "
    "ignored. Exactly one Feature of the collection is the route's LineString.",
    "type": "object",
    "properties": {
        "type": {"enum": ["Feature"]},
        "geometry": {"description": "Ignored unless it is the route's LineString."},
        "properties": {"description": "Ignored (any JSON value)."},
    },
    "required": ["type"],
}
# One enum for every operation's ``format`` (Litestar writes a nullable enum per operation,
# from which generators make three identical enum classes per operation).
FORMAT_REF = {"$ref": REF.format(name="ResponseFormat")}
RESPONSE_FORMAT = {
    "type": "string",
    "enum": ["json", "geojson"],
    "description": "json (the default) or geojson (also chosen by Accept: application/geo+json).",
}

# The wire types whose component schemas msgspec writes (with everything they refer to).
WIRE_TYPES: tuple[Any, ...] = (
    Results,
    LocationDetail,
    AlongRouteRequest,
    ErrorBody,
    Clusters,
    NetworkInfo,
    PriceRequest,
    PriceResult,
    ChargingSessionIn,
    PlanIn,
    *ROUTE_SHAPES,
)
# POST /v1/price sends its decimals as JSON numbers (exact: msgspec decimal_format="number").
PRICE_COMPONENTS = (
    "PriceResult",
    "Price",
    "BreakdownLine",
    "PriceLimitApplied",
    "ChargingSessionIn",
    "ChargingPeriodIn",
    "CdrDimension",
)


def _decimals_as_numbers(schema: Any) -> Any:
    if isinstance(schema, dict):
        if schema.get("type") == "string" and schema.get("format") == "decimal":
            return {k: v for k, v in schema.items() if k not in ("type", "format")} | {
                "type": "number"
            }
        return {k: _decimals_as_numbers(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_decimals_as_numbers(v) for v in schema]
    return schema


def _components() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(WIRE_TYPES, ref_template=REF)
    route = components["AlongRouteRequest"]["properties"]["route"]
    components["AlongRouteRequest"]["properties"]["route"] = {
        "description": route.get("description", ""),
        "anyOf": [{"$ref": REF.format(name=shape.__name__)} for shape in ROUTE_SHAPES],
    }
    for name, bounds in BODY_BOUNDS.items():
        _bound(components["AlongRouteRequest"]["properties"][name], bounds)
    # A collection's other features (waypoints) are any Features, ignored (app.domain.route).
    features = components["FeatureCollection"]["properties"]["features"]
    features["items"] = {"anyOf": [features["items"], {"$ref": REF.format(name="OtherFeature")}]}
    components["OtherFeature"] = OTHER_FEATURE
    components["ResponseFormat"] = RESPONSE_FORMAT
    for name in PRICE_COMPONENTS:
        components[name] = _decimals_as_numbers(components[name])
    # The session is one of two shapes (the handler tells them apart by charging_periods).
    session = components["PriceRequest"]["properties"]["session"]
    components["PriceRequest"]["properties"]["session"] = {
        "description": session.get("description", ""),
        "anyOf": [{"$ref": REF.format(name=n)} for n in ("ChargingSessionIn", "PlanIn")],
    }
    return components


def _bound(schema: dict[str, Any], bounds: dict[str, Any]) -> None:
    """Adds the bounds to a schema, or to each non-null branch of a nullable one."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    targets = [b for b in branches if b.get("type") != "null"] if branches else [schema]
    for target in targets:
        target.update(bounds)


def _finish_parameters(operation: dict[str, Any], spec: Operation) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "query":
            continue
        name = parameter["name"]
        if name == "format":
            parameter["schema"] = FORMAT_REF
        elif name == "limit":
            _bound(parameter["schema"], {"minimum": 1, "maximum": spec.max_limit})
        elif name in QUERY_BOUNDS:
            _bound(parameter["schema"], QUERY_BOUNDS[name])


def _header(name: str) -> dict[str, Any]:
    return {"description": HEADER_DOCS[name], "schema": {"type": "string"}}


def _error(status: int) -> dict[str, Any]:
    headers = {}
    if status in (429, 503, 504):
        headers["Retry-After"] = _header("Retry-After")
    if status == 429:
        headers |= {n: _header(n) for n in ("RateLimit", "RateLimit-Policy")}
    if status == 401:
        headers["WWW-Authenticate"] = _header("WWW-Authenticate")
    if status >= 500:
        headers["X-Request-ID"] = _header("X-Request-ID")
    example = examples.builtins(examples.ERROR)
    if status != 400:
        example = {"error": {"message": ERRORS[status], "code": _CODES[status]}}
    response: dict[str, Any] = {
        "description": ERRORS[status],
        "content": {"application/json": {"schema": ERROR_REF, "example": example}},
    }
    if headers:
        response["headers"] = headers
    return response


_CODES = {
    400: "invalid_parameter",
    401: "unauthorized",
    404: "not_found",
    408: "timeout",
    410: "cursor_expired",
    413: "too_large",
    414: "too_large",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
    504: "timeout",
}


def _finish_operation(operation: dict[str, Any], spec: Operation) -> None:
    _finish_parameters(operation, spec)
    responses = operation.setdefault("responses", {})
    success = responses.get("200", {"description": "OK"})
    content = success.get("content") or {}
    if operation["operationId"] == "streamAvailability":
        content = {
            "text/event-stream": {
                "schema": {"type": "string"},
                "example": spec.example,
            }
        }
        success["description"] = (
            "Server-Sent Events: ``hello`` (the stream position), ``availability`` (a "
            "location's new counts and changed EVSEs; its ``id`` resumes with Last-Event-ID) "
            "and ``reset`` (too far behind: reload the area)."
        )
    elif operation["operationId"] == "exportLocations":
        content = {
            "application/x-ndjson": {"schema": {"type": "string"}, "example": spec.example},
            "application/geo+json-seq": {"schema": {"type": "string"}},
        }
        success["description"] = (
            "One location per line in the detail's shape (without ``price``), then a last line "
            '``{"cursor": …}``; a GeoJSON text sequence (RFC 8142) with ``Accept: '
            "application/geo+json-seq``; gzip with ``Accept-Encoding: gzip``."
        )
        success.setdefault("headers", {})["Wattlas-Cursor"] = _header("Wattlas-Cursor")
    else:
        json_media = content.get("application/json", {})
        if spec.example is not None:
            json_media["example"] = examples.builtins(spec.example)
        content = {"application/json": json_media}
        if spec.geojson:
            content[GEOJSON] = {
                "schema": {
                    "type": "object",
                    "description": "The same answer as a GeoJSON FeatureCollection (a Feature "
                    "for one location): each summary's fields as a Feature's properties.",
                },
            }
    success["content"] = content
    headers = success.setdefault("headers", {})
    if spec.revalidates:
        headers |= {n: _header(n) for n in ("ETag", "Cache-Control")}
    if spec.keyed:
        headers |= {n: _header(n) for n in ("RateLimit", "RateLimit-Policy")}
    if spec.revalidates:  # the drivers' questions, which replicas answer
        headers["Wattlas-Replica-Lag-S"] = _header("Wattlas-Replica-Lag-S")
    responses["200"] = success
    if spec.revalidates:
        responses["304"] = {
            "description": "Not modified: the If-None-Match tag is still the answer's.",
            "headers": {n: _header(n) for n in ("ETag", "Cache-Control")},
        }
    for status in spec.errors:
        responses[str(status)] = _error(status)
    if spec.request_body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(name=spec.request_body)}}
            },
        }
    if spec.request_examples and "requestBody" in operation:
        media = operation["requestBody"]["content"]["application/json"]
        media["examples"] = {
            name: {
                "summary": spec.request_summary.format(name=name),
                "value": examples.builtins(value),
            }
            for name, value in spec.request_examples.items()
        }
    if spec.keyed:
        operation["security"] = [{}, {"bearerKey": []}, {"apiKeyHeader": []}]


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """The document Litestar generated, finished (a copy)."""
    out = copy.deepcopy(document)
    components = out.setdefault("components", {})
    components.setdefault("schemas", {}).update(_components())
    components["securitySchemes"] = {
        "bearerKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `wattlas keys create`, as Authorization: Bearer KEY.",
        },
        "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
    }
    for path_item in out.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            spec = OPERATIONS.get(operation["operationId"])
            if spec is not None:
                _finish_operation(operation, spec)
            else:  # the map's and the service's own endpoints: errors in our shape too
                for status in list(operation.get("responses", {})):
                    if status[0] in "45":
                        operation["responses"][status] = _error(int(status))
    return out


class ContractJsonPlugin(JsonRenderPlugin):
    """Serves the finished document (computed once per process)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._finished: dict[str, Any] | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._finished is None:
            self._finished = finish(openapi_schema)
        return self.render_json(request, self._finished)
