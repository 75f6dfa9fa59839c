"""OCPI 2.3.0 with a real peer over HTTP (issue 10): the sandbox's 2.3.0 platform and 2.3.0 hub,
served by granian on a free port, and Wattlas served the same way. Handshake in both
directions negotiated to 2.3.0, a pull of the spec's 2.3.0 Locations and Tariffs, and pushes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.settings import Settings
from app.store import Store
from ingest import credentials
from ingest.sync import sync
from tests.conftest import SPEC_EXAMPLES, ServerProcess
from tests.ingest.helpers import running_sandbox
from tests.ingest.test_sandbox_peer import FAST_RETRY, PAGE_SIZE, control, register
from tests.ingest.test_sandbox_peer import served_settings as served_settings


@pytest.fixture
def sandbox(tmp_path: Path, settings: Settings) -> Iterator[ServerProcess]:
    with running_sandbox(
        tmp_path, settings, "spec230,hub230", WATTLAS_SANDBOX_PAGE_SIZE=str(PAGE_SIZE)
    ) as server:
        yield server


PARTIES = [
    ("BE*BEC", "CPO"),
    ("CA*FLO", "CPO"),
    ("DE*ALL", "CPO"),
    ("NL*ALF", "CPO"),
    ("NL*ALL", "CPO"),
    ("SE*EVC", "CPO"),
]


async def test_we_register_in_2_3_0_and_pull_its_locations_and_tariffs(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    # They offer 2.3.0, 2.2.1 and 2.1.1: the highest both speak is chosen, with Base64 tokens.
    network_id = await register(served_settings, sandbox, "spec230")
    assert sync_conn.execute(
        "SELECT status, ocpi_version, outbound_auth FROM networks WHERE id = %s", (network_id,)
    ).fetchone() == ("REGISTERED", "2.3.0", "base64")
    assert sync_conn.execute(
        "SELECT country_code || '*' || party_id, role, owner FROM network_parties ORDER BY 1"
    ).fetchall() == [(party, role, True) for party, role in PARTIES]

    locations = await sync(store, network_id, module="locations", retry=FAST_RETRY)
    assert (locations.complete, locations.objects, locations.accepted) == (True, 5, 5)
    examples = {
        loc["id"].upper(): loc
        for loc in (
            json.loads((SPEC_EXAMPLES / "2.3.0" / f"{name}.json").read_text())
            for name in ("location_example", "location_example_parking_garage_opening_hours")
        )
    }
    # The 2.3.0 fields arrive as the network sent them, for the detail to read.
    stored = sync_conn.execute(
        "SELECT l.ocpi_id, l.ocpi_version, l.raw->'parking_places',"
        " jsonb_agg(e.raw->'parking' ORDER BY e.uid)"
        " FROM locations l JOIN evses e ON e.location_id = l.id"
        " WHERE l.ocpi_id = ANY(%s) GROUP BY l.id ORDER BY l.ocpi_id",
        (sorted(examples),),
    ).fetchall()
    assert stored == [
        (key, "2.3.0", loc["parking_places"], [e["parking"] for e in loc["evses"]])
        for key, loc in sorted(examples.items())
    ]

    tariffs = await sync(store, network_id, module="tariffs", retry=FAST_RETRY)
    assert (tariffs.complete, tariffs.objects, tariffs.accepted, tariffs.quarantined) == (
        True,
        12,
        12,
        0,
    )
    assert sync_conn.execute(
        "SELECT country_code, tariff_id, summary, min_price FROM tariffs"
        " WHERE tariff_id IN ('12', '20') ORDER BY 1, 2"
    ).fetchall() == [
        ("CA", "12", "2.00 CAD/h (excl. taxes)", None),
        ("DE", "12", "2.00 EUR/h (excl. taxes)", None),
        ("DE", "20", "0.25 EUR/kWh; min 0.50 EUR (excl. taxes)",
         {"before_taxes": 0.5, "after_taxes": 0.55}),
    ]  # fmt: skip


async def test_a_2_3_0_hub_registers_names_itself_and_pushes_for_its_parties(
    served_settings: Settings,
    sandbox: ServerProcess,
    api_server: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    token_a = await credentials.invite(store, "hub230")
    answer = control(
        sandbox,
        "hub230/register",
        {"versions_url": f"{api_server.url}/ocpi/versions", "token": token_a},
    )
    assert answer == {"ok": True, "version": "2.3.0"}
    assert sync_conn.execute(
        "SELECT status, ocpi_version, outbound_auth FROM networks"
    ).fetchone() == ("REGISTERED", "2.3.0", "base64")
    # hub_party_id NLHUB: the hub owns itself; the parties its roles list are routed through it
    # (writable while no other network owns them).
    assert sync_conn.execute(
        "SELECT country_code || '*' || party_id, role, owner FROM network_parties ORDER BY 1"
    ).fetchall() == sorted([*((p, r, False) for p, r in PARTIES), ("NL*HUB", "HUB", True)])
    network_id = sync_conn.execute("SELECT id FROM networks").fetchone()[0]  # type: ignore[index]
    report = await sync(store, network_id, module="locations", retry=FAST_RETRY)
    assert (report.complete, report.accepted) == (True, 5)
    pushed = control(sandbox, "hub230/push", {"count": 10})
    assert isinstance(pushed, list)
    assert {(p["http_status"], p["status_code"]) for p in pushed} == {(200, 1000)}
    last = pushed[-1]
    assert sync_conn.execute(
        "SELECT e.status FROM evses e JOIN locations l ON l.id = e.location_id"
        " WHERE l.ocpi_id = %s AND e.uid = %s",
        (last["location_id"].upper(), last["evse_uid"].upper()),
    ).fetchone() == (last["status"],)
