"""The live map in headless Chromium (issue 5), against the real service with the bundled real
data: what the page shows is compared with what the API answers for the same view, filters,
location and route; a status pushed through the OCPI receiver must reach the page in < 2 s."""

from __future__ import annotations

import itertools
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page
from pyproj import Geod

from tests.browser.conftest import PUSH_PARTY, ConsoleErrors, Pusher, wait_until
from tests.conftest import FIXTURES, ROOT, ServerProcess

pytestmark = pytest.mark.browser

GEOD = Geod(ellps="WGS84")
STATUS = "[data-testid=view-status]"
MOSCOW = (55.75, 37.62)
KUALA_LUMPUR = (3.12, 101.70)
LIVE_WITHIN_MS = 2000
DOCS_SCREENSHOT = ROOT / "docs" / "map.png"


class MapPage:
    """The page, with waits on the state it exposes (data-* attributes), never fixed sleeps."""

    def __init__(self, page: Page, errors: ConsoleErrors, server: ServerProcess, shots: Path):
        self.page = page
        self.errors = errors
        self.base = server.url
        self.shots = shots

    def open(self, fragment: str, mode: str | None = None) -> dict[str, str]:
        self.page.goto(f"{self.base}/#{fragment}")
        return self.wait_drawn(0, mode)

    def loads(self) -> int:
        return int(self.page.get_attribute(STATUS, "data-loads") or 0)

    def wait_drawn(self, after: int, mode: str | None = None) -> dict[str, str]:
        """A load newer than ``after`` is drawn and nothing else is pending; its data-*."""
        wait_until(
            self.page,
            """([after, mode]) => {
                const el = document.querySelector('[data-testid=view-status]');
                return el && el.dataset.state === 'ready' && el.dataset.settled === 'true'
                    && Number(el.dataset.loads || 0) > after && (!mode || el.dataset.mode === mode);
            }""",
            [after, mode],
        )
        state: dict[str, str] = self.page.eval_on_selector(STATUS, "el => ({...el.dataset})")
        return state

    def go(self, fragment: str, mode: str | None = None) -> dict[str, str]:
        before = self.loads()
        self.page.evaluate("f => { window.location.hash = f; }", fragment)
        return self.wait_drawn(before, mode)

    def act(self, action: Any, mode: str | None = None) -> dict[str, str]:
        """Do something that reloads the view (a filter), wait until it is drawn."""
        before = self.loads()
        action()
        return self.wait_drawn(before, mode)

    def central(self, selector: str) -> Any:
        """The element of ``selector`` nearest the middle of the screen (clear of the panels)."""
        self.page.evaluate(
            """selector => {
                const els = [...document.querySelectorAll(selector)];
                const distance = (e) => {
                    const r = e.getBoundingClientRect();
                    const x = r.x + r.width / 2 - innerWidth / 2;
                    return Math.hypot(x, r.y + r.height / 2 - innerHeight / 2);
                };
                els.sort((a, b) => distance(a) - distance(b));
                for (const e of document.querySelectorAll('[data-central]')) {
                    e.removeAttribute('data-central');
                }
                els[0].setAttribute('data-central', '');
            }""",
            selector,
        )
        return self.page.locator(f"{selector}[data-central]")

    def markers(self) -> dict[str, dict[str, str]]:
        found: list[dict[str, str]] = self.page.eval_on_selector_all(
            "[data-testid=marker]", "els => els.map(e => ({...e.dataset}))"
        )
        return {m["locationId"]: m for m in found}

    def wait_map_drawn(self) -> None:
        """The base map's tiles are drawn (a screenshot before that shows holes in the land)."""
        wait_until(self.page, "() => wattlas.map.loaded() && wattlas.map.areTilesLoaded()")

    def shot(self, name: str, path: Path | None = None) -> None:
        self.wait_map_drawn()
        self.page.screenshot(path=str(path or self.shots / f"{name}.png"))

    def assert_no_console_errors(self) -> None:
        assert list(self.errors) == []


@pytest.fixture
def map_page(
    page: tuple[Page, ConsoleErrors], map_server: ServerProcess, screenshots: Path
) -> MapPage:
    return MapPage(page[0], page[1], map_server, screenshots)


def shown_counts(summary: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = summary.get("matching") or summary["availability"]
    return counts


def expected_status(counts: dict[str, int]) -> str:
    for bucket in ("available", "occupied", "out_of_service", "stale"):
        if counts[bucket] > 0:
            return bucket
    return "unknown"


def viewport(api: httpx.Client, bbox: str, query: str = "") -> dict[str, Any]:
    response = api.get(f"/v1/locations?bbox={bbox}&limit=500{'&' + query if query else ''}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body.get("next_cursor") is None  # the page shows every location of this view
    return body


def assert_markers_match_api(map_page: MapPage, api: httpx.Client, state: dict[str, str]) -> None:
    body = viewport(api, state["bbox"], state["query"])
    shown = map_page.markers()
    # Each marker is drawn where its location is: its centre on the projected point, or set
    # around it (data-offset) when several locations share the point.
    misplaced = map_page.page.evaluate(
        """points => points.filter(([id, lon, lat]) => {
            const el = document.querySelector(`[data-testid=marker][data-location-id="${id}"]`);
            const r = el.getBoundingClientRect();
            const p = wattlas.map.project([lon, lat]);
            const [dx, dy] = el.dataset.offset.split(",").map(Number);
            return Math.hypot(r.x + r.width / 2 - p.x - dx, r.y + r.height / 2 - p.y - dy) > 1.5;
        }).map(([id]) => id)""",
        [[r["id"], r["coordinates"]["lon"], r["coordinates"]["lat"]] for r in body["results"]],
    )
    assert misplaced == []
    assert sorted(shown) == sorted(r["id"] for r in body["results"])
    assert int(state["count"]) == body["count"] == len(shown)
    for result in body["results"]:
        counts = shown_counts(result)
        marker = shown[result["id"]]
        assert (marker["available"], marker["total"], marker["status"]) == (
            str(counts["available"]),
            str(counts["total"]),
            expected_status(counts),
        ), result["name"]


# ---- clusters zoomed out, markers zoomed in ----------------------------------------------------
def test_clusters_zoomed_out_then_markers_zoomed_in(map_page: MapPage, api: httpx.Client) -> None:
    state = map_page.open("map=4/50/15", mode="clusters")
    body = api.get(f"/v1/clusters?bbox={state['bbox']}&zoom={state['zoom']}").json()
    clusters = map_page.page.eval_on_selector_all(
        "[data-testid=cluster]", "els => els.map(e => ({...e.dataset}))"
    )
    assert len(clusters) > 10
    # Bubbles that would overlap on screen are merged; every cell and location is in one.
    assert sum(int(c["locations"]) for c in clusters) == body["locations"] == int(state["count"])
    assert sum(int(c["cells"]) for c in clusters) == len(body["cells"]) == int(state["cells"])
    assert sum(int(c["available"]) for c in clusters) == sum(c["available"] for c in body["cells"])
    assert map_page.markers() == {}
    map_page.shot("01-clusters-europe")

    # Clicking a bubble zooms in towards it.
    zoom_before = map_page.page.evaluate("wattlas.map.getZoom()")
    before = map_page.loads()
    map_page.central("[data-testid=cluster]").click()
    map_page.wait_drawn(before)
    assert map_page.page.evaluate("wattlas.map.getZoom()") > zoom_before + 2

    state = map_page.go(f"map=12/{MOSCOW[0]}/{MOSCOW[1]}", mode="markers")
    assert int(state["count"]) > 50
    assert_markers_match_api(map_page, api, state)
    assert map_page.page.locator("[data-testid=cluster]").count() == 0
    map_page.shot("02-markers-moscow")
    map_page.assert_no_console_errors()


# ---- filters -----------------------------------------------------------------------------------
def test_filters_change_what_is_shown_and_live_in_the_url(
    map_page: MapPage, api: httpx.Client
) -> None:
    everything = map_page.open(f"map=12/{MOSCOW[0]}/{MOSCOW[1]}", mode="markers")
    assert everything["query"] == ""
    page = map_page.page

    dc = map_page.act(lambda: page.get_by_text("DC fast", exact=True).click(), mode="markers")
    assert dc["query"] == "power_type=DC" and dc["bbox"] == everything["bbox"]
    assert 0 < int(dc["count"]) < int(everything["count"])
    assert_markers_match_api(map_page, api, dc)
    map_page.shot("03-filter-dc")

    both = map_page.act(lambda: page.get_by_text("CCS", exact=True).click(), mode="markers")
    assert both["query"] == "connector=ccs&power_type=DC"
    assert 0 < int(both["count"]) <= int(dc["count"])
    assert_markers_match_api(map_page, api, both)
    slider = page.get_by_test_id("filter-power")
    fast = map_page.act(lambda: slider.fill("4"), mode="markers")  # 100 kW or more
    assert fast["query"] == "connector=ccs&min_power_kw=100&power_type=DC"
    assert page.get_by_test_id("filter-power-output").text_content() == "100 kW or more"
    assert_markers_match_api(map_page, api, fast)
    assert page.get_by_test_id("filter-count").text_content() == "3"
    map_page.shot("04-filter-ccs-dc-100kw")

    # The URL holds view and filters: reloading it shows the same thing.
    url = page.url
    assert "connector=ccs" in url and "power_type=DC" in url and "min_power_kw=100" in url
    page.goto("about:blank")
    reloaded = map_page.open(url.split("#", 1)[1], mode="markers")
    assert (reloaded["bbox"], reloaded["query"]) == (fast["bbox"], fast["query"])
    assert sorted(map_page.markers()) == sorted(
        r["id"] for r in viewport(api, fast["bbox"], fast["query"])["results"]
    )
    assert page.get_by_test_id("filter-power-type-dc").is_checked()
    assert page.get_by_test_id("filter-connector-ccs").is_checked()

    # Zoomed out, the clusters honour the same filters.
    out = map_page.go("map=5/55/40&" + fast["query"], mode="clusters")
    body = api.get(f"/v1/clusters?bbox={out['bbox']}&zoom={out['zoom']}&{out['query']}").json()
    total = sum(
        int(c)
        for c in map_page.page.eval_on_selector_all(
            "[data-testid=cluster]", "els => els.map(e => e.dataset.locations)"
        )
    )
    assert total == body["locations"] == int(out["count"])

    # Clearing them brings everything back.
    cleared = map_page.act(lambda: page.get_by_test_id("filter-reset").click(), mode="clusters")
    assert cleared["query"] == "" and int(cleared["count"]) > total
    assert "power_type" not in page.url
    map_page.assert_no_console_errors()


def network_label(network: dict[str, Any]) -> str:
    """How the page names a listed network in its suggestions."""
    n = network["locations"]
    return f"{network['operator'] or network['source']} · {n:,} location{'' if n == 1 else 's'}"


def test_network_filter(map_page: MapPage, api: httpx.Client) -> None:
    everything = map_page.open(f"map=12/{MOSCOW[0]}/{MOSCOW[1]}", mode="markers")
    page = map_page.page
    field = page.get_by_test_id("filter-network")
    # A malformed id is explained next to the field, and nothing is asked of the API.
    field.fill("NOT A NETWORK")
    field.press("Enter")
    error = page.get_by_test_id("filter-error")
    error.wait_for(state="visible")
    assert "not a network id" in (error.text_content() or "")
    assert map_page.loads() == int(everything["loads"])

    # Every network GET /v1/networks lists is offered, in its order (most locations first),
    # named by operator (or the network the data comes from) with its number of locations.
    page.wait_for_selector("[data-testid=network-options][data-state=ready]", state="attached")
    offered = page.eval_on_selector_all(
        "[data-testid=network-options] option", "els => els.map(e => [e.value, e.label])"
    )
    listed = api.get("/v1/networks").json()
    assert [value for value, _ in offered] == [n["id"] for n in listed]
    assert [label for _, label in offered] == [network_label(n) for n in listed]

    # Choosing the biggest network with stations in view narrows the view to its stations.
    results = viewport(api, everything["bbox"])["results"]
    in_view = {f"{r['network']['country_code']}*{r['network']['party_id']}" for r in results}
    assert len(in_view) >= 2 and in_view <= {n["id"] for n in listed}
    chosen = next(n["id"] for n in listed if n["id"] in in_view)
    one = map_page.act(lambda: (field.fill(chosen.lower()), field.press("Enter")), "markers")
    assert one["query"] == f"network={chosen}"
    assert error.is_hidden()
    assert 0 < int(one["count"]) < int(everything["count"])
    assert_markers_match_api(map_page, api, one)
    map_page.assert_no_console_errors()


# ---- detail ------------------------------------------------------------------------------------
def test_clicking_a_station_shows_its_evses(map_page: MapPage, api: httpx.Client) -> None:
    state = map_page.open(f"map=12/{MOSCOW[0]}/{MOSCOW[1]}", mode="markers")
    results = viewport(api, state["bbox"])["results"]
    # The station with the most charge points in view (ties: by id, for a stable choice).
    chosen = max(results, key=lambda r: (r["availability"]["total"], r["id"]))
    lat, lon = chosen["coordinates"]["lat"], chosen["coordinates"]["lon"]
    map_page.go(f"map=14/{lat}/{lon}", mode="markers")
    page = map_page.page
    page.locator(f"[data-testid=marker][data-location-id='{chosen['id']}']").click()
    panel = page.get_by_test_id("detail-panel")
    page.wait_for_selector(
        f"[data-testid=detail-panel][data-state=ready][data-location-id='{chosen['id']}']"
    )

    detail = api.get(f"/v1/locations/{chosen['id']}").json()
    shown = page.eval_on_selector_all(
        "[data-testid=evse]", "els => els.map(e => [e.dataset.evseUid, e.dataset.status])"
    )
    # Each charge point once (identical ones are grouped: test_station_detail.py).
    assert dict(shown) == {e["uid"]: e["status"] for e in detail["evses"]}
    assert len(shown) == chosen["availability"]["total"] >= 2
    assert panel.get_by_test_id("detail-title").text_content() == detail["name"]
    connectors = panel.get_by_test_id("connector").count()
    assert connectors == sum(len(e["connectors"]) for e in detail["evses"])
    assert "live" in (panel.get_by_test_id("freshness").text_content() or "")
    assert f"loc={chosen['id']}" in page.url
    marker = page.locator(f"[data-testid=marker][data-location-id='{chosen['id']}']")
    assert "selected" in (marker.get_attribute("class") or "")
    map_page.shot("05-detail")

    # Escape closes it, and the URL forgets it.
    panel.focus()
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert "loc=" not in page.url

    # By keyboard: a marker is a button; Enter opens the panel with the focus in it, Escape
    # closes it and gives the focus back to the marker.
    marker.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=detail-panel][data-state=ready]")
    assert page.evaluate("document.activeElement.dataset.testid") == "detail-panel"
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.dataset.locationId") == chosen["id"]
    map_page.assert_no_console_errors()


def test_search_finds_a_station_and_opens_it(map_page: MapPage, api: httpx.Client) -> None:
    map_page.open(f"map=11.6/{KUALA_LUMPUR[0]}/{KUALA_LUMPUR[1]}", mode="markers")
    expected = api.get(
        "/v1/search",
        params={"q": "the curve", "lat": KUALA_LUMPUR[0], "lon": KUALA_LUMPUR[1], "limit": 10},
    ).json()["results"]
    assert expected and "THE CURVE" in expected[0]["name"]
    page = map_page.page
    page.get_by_test_id("search-input").fill("the curve")
    page.wait_for_selector("[data-testid=search-results][data-state=ready]")
    found = page.eval_on_selector_all(
        "[data-testid=search-result]", "els => els.map(e => e.dataset.locationId)"
    )
    assert found == [r["id"] for r in expected]
    before = map_page.loads()
    page.get_by_test_id("search-input").press("Enter")  # opens the first one, and goes there
    page.wait_for_selector(
        f"[data-testid=detail-panel][data-state=ready][data-location-id='{expected[0]['id']}']"
    )
    map_page.wait_drawn(before, mode="markers")
    marker = page.locator(f"[data-testid=marker][data-location-id='{expected[0]['id']}']")
    assert "selected" in (marker.get_attribute("class") or "")
    assert page.evaluate("wattlas.map.getZoom()") >= 15

    # The README's picture: a dense city with the station open, the panel folded.
    if not DOCS_SCREENSHOT.exists() or os.environ.get("WATTLAS_DOCS_SCREENSHOT") == "1":
        page.get_by_test_id("panel-toggle").click()
        fragment = f"map=11.6/{KUALA_LUMPUR[0]}/{KUALA_LUMPUR[1]}&loc={expected[0]['id']}"
        map_page.go(fragment, mode="markers")
        map_page.shot("readme", DOCS_SCREENSHOT)
    map_page.assert_no_console_errors()


# ---- route mode --------------------------------------------------------------------------------
VIENNA_LINZ = "at_vienna_to_linz_177km_ors_driving"
# (id, km along the route, km to its side): five inside a 5 km corridor, one outside it.
ALONG = [("RT1", 15, 0.4), ("RT2", 52, -2.1), ("RT3", 96, 3.8), ("RT4", 131, -0.7),
         ("RT5", 166, 1.5), ("RTFAR", 110, 8.5)]  # fmt: skip


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def route_coordinates(name: str) -> list[list[float]]:
    data = json.loads((FIXTURES / "routes" / f"{name}.geojson").read_text())
    geometry = data["features"][0]["geometry"] if "features" in data else data.get("geometry", data)
    return geometry["coordinates"]  # type: ignore[no-any-return]


def beside_route(coords: list[list[float]], offset_m: float, side_m: float) -> tuple[float, float]:
    walked = 0.0
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(c[:2] for c in coords):
        azimuth, _, length = GEOD.inv(lon1, lat1, lon2, lat2)
        if walked + length >= offset_m:
            lon, lat, _ = GEOD.fwd(lon1, lat1, azimuth, offset_m - walked)
            lon, lat, _ = GEOD.fwd(lon, lat, azimuth - 90, side_m)
            return lat, lon
        walked += length
    raise ValueError("beyond the route")


def ocpi_location(
    loc_id: str, lat: float, lon: float, statuses: list[str], *, country: str = "AUT"
) -> dict[str, Any]:
    now = stamp(datetime.now(UTC))
    cc, pid = PUSH_PARTY.split("*")
    return {
        "country_code": cc,
        "party_id": pid,
        "id": loc_id,
        "publish": True,
        "name": f"Wattlas test site {loc_id}",
        "address": "Teststraße 1",
        "city": "Testdorf",
        "postal_code": "1000",
        "country": country,
        "coordinates": {"latitude": f"{lat:.6f}", "longitude": f"{lon:.6f}"},
        "time_zone": "Europe/Vienna",
        "opening_times": {"twentyfourseven": True},
        "evses": [
            {
                "uid": f"{loc_id}-{i}",
                "evse_id": f"{cc}*{pid}*E{loc_id}{i}",
                "status": status,
                "connectors": [
                    {
                        "id": "1",
                        "standard": "IEC_62196_T2_COMBO",
                        "format": "CABLE",
                        "power_type": "DC",
                        "max_voltage": 500,
                        "max_amperage": 300,
                        "last_updated": now,
                    }
                ],
                "last_updated": now,
            }
            for i, status in enumerate(statuses, start=1)
        ],
        "last_updated": now,
    }


def test_route_mode_lists_stations_in_route_order(
    map_page: MapPage, api: httpx.Client, pusher: Pusher
) -> None:
    coords = route_coordinates(VIENNA_LINZ)
    for loc_id, km, side_km in ALONG:
        lat, lon = beside_route(coords, km * 1000, side_km * 1000)
        pusher.put_location(ocpi_location(loc_id, lat, lon, ["AVAILABLE", "CHARGING"]))
    geometry = api.get(f"/v1/routes/{VIENNA_LINZ}").json()
    expected = api.post(
        "/v1/locations/along-route",
        json={"route": geometry, "corridor_m": 5000, "limit": 100},
    ).json()["results"]
    assert [r["ocpi_id"] for r in expected] == ["RT1", "RT2", "RT3", "RT4", "RT5"]

    map_page.open("map=7/48.2/15")
    page = map_page.page
    page.get_by_test_id("tab-route").click()
    page.get_by_test_id("route-select").select_option(VIENNA_LINZ)
    page.wait_for_selector("[data-testid=route-panel][data-state=ready]")
    items = page.locator("[data-testid=route-result]")
    shown = items.evaluate_all(
        "els => els.map(e => [e.dataset.locationId, Number(e.dataset.routeOffsetM)])"
    )
    assert [i for i, _ in shown] == [r["id"] for r in expected]
    assert [o for _, o in shown] == [r["route_offset_m"] for r in expected]
    assert [o for _, o in shown] == sorted(o for _, o in shown)
    assert "1/2" in (items.first.text_content() or "")  # one of two charge points free
    assert f"route={VIENNA_LINZ}" in page.url and "corridor_m=5000" in page.url
    map_page.shot("06-route")

    # A narrower corridor drops the stations further than 2 km from the road.
    page.get_by_test_id("route-corridor").select_option("2000")
    wait_until(page, "() => document.querySelectorAll('[data-testid=route-result]').length === 3")
    narrow = api.post(
        "/v1/locations/along-route",
        json={"route": geometry, "corridor_m": 2000, "limit": 100},
    ).json()["results"]
    assert items.evaluate_all("els => els.map(e => e.dataset.locationId)") == [
        r["id"] for r in narrow
    ]

    # A pasted encoded polyline (precision 6) of the same road gives the same order.
    page.get_by_test_id("route-corridor").select_option("5000")
    wait_until(page, "() => document.querySelectorAll('[data-testid=route-result]').length === 5")
    page.locator("#route-paste summary").click()
    polyline = (FIXTURES / "routes" / f"{VIENNA_LINZ}.polyline6.txt").read_text().strip()
    page.get_by_test_id("route-input").fill(polyline)
    page.get_by_test_id("route-precision-6").check()
    page.get_by_test_id("route-submit").click()
    wait_until(
        page,
        "() => document.querySelector('[data-testid=route-summary]').textContent"
        ".includes('your route')",
    )
    page.wait_for_selector("[data-testid=route-panel][data-state=ready]")
    assert items.evaluate_all("els => els.map(e => e.dataset.locationId)") == [
        r["id"] for r in expected
    ]

    # Clicking a station in the list flies there and opens it.
    items.nth(2).click()
    page.wait_for_selector(
        f"[data-testid=detail-panel][data-state=ready][data-location-id='{expected[2]['id']}']"
    )
    page.wait_for_selector(
        f"[data-testid=marker][data-location-id='{expected[2]['id']}']", timeout=10_000
    )
    map_page.assert_no_console_errors()


# ---- live --------------------------------------------------------------------------------------
def test_a_pushed_status_change_reaches_marker_and_detail_within_two_seconds(
    map_page: MapPage, api: httpx.Client, pusher: Pusher
) -> None:
    lat, lon = 52.2342, 5.3871  # Amersfoort: no bundled station close by
    pusher.put_location(ocpi_location("LIVE1", lat, lon, ["AVAILABLE", "AVAILABLE"], country="NLD"))
    found = viewport(api, f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}")["results"]
    location_id = next(r["id"] for r in found if r["ocpi_id"] == "LIVE1")

    map_page.open(f"map=15/{lat}/{lon}&loc={location_id}", mode="markers")
    page = map_page.page
    marker = f"[data-testid=marker][data-location-id='{location_id}']"
    page.wait_for_selector(f"{marker}[data-status=available][data-available='2']")
    page.wait_for_selector(
        f"[data-testid=detail-panel][data-state=ready][data-location-id='{location_id}']"
    )
    page.wait_for_selector("[data-testid=live-indicator][data-state=live]")
    # Its two identical charge points are one line; unfolded, they stay so as events redraw it.
    group = page.get_by_test_id("evse-group")
    assert group.get_attribute("data-free") == "2"
    group.get_by_test_id("evse-group-toggle").click()
    map_page.shot("07-live-before")

    def push_and_wait(uid: str, status: str, marker_state: str, seconds_later: int) -> None:
        """PATCH one EVSE over OCPI; the marker and the open detail must follow in < 2 s."""
        at = stamp(datetime.now(UTC) + timedelta(seconds=seconds_later))
        started = time.monotonic()
        pusher.patch_status("LIVE1", uid, status, at)
        evse = f"[data-testid=evse][data-evse-uid='{uid}'][data-status='{status}']"
        for selector in (f"{marker}{marker_state}", evse):
            left_ms = LIVE_WITHIN_MS - (time.monotonic() - started) * 1000
            page.wait_for_selector(selector, timeout=max(1.0, left_ms))

    # One of two taken: still green, one free. Both taken: the marker turns "occupied".
    push_and_wait("LIVE1-1", "CHARGING", "[data-status=available][data-available='1']", 1)
    assert group.get_attribute("data-free") == "1"
    push_and_wait("LIVE1-2", "CHARGING", "[data-status=occupied][data-available='0']", 2)
    assert page.get_by_test_id("detail-availability").get_attribute("data-status") == "occupied"
    assert group.get_attribute("data-free") == "0"
    map_page.shot("08-live-after")

    # Disconnected while a change happens: reconnecting with the last event id replays it.
    page.evaluate("wattlas.live.closeSource()")
    missed = stamp(datetime.now(UTC) + timedelta(seconds=3))
    pusher.patch_status("LIVE1", "LIVE1-1", "AVAILABLE", missed)
    started = time.monotonic()
    page.evaluate("wattlas.live.open(wattlas.live.area, wattlas.live.lastId)")
    page.wait_for_selector(f"{marker}[data-status=available][data-available='1']")
    page.wait_for_selector("[data-testid=evse][data-evse-uid='LIVE1-1'][data-status='AVAILABLE']")
    assert time.monotonic() - started < LIVE_WITHIN_MS / 1000
    assert int(page.get_attribute("[data-testid=live-indicator]", "data-received") or 0) == 3
    map_page.assert_no_console_errors()


def test_phone_width(map_page: MapPage) -> None:
    page = map_page.page
    page.set_viewport_size({"width": 390, "height": 844})
    state = map_page.open(f"map=11/{MOSCOW[0]}/{MOSCOW[1]}", mode="markers")
    assert int(state["count"]) > 0
    # The panel starts folded on a phone; the map is usable, the panel opens on demand.
    assert page.get_by_test_id("filters-panel").is_hidden()
    page.get_by_test_id("panel-toggle").click()
    assert page.get_by_test_id("filters-panel").is_visible()
    page.get_by_test_id("panel-toggle").click()
    map_page.central("[data-testid=marker]").click()
    page.wait_for_selector("[data-testid=detail-panel][data-state=ready]")
    box = page.get_by_test_id("detail-panel").bounding_box()
    assert box is not None and box["width"] == 390  # a bottom sheet
    map_page.shot("09-phone")
    map_page.assert_no_console_errors()
