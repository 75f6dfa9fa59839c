"""What OCPI 2.3.0 adds reaches drivers (issue 10): an EVSE's parking places and each tariff's
tax treatment in the detail, and ``connector=nacs`` / ``connector=mcs`` on every search, with
2.3.0 Locations and Tariffs pushed over OCPI (the spec's 2.3.0 examples, and copies of them
given the new connector types)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store, networks
from ingest import credentials
from tests.conftest import make_app
from tests.ingest.helpers import b64, spec

TOKEN = "spec230-drivers-0123456789"
Client = AsyncTestClient[Litestar]
# The spec's BE*BEC example sits in Gent; the sites below are put around it.
GENT = (51.047599, 3.729944)


def spec230(name: str) -> Any:
    return copy.deepcopy(spec(f"2.3.0/{name}"))


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(
            store, "spec230", TOKEN, [Party.parse("BE*BEC"), Party.parse("DE*ALL")], version="2.3.0"
        )
        network_id = await networks.network_id_by_name(store, "spec230")
        async with store.transaction() as tx:
            await networks.touch(tx, network_id)
    async with AsyncTestClient(app=make_app(settings)) as test_client:
        yield test_client


async def push(client: Client, path: str, body: dict[str, Any]) -> None:
    response = await client.put(f"/ocpi/2.3.0/{path}", json=body, headers=b64(TOKEN))
    assert response.json()["status_code"] == 1000, response.text


def site(loc_id: str, lat: float, lon: float, standard: str, power_type: str = "DC") -> Any:
    """The spec's location_example as another site of BE*BEC, with one EVSE of this standard."""
    loc = spec230("location_example.json")
    loc.update(id=loc_id, name=f"Site {loc_id}")
    loc["coordinates"] = {"latitude": f"{lat:.6f}", "longitude": f"{lon:.6f}"}
    evse = loc["evses"][0]
    evse.update(uid=f"{loc_id}-1", evse_id=None, status="AVAILABLE")
    evse["connectors"] = [
        {**evse["connectors"][0], "standard": standard, "power_type": power_type,
         "max_voltage": 1000, "max_amperage": 400, "tariff_ids": []}
    ]  # fmt: skip
    loc["evses"] = [evse]
    return loc


SITES = {
    # (lat, lon, standard): NACS in a 2.3.0 feed, the NACS-shaped plug of 2.2.x feeds, MCS, CCS
    "J3400": (51.0480, 3.7300, "SAE_J3400"),
    "TESLA": (51.0500, 3.7350, "TESLA_S"),
    "MCS": (51.0520, 3.7400, "MCS"),
    "CCS": (51.0540, 3.7450, "IEC_62196_T2_COMBO"),
}


async def put_sites(client: Client) -> None:
    for loc_id, (lat, lon, standard) in SITES.items():
        await push(client, f"locations/BE/BEC/{loc_id}", site(loc_id, lat, lon, standard))


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["ocpi_id"] for r in response.json()["results"]]


async def test_nacs_and_mcs_find_their_connectors_on_every_search(client: Client) -> None:
    await put_sites(client)
    near = {"lat": GENT[0], "lon": GENT[1], "radius_m": 5000}
    assert ids(await client.get("/v1/locations/nearby", params=near)) == [
        "J3400", "TESLA", "MCS", "CCS",
    ]  # fmt: skip
    # nacs: SAE_J3400, and TESLA_S (the NACS-shaped plug of 2.2.x feeds, ocpi.md §3.8).
    for connector, expected in (
        ("nacs", ["J3400", "TESLA"]),
        ("mcs", ["MCS"]),
        ("SAE_J3400", ["J3400"]),
        ("nacs,mcs", ["J3400", "TESLA", "MCS"]),
    ):
        params = {**near, "connector": connector}
        assert ids(await client.get("/v1/locations/nearby", params=params)) == expected
        viewport = {"bbox": "3.70,51.03,3.76,51.06", "connector": connector}
        assert sorted(ids(await client.get("/v1/locations", params=viewport))) == sorted(expected)
        route = {
            "type": "LineString",
            "coordinates": [[3.7250, 51.0460], [3.7500, 51.0560]],
        }
        body = {"route": route, "corridor_m": 1000, "filters": {"connector": connector}}
        assert ids(await client.post("/v1/locations/along-route", json=body)) == expected
        search = {"q": "Site", "lat": GENT[0], "lon": GENT[1], "connector": connector}
        assert ids(await client.get("/v1/search", params=search)) == expected
    # …and the same EVSE must hold both: an available MCS charger.
    params = {**near, "connector": "mcs", "available": "true", "min_power_kw": 350}
    assert ids(await client.get("/v1/locations/nearby", params=params)) == ["MCS"]


async def test_detail_shows_parking_places_and_tax_treatment(client: Client) -> None:
    for name in (
        "tariff_1_simple_2hour.json",  # DE*ALL 12: NO
        "tariff_12_025kwh_min_price.json",  # DE*ALL 20: NO, PriceLimit
    ):
        tariff = spec230(name)
        await push(client, f"tariffs/DE/ALL/{tariff['id']}", tariff)
    inclusive = {**spec230("tariff_20_simple_north_american_inclusive.json"), "id": "13"}
    inclusive.update(country_code="DE", party_id="ALL")
    await push(client, "tariffs/DE/ALL/13", inclusive)
    loc = spec230("location_example.json")
    loc.update(country_code="DE", party_id="ALL", help_phone="+32 9 123 45 67")
    loc["coordinates"] = {"latitude": f"{GENT[0]:.6f}", "longitude": f"{GENT[1]:.6f}"}
    # The first parking place given everything a truck driver needs to know.
    loc["parking_places"][0].update(
        vehicle_types=["TRUCK_WITH_TRAILER", "SEMI_TRACTOR"],
        max_vehicle_weight=40000,
        max_vehicle_height=400,
        max_vehicle_length=1875,
        max_vehicle_width=255,
        parking_space_length=2500,
        parking_space_width=450,
        dangerous_goods_allowed=False,
        direction="PARALLEL",
        drive_through=True,
        time_limit=45,
        roofed=True,
        lighting=True,
        refrigeration_outlet=False,
        standards=["EN 17186"],
        apds_reference="APDS-7",
        restricted_to_type=True,
        reservation_required=True,
    )
    first = loc["evses"][0]
    first["accepted_service_providers"] = ["Shell Recharge"]
    first["parking_restrictions"] = ["EMPLOYEES", "TAXIS"]
    first["connectors"][0]["tariff_ids"] = ["12", "20", "13"]
    first["connectors"][0]["capabilities"] = ["ISO_15118_2_PLUG_AND_CHARGE"]
    await push(client, "locations/DE/ALL/LOC1", loc)

    public_id = ids_and_public(await client.get("/v1/search", params={"q": "Gent Zuid"}))
    response = await client.get(f"/v1/locations/{public_id}")
    assert response.status_code == 200
    detail = response.json()
    assert detail["help_phone"] == "+32 9 123 45 67"
    truck_place = {
        "id": "1",
        "physical_reference": "B1",
        "evse_position": "LEFT",
        "vehicle_types": ["TRUCK_WITH_TRAILER", "SEMI_TRACTOR"],
        "max_vehicle_weight_kg": 40000,
        "max_vehicle_height_cm": 400,
        "max_vehicle_length_cm": 1875,
        "max_vehicle_width_cm": 255,
        "parking_space_length_cm": 2500,
        "parking_space_width_cm": 450,
        "dangerous_goods_allowed": False,
        "direction": "PARALLEL",
        "drive_through": True,
        "restricted_to_type": True,
        "reservation_required": True,
        "time_limit_min": 45,
        "roofed": True,
        "lighting": True,
        "refrigeration_outlet": False,
        "standards": ["EN 17186"],
        "apds_reference": "APDS-7",
    }

    def car_place(place_id: str, position: str) -> dict[str, Any]:
        return {
            **dict.fromkeys(truck_place),
            "id": place_id,
            "physical_reference": f"B{place_id}",
            "evse_position": position,
            "vehicle_types": ["PERSONAL_VEHICLE"],
            "restricted_to_type": True,
            "reservation_required": False,
            "standards": [],
        }

    assert [(e["uid"], e["parking"]) for e in detail["evses"]] == [
        ("3256", [truck_place, car_place("2", "RIGHT")]),
        ("3257", [car_place("2", "LEFT"), car_place("3", "RIGHT")]),
    ]
    evse = detail["evses"][0]
    assert (evse["parking_restrictions"], evse["accepted_service_providers"]) == (
        ["EMPLOYEES", "TAXIS"],
        ["Shell Recharge"],
    )
    assert detail["evses"][1]["accepted_service_providers"] == []
    assert [c["capabilities"] for c in evse["connectors"]] == [["ISO_15118_2_PLUG_AND_CHARGE"], []]
    # Each tariff says whether its prices include taxes; the summary says it in words.
    assert [(t["id"], t["tax_included"], t["summary"]) for t in detail["tariffs"]] == [
        ("12", "NO", "2.00 EUR/h (excl. taxes)"),
        ("13", "YES", "2.10 CAD/h (incl. taxes)"),
        ("20", "NO", "0.25 EUR/kWh; min 0.50 EUR (excl. taxes)"),
    ]
    assert [t["min_price"] for t in detail["tariffs"]] == [
        None,
        None,
        {"before_taxes": 0.5, "after_taxes": 0.55},
    ]
    assert detail["source"]["ocpi_version"] == "2.3.0"


def ids_and_public(response: Any) -> str:
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["ocpi_id"] for r in results] == ["LOC1"]
    return str(results[0]["id"])
