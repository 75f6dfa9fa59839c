"""The map page in a real browser: headless Chromium from Debian (never ``playwright install``)
driven by Playwright, against the real service under granian with every bundled real OCPI dump
loaded into its own database, plus one static-token network the tests push through over OCPI."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from ingest import credentials
from ingest.loader import load_file
from tests.conftest import OCPI_FIXTURES, ROOT, ServerProcess, execute, settings_env, start_granian
from tests.ingest.helpers import b64
from wattlas.local import LocalServices, ensure_system_packages
from wattlas.migrate import upgrade

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
# The network the tests push through (PUT locations, PATCH statuses) over the real receiver.
PUSH_NETWORK = "browser-push"
PUSH_TOKEN = "browser-push-token-0123456789"
PUSH_PARTY = "NL*WBT"


async def _prepare(url: str) -> None:
    manifest = json.loads((OCPI_FIXTURES / "manifest.json").read_text())["networks"]
    async with Store(url, max_size=2, name="test") as store:
        for entry in manifest:
            party = Party.parse(entry["party"]) if entry.get("party") else None
            await load_file(
                store, OCPI_FIXTURES / entry["file"], party=party, network_name=entry["name"]
            )
        await credentials.add_static(store, PUSH_NETWORK, PUSH_TOKEN, [Party.parse(PUSH_PARTY)])
    # Every network in contact, so that the real statuses are shown as live, not stale.
    await execute(url, "UPDATE networks SET last_contact_at = now(), stale_after_s = 315360000")


@pytest.fixture(scope="session")
def browser_db(local_services: LocalServices) -> str:
    url = local_services.create_database("wattlas_browser")
    upgrade(url)
    asyncio.run(_prepare(url))
    return url


@pytest.fixture(scope="module")
def map_server(
    base_settings: Settings, browser_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    # Its own Redis database too: other tests flush database 0 and read its event stream.
    redis_url = (base_settings.redis_url or "").rsplit("/", 1)[0] + "/7"
    settings = msgspec.structs.replace(base_settings, database_url=browser_db, redis_url=redis_url)
    server = start_granian(
        "wattlas.asgi:app",
        settings_env(settings),
        tmp_path_factory.mktemp("map-server"),
        name="map-api",
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(map_server: ServerProcess) -> Iterator[httpx.Client]:
    """The same server, asked directly: what the page shows is compared with its answers."""
    with httpx.Client(base_url=map_server.url, timeout=10) as client:
        yield client


class Pusher:
    """A charging network pushing to the service over OCPI 2.2.1 (the real receiver, over HTTP)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def put_location(self, location: dict[str, Any]) -> None:
        cc, pid = PUSH_PARTY.split("*")
        response = self.client.put(
            f"/ocpi/2.2.1/locations/{cc}/{pid}/{location['id']}",
            json=location,
            headers=b64(PUSH_TOKEN),
        )
        assert response.json()["status_code"] == 1000, response.text

    def put_tariff(self, tariff: dict[str, Any]) -> None:
        cc, pid = PUSH_PARTY.split("*")
        response = self.client.put(
            f"/ocpi/2.2.1/tariffs/{cc}/{pid}/{tariff['id']}",
            json=tariff,
            headers=b64(PUSH_TOKEN),
        )
        assert response.json()["status_code"] == 1000, response.text

    def patch_status(self, location_id: str, evse_uid: str, status: str, at: str) -> None:
        cc, pid = PUSH_PARTY.split("*")
        response = self.client.patch(
            f"/ocpi/2.2.1/locations/{cc}/{pid}/{location_id}/{evse_uid}",
            json={"status": status, "last_updated": at},
            headers=b64(PUSH_TOKEN),
        )
        assert response.json()["status_code"] == 1000, response.text


@pytest.fixture(scope="module")
def pusher(api: httpx.Client) -> Pusher:
    return Pusher(api)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ensure_system_packages(extra=("chromium",))
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class ConsoleErrors(list[str]):
    """Console messages of type error and uncaught page errors, as they happen."""

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.append(f"console.error: {message.text} ({message.location.get('url')})")

    def on_page_error(self, error: Error) -> None:
        self.append(f"pageerror: {error.message}")


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, ConsoleErrors]]:
    # Reduced motion: camera moves jump (the page honours it, as MapLibre does), so no test
    # waits for an animation.
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-GB", reduced_motion="reduce"
    )
    errors = ConsoleErrors()
    tab = context.new_page()
    tab.on("console", errors.on_console)
    tab.on("pageerror", errors.on_page_error)
    tab.set_default_timeout(15_000)
    try:
        yield tab, errors
    finally:
        context.close()


def wait_until(page: Page, predicate: str, arg: Any = None, timeout_s: float = 15.0) -> None:
    """Poll a JavaScript predicate until it holds (fails loudly after ``timeout_s``).

    Playwright's own ``wait_for_function`` compiles the predicate inside the page with eval,
    which the map page's Content-Security-Policy forbids; ``evaluate`` goes through the
    DevTools protocol, which the policy does not govern, so the page is tested as served."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(predicate, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s:g} s: {predicate}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
