"""A Redis outage under a running service (issue 16): Redis is derived state, so OCPI pushes are
still acknowledged and stored in PostgreSQL, and discovery answers from PostgreSQL with what
they changed; when Redis is back, the same process publishes live events again, without a
restart.

The outage is of a private Redis this module starts and stops (as tests/test_health.py does), so
the rest of the suite is not touched. Expected answers come from the official location example
and from pyproj geodesics over its coordinates, never from the service."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis as redis_sync
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pyproj import Geod

from app.domain.parties import Party
from app.live.events import STREAM_KEY, decode_event, event_fields, is_marker
from app.settings import Settings
from app.store import Store
from ingest import credentials
from tests.conftest import make_app
from tests.ingest.helpers import TOKEN, b64, location_example
from tests.test_health import _start_redis
from wattlas.local import free_port

Client = AsyncTestClient[Litestar]
GEOD = Geod(ellps="WGS84")
LOCATIONS = "/ocpi/2.2.1/locations/BE/BEC"
# A push must not wait on the dead Redis (its events are published after the answer).
ANSWER_WITHIN_S = 1.0
# OCPI statuses of the example → the status buckets the API counts (app.domain.status).
BUCKET = {"AVAILABLE": "available", "CHARGING": "occupied", "RESERVED": "occupied"}


class PrivateRedis:
    """A redis-server of this test's own on a free port, that it can stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._process = _start_redis(self.port, workdir)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)

    def start(self) -> None:
        self._process = _start_redis(self.port, self._workdir)

    def kill(self) -> None:
        self._process.kill()
        self._process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    try:
        yield server
    finally:
        server.kill()


def second_location() -> dict[str, Any]:
    """LOC2, about 1.1 km north of the example's LOC1, with two AVAILABLE EVSEs of its own."""
    location = location_example()
    location.update(id="LOC2", name="Gent Noord", last_updated="2020-01-01T00:00:00Z")
    location["coordinates"] = {"latitude": "51.057599", "longitude": "3.729944"}
    evses = []
    for number, evse in enumerate(location["evses"], start=1):
        evse = copy.deepcopy(evse)
        evse.update(uid=f"40{number:02}", evse_id=f"BE*BEC*E0415040{number:02}")
        evse.update(status="AVAILABLE", last_updated="2020-01-01T00:00:00Z")
        evses.append(evse)
    location["evses"] = evses
    return location


def point(location: dict[str, Any]) -> tuple[float, float]:
    return float(location["coordinates"]["latitude"]), float(location["coordinates"]["longitude"])


def counts(statuses: list[str]) -> dict[str, int]:
    buckets = [BUCKET[s] for s in statuses]
    return {b: buckets.count(b) for b in ("available", "occupied")}


def public_id(sync_conn: psycopg.Connection, ocpi_id: str) -> str:
    row = sync_conn.execute(
        "SELECT public_id FROM locations WHERE ocpi_id = %s", (ocpi_id,)
    ).fetchone()
    assert row is not None, f"{ocpi_id} is not stored"
    return str(row[0])


def stored_statuses(sync_conn: psycopg.Connection) -> dict[str, str]:
    return dict(sync_conn.execute("SELECT uid, status FROM evses WHERE visible").fetchall())


async def timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def until_healthy(client: Client, expected: int, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while (await client.get("/health")).status_code != expected:
        assert time.monotonic() < deadline, f"/health did not become {expected}"
        await asyncio.sleep(0.1)


def stream_event(url: str, location_id: str, timeout_s: float = 5) -> Any:
    """The last event of ``location_id`` in the Redis stream, waiting up to ``timeout_s``."""
    client = redis_sync.Redis.from_url(url)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            entries: Any = client.xrange(STREAM_KEY)
            events = [
                decode_event(event_fields(fields))
                for _, fields in entries
                if not is_marker(fields)  # where a stream client started on an empty stream
            ]
            mine = [e for e in events if e.location_id == location_id]
            if mine:
                return mine[-1]
            assert time.monotonic() < deadline, f"no event of {location_id} in {STREAM_KEY}"
            time.sleep(0.05)
    finally:
        client.close()


async def assert_discovery(
    client: Client,
    here: tuple[float, float],
    expected: list[tuple[str, dict[str, Any], list[str]]],
) -> None:
    """Nearby (from the nearby cache), a filtered nearby and a viewport (from SQL) and each
    detail answer exactly these locations, with these EVSE statuses."""
    lat, lon = here
    distances = [GEOD.inv(lon, lat, point(loc)[1], point(loc)[0])[2] for _, loc, _ in expected]
    for params in ({}, {"connector": "type2"}):
        nearby = await client.get(
            "/v1/locations/nearby", params={"lat": lat, "lon": lon, "radius_m": 5000, **params}
        )
        assert nearby.status_code == 200, nearby.text
        results = nearby.json()["results"]
        assert [r["id"] for r in results] == [pid for pid, _, _ in expected]
        for result, distance_m, (_, _, statuses) in zip(results, distances, expected, strict=True):
            assert result["distance_m"] == pytest.approx(distance_m, abs=0.1)
            availability = result["availability"]
            assert {k: availability[k] for k in ("available", "occupied")} == counts(statuses)
            assert (availability["total"], availability["stale"]) == (len(statuses), 0)
    viewport = await client.get("/v1/locations", params={"bbox": "3.6,51.0,3.8,51.1"})
    assert viewport.status_code == 200, viewport.text
    assert sorted(r["id"] for r in viewport.json()["results"]) == sorted(p for p, _, _ in expected)
    for pid, location, statuses in expected:
        detail = await client.get(f"/v1/locations/{pid}")
        assert detail.status_code == 200, detail.text
        assert detail.json()["name"] == location["name"]
        assert [(e["uid"], e["status"]) for e in detail.json()["evses"]] == [
            (e["uid"], s) for e, s in zip(location["evses"], statuses, strict=True)
        ]


@pytest.mark.slow
async def test_pushes_are_stored_and_discovery_answers_during_a_redis_outage_then_events_flow(
    settings: Settings, private_redis: PrivateRedis, sync_conn: psycopg.Connection
) -> None:
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(
            store, "becharged", TOKEN, [Party.parse("BE*BEC")], version="2.2.1"
        )
    own = msgspec.structs.replace(settings, redis_url=private_redis.url)
    loc1, loc2 = location_example(), second_location()
    async with AsyncTestClient(app=make_app(own)) as client:
        put = await client.put(f"{LOCATIONS}/LOC1", json=loc1, headers=b64(TOKEN))
        assert (put.status_code, put.json()["status_code"]) == (201, 1000)
        loc1_id = public_id(sync_conn, "LOC1")
        assert stream_event(private_redis.url, loc1_id).kind == "location"  # events flow
        await assert_discovery(client, point(loc1), [(loc1_id, loc1, ["AVAILABLE", "RESERVED"])])

        private_redis.stop()
        await until_healthy(client, 503)

        # A new location and a status change, each acknowledged at once and stored.
        put, took_s = await timed(client.put(f"{LOCATIONS}/LOC2", json=loc2, headers=b64(TOKEN)))
        assert (put.status_code, put.json()["status_code"], took_s < ANSWER_WITHIN_S) == (
            201,
            1000,
            True,
        )
        patch, took_s = await timed(
            client.patch(
                f"{LOCATIONS}/LOC1/3256",
                json={"status": "CHARGING", "last_updated": "2030-01-01T00:00:00Z"},
                headers=b64(TOKEN),
            )
        )
        assert (patch.status_code, patch.json()["status_code"], took_s < ANSWER_WITHIN_S) == (
            200,
            1000,
            True,
        )
        assert stored_statuses(sync_conn) == {
            "3256": "CHARGING",
            "3257": "RESERVED",
            "4001": "AVAILABLE",
            "4002": "AVAILABLE",
        }
        loc2_id = public_id(sync_conn, "LOC2")
        # Discovery shows both while Redis is still down.
        during = [
            (loc1_id, loc1, ["CHARGING", "RESERVED"]),
            (loc2_id, loc2, ["AVAILABLE", "AVAILABLE"]),
        ]
        await assert_discovery(client, point(loc1), during)
        search = await client.get("/v1/search", params={"q": "gent noord"})
        assert [r["id"] for r in search.json()["results"]] == [loc2_id]

        private_redis.start()  # empty: it keeps nothing on disk
        await until_healthy(client, 200)
        patch = await client.patch(
            f"{LOCATIONS}/LOC1/3257",
            json={"status": "AVAILABLE", "last_updated": "2030-01-01T00:01:00Z"},
            headers=b64(TOKEN),
        )
        assert (patch.status_code, patch.json()["status_code"]) == (200, 1000)
        # The push made after the recovery is a live event again, exactly as stored.
        event = stream_event(private_redis.url, loc1_id)
        assert (event.kind, event.visible, [(e.uid, e.status) for e in event.evses]) == (
            "status",
            True,
            [("3257", "AVAILABLE")],
        )
        assert (event.lat, event.lon) == point(loc1)
        assert (event.availability.available, event.availability.occupied) == (1, 1)
        await assert_discovery(
            client,
            point(loc1),
            [
                (loc1_id, loc1, ["CHARGING", "AVAILABLE"]),
                (loc2_id, loc2, ["AVAILABLE", "AVAILABLE"]),
            ],
        )
