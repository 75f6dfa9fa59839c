"""A price in every discovery answer and ``POST /v1/price`` (issue 13), against the real
receiver, database and API: tariffs and locations are pushed over OCPI, then asked about.

Every expected figure is worked out by hand in a comment beside it. The tariffs (NL*WTT, OCPI
2.2.1, prices excl. VAT, VAT per component):

- CHEAP: 0.30 EUR/kWh, 21 % VAT;
- DEAR: 0.50 EUR/kWh + 1.00 EUR start fee, 21 % VAT on both;
- NIGHT: 0.20 EUR/kWh from 22:00 to 06:00 local time, else 0.60 EUR/kWh, 21 % VAT;
- PARK: 0.40 EUR/kWh + 6.00 EUR/h parking (billed per minute), 21 % VAT;
- USD: 0.10 USD/kWh without ``vat`` (2.2.1: "if omitted, no VAT is applicable").
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api import test_live_and_route as route_tests
from tests.api.test_live_and_route import (
    AC_T2,
    CCS_150,
    NOW,
    TOKEN,
    UTRECHT,
    Client,
    connector,
    evse,
    location,
    put,
    stamp,
)
from tests.conftest import FIXTURES
from tests.ingest.helpers import b64

# The fixture of the discovery tests: an app whose network "testnet" (TOKEN) owns NL*WTT.
client = route_tests.client
pytestmark = pytest.mark.usefixtures("priced_sites")
DAY = "2026-12-02T12:00:00+01:00"  # a Wednesday, noon in Utrecht
NIGHT = "2026-12-02T23:00:00+01:00"


def component(kind: str, price: float, vat: float | None = 21, step: int = 1) -> dict[str, Any]:
    found: dict[str, Any] = {"type": kind, "price": price, "step_size": step}
    if vat is not None:
        found["vat"] = vat
    return found


def tariff(tariff_id: str, *elements: dict[str, Any], currency: str = "EUR") -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "WTT",
        "id": tariff_id,
        "currency": currency,
        "elements": list(elements),
        "last_updated": stamp(NOW),
    }


TARIFFS = [
    tariff("CHEAP", {"price_components": [component("ENERGY", 0.30)]}),
    tariff(
        "DEAR",
        {"price_components": [component("FLAT", 1.00)]},
        {"price_components": [component("ENERGY", 0.50)]},
    ),
    tariff(
        "NIGHT",
        {
            "price_components": [component("ENERGY", 0.20)],
            "restrictions": {"start_time": "22:00", "end_time": "06:00"},
        },
        {"price_components": [component("ENERGY", 0.60)]},
    ),
    tariff(
        "PARK",
        {"price_components": [component("ENERGY", 0.40)]},
        {"price_components": [component("PARKING_TIME", 6.00, step=60)]},
    ),
    tariff("USD", {"price_components": [component("ENERGY", 0.10, vat=None)]}, currency="USD"),
]


def north(lat: float, km: float) -> float:
    return lat + km / 111.2


SITES = [
    # A: AC on CHEAP, CCS on DEAR.
    location(
        "PA",
        UTRECHT[0],
        UTRECHT[1],
        evse("PA1", "AVAILABLE", connector("1", *AC_T2, tariffs=["CHEAP"])),
        evse("PA2", "AVAILABLE", connector("1", *CCS_150, tariffs=["DEAR"])),
    ),
    location(
        "PB",
        north(UTRECHT[0], 1),
        UTRECHT[1],
        evse("PB1", "AVAILABLE", connector("1", *CCS_150, tariffs=["NIGHT"])),
    ),
    location(
        "PC", north(UTRECHT[0], 2), UTRECHT[1], evse("PC1", "AVAILABLE", connector("1", *AC_T2))
    ),
    location(
        "PD",
        north(UTRECHT[0], 3),
        UTRECHT[1],
        evse("PD1", "AVAILABLE", connector("1", *AC_T2, tariffs=["PARK"])),
    ),
    location(
        "PE",
        north(UTRECHT[0], 4),
        UTRECHT[1],
        evse("PE1", "AVAILABLE", connector("1", *AC_T2, tariffs=["USD"])),
    ),
    # F: NIGHT again, but the site keeps London time (an hour behind Utrecht).
    location(
        "PF",
        north(UTRECHT[0], 5),
        UTRECHT[1],
        evse("PF1", "AVAILABLE", connector("1", *CCS_150, tariffs=["NIGHT"])),
        tz="Europe/London",
    ),
]


@pytest.fixture
async def priced_sites(client: Client) -> AsyncIterator[None]:
    for t in TARIFFS:
        response = await client.put(
            f"/ocpi/2.2.1/tariffs/NL/WTT/{t['id']}", json=t, headers=b64(TOKEN)
        )
        assert response.json()["status_code"] == 1000, response.text
    for site in SITES:
        await put(client, site)
    yield


async def near(client: Client, **params: Any) -> list[dict[str, Any]]:
    query = {"lat": UTRECHT[0], "lon": UTRECHT[1], "radius_m": 10_000, **params}
    response = await client.get("/v1/locations/nearby", params=query)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def prices(results: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [
        (r["ocpi_id"], r["price"] and (r["price"]["currency"], r["price"]["incl_vat"]))
        for r in results
    ]


async def test_each_connector_group_and_the_location_carry_the_sessions_price(
    client: Client,
) -> None:
    results = await near(client, energy_kwh=30, start_at=DAY)
    a = results[0]
    assert a["ocpi_id"] == "PA"
    # CCS 150 kW on DEAR: 30 × 0.50 + 1.00 = 16.00 excl.; × 1.21 = 19.36 incl.
    # AC 22 kW on CHEAP: 30 × 0.30 = 9.00 excl.; × 1.21 = 10.89 incl.
    assert [(g["standard"], g["price"]) for g in a["connector_groups"]] == [
        (
            "IEC_62196_T2_COMBO",
            {
                "currency": "EUR",
                "incl_vat": 19.36,
                "excl_vat": 16.0,
                "tariff_id": "DEAR",
                "basis": "tariff",
                "summary": "0.50 EUR/kWh + 1.00 EUR start fee (excl. VAT)",
            },
        ),
        (
            "IEC_62196_T2",
            {
                "currency": "EUR",
                "incl_vat": 10.89,
                "excl_vat": 9.0,
                "tariff_id": "CHEAP",
                "basis": "tariff",
                "summary": "0.30 EUR/kWh (excl. VAT)",
            },
        ),
    ]
    assert a["price"]["tariff_id"] == "CHEAP"  # the cheaper of its two kinds
    # NIGHT at noon: 30 × 0.60 = 18.00, × 1.21 = 21.78; PARK without parking: 30 × 0.40 = 12.00,
    # × 1.21 = 14.52; USD: 30 × 0.10 = 3.00 USD, no VAT; PC links no tariff.
    assert prices(results) == [
        ("PA", ("EUR", 10.89)),
        ("PB", ("EUR", 21.78)),
        ("PC", None),
        ("PD", ("EUR", 14.52)),
        ("PE", ("USD", 3.0)),
        ("PF", ("EUR", 21.78)),
    ]
    assert results[4]["price"]["excl_vat"] == 3.0
    assert results[2]["connector_groups"][0]["price"] is None


async def test_without_energy_kwh_nothing_is_priced(client: Client) -> None:
    results = await near(client)
    assert all("price" not in r for r in results)
    assert all("price" not in g for r in results for g in r["connector_groups"])


async def test_the_connector_filter_picks_which_kind_prices_the_location(client: Client) -> None:
    results = await near(client, energy_kwh=30, start_at=DAY, connector="ccs2")
    assert prices(results)[0] == ("PA", ("EUR", 19.36))  # DEAR, its CCS


async def test_time_restrictions_are_read_in_each_locations_own_time_zone(client: Client) -> None:
    # 23:00 in Utrecht is night there (0.20 × 30 = 6.00, × 1.21 = 7.26) but 22:00 in London:
    # also night. At 22:30 Utrecht time it is 21:30 in London: day (21.78).
    results = await near(client, energy_kwh=30, start_at=NIGHT)
    assert dict(prices(results))["PB"] == ("EUR", 7.26)
    assert dict(prices(results))["PF"] == ("EUR", 7.26)
    results = await near(client, energy_kwh=30, start_at="2026-12-02T22:30:00+01:00")
    assert dict(prices(results))["PB"] == ("EUR", 7.26)
    assert dict(prices(results))["PF"] == ("EUR", 21.78)


async def test_parking_minutes_are_priced(client: Client) -> None:
    # PARK: 30 × 0.40 = 12.00 + 30 min × 6.00/h = 3.00 → 15.00 excl.; × 1.21 = 18.15.
    results = await near(client, energy_kwh=30, start_at=DAY, parking_min=30)
    assert dict(prices(results))["PD"] == ("EUR", 18.15)


async def test_sort_by_price_ranks_cheapest_first_other_currencies_then_unpriced_last(
    client: Client,
) -> None:
    results = await near(client, energy_kwh=30, start_at=DAY, sort="price")
    # EUR (the first priced result's currency) by incl. VAT, distance breaking the PB/PF tie;
    # then USD; then PC, which has no price.
    assert [r["ocpi_id"] for r in results] == ["PA", "PD", "PB", "PF", "PE", "PC"]
    results = await near(client, energy_kwh=30, start_at=NIGHT, sort="price", limit=3)
    assert [r["ocpi_id"] for r in results] == ["PB", "PF", "PA"]  # 7.26, 7.26, 10.89
    results = await near(client, energy_kwh=30, start_at=DAY, sort="price", currency="USD")
    assert [r["ocpi_id"] for r in results][:2] == ["PE", "PA"]


async def test_max_price_keeps_prices_in_its_currency_at_most_that(client: Client) -> None:
    results = await near(client, energy_kwh=30, start_at=DAY, max_price=15, currency="EUR")
    assert prices(results) == [("PA", ("EUR", 10.89)), ("PD", ("EUR", 14.52))]
    results = await near(
        client, energy_kwh=30, start_at=DAY, max_price=15, currency="eur", sort="price", limit=1
    )
    assert prices(results) == [("PA", ("EUR", 10.89))]
    # As published where the VAT is unknown: 3.00 USD.
    results = await near(client, energy_kwh=30, start_at=DAY, max_price=3, currency="USD")
    assert [r["ocpi_id"] for r in results] == ["PE"]


async def test_viewport_and_search_are_priced_and_filtered_too(client: Client) -> None:
    box = f"{UTRECHT[1] - 0.1},{UTRECHT[0] - 0.1},{UTRECHT[1] + 0.1},{UTRECHT[0] + 0.1}"
    response = await client.get(
        "/v1/locations/",
        params={"bbox": box, "energy_kwh": 30, "start_at": DAY, "max_price": 15, "currency": "EUR"},
    )
    assert response.status_code == 200, response.text
    assert sorted(r["ocpi_id"] for r in response.json()["results"]) == ["PA", "PD"]
    response = await client.get(
        "/v1/locations/", params={"bbox": box, "energy_kwh": 30, "start_at": DAY, "sort": "price"}
    )
    # PB and PF cost the same: the viewport's own (sample) order decides between them.
    assert [p for _, p in prices(response.json()["results"])] == [
        ("EUR", 10.89),
        ("EUR", 14.52),
        ("EUR", 21.78),
        ("EUR", 21.78),
        ("USD", 3.0),
        None,
    ]
    response = await client.get(
        "/v1/search",
        params={"q": "test site", "energy_kwh": 30, "start_at": DAY, "sort": "price", "limit": 2},
    )
    assert response.status_code == 200, response.text
    assert prices(response.json()["results"]) == [("PA", ("EUR", 10.89)), ("PD", ("EUR", 14.52))]


async def pages(client: Client, first: Any, following: Any) -> list[dict[str, Any]]:
    """Every result of a paged question: ``first()``, then ``following(cursor)``."""
    page = (await first()).json()
    found = list(page["results"])
    while page.get("next_cursor"):
        page = (await following(page["next_cursor"])).json()
        found += page["results"]
    return found


async def test_priced_pages_go_through_every_result_in_price_order(client: Client) -> None:
    box = f"{UTRECHT[1] - 0.1},{UTRECHT[0] - 0.1},{UTRECHT[1] + 0.1},{UTRECHT[0] + 0.1}"
    query = {"bbox": box, "energy_kwh": 30, "start_at": DAY, "sort": "price", "limit": 2}
    found = await pages(
        client,
        lambda: client.get("/v1/locations/", params=query),
        lambda cursor: client.get("/v1/locations/", params={**query, "cursor": cursor}),
    )
    # Three pages of two: the one run of six, ranked, then nothing left.
    assert [p for _, p in prices(found)] == [
        ("EUR", 10.89), ("EUR", 14.52), ("EUR", 21.78), ("EUR", 21.78), ("USD", 3.0), None
    ]  # fmt: skip
    filtered = {**query, "max_price": 15, "currency": "EUR", "limit": 1}
    del filtered["sort"]
    found = await pages(
        client,
        lambda: client.get("/v1/locations/", params=filtered),
        lambda cursor: client.get("/v1/locations/", params={**filtered, "cursor": cursor}),
    )
    assert sorted(r["ocpi_id"] for r in found) == ["PA", "PD"]
    route = {
        "type": "LineString",
        "coordinates": [[UTRECHT[1], UTRECHT[0] - 0.01], [UTRECHT[1], north(UTRECHT[0], 6)]],
    }
    body = {"route": route, "corridor_m": 500, "energy_kwh": 30, "start_at": NIGHT,
            "sort": "price", "limit": 4}  # fmt: skip
    found = await pages(
        client,
        lambda: client.post("/v1/locations/along-route", json=body),
        lambda cursor: client.post("/v1/locations/along-route", json={**body, "cursor": cursor}),
    )
    # At night: PB and PF 7.26 (route order between them), PA 10.89, PD 14.52, PE 3.00 USD, PC.
    assert [r["ocpi_id"] for r in found] == ["PB", "PF", "PA", "PD", "PE", "PC"]


async def test_along_route_sorts_its_stops_by_price_each_in_its_own_time(client: Client) -> None:
    route = {
        "type": "LineString",
        "coordinates": [[UTRECHT[1], UTRECHT[0] - 0.01], [UTRECHT[1], north(UTRECHT[0], 6)]],
    }
    body = {"route": route, "corridor_m": 500, "energy_kwh": 30, "start_at": NIGHT}
    response = await client.post("/v1/locations/along-route", json=body)
    assert response.status_code == 200, response.text
    in_order = response.json()["results"]
    assert [r["ocpi_id"] for r in in_order] == ["PA", "PB", "PC", "PD", "PE", "PF"]
    response = await client.post(
        "/v1/locations/along-route", json={**body, "sort": "price", "limit": 3}
    )
    assert prices(response.json()["results"]) == [
        ("PB", ("EUR", 7.26)),
        ("PF", ("EUR", 7.26)),
        ("PA", ("EUR", 10.89)),
    ]
    response = await client.post(
        "/v1/locations/along-route", json={**body, "max_price": 8, "currency": "EUR"}
    )
    assert [r["ocpi_id"] for r in response.json()["results"]] == ["PB", "PF"]


async def test_detail_prices_a_typical_session_on_every_connector(client: Client) -> None:
    listed = (await near(client))[0]
    response = await client.get(f"/v1/locations/{listed['id']}")
    assert response.status_code == 200, response.text
    detail = response.json()
    # Default session 30 kWh: the AC connector on CHEAP 10.89, the CCS one on DEAR 19.36.
    assert [
        (e["uid"], [(c["price"]["tariff_id"], c["price"]["incl_vat"]) for c in e["connectors"]])
        for e in detail["evses"]
    ] == [("PA1", [("CHEAP", 10.89)]), ("PA2", [("DEAR", 19.36)])]
    assert detail["price"]["incl_vat"] == 10.89
    assert {t["id"]: (t["summary"], t["summary_incl_vat"]) for t in detail["tariffs"]} == {
        "CHEAP": ("0.30 EUR/kWh (excl. VAT)", "0.363 EUR/kWh (incl. VAT)"),
        "DEAR": (
            "0.50 EUR/kWh + 1.00 EUR start fee (excl. VAT)",
            "0.605 EUR/kWh + 1.21 EUR start fee (incl. VAT)",
        ),
    }
    # 10 kWh: 3.00 × 1.21 = 3.63 and (5.00 + 1.00) × 1.21 = 7.26.
    response = await client.get(f"/v1/locations/{listed['id']}", params={"energy_kwh": 10})
    assert [c["price"]["incl_vat"] for e in response.json()["evses"] for c in e["connectors"]] == [
        3.63,
        7.26,
    ]


@pytest.mark.parametrize(
    ("params", "parameter", "says"),
    [
        ({"energy_kwh": 0}, "energy_kwh", "at least 1"),
        ({"energy_kwh": 30, "start_at": "1999-12-31T23:00:00Z"}, "start_at", "between 2000"),
        ({"currency": "EUR"}, "currency", "needs energy_kwh"),
        ({"energy_kwh": 30, "max_price": 10}, "currency", "needed with max_price"),
        ({"energy_kwh": 30, "sort": "cheap"}, "sort", "only 'price'"),
        ({"sort": "price"}, "sort", "needs energy_kwh"),
        ({"energy_kwh": 30, "start_at": "tomorrow"}, "start_at", "RFC 3339"),
        ({"energy_kwh": 30, "start_at": "2026-12-02T12:00:00"}, "start_at", "UTC offset"),
        ({"energy_kwh": 30, "currency": "EURO"}, "currency", "ISO 4217"),
        ({"energy_kwh": 30, "parking_min": -1}, "parking_min", "at least 0"),
    ],
)
async def test_bad_price_parameters_are_refused_naming_them(
    client: Client, params: dict[str, Any], parameter: str, says: str
) -> None:
    response = await client.get(
        "/v1/locations/nearby", params={"lat": UTRECHT[0], "lon": UTRECHT[1], **params}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["parameter"] == parameter
    assert says in error["message"]


# ---- POST /v1/price ------------------------------------------------------------------------------
async def test_price_returns_a_cdrs_own_totals_from_its_tariffs_and_periods(
    client: Client,
) -> None:
    cdr = json.loads((FIXTURES / "spec-examples" / "cdr_example.json").read_text())
    body = {
        "tariffs": [{"country_code": "BE", "party_id": "BEC", **t} for t in cdr["tariffs"]],
        "session": {
            "start_date_time": cdr["start_date_time"],
            "end_date_time": cdr["end_date_time"],
            "charging_periods": cdr["charging_periods"],
        },
    }
    response = await client.post("/v1/price", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    # 1.973 h of TIME at 2.00 EUR/h in 300 s steps: 7,103 s → 7,200 s = 2 h → 4.00, +10 % = 4.40.
    assert result["total_cost"] == cdr["total_cost"] == {"excl_vat": 4.0, "incl_vat": 4.4}
    # end − start = 7,103 s = 1.97306 h: 1.9731 to OCPI's 4 decimals; the example rounds to 3.
    assert result["total_time"] == 1.9731
    assert round(result["total_time"], 3) == cdr["total_time"]
    assert result["currency"] == cdr["currency"]
    assert [(b["dimension"], b["tariff_id"], b["element_index"]) for b in result["breakdown"]] == [
        ("TIME", "12", 0)
    ]


async def test_price_a_plan_against_stored_tariffs_by_id(client: Client) -> None:
    body = {
        "tariff_ids": [{"country_code": "NL", "party_id": "WTT", "id": "park"}],
        "session": {"energy_kwh": 30, "max_power_kw": 11, "start_at": DAY, "parking_min": 30},
        "time_zone": "Europe/Amsterdam",
    }
    response = await client.post("/v1/price", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    # 30 kWh at 11 kW take 2 h 43 m 38.18 s; then 30 min parked: 3.00 EUR. 12.00 + 3.00 = 15.00.
    assert result["total_cost"] == {"excl_vat": 15.0, "incl_vat": 18.15}
    assert result["total_energy_cost"] == {"excl_vat": 12.0, "incl_vat": 14.52}
    assert result["total_parking_cost"] == {"excl_vat": 3.0, "incl_vat": 3.63}
    assert result["total_parking_time"] == 0.5
    assert result["total_energy"] == 30


@pytest.mark.parametrize(
    ("change", "parameter", "says"),
    [
        (
            {"tariffs": [tariff("X", {"price_components": [component("VOLUME", 1)]})]},
            "tariffs[0].elements[0].price_components[0].type",
            "unknown dimension type",
        ),
        (
            {"tariffs": [tariff("X", {"price_components": [component("ENERGY", 1, step=-1)]})]},
            "tariffs[0].elements[0].price_components[0].step_size",
            "≥ 0",
        ),
        (
            {
                "session": {
                    "start_date_time": "2026-12-02T12:00:00Z",
                    "end_date_time": "2026-12-02T11:00:00Z",
                    "charging_periods": [
                        {
                            "start_date_time": "2026-12-02T12:00:00Z",
                            "dimensions": [{"type": "ENERGY", "volume": 1}],
                        }
                    ],
                }
            },
            "session.end_date_time",
            "after",
        ),
        ({"session": {"max_power_kw": 11}}, "session.energy_kwh", "required"),
        (
            {"tariff_ids": [{"country_code": "NL", "party_id": "WTT", "id": "CHEAP"}]},
            "tariffs",
            "exactly one of tariffs and tariff_ids",
        ),
    ],
)
async def test_bad_price_requests_are_refused_naming_the_field(
    client: Client, change: dict[str, Any], parameter: str, says: str
) -> None:
    body = {"tariffs": [TARIFFS[0]], "session": {"energy_kwh": 10}, **change}
    response = await client.post("/v1/price", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["parameter"] == parameter, error
    assert says in error["message"]


async def test_a_stored_tariff_id_that_is_unknown_is_named(client: Client) -> None:
    body = {
        "tariff_ids": [{"country_code": "NL", "party_id": "WTT", "id": "NOPE"}],
        "session": {"energy_kwh": 10},
    }
    response = await client.post("/v1/price", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["parameter"] == "tariff_ids[0]"
