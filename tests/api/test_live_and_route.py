"""Discovery with data pushed over OCPI: per-EVSE filter semantics, live status changes,
staleness, exact corridors in route order, detail with tariffs, and the query plans."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pyproj import Geod

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store, networks
from ingest import credentials
from tests.conftest import FIXTURES, make_app
from tests.ingest.helpers import b64, spec

GEOD = Geod(ellps="WGS84")
TOKEN = "discovery-token-0123456789"
Client = AsyncTestClient[Litestar]
NOW = datetime.now(UTC).replace(microsecond=0)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def connector(
    cid: str,
    standard: str,
    power_type: str,
    volts: int,
    amps: int,
    tariffs: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": cid,
        "standard": standard,
        "format": "CABLE",
        "power_type": power_type,
        "max_voltage": volts,
        "max_amperage": amps,
        "tariff_ids": tariffs or [],
        "last_updated": stamp(NOW),
    }


def evse(
    uid: str, status: str, *connectors: dict[str, Any], caps: list[str] | None = None
) -> dict[str, Any]:
    return {
        "uid": uid,
        "evse_id": f"NL*WTT*E{uid}",
        "status": status,
        "capabilities": caps or [],
        "connectors": list(connectors),
        "last_updated": stamp(NOW),
    }


def location(
    loc_id: str,
    lat: float,
    lon: float,
    *evses: dict[str, Any],
    hours: dict[str, Any] | None = None,
    country: str = "NLD",
    tz: str = "Europe/Amsterdam",
) -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "WTT",
        "id": loc_id,
        "publish": True,
        "name": f"Test site {loc_id}",
        "address": "Teststraat 1",
        "city": "Utrecht",
        "postal_code": "3511 AA",
        "country": country,
        "coordinates": {"latitude": f"{lat:.6f}", "longitude": f"{lon:.6f}"},
        "evses": list(evses),
        "time_zone": tz,
        "last_updated": stamp(NOW),
        **({"opening_times": hours} if hours is not None else {}),
    }


AC_T2 = ("IEC_62196_T2", "AC_3_PHASE", 230, 32)  # 22.1 kW
CCS_150 = ("IEC_62196_T2_COMBO", "DC", 500, 300)  # 150 kW
UTRECHT = (52.0907, 5.1214)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(
            store, "testnet", TOKEN, [Party.parse("NL*WTT"), Party.parse("DE*ALL")]
        )
        network_id = await networks.network_id_by_name(store, "testnet")
        async with store.transaction() as tx:
            await networks.touch(tx, network_id)
    async with AsyncTestClient(app=make_app(settings)) as test_client:
        yield test_client


async def put(client: Client, loc: dict[str, Any]) -> None:
    url = f"/ocpi/2.2.1/locations/{loc['country_code']}/{loc['party_id']}/{loc['id']}"
    response = await client.put(url, json=loc, headers=b64(TOKEN))
    assert response.json()["status_code"] == 1000, response.text


async def patch_status(client: Client, loc_id: str, uid: str, status: str, at: datetime) -> None:
    response = await client.patch(
        f"/ocpi/2.2.1/locations/NL/WTT/{loc_id}/{uid}",
        json={"status": status, "last_updated": stamp(at)},
        headers=b64(TOKEN),
    )
    assert response.json()["status_code"] == 1000


async def nearby_ids(client: Client, **params: Any) -> list[str]:
    response = await client.get(
        "/v1/locations/nearby",
        params={"lat": UTRECHT[0], "lon": UTRECHT[1], "radius_m": 5000, **params},
    )
    assert response.status_code == 200, response.text
    return [r["ocpi_id"] for r in response.json()["results"]]


async def test_filters_match_on_one_evse_not_across_evses(client: Client) -> None:
    # MIXED: an available AC post and a busy CCS charger. FAST: an available CCS charger.
    await put(
        client,
        location(
            "MIXED",
            52.0907,
            5.1214,
            evse("1", "AVAILABLE", connector("1", *AC_T2)),
            evse("2", "CHARGING", connector("1", *CCS_150)),
        ),
    )
    await put(
        client, location("FAST", 52.0950, 5.1300, evse("1", "AVAILABLE", connector("1", *CCS_150)))
    )
    assert await nearby_ids(client, connector="ccs2", available="true") == ["FAST"]
    assert await nearby_ids(client, min_power_kw=100, available="true") == ["FAST"]
    assert await nearby_ids(client, connector="type2", available="true") == ["MIXED"]
    assert await nearby_ids(client, connector="ccs2") == ["MIXED", "FAST"]
    # The counts of what matched, next to the location's own counts.
    response = await client.get(
        "/v1/locations/nearby", params={"lat": UTRECHT[0], "lon": UTRECHT[1], "connector": "ccs2"}
    )
    mixed = response.json()["results"][0]
    assert mixed["availability"]["total"] == 2 and mixed["availability"]["available"] == 1
    assert mixed["matching"] == {
        "total": 1,
        "available": 0,
        "occupied": 1,
        "out_of_service": 0,
        "unknown": 0,
        "planned": 0,
        "stale": 0,
    }


async def test_a_pushed_status_change_is_visible_at_once(client: Client) -> None:
    await put(
        client,
        location(
            "FAST",
            52.0950,
            5.1300,
            evse("1", "AVAILABLE", connector("1", *CCS_150)),
            evse("2", "AVAILABLE", connector("1", *CCS_150)),
        ),
    )
    assert await nearby_ids(client, available="true") == ["FAST"]
    await patch_status(client, "FAST", "1", "CHARGING", NOW + timedelta(seconds=1))
    response = await client.get(
        "/v1/locations/nearby", params={"lat": UTRECHT[0], "lon": UTRECHT[1]}
    )
    availability = response.json()["results"][0]["availability"]
    assert (availability["available"], availability["occupied"]) == (1, 1)
    await patch_status(client, "FAST", "2", "OUTOFORDER", NOW + timedelta(seconds=2))
    assert await nearby_ids(client, available="true") == []
    group = (
        await client.get("/v1/locations/nearby", params={"lat": UTRECHT[0], "lon": UTRECHT[1]})
    ).json()["results"][0]["connector_groups"]
    assert group == [
        {
            "standard": "IEC_62196_T2_COMBO",
            "power_type": "DC",
            "max_power_kw": 150.0,
            "evses": 2,
            "available": 0,
            "occupied": 1,
            "out_of_service": 1,
            "unknown": 0,
            "planned": 0,
            "stale": 0,
        }
    ]


async def test_staleness_is_reported_never_shown_as_live(
    client: Client,
    sync_conn: psycopg.Connection,
) -> None:
    site = location("FAST", 52.0950, 5.1300, evse("1", "AVAILABLE", connector("1", *CCS_150)))
    an_hour_ago = stamp(NOW - timedelta(hours=1))
    site["last_updated"] = site["evses"][0]["last_updated"] = an_hour_ago
    site["evses"][0]["connectors"][0]["last_updated"] = an_hour_ago
    await put(client, site)
    # Status older than the caller accepts: stale, and not "available".
    await patch_status(client, "FAST", "1", "AVAILABLE", NOW - timedelta(minutes=20))
    assert await nearby_ids(client, available="true", max_status_age_s=600) == []
    body = (
        await client.get(
            "/v1/locations/nearby",
            params={"lat": UTRECHT[0], "lon": UTRECHT[1], "max_status_age_s": 600},
        )
    ).json()
    availability = body["results"][0]["availability"]
    assert (availability["available"], availability["stale"], availability["stale_reason"]) == (
        0,
        1,
        "status older than max_status_age_s",
    )
    assert await nearby_ids(client, available="true", max_status_age_s=3600) == ["FAST"]
    # The network falls silent: every status is stale.
    sync_conn.execute("UPDATE networks SET last_contact_at = now() - interval '2 hours'")
    assert await nearby_ids(client, available="true") == []
    body = (
        await client.get("/v1/locations/nearby", params={"lat": UTRECHT[0], "lon": UTRECHT[1]})
    ).json()
    availability = body["results"][0]["availability"]
    assert (availability["available"], availability["stale"], availability["stale_reason"]) == (
        0,
        1,
        "network silent",
    )


async def test_open_now_and_parking_filters(client: Client) -> None:
    closed_now = NOW.astimezone()  # any time: a site open only in a window 12 hours away
    begin = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:00")
    end = (datetime.now(UTC) + timedelta(hours=13)).strftime("%H:00")
    weekly = [{"weekday": d, "period_begin": begin, "period_end": end} for d in range(1, 8)]
    del closed_now
    await put(
        client,
        location(
            "NIGHT",
            52.0907,
            5.1214,
            evse("1", "AVAILABLE", connector("1", *AC_T2)),
            hours={"twentyfourseven": False, "regular_hours": weekly},
            tz="UTC",
        ),
    )
    await put(
        client,
        location(
            "ALWAYS",
            52.0950,
            5.1300,
            evse("1", "AVAILABLE", connector("1", *AC_T2)),
            hours={"twentyfourseven": True},
        ),
    )
    await put(
        client, location("NOHOURS", 52.1000, 5.1400, evse("1", "AVAILABLE", connector("1", *AC_T2)))
    )
    assert sorted(await nearby_ids(client, open_now="true")) == ["ALWAYS", "NOHOURS"]
    body = (
        await client.get("/v1/locations/nearby", params={"lat": UTRECHT[0], "lon": UTRECHT[1]})
    ).json()
    assert {r["ocpi_id"]: r["open_now"] for r in body["results"]} == {
        "NIGHT": False,
        "ALWAYS": True,
        "NOHOURS": None,
    }


async def test_viewport_across_the_antimeridian(client: Client) -> None:
    # Chukotka: Anadyr (west of 180°) and Provideniya (east of it).
    await put(
        client,
        location(
            "ANADYR",
            64.7333,
            177.5089,
            evse("1", "AVAILABLE", connector("1", *AC_T2)),
            country="RUS",
            tz="Asia/Anadyr",
        ),
    )
    await put(
        client,
        location(
            "PROVIDENIYA",
            64.4233,
            -173.2258,
            evse("1", "AVAILABLE", connector("1", *AC_T2)),
            country="RUS",
            tz="Asia/Anadyr",
        ),
    )
    body = (await client.get("/v1/locations", params={"bbox": "170,60,-170,70"})).json()
    assert sorted(r["ocpi_id"] for r in body["results"]) == ["ANADYR", "PROVIDENIYA"]
    west_only = (await client.get("/v1/locations", params={"bbox": "170,60,179.9,70"})).json()
    assert [r["ocpi_id"] for r in west_only["results"]] == ["ANADYR"]


# ---- along a route -----------------------------------------------------------------------------
def route_coordinates(name: str) -> list[list[float]]:
    data = json.loads((FIXTURES / "routes" / f"{name}.geojson").read_text())
    geometry = data["features"][0]["geometry"] if "features" in data else data.get("geometry", data)
    return geometry["coordinates"]  # type: ignore[no-any-return]


def point_near_route(
    coords: list[list[float]], offset_m: float, side_m: float
) -> tuple[float, float]:
    """The point ``offset_m`` along the route, moved ``side_m`` to its left (geodesics)."""
    walked = 0.0
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(coords):
        azimuth, _, length = GEOD.inv(lon1, lat1, lon2, lat2)
        if walked + length >= offset_m:
            lon, lat, _ = GEOD.fwd(lon1, lat1, azimuth, offset_m - walked)
            lon, lat, _ = GEOD.fwd(lon, lat, azimuth - 90, side_m)
            return lat, lon
        walked += length
    raise ValueError("offset beyond the route")


def independent_offset_and_distance(
    coords: list[list[float]], lat: float, lon: float
) -> tuple[float, float]:
    """Brute force over every segment: closest point (densified), its geodesic offset."""
    best = (float("inf"), 0.0)
    walked = 0.0
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(coords):
        length = GEOD.inv(lon1, lat1, lon2, lat2)[2]
        steps = max(1, int(length // 5))
        for i in range(steps + 1):
            f = i / steps
            plon, plat = lon1 + (lon2 - lon1) * f, lat1 + (lat2 - lat1) * f
            d = GEOD.inv(lon, lat, plon, plat)[2]
            if d < best[0]:
                best = (d, walked + length * f)
        walked += length
    return best[1], best[0]


VIENNA_LINZ = "at_vienna_to_linz_177km_ors_driving"
# (id, offset along the route in m, metres to the side)
PLACED = [
    ("R1", 12_000, 300),
    ("R2", 47_500, -1_800),
    ("R3", 88_000, 4_500),
    ("R4", 120_300, 900),
    ("R5", 160_000, -2_600),
    ("FAR", 100_000, 9_000),
]


@pytest.fixture
async def route_sites(client: Client) -> list[list[float]]:
    coords = route_coordinates(VIENNA_LINZ)
    for loc_id, offset, side in PLACED:
        lat, lon = point_near_route(coords, offset, side)
        await put(
            client,
            location(
                loc_id,
                lat,
                lon,
                evse("1", "AVAILABLE", connector("1", *CCS_150)),
                country="AUT",
                tz="Europe/Vienna",
            ),
        )
    return coords


async def along(client: Client, route: Any, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/locations/along-route", json={"route": route, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_corridor_is_exact_and_in_route_order(
    client: Client,
    route_sites: list[list[float]],
) -> None:
    coords = route_sites
    body = await along(client, {"type": "LineString", "coordinates": coords}, corridor_m=5000)
    assert [r["ocpi_id"] for r in body["results"]] == ["R1", "R2", "R3", "R4", "R5"]
    for result in body["results"]:
        lat, lon = result["coordinates"]["lat"], result["coordinates"]["lon"]
        offset, distance = independent_offset_and_distance(coords, lat, lon)
        assert result["distance_from_route_m"] == pytest.approx(distance, abs=2.0)
        assert result["route_offset_m"] == pytest.approx(offset, abs=25.0)
    narrow = await along(client, {"type": "LineString", "coordinates": coords}, corridor_m=2000)
    assert [r["ocpi_id"] for r in narrow["results"]] == ["R1", "R2", "R4"]
    wide = await along(client, {"type": "LineString", "coordinates": coords}, corridor_m=10000)
    assert "FAR" in [r["ocpi_id"] for r in wide["results"]]


async def test_polylines_start_offset_and_pages(
    client: Client,
    route_sites: list[list[float]],
) -> None:
    for precision in (5, 6):
        encoded = (FIXTURES / "routes" / f"{VIENNA_LINZ}.polyline{precision}.txt").read_text()
        body = await along(
            client, {"encoded_polyline": encoded.strip(), "precision": precision}, corridor_m=5000
        )
        assert [r["ocpi_id"] for r in body["results"]] == ["R1", "R2", "R3", "R4", "R5"]
    later = await along(
        client,
        {"type": "LineString", "coordinates": route_sites},
        corridor_m=5000,
        start_offset_m=60_000,
    )
    assert [r["ocpi_id"] for r in later["results"]] == ["R3", "R4", "R5"]
    first = await along(
        client, {"type": "LineString", "coordinates": route_sites}, corridor_m=5000, limit=2
    )
    assert [r["ocpi_id"] for r in first["results"]] == ["R1", "R2"]
    rest = await along(
        client,
        {"type": "LineString", "coordinates": route_sites},
        corridor_m=5000,
        limit=2,
        cursor=first["next_cursor"],
    )
    assert [r["ocpi_id"] for r in rest["results"]] == ["R3", "R4"]


async def test_a_route_that_comes_back_gives_the_closest_pass_once_across_pages(
    client: Client,
) -> None:
    """The route is read in windows of stretches from its start (the first of about 40 km,
    each next twice as long): a station passed twice, first at 1.7 km and, 90 km later, on the
    way back at 0.6 km, is answered once, with the offset of the closer pass, and paging one
    station at a time over windows gives every station once, in route order."""
    east = [[10.0 + 0.05 * i, 48.0] for i in range(15)]  # 52 km east along 48.00 N
    back = [[10.7 - 0.05 * i, 48.02] for i in range(15)]  # and back along 48.02 N
    coords = [*east, *back]
    placed = {"TWICE": (48.015, 10.135), "ONCE": (47.995, 10.135), "LATE": (48.025, 10.05)}
    for loc_id, (lat, lon) in placed.items():
        await put(
            client, location(loc_id, lat, lon, evse("1", "AVAILABLE", connector("1", *CCS_150)))
        )
    route = {"type": "LineString", "coordinates": coords}
    body = await along(client, route, corridor_m=5000)
    assert [r["ocpi_id"] for r in body["results"]] == ["ONCE", "TWICE", "LATE"]
    for result in body["results"]:
        lat, lon = placed[result["ocpi_id"]]
        offset, distance = independent_offset_and_distance(coords, lat, lon)
        assert result["route_offset_m"] == pytest.approx(offset, abs=25.0)
        assert result["distance_from_route_m"] == pytest.approx(distance, abs=2.0)
    assert body["results"][1]["route_offset_m"] > 90_000
    paged, cursor = [], None
    while True:
        page = await along(
            client, route, corridor_m=5000, limit=1, **({"cursor": cursor} if cursor else {})
        )
        paged += [r["ocpi_id"] for r in page["results"]]
        if not (cursor := page.get("next_cursor")):
            break
    assert paged == ["ONCE", "TWICE", "LATE"]
    later = await along(client, route, corridor_m=5000, start_offset_m=60_000)
    assert [r["ocpi_id"] for r in later["results"]] == ["TWICE", "LATE"]


@pytest.mark.parametrize(
    ("body", "parameter", "message"),
    [
        (
            {"route": {"encoded_polyline": "_p~iF~ps|U_ulLnnqC_mqNvxq`@", "precision": 7}},
            "route",
            "precision must be 5 or 6",
        ),
        ({"route": {"encoded_polyline": "_p~iF~ps|U_ulL", "precision": 5}}, "route", "truncated"),
        ({"route": {"type": "Point", "coordinates": [1, 2]}}, "route", "GeoJSON LineString"),
        (
            {"route": {"type": "LineString", "coordinates": [[1, 2]]}},
            "route",
            "at least two distinct points",
        ),
        (
            {"route": {"type": "LineString", "coordinates": [[1, 2], [1, 95]]}},
            "route",
            "out of range",
        ),
        (
            {
                "route": {
                    "type": "LineString",
                    "coordinates": [[0, 0.0001 * i] for i in range(50_001)],
                }
            },
            "route",
            "at most 50,000 are accepted",
        ),
        (
            {"route": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}, "corridor_m": 0},
            "corridor_m",
            "more than 0",
        ),
        (
            {
                "route": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]},
                "filters": {"connector": "xyz"},
            },
            "filters.connector",
            "unknown connector",
        ),
    ],
)
async def test_bad_routes_are_400(
    client: Client, body: dict[str, Any], parameter: str, message: str
) -> None:
    response = await client.post("/v1/locations/along-route", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["parameter"] == parameter and message in error["message"]


# ---- detail ------------------------------------------------------------------------------------
async def test_detail_with_evses_tariffs_and_etag(client: Client) -> None:
    tariff = spec("tariff_6_025kwh_start_max_price.json")  # DE*ALL id 16, valid until 2019
    current = spec("tariff_9_025kwh_start.json")  # DE*ALL id 17
    for t in (tariff, current):
        response = await client.put(
            f"/ocpi/2.2.1/tariffs/DE/ALL/{t['id']}", json=t, headers=b64(TOKEN)
        )
        assert response.json()["status_code"] == 1000
    site = location(
        "DET",
        52.0907,
        5.1214,
        evse(
            "1",
            "AVAILABLE",
            connector("1", *CCS_150, tariffs=["16", "17"]),
            caps=["CREDIT_CARD_PAYABLE"],
        ),
        evse("2", "REMOVED", connector("1", *AC_T2)),
    )
    site.update(country_code="DE", party_id="ALL")
    response = await client.put("/ocpi/2.2.1/locations/DE/ALL/DET", json=site, headers=b64(TOKEN))
    assert response.json()["status_code"] == 1000
    public_id = (
        await client.get("/v1/locations/nearby", params={"lat": UTRECHT[0], "lon": UTRECHT[1]})
    ).json()["results"][0]["id"]
    response = await client.get(f"/v1/locations/{public_id}")
    assert response.status_code == 200
    detail = response.json()
    assert [e["uid"] for e in detail["evses"]] == ["1"]  # REMOVED is hidden
    assert detail["evses"][0]["connectors"][0]["max_power_kw"] == 150.0
    assert detail["evses"][0]["capabilities"] == ["CREDIT_CARD_PAYABLE"]
    assert [(t["id"], t["active"]) for t in detail["tariffs"]] == [("16", False), ("17", True)]
    assert detail["price_summary"] == "0.25 EUR/kWh + 0.50 EUR start fee (excl. VAT)"
    assert detail["unknown_tariff_ids"] == []
    assert detail["source"]["live"] is True and detail["source"]["network"] == "testnet"
    etag = response.headers["etag"]
    again = await client.get(f"/v1/locations/{public_id}", headers={"If-None-Match": etag})
    assert again.status_code == 304


# ---- the plans: every query that serves drivers is answered from an index ----------------------
def _scans(plan: Any) -> list[tuple[str, str | None, str | None]]:
    """(node type, relation, index) of every node of an EXPLAIN (FORMAT JSON) plan."""
    found = []
    stack = [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        found.append((node["Node Type"], node.get("Relation Name"), node.get("Index Name")))
        stack.extend(node.get("Plans", []))
    return found


async def test_queries_use_their_indexes(fixture_db: str) -> None:
    """On the 3,499 real locations, with sequential scans made expensive, each query must reach
    ``locations`` through its index; a predicate that cannot use it (a function around the
    column, a cast) fails this. (The benchmark reads EXPLAIN ANALYZE at full size.)"""
    from app.domain.filters import Bbox, Filters
    from app.domain.route import pieces, validate
    from app.store import Store, discovery, search

    plans: dict[str, list[tuple[str, str | None, str | None]]] = {}
    running = {"name": ""}
    original = discovery._fetch

    async def explain(store: Store, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with store.discovery_connection() as conn:
            cur = await conn.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            row = await cur.fetchone()
        assert row is not None
        plans.setdefault(running["name"], []).extend(_scans(row[0]))  # every statement's
        return await original(store, sql, params)

    async def no_seqscan(conn: psycopg.AsyncConnection) -> None:
        await conn.execute("SET enable_seqscan = off")

    now = datetime.now(UTC)
    f = Filters(standards=("IEC_62196_T2_COMBO",), available=True)
    coords = [(c[0], c[1]) for c in route_coordinates(VIENNA_LINZ)]
    calls = {
        "nearby": lambda store: discovery.nearby(
            store,
            lat=52.1,
            lon=5.1,
            radius_m=5000,
            limit=50,
            filters=f,
            now=now,
            stale_after_s=1800,
        ),
        "viewport": lambda store: discovery.viewport(
            store,
            bbox=Bbox(5, 52, 5.3, 52.2),
            limit=500,
            after=None,
            filters=f,
            now=now,
            stale_after_s=1800,
        ),
        "search": lambda store: search.text_search(
            store,
            query="main street",
            lat=52.1,
            lon=5.1,
            limit=20,
            filters=Filters(),
            now=now,
            stale_after_s=1800,
        ),
        "search-evse-id": lambda store: search.text_search(
            store,
            query="NL*PGO*ABL00002*1",
            lat=None,
            lon=None,
            limit=20,
            filters=Filters(),
            now=now,
            stale_after_s=1800,
        ),
        "along-route": lambda store: discovery.along_route(
            store,
            pieces=pieces(validate(coords)),
            corridor_m=5000,
            start_offset_m=0,
            limit=100,
            after=None,
            filters=f,
            now=now,
            stale_after_s=1800,
        ),
    }
    expected_index = {
        "nearby": "ix_locations_geog_visible",
        "viewport": "ix_locations_geom_visible",
        "search": "ix_locations_search_trgm",
        "search-evse-id": "ix_evses_evse_id_key",
        "along-route": "ix_locations_geom_visible",
    }
    async with await psycopg.AsyncConnection.connect(fixture_db, autocommit=True) as conn:
        await conn.execute("ANALYZE")
    async with Store(fixture_db, max_size=1, name="test", configure=no_seqscan) as store:
        discovery._fetch = explain  # type: ignore[assignment]
        search._fetch = explain  # type: ignore[assignment]
        try:
            for name, call in calls.items():
                running["name"] = name
                await call(store)
        finally:
            discovery._fetch = original  # type: ignore[assignment]
            search._fetch = original  # type: ignore[assignment]
    for name, scans in plans.items():
        on_locations = [s for s in scans if s[1] == "locations"]
        assert ("Seq Scan", "locations", None) not in on_locations, (name, scans)
        assert any(s[2] == expected_index[name] for s in scans), (name, scans[:40])


async def test_the_nearby_index_follows_every_push_at_once(client: Client) -> None:
    """Unfiltered nearby questions are answered from memory; every push changes that memory
    before it is acknowledged."""
    cache = client.app.state.services.nearby_index
    near = {"lat": UTRECHT[0], "lon": UTRECHT[1], "radius_m": 5000}

    async def answer() -> list[tuple[str, int, float]]:
        response = await client.get("/v1/locations/nearby", params=near)
        assert response.status_code == 200, response.text
        return [
            (r["ocpi_id"], r["availability"]["available"], r["distance_m"])
            for r in response.json()["results"]
        ]

    await put(
        client, location("A", 52.0950, 5.1300, evse("1", "AVAILABLE", connector("1", *CCS_150)))
    )
    first = await answer()
    assert [(i, a) for i, a, _ in first] == [("A", 1)]
    asked = cache.hits + cache.misses
    assert await answer() == first and cache.hits + cache.misses == asked + 1

    await patch_status(client, "A", "1", "CHARGING", NOW + timedelta(seconds=1))
    assert [(i, a) for i, a, _ in await answer()] == [("A", 0)]

    await put(
        client, location("B", 52.0910, 5.1220, evse("1", "AVAILABLE", connector("1", *AC_T2)))
    )
    assert [(i, a) for i, a, _ in await answer()] == [("B", 1), ("A", 0)]

    # Moved 3 km east: the new distance, not the remembered one.
    moved = location("A", 52.0950, 5.1750, evse("1", "CHARGING", connector("1", *CCS_150)))
    moved["last_updated"] = moved["evses"][0]["last_updated"] = stamp(NOW + timedelta(seconds=3))
    await put(client, moved)
    (b, a) = await answer()
    assert b[0] == "B" and a[0] == "A" and 3650 < a[2] < 3750

    # Removed: gone at once.
    await patch_status(client, "B", "1", "REMOVED", NOW + timedelta(seconds=2))
    assert [i for i, _, _ in await answer()] == ["A"]
    assert cache.hits + cache.misses > asked + 1  # the cache answered, not only the database


async def test_locations_that_come_after_the_start_are_warmed_before_anyone_asks(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index started on an empty database (a first pull after a fresh start): once many
    locations came, their bodies are read in the background, not one question at a time."""
    from app.live import nearby_index

    monkeypatch.setattr(nearby_index, "FOLD_AT", 2)
    index = client.app.state.services.nearby_index
    for n in range(4):
        plug = evse("1", "AVAILABLE", connector("1", *AC_T2))
        await put(client, location(f"W{n}", 52.09 + n / 1000, 5.12, plug))
    deadline = time.monotonic() + 15
    while index.stats.bodies < 4:
        assert time.monotonic() < deadline, index.stats
        await asyncio.sleep(0.1)
    assert index.stats.folds >= 1
    assert (index.hits, index.misses) == (0, 0)  # nobody asked
