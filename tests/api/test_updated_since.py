"""The ``updated_since`` filter on every discovery list: only locations whose ``last_updated`` is
strictly later than the given instant, combined with the other filters, on data pushed over
OCPI with known timestamps (one location's ``last_updated`` moved by an EVSE status change)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store, networks
from ingest import credentials
from tests.conftest import make_app
from tests.ingest.helpers import b64

Client = AsyncTestClient[Litestar]
TOKEN = "updated-since-token-0123456789"
NOW = datetime.now(UTC).replace(microsecond=0)
T_OLD = NOW - timedelta(days=30)
T_MID = NOW - timedelta(days=20)
T_NEW = NOW - timedelta(days=10)
T_PATCH = NOW - timedelta(days=5)
LAT = 52.09
# West to east along one parallel: nearest first from (LAT, 5.12), and in route order.
SITES = {
    "OLD": (5.12, T_OLD, ("IEC_62196_T2", "AC_3_PHASE", 230, 32)),
    "MID": (5.13, T_MID, ("IEC_62196_T2", "AC_3_PHASE", 230, 32)),
    "NEW": (5.14, T_NEW, ("IEC_62196_T2_COMBO", "DC", 500, 300)),
    "TOUCHED": (5.15, T_OLD, ("IEC_62196_T2", "AC_3_PHASE", 230, 32)),  # status PATCH at T_PATCH
}
BBOX = "5.0,52.0,5.3,52.2"
ROUTE = {"type": "LineString", "coordinates": [[5.10, LAT], [5.17, LAT]]}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def location(
    loc_id: str, lon: float, at: datetime, plug: tuple[str, str, int, int]
) -> dict[str, Any]:
    standard, power_type, volts, amps = plug
    connector = {
        "id": "1",
        "standard": standard,
        "format": "CABLE",
        "power_type": power_type,
        "max_voltage": volts,
        "max_amperage": amps,
        "last_updated": stamp(at),
    }
    evse = {
        "uid": "1",
        "evse_id": f"NL*WTT*E{loc_id}",
        "status": "AVAILABLE",
        "connectors": [connector],
        "last_updated": stamp(at),
    }
    return {
        "country_code": "NL",
        "party_id": "WTT",
        "id": loc_id,
        "publish": True,
        "name": f"Laadplein {loc_id.title()}",
        "address": "Laanstraat 1",
        "city": "Utrecht",
        "postal_code": "3511 AA",
        "country": "NLD",
        "coordinates": {"latitude": f"{LAT:.6f}", "longitude": f"{lon:.6f}"},
        "evses": [evse],
        "time_zone": "Europe/Amsterdam",
        "last_updated": stamp(at),
    }


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(store, "testnet", TOKEN, [Party.parse("NL*WTT")])
        network_id = await networks.network_id_by_name(store, "testnet")
        async with store.transaction() as tx:
            await networks.touch(tx, network_id)
    async with AsyncTestClient(app=make_app(settings)) as test_client:
        for loc_id, (lon, at, plug) in SITES.items():
            response = await test_client.put(
                f"/ocpi/2.2.1/locations/NL/WTT/{loc_id}",
                json=location(loc_id, lon, at, plug),
                headers=b64(TOKEN),
            )
            assert response.json()["status_code"] == 1000, response.text
        response = await test_client.patch(
            "/ocpi/2.2.1/locations/NL/WTT/TOUCHED/1",
            json={"status": "CHARGING", "last_updated": stamp(T_PATCH)},
            headers=b64(TOKEN),
        )
        assert response.json()["status_code"] == 1000, response.text
        yield test_client


async def ids(client: Client, path: str, **params: Any) -> list[str]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return [r["ocpi_id"] for r in response.json()["results"]]


async def nearby(client: Client, **params: Any) -> list[str]:
    return await ids(client, "/v1/locations/nearby", lat=LAT, lon=5.12, radius_m=10_000, **params)


async def viewport(client: Client, **params: Any) -> list[str]:
    return sorted(await ids(client, "/v1/locations", bbox=BBOX, **params))


async def search(client: Client, **params: Any) -> list[str]:
    return await ids(client, "/v1/search", q="laadplein", lat=LAT, lon=5.12, **params)


async def along(client: Client, **filters: Any) -> list[str]:
    response = await client.post(
        "/v1/locations/along-route", json={"route": ROUTE, "corridor_m": 2000, "filters": filters}
    )
    assert response.status_code == 200, response.text
    return [r["ocpi_id"] for r in response.json()["results"]]


async def test_the_status_change_moved_the_location_last_updated(
    client: Client, sync_conn: psycopg.Connection
) -> None:
    rows = sync_conn.execute("SELECT ocpi_id_raw, last_updated FROM locations").fetchall()
    assert dict(rows) == {"OLD": T_OLD, "MID": T_MID, "NEW": T_NEW, "TOUCHED": T_PATCH}


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (None, ["OLD", "MID", "NEW", "TOUCHED"]),
        (T_OLD - timedelta(seconds=1), ["OLD", "MID", "NEW", "TOUCHED"]),
        (T_OLD, ["MID", "NEW", "TOUCHED"]),  # strictly after: OLD itself is left out
        (T_MID - timedelta(seconds=1), ["MID", "NEW", "TOUCHED"]),
        (T_MID, ["NEW", "TOUCHED"]),
        (T_NEW, ["TOUCHED"]),  # moved by its EVSE's status, not by its own fields
        (T_PATCH, []),
        (NOW, []),
    ],
)
async def test_every_list_keeps_what_changed_strictly_after(
    client: Client, since: datetime | None, expected: list[str]
) -> None:
    given = {} if since is None else {"updated_since": stamp(since)}
    assert await nearby(client, **given) == expected
    assert await viewport(client, **given) == sorted(expected)
    assert await along(client, **given) == expected
    assert await search(client, **given) == expected
    clusters = await client.get("/v1/clusters", params={"bbox": BBOX, "zoom": 10, **given})
    assert clusters.status_code == 200, clusters.text
    assert clusters.json()["locations"] == len(expected)


async def test_an_offset_names_the_same_instant(client: Client) -> None:
    plus_two = T_MID.astimezone(timezone(timedelta(hours=2))).isoformat()  # …+02:00
    assert await nearby(client, updated_since=plus_two) == ["NEW", "TOUCHED"]
    fraction = (T_MID + timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")
    assert await nearby(client, updated_since=fraction) == ["NEW", "TOUCHED"]
    just_before = (T_MID - timedelta(microseconds=1)).isoformat()
    assert await nearby(client, updated_since=just_before) == ["MID", "NEW", "TOUCHED"]


async def test_it_combines_with_the_other_filters(client: Client) -> None:
    since = stamp(T_MID)
    assert await nearby(client, updated_since=since, power_type="DC") == ["NEW"]
    assert await nearby(client, updated_since=since, connector="type2") == ["TOUCHED"]
    assert await nearby(client, updated_since=since, available="true") == ["NEW"]
    assert await viewport(client, updated_since=since, min_power_kw=100) == ["NEW"]
    assert await along(client, updated_since=since, connector="type2") == ["TOUCHED"]
    assert await search(client, updated_since=since, power_type="AC") == ["TOUCHED"]
    assert await nearby(client, updated_since=since, network="NL*XXX") == []
    # A page of one and its cursor: the cursor belongs to this updated_since.
    first = await client.get(
        "/v1/locations", params={"bbox": BBOX, "updated_since": since, "limit": 1}
    )
    cursor = first.json()["next_cursor"]
    second = await client.get(
        "/v1/locations",
        params={"bbox": BBOX, "updated_since": since, "limit": 1, "cursor": cursor},
    )
    pages = first.json()["results"] + second.json()["results"]
    assert sorted(r["ocpi_id"] for r in pages) == ["NEW", "TOUCHED"]
    other = await client.get(
        "/v1/locations",
        params={"bbox": BBOX, "updated_since": stamp(T_OLD), "limit": 1, "cursor": cursor},
    )
    assert other.status_code == 400 and other.json()["error"]["parameter"] == "cursor"


BAD = [
    ("yesterday", "must be an RFC 3339 date-time"),
    ("2026-01-01", "must be an RFC 3339 date-time"),
    ("2026-02-30T00:00:00Z", "must be an RFC 3339 date-time"),
    ("2026-01-01T00:00:00", "needs a UTC offset"),
    ("2026-01-01T00:00:00 01:00", "send the + of an offset as %2B"),  # + unescaped in a URL
    ("1999-12-31T23:59:59Z", "must be in the years 2000 to 2100"),
    ("2101-01-01T00:00:00Z", "must be in the years 2000 to 2100"),
    ("2100-12-31T23:30:00-01:00", "must be in the years 2000 to 2100"),  # 2101 in UTC
]
LISTS = [
    ("/v1/locations/nearby", {"lat": LAT, "lon": 5.12}),
    ("/v1/locations", {"bbox": BBOX}),
    ("/v1/search", {"q": "laadplein"}),
    ("/v1/clusters", {"bbox": BBOX, "zoom": 10}),
]


@pytest.mark.parametrize(("value", "message"), BAD)
async def test_a_bad_instant_is_a_400_naming_updated_since(
    client: Client, value: str, message: str
) -> None:
    for path, params in LISTS:
        response = await client.get(path, params={**params, "updated_since": value})
        assert response.status_code == 400, (path, response.text)
        error = response.json()["error"]
        assert (error["code"], error["parameter"]) == ("invalid_parameter", "updated_since"), path
        assert message in error["message"], (path, error)
    response = await client.post(
        "/v1/locations/along-route",
        json={"route": ROUTE, "corridor_m": 2000, "filters": {"updated_since": value}},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["parameter"] == "filters.updated_since" and message in error["message"]


async def test_the_document_describes_it_on_every_list(client: Client) -> None:
    document = (await client.get("/schema")).json()
    for path in ("/v1/locations/nearby", "/v1/locations", "/v1/search", "/v1/clusters"):
        (parameter,) = [
            p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "updated_since"
        ]
        assert parameter["in"] == "query" and not parameter.get("required", False)
        assert "strictly later" in parameter["description"], path
        schema = parameter["schema"]
        branches = schema.get("anyOf") or schema.get("oneOf") or [schema]
        assert {"type": "string", "format": "date-time"} in [
            {k: b[k] for k in ("type", "format") if k in b} for b in branches
        ], schema
