"""The nearby question's short path (``app.api.nearby_fast``) answers exactly what the handler
answers, and leaves every other question to it: on the bundled real data, through the real app."""

from __future__ import annotations

import asyncio
import gzip
import random
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.api.caching import without_generated_at
from app.api.nearby_fast import NearbyFromIndex, plain_question

PATH = "/v1/locations/nearby"


@pytest.mark.parametrize(
    ("query", "question"),
    [
        (b"lat=52.37&lon=4.89", (52.37, 4.89, 5000.0, 20)),
        (b"lon=4.89&lat=52.37&radius_m=2500&limit=7", (52.37, 4.89, 2500.0, 7)),
        (
            b"lat=-33.8688&lon=151.2093&radius_m=10000.5&limit=100",
            (-33.8688, 151.2093, 10000.5, 100),
        ),
        (b"lat=-4&lon=-0&limit=050", (-4.0, 0.0, 5000.0, 50)),
        (b"lat=90&lon=-180&radius_m=1", (90.0, -180.0, 1.0, 20)),
    ],
)
def test_a_plain_question_is_read_as_the_handler_reads_it(
    query: bytes, question: tuple[float, float, float, int]
) -> None:
    assert plain_question(query) == question


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"lat=52.37",  # no longitude
        b"lat=52.37&lon=4.89&available=true",  # a filter
        b"lat=52.37&lon=4.89&energy_kwh=30",  # a price
        b"lat=52.37&lon=4.89&format=json",
        b"lat=52.37&lon=4.89&radius=900",  # a typo: the handler's 400 names it
        b"lat=52.37&lat=52.38&lon=4.89",  # twice
        b"lat=52.37&lon=4.89&",  # an empty part
        b"lat=&lon=4.89",
        b"lat=5.2e1&lon=4.89",  # another way to write a number
        b"lat=+52.37&lon=4.89",
        b"lat=52.37&lon=4.89&radius_m=1_000",
        b"lat=%2052.37&lon=4.89",
        b"lat=nan&lon=4.89",
        b"lat=91&lon=4.89",  # out of range: the handler's 400
        b"lat=52.37&lon=180.5",
        b"lat=52.37&lon=4.89&radius_m=0",
        b"lat=52.37&lon=4.89&radius_m=200001",
        b"lat=52.37&lon=4.89&limit=0",
        b"lat=52.37&lon=4.89&limit=501",
        b"lat=52.37&lon=4.89&limit=20.0",
        b"lat=52.37&lon=4.89&limit=-1",
    ],
)
def test_any_other_question_is_left_to_the_handler(query: bytes) -> None:
    assert plain_question(query) is None


class Downstream:
    """The app behind the middleware: counts the questions it was left, answers 599."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _ask(
    app: Litestar, middleware: NearbyFromIndex, query: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http", "method": "GET", "path": PATH, "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "litestar_app": app, "state": {},
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    start, *bodies = sent
    fields = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], fields, b"".join(m.get("body", b"") for m in bodies)


async def _ready(api: AsyncTestClient[Litestar]) -> None:
    index = api.app.state.services.nearby_index
    for _ in range(400):
        if index.stats.ready:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the nearby index did not build")


def _points(db: psycopg.Connection, count: int) -> list[tuple[float, float]]:
    rows = db.execute("SELECT lat, lon FROM locations WHERE visible ORDER BY public_id").fetchall()
    rng = random.Random(20261202)
    return [(round(lat, 5), round(lon, 5)) for lat, lon in rng.sample(rows, count)]


def _same_answer(fast: bytes, handler: bytes) -> None:
    assert without_generated_at(fast) == without_generated_at(handler)


async def test_the_short_path_answers_what_the_handler_answers(
    api: AsyncTestClient[Litestar], db: psycopg.Connection
) -> None:
    """The same body (but ``generated_at``) and the same fields: the handler's answer is asked
    with ``format=json``, which the short path leaves to it and which changes nothing."""
    await _ready(api)
    downstream = Downstream()
    middleware = NearbyFromIndex(downstream)
    rng = random.Random(5)
    non_empty = 0
    for lat, lon in _points(db, 40):
        radius_m, limit = rng.choice((300, 2_000, 5_000, 10_000)), rng.choice((1, 20, 100))
        query = f"lat={lat}&lon={lon}&radius_m={radius_m}&limit={limit}"
        status, fields, body = await _ask(api.app, middleware, query)
        handler = await api.get(f"{PATH}?{query}&format=json")
        assert status == handler.status_code == 200, query
        _same_answer(body, handler.content)
        for name in ("content-type", "etag", "cache-control", "vary", "content-length"):
            assert fields[name] == handler.headers[name], (query, name)
        non_empty += body.count(b'"distance_m"') > 0
    assert downstream.calls == 0  # every one of them was answered by the short path
    assert non_empty > 30


async def test_a_revalidation_is_answered_304_and_a_large_answer_is_compressed(
    api: AsyncTestClient[Litestar], db: psycopg.Connection
) -> None:
    await _ready(api)
    middleware = NearbyFromIndex(Downstream())
    dense = db.execute(
        "SELECT l.lat, l.lon FROM locations l WHERE l.visible ORDER BY ("
        "  SELECT count(*) FROM locations o WHERE o.visible"
        "  AND ST_DWithin(o.geog, l.geog, 10000)) DESC, l.public_id LIMIT 1"
    ).fetchone()
    assert dense is not None
    query = f"lat={dense[0]}&lon={dense[1]}&radius_m=10000&limit=100"
    status, fields, body = await _ask(api.app, middleware, query)
    assert status == 200 and len(body) >= 50_000  # over the compression's minimum size

    asked = {"If-None-Match": fields["etag"]}
    status, again, empty = await _ask(api.app, middleware, query, asked)
    handler = await api.get(f"{PATH}?{query}&format=json", headers=asked)
    assert status == handler.status_code == 304 and empty == b""
    assert again["etag"] == handler.headers["etag"] == fields["etag"]

    status, packed, compressed = await _ask(api.app, middleware, query, {"Accept-Encoding": "gzip"})
    handler = await api.get(f"{PATH}?{query}&format=json", headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert packed["content-encoding"] == handler.headers["content-encoding"] == "gzip"
    assert packed["vary"] == handler.headers["vary"]
    _same_answer(gzip.decompress(compressed), handler.content)


async def test_what_the_short_path_leaves_reaches_the_handler(
    api: AsyncTestClient[Litestar], db: psycopg.Connection
) -> None:
    """GeoJSON, filters, typos and bad values go on to the handler (here, a stand-in that
    answers 599), and through the real app they get the handler's answers and errors."""
    await _ready(api)
    downstream = Downstream()
    middleware = NearbyFromIndex(downstream)
    lat, lon = _points(db, 1)[0]
    plain = f"lat={lat}&lon={lon}"
    left = [
        (f"{plain}&available=true", {}),
        (f"{plain}&radius=900", {}),
        (f"lat=91&lon={lon}", {}),
        (plain, {"Accept": "application/geo+json"}),
        (f"{plain}&radius_m=50000", {}),  # beyond what the index answers
    ]
    for query, headers in left:
        assert (await _ask(api.app, middleware, query, headers))[0] == 599, query
    assert downstream.calls == len(left)

    typo = await api.get(f"{PATH}?{plain}&radius=900")
    assert typo.status_code == 400 and typo.json()["error"]["parameter"] == "radius"
    assert (await api.get(f"{PATH}?lat=91&lon={lon}")).json()["error"]["parameter"] == "lat"
    geojson = await api.get(f"{PATH}?{plain}", headers={"Accept": "application/geo+json"})
    assert geojson.json()["type"] == "FeatureCollection"
