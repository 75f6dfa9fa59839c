"""Demo prices end to end (issue 13: "in the sandbox, attach the spec's example tariffs to some
sandbox locations, labelled as demo data in the API"): the sandbox serves them with
``WATTLAS_SANDBOX_DEMO_TARIFFS``, Wattlas registers, pulls locations and tariffs over OCPI, and
the API prices those locations with ``basis: "demo"``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.settings import Settings
from app.store import Store
from devtools.sandbox.network import DEMO_EVERY, DEMO_EXAMPLES
from ingest.sync import sync
from tests.conftest import ServerProcess, make_app
from tests.ingest.helpers import running_sandbox
from tests.ingest.test_sandbox_peer import FAST_RETRY, register
from tests.ingest.test_sandbox_peer import served_settings as served_settings

NETWORKS = ("punkt", "sitronics")  # sitronics: its locations' party is not its first (AM*SIT)


@pytest.fixture
def demo_sandbox(tmp_path: Path, settings: Settings) -> Iterator[ServerProcess]:
    networks = ",".join(NETWORKS)
    with running_sandbox(
        tmp_path, settings, networks, WATTLAS_SANDBOX_DEMO_TARIFFS="true"
    ) as server:
        yield server


async def test_demo_tariffs_are_pulled_and_price_their_locations_as_demo(
    served_settings: Settings, demo_sandbox: ServerProcess, store: Store, settings: Settings
) -> None:
    for name in NETWORKS:
        network_id = await register(served_settings, demo_sandbox, name)
        for module in ("locations", "tariffs"):
            report = await sync(store, network_id, module=module, retry=FAST_RETRY)
            assert report.complete, report
        # Every example, each with its own id (the spec's tariff_6 and tariff_8 share "16").
        assert (report.objects, report.accepted) == (len(DEMO_EXAMPLES), len(DEMO_EXAMPLES))

    async with AsyncTestClient(app=make_app(settings)) as client:
        results: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"bbox": "-180,-85,180,85", "limit": 500, "energy_kwh": 30}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v1/locations/", params=params)).json()
            results += page["results"]
            if not (cursor := page.get("next_cursor")):
                break
        priced = [r for r in results if r["price"] is not None]
        # Every DEMO_EVERY-th location of each network lists a demo tariff, and each is valid
        # now (the examples' windows dropped): a third of the visible locations, give or take
        # those hidden or quarantined.
        assert {r["price"]["basis"] for r in priced} == {"demo"}
        assert len(priced) >= len(results) // DEMO_EVERY - 10, (len(priced), len(results))
        assert all(r["price"]["tariff_id"].startswith("DEMO-T") for r in priced)
        by_tariff = {r["price"]["tariff_id"]: r["price"] for r in priced}
        # tariff_8: 0.25 EUR/kWh, 10 % VAT: 30 × 0.25 = 7.50 excl., 8.25 incl.
        assert (by_tariff["DEMO-T8"]["excl_vat"], by_tariff["DEMO-T8"]["incl_vat"]) == (7.5, 8.25)
        # tariff_5: free of charge.
        assert by_tariff["DEMO-T5"]["incl_vat"] == 0
        # tariff_4 prices charging time by current (≥ 32 A: 2.00 EUR/h Mon–Fri, 1.25 Sat–Sun,
        # + 2.50 start fee): more than its start fee, whatever the power.
        assert by_tariff["DEMO-T4"]["excl_vat"] > 2.5
        detail = (await client.get(f"/v1/locations/{priced[0]['id']}")).json()
        shown = [t for t in detail["tariffs"] if t["id"].startswith("DEMO-")]
        assert shown and all(t["basis"] == "demo" for t in shown)
        assert "Demo price" in str(shown[0]["alt_text"])
