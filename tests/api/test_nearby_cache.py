"""The nearby cache answers exactly what the database answers, on the bundled real data."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import h3
import msgspec
import psycopg
import pytest

from app.api.locations import results_of
from app.domain.filters import NO_FILTERS
from app.domain.status import BucketCounts
from app.live.events import AvailabilityEvent
from app.live.nearby_cache import RESOLUTION, NearbyCache
from app.settings import Settings
from app.store import Store, discovery

RADII_M = (150.0, 999.0, 1_000.0, 1_000.5, 2_500.0, 5_000.0, 7_300.0, 10_000.0)
LIMITS = (1, 3, 20, 100)


@pytest.fixture
async def pool(fixture_settings: Settings) -> AsyncIterator[Store]:
    async with Store.from_settings(fixture_settings, name="nearby-cache-test", max_size=2) as store:
        yield store


def _query_points(db: psycopg.Connection, count: int) -> list[tuple[float, float]]:
    """Points around real locations (the dense places), moved up to ~2 km, plus open sea."""
    rows = db.execute("SELECT lat, lon FROM locations WHERE visible ORDER BY public_id").fetchall()
    rng = random.Random(20261122)
    points = [
        (lat + rng.uniform(-0.02, 0.02), lon + rng.uniform(-0.02, 0.02))
        for lat, lon in rng.sample(rows, count)
    ]
    return [*points, (45.0, -30.0), (0.0, 0.0)]


async def _from_sql(
    pool: Store, lat: float, lon: float, radius_m: float, limit: int
) -> list[dict[str, Any]]:
    rows = await discovery.nearby(
        pool,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        limit=limit,
        filters=NO_FILTERS,
        now=datetime.now(UTC),
        stale_after_s=300,
    )
    results: list[dict[str, Any]] = msgspec.to_builtins(results_of(rows, NO_FILTERS))["results"]
    return results


async def test_cache_answers_exactly_like_the_database(pool: Store, db: psycopg.Connection) -> None:
    cache = NearbyCache(pool, stale_after_s=300)
    rng = random.Random(7)
    non_empty = 0
    for lat, lon in _query_points(db, 200):
        radius_m, limit = rng.choice(RADII_M), rng.choice(LIMITS)
        body = await cache.nearby(lat, lon, radius_m, limit)
        assert body is not None
        cached = msgspec.json.decode(body)
        expected = await _from_sql(pool, lat, lon, radius_m, limit)
        where = f"at {lat:.5f},{lon:.5f} r={radius_m} limit={limit}"
        assert cached["count"] == len(cached["results"]) == len(expected), where
        assert [r["id"] for r in cached["results"]] == [r["id"] for r in expected], where
        for got, want in zip(cached["results"], expected, strict=True):
            # GeographicLib here and in PostGIS; the last decimal may round the other way.
            assert abs(got.pop("distance_m") - want.pop("distance_m")) <= 0.1, where
            assert got == want, where
        non_empty += bool(expected)
    assert non_empty > 100  # the comparison was about real answers, not empty lists
    assert cache.hits > 0 and cache.misses > 0


async def test_a_hidden_location_sends_the_question_to_the_database(
    pool: Store, db: psycopg.Connection
) -> None:
    cache = NearbyCache(pool, stale_after_s=300)
    lat, lon, public_id = db.execute(
        "SELECT lat, lon, public_id FROM locations WHERE visible ORDER BY public_id LIMIT 1"
    ).fetchone() or (0.0, 0.0, "")
    body = await cache.nearby(lat, lon, 1_000, 5)
    assert body is not None and msgspec.json.decode(body)["results"][0]["id"] == public_id
    db.execute("UPDATE locations SET visible = false WHERE public_id = %s", [public_id])
    try:
        # A status event (from any process) drops its summary; its candidates stay cached.
        cache.forget(_status_event(public_id, lat, lon))
        assert await cache.nearby(lat, lon, 1_000, 5) is None
        body = await cache.nearby(lat, lon, 1_000, 5)  # the candidates were read again
        assert body is not None
        assert public_id not in [r["id"] for r in msgspec.json.decode(body)["results"]]
    finally:
        db.execute("UPDATE locations SET visible = true WHERE public_id = %s", [public_id])


def _status_event(public_id: str, lat: float, lon: float) -> AvailabilityEvent:
    return AvailabilityEvent(
        location_id=public_id,
        lat=lat,
        lon=lon,
        h3_r5="851f1d4bfffffff",
        visible=False,
        availability=BucketCounts(0, 0, 0, 0, 0, 0),
        evses=[],
        at=datetime.now(UTC),
        kind="status",
    )


async def _in_flight(
    cache: NearbyCache, reading: asyncio.Task[bytes | None], key: tuple[int, float]
) -> int:
    """Wait until the cache's read of ``key`` is registered as in flight (not for a while):
    the sequence number it started at. Fails loudly if the read ends first or never shows."""
    deadline = time.monotonic() + 5
    while key not in cache._building:
        assert not reading.done(), "the read ended before it was seen in flight"
        assert time.monotonic() < deadline, f"no read of {key} in flight within 5 s"
        await asyncio.sleep(0)  # one turn of the loop: the read runs up to its first I/O
    return cache._building[key][0]


async def test_a_change_during_a_read_is_not_kept(pool: Store, db: psycopg.Connection) -> None:
    """A location event that arrives while candidates are being read: the read answers the
    question that started it, but is not kept (its event will not come again)."""
    cache = NearbyCache(pool, stale_after_s=300)
    lat, lon, public_id = db.execute(
        "SELECT lat, lon, public_id FROM locations WHERE visible ORDER BY public_id LIMIT 1"
    ).fetchone() or (0.0, 0.0, "")
    moved = _status_event(public_id, lat, lon)
    moved.kind = "location"
    await discovery.summaries(pool, public_ids=[], now=datetime.now(UTC), stale_after_s=300)
    # (a warm pool: the read below is what takes time)
    reading = asyncio.create_task(cache.nearby(lat, lon, 1_000, 5))
    started = await _in_flight(cache, reading, (h3.latlng_to_cell(lat, lon, RESOLUTION), 1_000.0))
    assert started == cache._seq  # the read began before the event below
    cache.forget(moved)  # no await since the read was seen in flight: it is still under way
    assert cache._seq == started + 1
    assert await reading is not None
    assert len(cache._cells) == 0  # the one thing this test is about
    await cache.nearby(lat, lon, 1_000, 5)  # nothing changed during this read: kept
    assert len(cache._cells) == 1
