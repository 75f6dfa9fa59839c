"""Prices on the map (issue 13), in headless Chromium against the real service: a driver sees
each station's price for the session they set (30 kWh by default), filters by price, reads the
price of each connector and each tariff incl. VAT in the station's panel, and sorts a route's
stops by price.

The bundled dumps carry no tariffs, so tariffs and the stations that use them are pushed over
the real OCPI receiver (network ``browser-push``, NL*WBT), on Schiermonnikoog, where no bundled
station is. Every figure the page must show is worked out by hand beside it. The tariffs (OCPI
2.2.1, prices excl. VAT, ``vat`` per component):

- CHEAP: 0.30 EUR/kWh, 21 % VAT;
- DEAR: 0.50 EUR/kWh + 1.00 EUR start fee, 21 % VAT on both;
- MID: 0.40 EUR/kWh, 21 % VAT;
- DEMO: 0.20 EUR/kWh, 21 % VAT, ``basis: demo`` (as the sandbox marks the spec's examples);
- REG: 0.35 EUR/kWh, ``basis: registry_text`` (read from a register's text: VAT not known).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page

from app.store import Store, source_imports
from app.store.records import Problem
from app.store.tariffs import apply_tariffs
from ingest.ocpi.tariffs import normalise_tariff
from tests.browser.conftest import PUSH_PARTY, ConsoleErrors, Pusher, wait_until
from tests.browser.test_map import MapPage, stamp, viewport
from tests.conftest import ServerProcess

pytestmark = pytest.mark.browser

LAT = 53.4800  # Schiermonnikoog: no bundled station within the view or the corridor
LON0 = 6.1560
STEP_LON = 0.0015  # about 100 m, 70 px apart at zoom 15
CENTRE = f"15/{LAT}/{LON0 + 2.5 * STEP_LON:.5f}"
BBOX = f"{LON0 - 0.01},{LAT - 0.005},{LON0 + 0.02},{LAT + 0.005}"
AC_22 = ("IEC_62196_T2", "AC_3_PHASE", 230, 32)  # 22.1 kW
CCS_150 = ("IEC_62196_T2_COMBO", "DC", 500, 300)  # 150 kW
REGISTER_TEXT = "Laden: 0,35 €/kWh"
EACH_STATION = "Each station shows its cheapest price for"


def component(kind: str, price: float, vat: float | None = 21) -> dict[str, Any]:
    found: dict[str, Any] = {"type": kind, "price": price, "step_size": 1}
    if vat is not None:
        found["vat"] = vat
    return found


def tariff(tariff_id: str, *components: dict[str, Any], **extra: Any) -> dict[str, Any]:
    cc, pid = PUSH_PARTY.split("*")
    return {
        "country_code": cc,
        "party_id": pid,
        "id": tariff_id,
        "currency": "EUR",
        "elements": [{"price_components": [c]} for c in components],
        "last_updated": stamp(datetime.now(UTC)),
        **extra,
    }


TARIFFS = [
    tariff("CHEAP", component("ENERGY", 0.30)),
    tariff("DEAR", component("FLAT", 1.00), component("ENERGY", 0.50)),
    tariff("MID", component("ENERGY", 0.40)),
    tariff("DEMO", component("ENERGY", 0.20), basis="demo"),
    tariff(
        "REG", component("ENERGY", 0.35, vat=None), basis="registry_text", source_text=REGISTER_TEXT
    ),
]
# Station → its connectors (kind, tariff), west to east along the route below.
SITES: dict[str, list[tuple[tuple[str, str, int, int], str | None]]] = {
    "PRA": [(AC_22, "CHEAP"), (CCS_150, "DEAR")],
    "PRB": [(CCS_150, "DEAR")],
    "PRC": [(AC_22, "MID")],
    "PRD": [(AC_22, None)],
    "PRE": [(AC_22, "DEMO")],
    "PRF": [(AC_22, "REG")],
}
ROUTE = {"type": "LineString", "coordinates": [[LON0 - 0.006, LAT], [LON0 + 0.014, LAT]]}

# The marker labels for 30 kWh, each the station's cheapest kind of connector:
AT_30_KWH = {
    "PRA": "€10.89",  # AC on CHEAP: 30 × 0.30 = 9.00, × 1.21 = 10.89 (CCS on DEAR: 19.36)
    "PRB": "€19.36",  # DEAR: 30 × 0.50 + 1.00 = 16.00, × 1.21 = 19.36
    "PRC": "€14.52",  # MID: 30 × 0.40 = 12.00, × 1.21 = 14.52
    "PRD": None,  # no tariff: no label
    "PRE": "€7.26 demo",  # DEMO: 30 × 0.20 = 6.00, × 1.21 = 7.26, a demo price
    "PRF": "€10.50 excl. register",  # REG: 30 × 0.35 = 10.50 as published, VAT unknown
}
AT_10_KWH = {
    "PRA": "€3.63",  # 10 × 0.30 = 3.00, × 1.21 = 3.63
    "PRB": "€7.26",  # 10 × 0.50 + 1.00 = 6.00, × 1.21 = 7.26
    "PRC": "€4.84",  # 10 × 0.40 = 4.00, × 1.21 = 4.84
    "PRD": None,
    "PRE": "€2.42 demo",  # 10 × 0.20 = 2.00, × 1.21 = 2.42
    "PRF": "€3.50 excl. register",  # 10 × 0.35 = 3.50
}


def site(loc_id: str, index: int) -> dict[str, Any]:
    now = stamp(datetime.now(UTC))
    cc, pid = PUSH_PARTY.split("*")
    evses = []
    for n, ((standard, power_type, volts, amps), tariff_id) in enumerate(SITES[loc_id], start=1):
        connector = {
            "id": "1",
            "standard": standard,
            "format": "CABLE",
            "power_type": power_type,
            "max_voltage": volts,
            "max_amperage": amps,
            "tariff_ids": [tariff_id] if tariff_id else [],
            "last_updated": now,
        }
        evses.append(
            {
                "uid": f"{loc_id}-{n}",
                "evse_id": f"{cc}*{pid}*E{loc_id}{n}",
                "status": "AVAILABLE",
                "connectors": [connector],
                "last_updated": now,
            }
        )
    lat = LAT + (0.0003 if index % 2 else -0.0003)  # beside the road, either side
    return {
        "country_code": cc,
        "party_id": pid,
        "id": loc_id,
        "publish": True,
        "name": f"Wattlas price site {loc_id}",
        "address": "Badweg 1",
        "city": "Schiermonnikoog",
        "postal_code": "9166",
        "country": "NLD",
        "coordinates": {"latitude": f"{lat:.6f}", "longitude": f"{LON0 + index * STEP_LON:.6f}"},
        "time_zone": "Europe/Amsterdam",
        "opening_times": {"twentyfourseven": True},
        "evses": evses,
        "last_updated": now,
    }


def as_registry_tariff(database_url: str, tariff: dict[str, Any]) -> None:
    """Writes ``tariff`` as a registry's (only a registry's tariffs are registry text: an OCPI
    network's label is not believed), through the tariff normaliser and the store's upsert."""

    async def write() -> None:
        now = datetime.now(UTC)
        async with Store(database_url, max_size=1, name="test") as store:
            network_id = await source_imports.ensure_registry_network(store, "ukncr")
            problems: list[Problem] = []
            record = normalise_tariff(
                json.dumps(tariff).encode(), country_code=None, party_id=None, received_at=now,
                problems=problems,
            )  # fmt: skip
            assert record is not None and not problems, problems
            async with store.transaction() as tx:
                await apply_tariffs(tx, [record], network_id=network_id, received_at=now)

    # The page's own event loop runs in this thread (playwright): the store's runs in another.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(write())).result()


@pytest.fixture(scope="module")
def priced_sites(pusher: Pusher, api: httpx.Client, browser_db: str) -> dict[str, str]:
    """The six stations pushed with their tariffs; ocpi id → public id."""
    for t in TARIFFS:
        if t.get("basis") == "registry_text":
            as_registry_tariff(browser_db, t)
        else:
            pusher.put_tariff(t)
    for index, loc_id in enumerate(SITES):
        pusher.put_location(site(loc_id, index))
    results = viewport(api, BBOX)["results"]
    ids = {r["ocpi_id"]: r["id"] for r in results}
    assert sorted(ids) == sorted(SITES)  # nothing else in view
    return ids


@pytest.fixture
def map_page(
    page: tuple[Page, ConsoleErrors], map_server: ServerProcess, screenshots: Path
) -> MapPage:
    return MapPage(page[0], page[1], map_server, screenshots)


def shown_prices(map_page: MapPage, ids: dict[str, str]) -> dict[str, str | None]:
    """Each station marker's visible price label (None: no label, or one hidden), by ocpi id."""
    found: list[list[Any]] = map_page.page.eval_on_selector_all(
        "[data-testid=marker]",
        """els => els.map(e => {
            const label = e.querySelector('[data-testid=marker-price]');
            const seen = label && getComputedStyle(label).visibility === 'visible';
            return [e.dataset.locationId, seen ? label.textContent : null];
        })""",
    )
    ocpi = {public: ocpi_id for ocpi_id, public in ids.items()}
    return {ocpi[location_id]: text for location_id, text in found}


def enter(field: Locator, value: str) -> None:
    """Type a value and press Enter, as a driver does."""
    field.fill(value)
    field.press("Enter")


def api_prices(api: httpx.Client, query: str) -> dict[str, tuple[Any, Any, str] | None]:
    results = viewport(api, BBOX, query)["results"]
    return {
        r["ocpi_id"]: (p := r["price"]) and (p["incl_vat"], p["excl_vat"], p["basis"])
        for r in results
    }


def test_markers_show_the_sessions_price_filter_by_it_and_follow_the_energy(
    map_page: MapPage, api: httpx.Client, priced_sites: dict[str, str]
) -> None:
    # The API's answers the labels come from (incl. VAT, excl. VAT, basis).
    assert api_prices(api, "energy_kwh=30") == {
        "PRA": (10.89, 9.0, "tariff"),
        "PRB": (19.36, 16.0, "tariff"),
        "PRC": (14.52, 12.0, "tariff"),
        "PRD": None,
        "PRE": (7.26, 6.0, "demo"),
        "PRF": (None, 10.5, "registry_text"),
    }
    state = map_page.open(f"map={CENTRE}", mode="markers")
    page = map_page.page
    assert state["session"] == "energy_kwh=30" and state["query"] == ""
    assert shown_prices(map_page, priced_sites) == AT_30_KWH
    assert page.get_by_test_id("session-energy").input_value() == "30"
    assert page.get_by_test_id("session-currency").input_value() == "EUR"
    note = page.get_by_test_id("price-note")
    assert note.text_content() == f"{EACH_STATION} 30 kWh, incl. VAT where known."
    marker = page.locator(f"[data-testid=marker][data-location-id='{priced_sites['PRF']}']")
    assert "from €10.50 excl. VAT, as published, from a public register" in (
        marker.get_attribute("aria-label") or ""
    )
    map_page.shot("20-prices")

    # At most 15 EUR: PRB (19.36) goes, and PRD, which has no price; PRF's 10.50 as published
    # stays (where the VAT is unknown, the published price is what is compared).
    limit = page.get_by_test_id("session-max-price")
    limited = map_page.act(lambda: enter(limit, "15"), "markers")
    assert limited["session"] == "energy_kwh=30&max_price=15&currency=EUR"
    assert shown_prices(map_page, priced_sites) == {
        k: v for k, v in AT_30_KWH.items() if k in ("PRA", "PRC", "PRE", "PRF")
    }
    assert "max_price=15" in page.url and "currency=EUR" in page.url
    assert "energy_kwh" not in page.url  # the default session is not written out
    assert page.get_by_test_id("filter-count").text_content() == "1"

    # Zoomed out the areas are not priced: the note says the limit waits for zooming in.
    out = map_page.go(f"map=6/{LAT}/{LON0}&max_price=15&currency=EUR", mode="clusters")
    assert out["session"] == ""
    assert note.text_content() == "Zoom in to filter by price: areas count stations at any price."
    assert "at any price" in (page.get_by_test_id("view-status").text_content() or "")
    map_page.go(f"map={CENTRE}&max_price=15&currency=EUR", mode="markers")

    # No limit, a 10 kWh session: every label follows, and the URL keeps the session.
    map_page.act(lambda: enter(limit, ""), "markers")
    energy = page.get_by_test_id("session-energy")
    ten = map_page.act(lambda: enter(energy, "10"), "markers")
    assert ten["session"] == "energy_kwh=10"
    assert shown_prices(map_page, priced_sites) == AT_10_KWH
    assert "energy_kwh=10" in page.url and "max_price" not in page.url
    assert note.text_content() == f"{EACH_STATION} 10 kWh, incl. VAT where known."
    url = page.url
    page.goto("about:blank")
    reloaded = map_page.open(url.split("#", 1)[1], mode="markers")
    assert reloaded["session"] == "energy_kwh=10"
    assert shown_prices(map_page, priced_sites) == AT_10_KWH
    assert page.get_by_test_id("session-energy").input_value() == "10"

    # Search results are priced for the same session.
    page.get_by_test_id("search-input").fill("wattlas price site")
    page.wait_for_selector("[data-testid=search-results][data-state=ready]")
    found = page.eval_on_selector_all(
        "[data-testid=search-result]",
        """els => els.map(e => [e.dataset.locationId,
            e.querySelector('.result-price')?.textContent])""",
    )
    assert dict(found)[priced_sites["PRA"]] == "€3.63"
    assert dict(found)[priced_sites["PRD"]] is None
    page.get_by_test_id("search-input").press("Escape")

    # A session that is no session is explained, and not asked about.
    before = map_page.loads()
    energy.fill("0")
    energy.press("Enter")
    error = page.get_by_test_id("filter-error")
    error.wait_for(state="visible")
    assert "energy_kwh" in (error.text_content() or "")
    assert map_page.loads() == before
    map_page.assert_no_console_errors()


def connector_prices(page: Page) -> dict[str, str]:
    found: list[list[str]] = page.eval_on_selector_all(
        "[data-testid=evse]",
        """els => els.map(e => [e.dataset.evseUid, e.querySelector(
            '[data-testid=connector] [data-testid=session-price]')?.textContent])""",
    )
    return dict(found)


def tariff_lines(page: Page) -> dict[str, str]:
    found: list[list[str]] = page.eval_on_selector_all(
        "[data-testid=tariff]",
        "els => els.map(e => [e.dataset.tariffId, e.innerText.replace(/\\s+/g, ' ').trim()])",
    )
    return dict(found)


def open_detail(map_page: MapPage, location_id: str) -> None:
    map_page.page.locator(f"[data-testid=marker][data-location-id='{location_id}']").click()
    map_page.page.wait_for_selector(
        f"[data-testid=detail-panel][data-state=ready][data-location-id='{location_id}']"
    )


def test_the_detail_prices_each_connector_and_shows_tariffs_incl_vat(
    map_page: MapPage, api: httpx.Client, priced_sites: dict[str, str]
) -> None:
    detail = api.get(f"/v1/locations/{priced_sites['PRA']}").json()
    assert {t["id"]: t["summary_incl_vat"] for t in detail["tariffs"]} == {
        "CHEAP": "0.363 EUR/kWh (incl. VAT)",  # 0.30 × 1.21
        "DEAR": "0.605 EUR/kWh + 1.21 EUR start fee (incl. VAT)",  # 0.50 × 1.21, 1.00 × 1.21
    }
    map_page.open(f"map={CENTRE}", mode="markers")
    page = map_page.page
    open_detail(map_page, priced_sites["PRA"])
    panel = page.get_by_test_id("detail-panel")
    # The default session, 30 kWh: the AC post on CHEAP 10.89, the CCS charger on DEAR 19.36.
    assert connector_prices(page) == {
        "PRA-1": "€10.89 for 30 kWh incl. VAT",
        "PRA-2": "€19.36 for 30 kWh incl. VAT",
    }
    assert panel.get_by_test_id("price-summary").inner_text() == "From €10.89 for 30 kWh incl. VAT"
    assert tariff_lines(page) == {
        "CHEAP": "0.363 EUR/kWh (incl. VAT)",
        "DEAR": "0.605 EUR/kWh + 1.21 EUR start fee (incl. VAT)",
    }
    map_page.shot("21-detail-prices")

    # A 10 kWh session: 10 × 0.30 × 1.21 = 3.63 and (10 × 0.50 + 1.00) × 1.21 = 7.26.
    energy = page.get_by_test_id("session-energy")
    map_page.act(lambda: enter(energy, "10"), "markers")
    wait_until(
        page,
        """() => [...document.querySelectorAll(
            '[data-testid=detail-panel] [data-testid=session-price]')]
            .some(e => e.textContent.includes('10 kWh'))""",
    )
    assert connector_prices(page) == {
        "PRA-1": "€3.63 for 10 kWh incl. VAT",
        "PRA-2": "€7.26 for 10 kWh incl. VAT",
    }

    # A price read from a register's text: as published, labelled, with the register's words.
    reg = api.get(f"/v1/locations/{priced_sites['PRF']}").json()["tariffs"][0]
    assert (reg["basis"], reg["summary_incl_vat"], reg["source_text"]) == (
        "registry_text",
        None,
        REGISTER_TEXT,
    )
    open_detail(map_page, priced_sites["PRF"])
    assert connector_prices(page) == {
        "PRF-1": "€3.50 for 10 kWh excl. VAT (as published) from a public register"
    }
    assert tariff_lines(page) == {
        "REG": f"{reg['summary']} · as published from a public register "
        f"The register says: “{REGISTER_TEXT}”"
    }
    # A demo price says so.
    open_detail(map_page, priced_sites["PRE"])
    assert connector_prices(page) == {"PRE-1": "€2.42 for 10 kWh incl. VAT demo price"}
    assert panel.get_by_test_id("price-basis").first.inner_text() == "demo price"
    map_page.assert_no_console_errors()


def test_route_stops_sorted_by_price_cheapest_first(
    map_page: MapPage, api: httpx.Client, priced_sites: dict[str, str]
) -> None:
    body = {"route": ROUTE, "corridor_m": 5000, "limit": 100, "energy_kwh": 30}
    in_order = api.post("/v1/locations/along-route", json=body).json()["results"]
    assert [r["ocpi_id"] for r in in_order] == ["PRA", "PRB", "PRC", "PRD", "PRE", "PRF"]

    map_page.open(f"map={CENTRE}", mode="markers")
    page = map_page.page
    page.get_by_test_id("tab-route").click()
    page.locator("#route-paste summary").click()
    page.get_by_test_id("route-input").fill(json.dumps(ROUTE))
    panel = page.get_by_test_id("route-panel")
    before = map_page.loads()
    page.get_by_test_id("route-submit").click()
    page.wait_for_selector("[data-testid=route-panel][data-state=ready][data-sort=route]")
    # Fitted to the route (zoom 13), the stations crowd: of labels that would overlap the
    # cheapest is shown, and no two shown overlap.
    map_page.wait_drawn(before, "markers")
    labels = page.eval_on_selector_all(
        "[data-testid=marker-price]",
        """els => els.map(e => [e.closest('[data-testid=marker]').dataset.locationId,
            getComputedStyle(e).visibility === 'visible', e.getBoundingClientRect().toJSON()])""",
    )
    seen = [(location_id, box) for location_id, visible, box in labels if visible]
    assert len(labels) == 5 and 0 < len(seen) < 5
    assert priced_sites["PRE"] in [location_id for location_id, _ in seen]
    for (_, a), (_, b) in itertools.combinations(seen, 2):
        apart = a["right"] <= b["left"] or b["right"] <= a["left"]
        assert apart or a["bottom"] <= b["top"] or b["bottom"] <= a["top"]
    items = page.locator("[data-testid=route-result]")

    def shown() -> list[tuple[str, str]]:
        ocpi = {public: ocpi_id for ocpi_id, public in priced_sites.items()}
        found: list[list[str]] = items.evaluate_all(
            """els => els.map(e => [e.dataset.locationId,
                e.querySelector('[data-testid=route-price]').textContent])"""
        )
        return [(ocpi[location_id], text) for location_id, text in found]

    # In route order, each stop with its price for 30 kWh (unpriced: a dash).
    assert shown() == [(k, AT_30_KWH[k] or "–") for k in ("PRA", "PRB", "PRC", "PRD", "PRE", "PRF")]
    assert "in route order" in (page.get_by_test_id("route-summary").text_content() or "")

    # Sorted by price: 7.26 (demo), 10.50 (as published), 10.89, 14.52, 19.36; unpriced last.
    sort_toggle = page.locator("label:has([data-testid=route-sort-price])")
    sort_toggle.click()
    page.wait_for_selector("[data-testid=route-panel][data-state=ready][data-sort=price]")
    assert shown() == [(k, AT_30_KWH[k] or "–") for k in ("PRE", "PRF", "PRA", "PRC", "PRB", "PRD")]
    summary = page.get_by_test_id("route-summary")
    assert "cheapest first for 30 kWh" in (summary.text_content() or "")
    sorted_api = api.post(
        "/v1/locations/along-route", json={**body, "limit": 500, "sort": "price"}
    ).json()["results"]
    assert [priced_sites[k] for k, _ in shown()] == [r["id"] for r in sorted_api]
    assert panel.get_attribute("data-count") == "6"
    map_page.shot("22-route-by-price")

    # Back in route order.
    sort_toggle.click()
    page.wait_for_selector("[data-testid=route-panel][data-state=ready][data-sort=route]")
    assert [k for k, _ in shown()] == ["PRA", "PRB", "PRC", "PRD", "PRE", "PRF"]
    map_page.assert_no_console_errors()
