"""The station panel tells the truth (issue 11), in headless Chromium against the real service
with the bundled real data: a stale status is shown as unknown with its age, never as
"Available"; identical charge points are one line ("12 × Type 2, 7 kW, 6 free") that unfolds
into the single ones; every station links to navigation apps."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from playwright.sync_api import Page

from tests.browser.conftest import ConsoleErrors, Pusher
from tests.browser.test_map import MapPage, ocpi_location, stamp, viewport
from tests.conftest import ServerProcess

pytestmark = pytest.mark.browser

# Eletroposto Canindé, São Paulo (the bundled ezvolt dump): 18 charge points of three kinds, each
# status about 17 months old when this was written.
CANINDE = ("ezvolt", "cd330c33-3381-4416-9e48-d953de2b50d6", -23.525449, -46.618362)
# Colours of the page's availability states (style.css), as computed styles give them.
GREEN = "rgb(19, 122, 75)"
GREY = "rgb(107, 114, 128)"
CONNECTOR_NAMES = {"IEC_62196_T2": "Type 2", "IEC_62196_T2_COMBO": "CCS (Combo 2)"}
DOTS = "[data-testid=evse-list] .dot"


@pytest.fixture
def map_page(
    page: tuple[Page, ConsoleErrors], map_server: ServerProcess, screenshots: Path
) -> MapPage:
    return MapPage(page[0], page[1], map_server, screenshots)


def find_location(api: httpx.Client, ocpi_id: str, lat: float, lon: float) -> str:
    """The public id of the location ``ocpi_id`` at (lat, lon)."""
    bbox = f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"
    found: str = next(r["id"] for r in viewport(api, bbox)["results"] if r["ocpi_id"] == ocpi_id)
    return found


def open_station(map_page: MapPage, location_id: str, lat: float, lon: float) -> Page:
    """Go to the station on the map and click it, as a driver does."""
    page = map_page.page
    fragment = f"map=16/{lat}/{lon}"
    if page.url.startswith(map_page.base):
        map_page.go(fragment, "markers")
    else:
        map_page.open(fragment, "markers")
    page.locator(f"[data-testid=marker][data-location-id='{location_id}']").click()
    page.wait_for_selector(
        f"[data-testid=detail-panel][data-state=ready][data-location-id='{location_id}']"
    )
    return page


def age_words(seconds: float) -> str:
    """The page's formatAge (format.js), for ages of a minute or more."""
    minutes = int(seconds) // 60
    hours, days = minutes // 60, minutes // 1440
    if minutes < 60:
        return f"{minutes} min ago"
    if hours < 48:
        return f"{hours} h ago"
    if days < 60:
        return f"{days} days ago"
    months = math.floor(days / 30.44)
    return f"{months} months ago" if months < 24 else f"{math.floor(days / 365.25)} years ago"


def power_words(kw: float) -> str:
    return f"{round(kw)} kW" if kw >= 100 else f"{round(kw, 1):g} kW"


def kind(evse: dict[str, Any]) -> str:
    """What makes two EVSEs identical to a driver: connectors and capabilities, as shown."""
    connectors = sorted(
        json.dumps([c["standard"], c["format"], c["power_type"], c["max_power_kw"]])
        + json.dumps(sorted(c["capabilities"]))
        for c in evse["connectors"]
    )
    return json.dumps([connectors, sorted(evse["capabilities"])])


def expected_groups(evses: list[dict[str, Any]], free: Any) -> list[tuple[str, str, str]]:
    """(count, free, summary line) of each kind with more than one EVSE, in order of appearance;
    ``free(evse)`` says whether one counts as free."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for evse in evses:
        kinds.setdefault(kind(evse), []).append(evse)
    out = []
    for group in kinds.values():
        if len(group) < 2:
            continue
        connectors = " + ".join(
            f"{CONNECTOR_NAMES[c['standard']]}, {power_words(c['max_power_kw'])}"
            for c in group[0]["connectors"]
        )
        n_free = sum(1 for e in group if free(e))
        out.append((str(len(group)), str(n_free), f"{len(group)} × {connectors}, {n_free} free"))
    return out


def shown_groups(page: Page) -> list[tuple[str, str, str]]:
    found: list[list[str]] = page.eval_on_selector_all(
        "[data-testid=evse-group]",
        """els => els.map(e => [e.dataset.count, e.dataset.free,
            e.querySelector('[data-testid=evse-group-summary]').textContent])""",
    )
    return [(count, free, text) for count, free, text in found]


def dot_colours(page: Page) -> set[str]:
    colours: list[str] = page.eval_on_selector_all(
        DOTS, "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )
    return set(colours)


@pytest.fixture
def caninde(api: httpx.Client) -> tuple[str, float, float]:
    _, ocpi_id, lat, lon = CANINDE
    return find_location(api, ocpi_id, lat, lon), lat, lon


@pytest.fixture
def silent_network(browser_db: str) -> Iterator[str]:
    """The Canindé network silent for three days (its statuses stale), in contact again after.
    (A connection of its own: Playwright's sync API keeps an event loop running here.)"""
    name = CANINDE[0]
    update = "UPDATE networks SET last_contact_at = %s, stale_after_s = %s WHERE name = %s"
    with psycopg.connect(browser_db, autocommit=True) as conn:
        conn.execute(update, (datetime.now(UTC) - timedelta(days=3), 3600, name))
        try:
            yield name
        finally:
            conn.execute(update, (datetime.now(UTC), 315360000, name))


# ---- stale statuses ----------------------------------------------------------------------------
def test_a_stale_status_is_unknown_with_its_age_never_available(
    map_page: MapPage, api: httpx.Client, caninde: tuple[str, float, float], silent_network: str
) -> None:
    location_id, lat, lon = caninde
    detail = api.get(f"/v1/locations/{location_id}").json()
    evses = detail["evses"]
    # The API's verdict: the network is silent, so every status is stale; most say AVAILABLE.
    assert all(e["stale"] for e in evses) and detail["availability"]["available"] == 0
    assert detail["availability"]["stale"] == len(evses) == 18
    assert sum(e["status"] == "AVAILABLE" for e in evses) >= 10
    assert min(e["status_age_s"] for e in evses) > 365 * 86400

    page = open_station(map_page, location_id, lat, lon)
    cards = page.eval_on_selector_all(
        "[data-testid=evse]",
        """els => els.map(e => [e.dataset.evseUid, e.dataset.bucket,
            e.querySelector('[data-testid=evse-status]').textContent,
            e.querySelector('.evse-age').textContent])""",
    )
    assert sorted(uid for uid, *_ in cards) == sorted(e["uid"] for e in evses)
    ages = {e["uid"]: e["status_age_s"] for e in evses}
    for uid, bucket, label, age in cards:
        assert (bucket, label) == ("stale", "Unknown"), uid
        assert age == f" · last reported {age_words(ages[uid])}", uid
    evse_list = page.get_by_test_id("evse-list")
    assert "Available" not in (evse_list.text_content() or "")
    # Grey, never green: the charge points, their groups (none free) and the station's chip.
    assert dot_colours(page) == {GREY}
    assert [free for _, free, _ in shown_groups(page)] == ["0", "0", "0"]
    assert page.get_by_test_id("detail-availability").get_attribute("data-status") == "stale"
    page.get_by_test_id("evse-group-toggle").last.click()  # the single ones show the same
    assert "last reported" in (evse_list.locator("[data-testid=evse]").last.inner_text())
    map_page.shot("10-detail-stale")
    map_page.assert_no_console_errors()


def test_statuses_older_than_the_filter_are_unknown_and_not_free(
    map_page: MapPage, api: httpx.Client, pusher: Pusher
) -> None:
    """Five identical charge points, two of them last reported free 17 months ago: with "status
    reported within the last day" chosen, they are unknown and not counted as free."""
    lat, lon = 47.0707, 15.4395  # Graz
    location = ocpi_location("GRP1", lat, lon, ["AVAILABLE"] * 4 + ["CHARGING"])
    long_ago = stamp(datetime.now(UTC) - timedelta(days=520))
    for evse in location["evses"][2:4]:
        evse["last_updated"] = long_ago
    pusher.put_location(location)
    location_id = find_location(api, "GRP1", lat, lon)
    evses = api.get(f"/v1/locations/{location_id}").json()["evses"]
    old = {e["uid"] for e in evses if e["status_age_s"] > 500 * 86400}
    assert old == {"GRP1-3", "GRP1-4"} and not any(e["stale"] for e in evses)

    page = open_station(map_page, location_id, lat, lon)
    assert shown_groups(page) == [("5", "4", "5 × CCS (Combo 2), 150 kW, 4 free")]
    assert GREEN in dot_colours(page)

    map_page.act(lambda: page.get_by_test_id("filter-age").select_option("86400"), "markers")
    page.wait_for_selector("[data-testid=evse-group][data-free='2']")
    expected = expected_groups(evses, lambda e: e["status"] == "AVAILABLE" and e["uid"] not in old)
    assert shown_groups(page) == expected == [("5", "2", "5 × CCS (Combo 2), 150 kW, 2 free")]
    page.get_by_test_id("evse-group-toggle").click()
    for uid in ("GRP1-3", "GRP1-4"):
        card = page.locator(f"[data-testid=evse][data-evse-uid='{uid}']")
        assert card.get_attribute("data-bucket") == "stale"
        assert card.get_by_test_id("evse-status").inner_text() == "Unknown"
        assert "last reported 17 months ago" in card.inner_text()
    fresh = page.locator("[data-testid=evse][data-evse-uid='GRP1-1']")
    assert fresh.get_by_test_id("evse-status").inner_text() == "Available"
    map_page.assert_no_console_errors()


# ---- identical charge points -------------------------------------------------------------------
def test_identical_charge_points_are_one_line_that_unfolds(
    map_page: MapPage, api: httpx.Client, caninde: tuple[str, float, float]
) -> None:
    location_id, lat, lon = caninde
    evses = api.get(f"/v1/locations/{location_id}").json()["evses"]
    assert not any(e["stale"] for e in evses)
    expected = expected_groups(evses, lambda e: e["status"] == "AVAILABLE")
    assert [(count, free) for count, free, _ in expected] == [("2", "2"), ("4", "4"), ("12", "6")]

    page = open_station(map_page, location_id, lat, lon)
    assert shown_groups(page) == expected
    assert expected[2][2] == "12 × Type 2, 7 kW, 6 free"
    # Only group lines: no card stands on its own, none is shown before it is asked for.
    assert page.locator("[data-testid=evse-list] > [data-testid=evse]").count() == 0
    assert page.locator("[data-testid=evse]:visible").count() == 0
    assert page.get_by_test_id("connector").count() == len(evses)  # each is there, folded

    # Unfolding the Type 2 line shows its twelve charge points, each with its own id and status.
    group = page.get_by_test_id("evse-group").nth(2)
    group.get_by_test_id("evse-group-toggle").click()
    cards = group.locator("[data-testid=evse]:visible")
    shown = cards.evaluate_all(
        "els => els.map(e => [e.dataset.evseUid, e.dataset.status, e.innerText])"
    )
    type2 = [e for e in evses if e["connectors"][0]["standard"] == "IEC_62196_T2"]
    assert [(uid, status) for uid, status, _ in shown] == [(e["uid"], e["status"]) for e in type2]
    for (_, _, text), evse in zip(shown, type2, strict=True):
        assert f"ID {evse['evse_id']}" in text
    assert page.locator("[data-testid=evse]:visible").count() == 12
    map_page.shot("11-detail-grouped")
    map_page.assert_no_console_errors()


# ---- navigation --------------------------------------------------------------------------------
def expected_links(lat: float, lon: float, name: str) -> dict[str, str]:
    at = f"{lat},{lon}"
    label = quote(name.replace("(", "").replace(")", ""), safe="!~*'()")
    return {
        "geo": f"geo:{at}?q={at}({label})",
        "google": f"https://www.google.com/maps/dir/?api=1&destination={at}",
        "apple": f"https://maps.apple.com/?daddr={at}",
        "osm": f"https://www.openstreetmap.org/directions?to={at}",
    }


def test_every_station_links_to_navigation(
    map_page: MapPage, api: httpx.Client, caninde: tuple[str, float, float], pusher: Pusher
) -> None:
    # A bundled station, and one pushed with brackets in its name (a geo: URI's label is in
    # brackets: the name's own are left out).
    lat, lon = 47.0790, 15.4210
    location = ocpi_location("NAV1", lat, lon, ["AVAILABLE"])
    location["name"] = "Parkhaus (Ebene -1) & Co"
    pusher.put_location(location)
    stations = [caninde, (find_location(api, "NAV1", lat, lon), lat, lon)]
    for location_id, lat, lon in stations:
        detail = api.get(f"/v1/locations/{location_id}").json()
        coords = detail["coordinates"]
        page = open_station(map_page, location_id, lat, lon)
        links = page.locator("[data-testid=detail-panel] a[data-testid^=navigate-]")
        shown = links.evaluate_all(
            "els => els.map(a => [a.dataset.testid, a.getAttribute('href'), a.target, a.rel])"
        )
        want = expected_links(coords["lat"], coords["lon"], detail["name"])
        assert [(testid, href) for testid, href, *_ in shown] == [
            (f"navigate-{key}", href) for key, href in want.items()
        ]
        # The map sites open beside the map; the geo: link hands over to the device's app.
        assert [(target, rel) for *_, target, rel in shown][1:] == [
            ("_blank", "noopener noreferrer")
        ] * 3
        assert links.first.inner_text().strip() == "Navigate" and links.first.is_visible()
    assert "Parkhaus%20Ebene%20-1%20%26%20Co" in want["geo"]
    map_page.assert_no_console_errors()
