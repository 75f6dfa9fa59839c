"""The nearby index answers exactly what the database answers, on the bundled real data, and
stays so through every kind of change: the feed alone (no events), events during reads, hours
that open or close, networks that fall silent."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pyproj import Geod

from app.api.caching import etag_of, without_generated_at
from app.api.locations import results_of
from app.domain.filters import NO_FILTERS, Bbox
from app.domain.status import BucketCounts
from app.live import nearby_index
from app.live.events import AvailabilityEvent
from app.live.nearby_index import NearbyIndex, nearest
from app.settings import Settings
from app.store import Store, discovery

RADII_M = (150.0, 999.0, 1_000.0, 1_000.5, 2_500.0, 5_000.0, 7_300.0, 10_000.0)
LIMITS = (1, 3, 20, 100)
STALE_AFTER_S = 300


@pytest.fixture
async def pool(fixture_settings: Settings) -> AsyncIterator[Store]:
    async with Store.from_settings(fixture_settings, name="nearby-index-test", max_size=2) as store:
        yield store


@pytest.fixture
async def index(pool: Store) -> AsyncIterator[NearbyIndex]:
    built = NearbyIndex(pool, stale_after_s=STALE_AFTER_S)
    await built.build()
    yield built
    await built.close()


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
        pool, lat=lat, lon=lon, radius_m=radius_m, limit=limit, filters=NO_FILTERS,
        now=datetime.now(UTC), stale_after_s=STALE_AFTER_S,
    )  # fmt: skip
    results: list[dict[str, Any]] = msgspec.to_builtins(results_of(rows, NO_FILTERS))["results"]
    return results


async def _same_as_sql(
    index: NearbyIndex, pool: Store, lat: float, lon: float, radius_m: float, limit: int
) -> list[dict[str, Any]]:
    """The index's answer, required equal to the database's; the results."""
    body = await index.nearby(lat, lon, radius_m, limit)
    assert body is not None
    answer = msgspec.json.decode(body)
    expected = await _from_sql(pool, lat, lon, radius_m, limit)
    where = f"at {lat:.5f},{lon:.5f} r={radius_m} limit={limit}"
    assert answer["count"] == len(answer["results"]) == len(expected), where
    assert [r["id"] for r in answer["results"]] == [r["id"] for r in expected], where
    for got, want in zip(answer["results"], expected, strict=True):
        # GeographicLib here and in PostGIS; the last decimal may round the other way.
        assert abs(got["distance_m"] - want["distance_m"]) <= 0.1, where
        assert {**got, "distance_m": 0} == {**want, "distance_m": 0}, where
    results: list[dict[str, Any]] = answer["results"]
    return results


async def test_the_index_answers_exactly_like_the_database(
    index: NearbyIndex, pool: Store, db: psycopg.Connection
) -> None:
    rng = random.Random(7)
    non_empty = 0
    for lat, lon in _query_points(db, 200):
        radius_m, limit = rng.choice(RADII_M), rng.choice(LIMITS)
        non_empty += bool(await _same_as_sql(index, pool, lat, lon, radius_m, limit))
    assert non_empty > 100  # the comparison was about real answers, not empty lists
    assert index.hits > 0 and index.misses > 0
    visible = db.execute("SELECT count(*) FROM locations WHERE visible").fetchone()
    assert visible is not None and index.stats.locations == visible[0]


def test_the_points_around_are_every_point_within_reach_anywhere_on_earth() -> None:
    """Near the poles, across the antimeridian, on the equator: what ``around`` and ``nearest``
    give is what measuring every point exactly gives."""
    rng = np.random.default_rng(15)
    centres = [(89.97, 10.0), (-89.96, -170.0), (0.0, 179.99), (12.5, -179.97), (60.0, 0.0),
               (78.0, 179.9), (-45.0, 0.001)]  # fmt: skip
    ids, lats, lons = [], [], []
    for n, (lat, lon) in enumerate(centres):
        spread_lon = min(180.0, 0.12 / max(math.cos(math.radians(lat)), 1e-9))  # ~13 km
        for k in range(600):
            d_lat, d_lon = rng.uniform(-0.12, 0.12), rng.uniform(-spread_lon, spread_lon)
            p_lat = max(-90.0, min(90.0, lat + d_lat))
            ids.append(f"p{n:02d}{k:04d}")
            lats.append(p_lat)
            lons.append((lon + d_lon + 180.0) % 360.0 - 180.0)
    layer = nearby_index._Layer(ids, np.array(lats), np.array(lons))
    geod = Geod(ellps="WGS84")
    for lat, lon in centres:
        for radius_m in (1_000.0, 5_000.0, 10_000.0):
            _, _, exact = geod.inv(
                np.full(len(ids), lon), np.full(len(ids), lat), np.array(lons), np.array(lats)
            )
            want = sorted((float(d), i) for d, i in zip(exact, ids, strict=True) if d <= radius_m)
            got = nearest(layer, layer.around(lat, lon, radius_m), lat, lon, radius_m, 10**6, geod)
            got_ids = [layer.id_at(int(i)) for i in got.positions]
            assert got_ids == [i for _, i in want], (lat, lon, radius_m)
            assert all(math.isclose(d, w) for d, (w, _) in zip(got.distances, want, strict=True))
            assert want, (lat, lon, radius_m)  # each case measured real points


async def _first_location(db: psycopg.Connection) -> tuple[int, str, float, float]:
    row = db.execute(
        "SELECT id, public_id, lat, lon FROM locations WHERE visible AND open_24_7 "
        "ORDER BY public_id LIMIT 1"
    ).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


async def test_the_change_feed_alone_keeps_the_index_live(
    index: NearbyIndex, pool: Store, db: psycopg.Connection
) -> None:
    """Writes that no event tells this process of (another process, Redis down, a pull): the
    next round of the feed brings each; until it is read the index answers what it had."""
    pk, public_id, lat, lon = await _first_location(db)
    before = await _same_as_sql(index, pool, lat, lon, 2_000, 20)
    assert before[0]["id"] == public_id

    async def write(sql: str, kind: str) -> None:
        async with pool.transaction() as tx:
            await tx.conn.execute(sql, {"pk": pk})
            tx.record(kind, [pk])

    try:
        await write("UPDATE locations SET available_count = available_count + 7 WHERE id = %(pk)s",
                    "availability")  # fmt: skip
        await index.follow()
        after = await _same_as_sql(index, pool, lat, lon, 2_000, 20)
        assert after[0]["availability"]["available"] == before[0]["availability"]["available"] + 7

        # Moved 3 km north: its point moves (the overlay), its distance with it.
        await write(
            "UPDATE locations SET lat = lat + 0.027, "
            "geog = ST_SetSRID(ST_MakePoint(lon, lat + 0.027), 4326)::geography, "
            "geom = ST_SetSRID(ST_MakePoint(lon, lat + 0.027), 4326) WHERE id = %(pk)s",
            "location",
        )
        await index.follow()
        moved = await _same_as_sql(index, pool, lat, lon, 5_000, 50)
        assert public_id in [r["id"] for r in moved] and moved[0]["id"] != public_id

        await write("UPDATE locations SET visible = false WHERE id = %(pk)s", "removed")
        await index.follow()
        hidden = await _same_as_sql(index, pool, lat, lon, 5_000, 50)
        assert public_id not in [r["id"] for r in hidden]
    finally:
        await write(
            "UPDATE locations SET visible = true, available_count = available_count - 7, "
            f"lat = {lat!r}, geog = ST_SetSRID(ST_MakePoint(lon, {lat!r}), 4326)::geography, "
            f"geom = ST_SetSRID(ST_MakePoint(lon, {lat!r}), 4326) WHERE id = %(pk)s",
            "location",
        )
    await index.follow()
    assert await _same_as_sql(index, pool, lat, lon, 2_000, 20) == before
    assert index.stats.feed_cursor > 0


async def test_the_overlay_folds_into_the_arrays_and_answers_the_same(
    index: NearbyIndex, pool: Store, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``FOLD_AT`` changed points the overlay becomes part of the main arrays."""
    monkeypatch.setattr(nearby_index, "FOLD_AT", 3)
    rows = db.execute(
        "SELECT id, lat, lon FROM locations WHERE visible ORDER BY public_id LIMIT 5"
    ).fetchall()
    pks = [r[0] for r in rows]
    lat, lon = rows[0][1], rows[0][2]

    async def place(lats: list[float]) -> None:
        async with pool.transaction() as tx:
            await tx.conn.execute(
                "UPDATE locations l SET lat = m.lat, "
                "geog = ST_SetSRID(ST_MakePoint(l.lon, m.lat), 4326)::geography, "
                "geom = ST_SetSRID(ST_MakePoint(l.lon, m.lat), 4326) "
                "FROM unnest(%s::bigint[], %s::float8[]) AS m(id, lat) WHERE l.id = m.id",
                (pks, lats),
            )
            tx.record("location", pks)

    before = await _same_as_sql(index, pool, lat, lon, 10_000, 100)
    try:
        await place([r[1] + 0.004 for r in rows])
        await index.follow()
        assert index.stats.folds == 1
        await _same_as_sql(index, pool, lat, lon, 10_000, 100)
    finally:
        await place([r[1] for r in rows])
    await index.follow()
    assert await _same_as_sql(index, pool, lat, lon, 10_000, 100) == before


async def test_open_now_is_read_again_when_the_hours_change_it(
    index: NearbyIndex, pool: Store, db: psycopg.Connection
) -> None:
    """An exceptional closing starting in two seconds: open now, closed then, as the database
    says, with no write in between."""
    pk, public_id, lat, lon = await _first_location(db)
    closing = datetime.now(UTC) + timedelta(seconds=2)
    period = {"period_begin": closing.isoformat(),
              "period_end": (closing + timedelta(hours=1)).isoformat()}  # fmt: skip
    hours = {"twentyfourseven": True, "regular_hours": [], "exceptional_openings": [],
             "exceptional_closings": [period]}  # fmt: skip

    async def set_hours(value: object, open_24_7: bool) -> None:
        async with pool.transaction() as tx:
            await tx.conn.execute(
                "UPDATE locations SET opening_times = %s::jsonb, open_24_7 = %s WHERE id = %s",
                (None if value is None else msgspec.json.encode(value).decode(), open_24_7, pk),
            )
            tx.record("location", [pk])

    original = db.execute(
        "SELECT opening_times::text, open_24_7 FROM locations WHERE id = %s", [pk]
    ).fetchone()
    assert original is not None
    try:
        await set_hours(hours, False)
        await index.follow()
        now_open = await _same_as_sql(index, pool, lat, lon, 500, 5)
        assert [r["open_now"] for r in now_open if r["id"] == public_id] == [True]
        assert await index.nearby(lat, lon, 500, 5) is not None
        hits = index.hits
        await asyncio.sleep(max(0.0, (closing - datetime.now(UTC)).total_seconds()) + 0.2)
        closed = await _same_as_sql(index, pool, lat, lon, 500, 5)
        assert [r["open_now"] for r in closed if r["id"] == public_id] == [False]
        assert index.hits == hits  # read again, not answered from what it held
    finally:
        async with pool.transaction() as tx:
            await tx.conn.execute(
                "UPDATE locations SET opening_times = %s::jsonb, open_24_7 = %s WHERE id = %s",
                (original[0], original[1], pk),
            )
            tx.record("location", [pk])


async def test_open_now_until_is_the_next_instant_the_hours_can_change(
    db: psycopg.Connection,
) -> None:
    def until(hours: object, tz: str | None, at: str) -> datetime | None:
        row = db.execute(
            "SELECT wattlas_open_now_until(%s::jsonb, %s, %s::timestamptz)",
            (None if hours is None else msgspec.json.encode(hours).decode(), tz, at),
        ).fetchone()
        assert row is not None
        value: datetime | None = row[0]
        return value

    def utc(text: str) -> datetime:
        return datetime.fromisoformat(text)

    monday = {"weekday": 1, "period_begin": "08:00", "period_end": "18:00"}
    weekdays = {"twentyfourseven": False, "exceptional_openings": [], "exceptional_closings": [],
                "regular_hours": [monday]}  # fmt: skip
    # Monday 2026-12-07, Amsterdam (UTC+1): opens at 07:00Z, closes at 17:00Z.
    assert until(weekdays, "Europe/Amsterdam", "2026-12-07T06:59:30Z") == utc(
        "2026-12-07T07:00:00+00:00"
    )
    assert until(weekdays, "Europe/Amsterdam", "2026-12-07T16:55:00Z") == utc(
        "2026-12-07T17:00:00+00:00"
    )
    # Between two candidates: ten minutes at most.
    assert until(weekdays, "Europe/Amsterdam", "2026-12-07T10:00:00Z") == utc(
        "2026-12-07T10:10:00+00:00"
    )
    closing = {"twentyfourseven": True, "regular_hours": [], "exceptional_openings": [],
               "exceptional_closings": [{"period_begin": "2026-12-24T12:00:30Z",
                                         "period_end": "2026-12-26T00:00:00Z"}]}  # fmt: skip
    assert until(closing, "Europe/Amsterdam", "2026-12-01T00:00:00Z") == utc(
        "2026-12-24T12:00:30+00:00"
    )
    assert until(closing, None, "2026-12-25T00:00:00Z") == utc("2026-12-26T00:00:00+00:00")
    assert until(closing, None, "2026-12-27T00:00:00Z") is None  # open from then on, always
    assert until(None, "Europe/Amsterdam", "2026-12-01T00:00:00Z") is None


async def test_a_network_that_falls_silent_is_stale_in_the_index_when_the_database_says(
    index: NearbyIndex, pool: Store, db: psycopg.Connection
) -> None:
    pk, public_id, lat, lon = await _first_location(db)
    network = db.execute("SELECT network_id FROM locations WHERE id = %s", [pk]).fetchone()
    assert network is not None
    original = db.execute(
        "SELECT last_contact_at, stale_after_s FROM networks WHERE id = %s", [network[0]]
    ).fetchone()
    assert original is not None
    try:
        db.execute(
            "UPDATE networks SET last_contact_at = now() - make_interval(secs => %s), "
            "stale_after_s = NULL WHERE id = %s",
            (STALE_AFTER_S - 2, network[0]),
        )
        await index.follow()  # the networks' last contact is read every round
        live = await _same_as_sql(index, pool, lat, lon, 500, 5)
        assert [r["availability"]["stale_reason"] for r in live if r["id"] == public_id] == [None]
        await asyncio.sleep(2.2)
        silent = await _same_as_sql(index, pool, lat, lon, 500, 5)
        assert [r["availability"]["stale_reason"] for r in silent if r["id"] == public_id] == [
            "network silent"
        ]
    finally:
        db.execute(
            "UPDATE networks SET last_contact_at = %s, stale_after_s = %s WHERE id = %s",
            (*original, network[0]),
        )


def _event(public_id: str, lat: float, lon: float, kind: str = "status") -> AvailabilityEvent:
    return AvailabilityEvent(
        location_id=public_id, lat=lat, lon=lon, h3_r5="851f1d4bfffffff", visible=True,
        availability=BucketCounts(0, 0, 0, 0, 0, 0), evses=[], at=datetime.now(UTC), kind=kind,
    )  # fmt: skip


async def test_a_body_changed_while_it_was_read_serves_that_answer_only(
    index: NearbyIndex, db: psycopg.Connection
) -> None:
    """An event that comes while bodies are read: they answer the question that read them,
    but are read again next time (the event will not come again)."""
    _, public_id, lat, lon = await _first_location(db)
    reading = asyncio.create_task(index.nearby(lat, lon, 300, 1))
    while index.misses == 0:  # counted just before the read: then it awaits the database
        assert not reading.done(), "answered before reading its body"
        await asyncio.sleep(0)
    index.forget(_event(public_id, lat, lon))
    body = await reading
    assert body is not None and msgspec.json.decode(body)["results"][0]["id"] == public_id
    assert await index.nearby(lat, lon, 300, 1) is not None
    assert (index.hits, index.misses) == (0, 2)  # not kept
    assert await index.nearby(lat, lon, 300, 1) is not None
    assert (index.hits, index.misses) == (1, 2)  # nothing changed during that read: kept


async def test_the_bodies_stay_within_their_bound(
    pool: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nearby_index, "MAX_BODY_BYTES", 20_000)
    index = NearbyIndex(pool, stale_after_s=STALE_AFTER_S)
    await index.build()
    await index._warm()
    assert 0 < index.stats.body_bytes <= 20_000
    assert index.stats.bodies < index.stats.locations


async def test_an_answer_from_the_index_is_tagged_as_any_answer_is(
    api: AsyncTestClient[Litestar], db: psycopg.Connection
) -> None:
    """Its ETag is that of the body without ``generated_at``, as for the database's answers
    (the index cuts it without searching the body)."""
    index = api.app.state.services.nearby_index
    for _ in range(200):
        if index.stats.ready:
            break
        await asyncio.sleep(0.05)
    _, _, lat, lon = await _first_location(db)
    asked = index.hits + index.misses
    response = await api.get(
        "/v1/locations/nearby", params={"lat": lat, "lon": lon, "radius_m": 3000, "limit": 30}
    )
    assert response.status_code == 200
    assert index.hits + index.misses == asked + 1  # the index answered
    assert len(response.json()["results"]) > 1
    body = response.content
    assert response.headers["etag"] == etag_of("application/json", without_generated_at(body))


async def test_without_the_change_feed_for_long_the_database_answers(
    index: NearbyIndex, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index that could not read the feed (the database down or unreachable) for
    ``MAX_TAIL_AGE_S`` no longer answers: what it holds may be behind."""
    monkeypatch.setattr(nearby_index, "MAX_TAIL_AGE_S", 0.3)
    _, _, lat, lon = await _first_location(db)
    assert await index.nearby(lat, lon, 1_000, 5) is not None
    await asyncio.sleep(0.4)
    assert await index.nearby(lat, lon, 1_000, 5) is None
    await index.follow()
    assert await index.nearby(lat, lon, 1_000, 5) is not None


async def test_a_viewport_page_from_the_index_is_the_databases_page(
    api: AsyncTestClient[Litestar], pool: Store, db: psycopg.Connection
) -> None:
    """Unfiltered viewport pages: keys from PostgreSQL, summaries from the index. Every page of
    several boxes (a city paged by 100, a country by 500, one across the antimeridian, an
    empty sea) is the database's own answer, its cursor included."""
    index = api.app.state.services.nearby_index
    for _ in range(400):
        if index.stats.ready:
            break
        await asyncio.sleep(0.05)
    boxes = [
        ((37.2, 55.5, 38.0, 56.0), 100),  # Moscow
        ((3.3, 50.7, 7.3, 53.6), 500),  # the Netherlands
        ((170.0, -50.0, -170.0, -30.0), 50),  # across the antimeridian
        ((-40.0, 30.0, -30.0, 40.0), 20),  # the Atlantic: nothing
    ]
    pages = 0
    for (west, south, east, north), limit in boxes:
        bbox = f"{west},{south},{east},{north}"
        cursor, after = None, None
        while True:
            asked = index.hits + index.misses
            params: dict[str, Any] = {"bbox": bbox, "limit": limit}
            if cursor:
                params["cursor"] = cursor
            response = await api.get("/v1/locations", params=params)
            assert response.status_code == 200, response.text
            assert index.hits + index.misses == asked + 1  # the index gave the summaries
            got = msgspec.json.decode(response.content)
            rows = await discovery.viewport(
                pool, bbox=Bbox(west, south, east, north), limit=limit, after=after,
                filters=NO_FILTERS, now=datetime.now(UTC), stale_after_s=STALE_AFTER_S,
            )  # fmt: skip
            want = msgspec.to_builtins(results_of(rows, NO_FILTERS))
            assert got["results"] == want["results"], (bbox, pages)
            assert got["count"] == len(rows)
            assert ("next_cursor" in got) == (len(rows) == limit)
            assert response.headers["etag"] == etag_of(
                "application/json", without_generated_at(response.content)
            )
            pages += 1
            cursor = got.get("next_cursor")
            if not cursor:
                break
            after = (rows[-1]["sort_key"], rows[-1]["pk"])
    assert pages >= 8  # several pages of several boxes: a real comparison


async def test_bodies_of_a_location_the_index_does_not_show_are_none(
    index: NearbyIndex, db: psycopg.Connection
) -> None:
    _, public_id, _, _ = await _first_location(db)
    assert (await index.bodies([public_id])) is not None
    assert (await index.bodies([public_id, "no-such-location"])) is None
    assert (await index.bodies([])) == []
