"""The most frequent question on its shortest path (issue 15): ``GET /v1/locations/nearby`` with
nothing but a point, a radius and a limit, answered from the nearby index before the handler's
guard, dependencies and parameter conversion run.

Measured in process on the benchmark's data (300k locations, 5 km / 50): the handler's way cost
about 1.1 ms of Python a request around the index's 0.66 ms. Most of it is what a general
request needs and this one does not: a guard run on a thread, a dozen filter and price
parameters resolved in a task group, every value converted through the handler's signature.

This middleware sits on the route (after routing, before all that). It answers only a question
it reads exactly as the handler would:

- the query has ``lat``, ``lon``, and optionally ``radius_m`` and ``limit``, each once, written
  as plain decimals (``52.37``, ``-4``, ``5000``; ``limit`` as digits); their values pass the
  handler's own checks;
- the client does not ask for GeoJSON (``Accept``), and the index answers the question.

Everything else (a filter, a price, ``format``, an unknown name, a value written any other way,
an out-of-range value, the index not ready) goes to the handler unchanged, so every error and
every other answer is the handler's. The answer is the handler's too: the same body from the
same index, the same ETag and caching fields (``app.api.caching``), compressed as every answer
is (``caching.COMPRESSION``). ``tests/api/test_nearby_fast.py`` holds the two ways equal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from litestar.middleware.compression import CompressionMiddleware
from litestar.response.base import ASGIResponse

from app.api import caching
from app.api import params as p
from app.api.errors import InvalidParameter
from app.api.geojson import GEOJSON
from app.domain.filters import NO_FILTERS

JSON = "application/json"
PATH = "/v1/locations/nearby"
_DECIMAL = re.compile(rb"-?\d{1,12}(?:\.\d{1,17})?")
_DIGITS = re.compile(rb"\d{1,6}")


def plain_question(query_string: bytes) -> tuple[float, float, float, int] | None:
    """(lat, lon, radius_m, limit) of a query the handler would read the same way, with the
    handler's defaults; None when the handler must read it (see the module's list)."""
    lat = lon = None
    radius_m, limit = float(p.DEFAULT_NEARBY_RADIUS_M), p.DEFAULT_NEARBY_LIMIT
    seen: set[bytes] = set()
    for part in query_string.split(b"&"):
        name, equals, value = part.partition(b"=")
        if not equals or name in seen:
            return None
        seen.add(name)
        if name == b"limit":
            if _DIGITS.fullmatch(value) is None:
                return None
            limit = int(value)
            continue
        if _DECIMAL.fullmatch(value) is None:
            return None
        if name == b"lat":
            lat = float(value)
        elif name == b"lon":
            lon = float(value)
        elif name == b"radius_m":
            radius_m = float(value)
        else:
            return None
    if lat is None or lon is None:
        return None
    try:
        p.check_lat_lon(lat, lon)
        p.check_radius(radius_m)
        p.check_limit(limit)
    except InvalidParameter:
        return None
    return lat, lon, radius_m, limit


def _header(scope: dict[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value)
    return None


class NearbyFromIndex:
    """Route middleware of ``nearby``: the index's answer, or the handler."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = await self._answer(scope) if scope["method"] == "GET" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        if_none_match = _header(scope, b"if-none-match")
        status, headers, content = caching.revalidated(
            if_none_match.decode("latin-1") if if_none_match else None, body, media_type=JSON
        )
        response = ASGIResponse(
            body=content, status_code=status, headers=headers, media_type=JSON if content else None
        )
        await CompressionMiddleware(app=response, config=caching.COMPRESSION)(scope, receive, send)

    @staticmethod
    async def _answer(scope: Any) -> bytes | None:
        question = plain_question(scope.get("query_string") or b"")
        if question is None:
            return None
        index = scope["litestar_app"].state.services.nearby_index
        lat, lon, radius_m, limit = question
        if index is None or not index.answers(NO_FILTERS, radius_m, limit):
            return None
        accept = _header(scope, b"accept")
        if accept is not None and GEOJSON.encode() in accept:
            return None
        body: bytes | None = await index.nearby(lat, lon, radius_m, limit)
        return body
