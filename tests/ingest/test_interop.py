"""Peers as they really are (issue 10), over real HTTP against the sandbox: one that lists its
credentials endpoint as RECEIVER, one with a broken or looping ``Link``, a pull whose locations
fail while its tariffs succeed, a roaming hub that routes two operators (one of which another
network owns), and the routing headers on every functional-module request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.settings import Settings
from app.store import Store, networks, pulls
from app.store.pull_status import module_status
from ingest import credentials
from ingest.credentials import HandshakeError
from ingest.scheduler import pull_network
from ingest.sync import sync
from tests.conftest import ServerProcess, settings_env
from tests.ingest.helpers import running_sandbox
from tests.ingest.test_sandbox_peer import FAST_RETRY, control, register
from tests.ingest.test_sandbox_peer import served_settings as served_settings

US = ("NL", "WTL")  # the suite's ocpi_party (the settings' default)
WATTLAS = str(Path(sys.executable).parent / "wattlas")


@pytest.fixture
def sandbox(tmp_path: Path, settings: Settings) -> Iterator[ServerProcess]:
    with running_sandbox(
        tmp_path, settings, "punkt,hub,zepto,roaminghub", WATTLAS_SANDBOX_PAGE_SIZE="50"
    ) as server:
        yield server


def _requests(sandbox: ServerProcess, name: str) -> list[dict]:  # type: ignore[type-arg]
    seen = control(sandbox, f"{name}/requests", method="GET")
    assert isinstance(seen, list)
    return seen


# ---- discovery ---------------------------------------------------------------------------------
def test_endpoints_are_found_the_way_peers_list_them() -> None:
    listed = [
        {"identifier": "credentials", "role": "RECEIVER", "url": "https://p/cred"},
        {"identifier": "Locations", "role": "SENDER", "url": "https://p/loc"},
        {"identifier": "locations", "role": "RECEIVER", "url": "https://p/loc-in"},
        {"identifier": "tariffs", "url": "https://p/tar"},  # no role (2.1.1 style)
    ]
    assert credentials.endpoint_url(listed, "credentials") == "https://p/cred"
    assert credentials.endpoint_url(listed, "locations", "SENDER") == "https://p/loc"
    assert credentials.endpoint_url(listed, "locations", "RECEIVER") == "https://p/loc-in"
    assert credentials.endpoint_url(listed, "tariffs", "SENDER") == "https://p/tar"
    assert credentials.endpoint_url(listed, "hubclientinfo", "SENDER") is None
    with pytest.raises(HandshakeError) as refused:
        credentials.require_endpoint(listed[1:], "credentials", version="2.2.1")
    assert str(refused.value) == (
        "their 2.2.1 version details list no credentials endpoint (they list: Locations SENDER, "
        "locations RECEIVER, tariffs)"
    )
    assert refused.value.status_code == 3003


async def test_a_peer_listing_credentials_as_receiver_registers_both_ways(
    served_settings: Settings, sandbox: ServerProcess, store: Store
) -> None:
    control(sandbox, "punkt/peer-quirks", {"credentials_role": "RECEIVER"}, method="PUT")
    # We initiate: their credentials endpoint is found although listed as RECEIVER.
    network_id = await register(served_settings, sandbox, "punkt")
    assert (await networks.get_network(store, network_id))["status"] == "REGISTERED"
    # They initiate (a second sandbox network, same quirk): we read their details during
    # their POST and find their credentials endpoint the same way.
    control(sandbox, "hub/peer-quirks", {"credentials_role": "RECEIVER"}, method="PUT")
    token_a = await credentials.invite(store, "hub")
    answer = control(
        sandbox,
        "hub/register",
        {"token": token_a, "versions_url": credentials.versions_url(served_settings)},
    )
    assert answer == {"ok": True, "version": "2.2.1"}
    summary = {n.name: n for n in await networks.list_networks(store, stale_after_s=1800)}
    assert summary["hub"].status == "REGISTERED"
    assert summary["hub"].last_registration_initiator == "peer"
    assert summary["hub"].last_registration_error is None


# ---- routing headers ---------------------------------------------------------------------------
async def test_functional_module_requests_carry_routing_headers(
    served_settings: Settings, sandbox: ServerProcess, store: Store
) -> None:
    network_id = await register(served_settings, sandbox, "punkt")
    await sync(store, network_id, module="locations", retry=FAST_RETRY, us=US)
    seen = _requests(sandbox, "punkt")
    pulls_ = [r for r in seen if r["path"].endswith("/locations")]
    config = [r for r in seen if not r["path"].endswith("/locations")]
    assert len(pulls_) == 10
    assert {json.dumps(r["headers"], sort_keys=True) for r in pulls_} == {
        json.dumps(
            {
                "ocpi-from-country-code": "NL",
                "ocpi-from-party-id": "WTL",
                "ocpi-to-country-code": "RU",
                "ocpi-to-party-id": "TBM",
            },
            sort_keys=True,
        )
    }
    # None on the configuration modules (versions, credentials): ocpi.md §1.9.
    assert config and all(r["headers"] == {} for r in config)


# ---- pagination as some peers do it ------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "note"),
    [
        ("broken", "the Link header points to https://"),
        ("loop", "the Link header led to the same page again; paging by offset"),
        ("none", "no Link header although X-Total-Count says 489 and 50 were read"),
    ],
)
async def test_a_broken_link_falls_back_to_offset_paging(
    served_settings: Settings, sandbox: ServerProcess, store: Store, mode: str, note: str
) -> None:
    control(sandbox, "punkt/peer-quirks", {"link_mode": mode}, method="PUT")
    network_id = await register(served_settings, sandbox, "punkt")
    report = await sync(store, network_id, module="locations", retry=FAST_RETRY, us=US)
    assert (report.complete, report.pages, report.objects) == (True, 10, 489)
    assert report.adds_up
    assert len(report.notes) == 1 and report.notes[0].startswith(note), report.notes
    (status,) = (await module_status(store, [network_id]))[network_id]
    assert (status.module, status.last_status, status.objects) == ("locations", "complete", 489)
    assert status.notes == report.notes


# ---- per-module status ---------------------------------------------------------------------------
def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WATTLAS, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_locations_failing_while_tariffs_succeed_is_a_failed_pull(
    served_settings: Settings, sandbox: ServerProcess, store: Store, tmp_path: Path
) -> None:
    network_id = await register(served_settings, sandbox, "hub")
    control(sandbox, "hub/fail-from-page", {"page": 2, "module": "locations"}, method="PUT")
    env = {**os.environ, **settings_env(served_settings), "WATTLAS_LOG_LEVEL": "ERROR"}
    pulled = _cli(env, "networks", "pull", "hub")
    assert pulled.returncode == 1, pulled.stderr
    lines = [json.loads(line) for line in pulled.stdout.splitlines()]
    assert [(line["module"], line["complete"]) for line in lines] == [
        ("locations", False),
        ("tariffs", True),
    ]
    assert "HTTP 503" in lines[0]["error"]
    assert "wattlas: locations did not complete: " in pulled.stderr
    for line in lines:
        counted = line["accepted"] + line["unchanged"] + line["skipped_older"]
        assert counted + line["quarantined"] == line["objects"]
    by_module = {m.module: m for m in (await module_status(store, [network_id]))[network_id]}
    assert by_module["locations"].last_status == "failed"
    assert by_module["locations"].last_ok_at is None
    assert by_module["tariffs"].last_status == "complete"
    (hub,) = [n for n in await networks.list_networks(store, stale_after_s=1800) if n.name == "hub"]
    assert not hub.healthy
    assert hub.health.startswith("locations pull failing: GET ")
    # The tariffs' success did not make the network look fully pulled: it is due again (as
    # soon as the retry delay allows), for a full pull of every module.
    assert await pulls.due(store, full_s=86400, incremental_s=3600, retry_s=3600) == []
    (due,) = await pulls.due(store, full_s=86400, incremental_s=3600, retry_s=0)
    assert (due.name, due.full, due.modules) == ("hub", True, ("locations", "tariffs"))
    listed = _cli(env, "networks", "list")
    assert "locations     last ok -, last try " in listed.stdout
    assert "failed: GET " in listed.stdout


# ---- hubs ----------------------------------------------------------------------------------------
async def test_a_hub_writes_the_parties_it_routes_and_never_another_networks(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    # Zepto (PL*ZEP) is connected directly: it owns its party.
    zepto = await register(served_settings, sandbox, "zepto")
    hub = await register(served_settings, sandbox, "roaminghub")
    assert sync_conn.execute(
        "SELECT country_code || '*' || party_id, role, owner FROM network_parties"
        " WHERE network_id = %s",
        (hub,),
    ).fetchall() == [("NL*RHB", "HUB", True)]
    await pull_network(store, None, zepto, full=True, modules=("locations",), us=US)
    await pull_network(store, None, hub, full=True, modules=("locations", "hubclientinfo"), us=US)
    # HubClientInfo first: the parties it routes, with their status; never owned.
    assert sync_conn.execute(
        "SELECT country_code || '*' || party_id, role, owner, source, client_status"
        " FROM network_parties WHERE network_id = %s ORDER BY 1",
        (hub,),
    ).fetchall() == [
        ("NL*RHB", "HUB", True, "credentials", None),
        ("PL*ZEP", "CPO", False, "hubclientinfo", "CONNECTED"),
        ("PT*EVI", "CPO", False, "hubclientinfo", "CONNECTED"),
    ]
    # Its EVIO locations are its own; Zepto's stayed with Zepto, refused with the reason.
    assert sync_conn.execute(
        "SELECT n.name, l.party_id, count(*) FROM locations l JOIN networks n"
        " ON n.id = l.network_id GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall() == [("roaminghub", "EVI", 21), ("zepto", "ZEP", 10)]
    refused = sync_conn.execute(
        "SELECT count(*), min(reason) FROM quarantine WHERE network_id = %s", (hub,)
    ).fetchone()
    assert refused == (10, "party PL*ZEP belongs to another network (zepto): not written")
    by_module = {m.module: m for m in (await module_status(store, [hub]))[hub]}
    locations = by_module["locations"]
    assert (locations.objects, locations.accepted, locations.quarantined) == (31, 21, 10)
    # Its pushes: for EVIO accepted, for Zepto refused (Zepto owns it).
    pushed = control(sandbox, "roaminghub/push", {"count": 30})
    assert isinstance(pushed, list)
    outcomes = {(p["party_id"], p["status_code"]) for p in pushed}
    assert outcomes == {("EVI", 1000), ("ZEP", 2000)}
    # The hub suspends EVIO: its pushes for EVIO stop being accepted.
    answer = control(
        sandbox,
        "roaminghub/client-info",
        {
            "country_code": "PT",
            "party_id": "EVI",
            "role": "CPO",
            "status": "SUSPENDED",
            "last_updated": "2026-11-30T00:00:00Z",
        },
    )
    assert answer == {"ok": True, "status_code": 1000, "message": "Success"}
    again = control(sandbox, "roaminghub/push", {"count": 10})
    assert isinstance(again, list)
    assert {p["status_code"] for p in again} == {2000}


async def test_a_failed_registration_is_logged_and_shown_with_its_reason(
    served_settings: Settings, sandbox: ServerProcess, store: Store
) -> None:
    await register(served_settings, sandbox, "zepto")  # owns PL*ZEP
    token_a = await credentials.invite(store, "platform")
    answer = control(
        sandbox,
        "hub/register",  # its credentials list PL*ZEP among its parties
        {"token": token_a, "versions_url": credentials.versions_url(served_settings)},
    )
    assert answer == {
        "ok": False,
        "status_code": 2001,
        "message": "party PL*ZEP is registered to another network: it cannot be claimed",
    }
    (platform,) = [
        n for n in await networks.list_networks(store, stale_after_s=1800) if n.name == "platform"
    ]
    assert (platform.status, platform.healthy) == ("INVITED", False)
    assert platform.last_registration_initiator == "peer"
    assert platform.health == (
        "registration not completed: party PL*ZEP belongs to another network (zepto); an "
        "operator can move it with `wattlas networks parties NAME add PL*ZEP --take-over`"
    )


async def test_answers_carry_routing_headers_and_misaddressed_pushes_are_refused(
    settings: Settings, store: Store, sync_conn: psycopg.Connection
) -> None:
    from litestar.testing import AsyncTestClient

    from app.domain.parties import Party
    from tests.conftest import make_app
    from tests.ingest.helpers import TOKEN, b64, location_example

    await credentials.add_static(store, "becharged", TOKEN, [Party.parse("BE*BEC")])
    url = "/ocpi/2.2.1/locations/BE/BEC/LOC1"
    via_hub = {
        "OCPI-from-country-code": "BE",
        "OCPI-from-party-id": "BEC",
        "OCPI-to-country-code": "nl",  # CiString: case-blind
        "OCPI-to-party-id": "wtl",
    }
    async with AsyncTestClient(app=make_app(settings)) as client:
        put = await client.put(url, json=location_example(), headers={**b64(TOKEN), **via_hub})
        assert put.json()["status_code"] == 1000
        assert {k: v for k, v in put.headers.items() if k.startswith("ocpi-")} == {
            "ocpi-from-country-code": "NL",
            "ocpi-from-party-id": "WTL",
            "ocpi-to-country-code": "BE",
            "ocpi-to-party-id": "BEC",
        }
        plain = await client.get(url, headers=b64(TOKEN))  # no routing headers: the URL's party
        assert (plain.headers["ocpi-to-country-code"], plain.headers["ocpi-to-party-id"]) == (
            "BE",
            "BEC",
        )
        elsewhere = {**via_hub, "OCPI-to-country-code": "DE", "OCPI-to-party-id": "XYZ"}
        refused = await client.patch(
            f"{url}/3256",
            json={"status": "CHARGING", "last_updated": "2030-01-01T00:00:00Z"},
            headers={**b64(TOKEN), **elsewhere},
        )
        assert (refused.status_code, refused.json()["status_code"]) == (200, 2001)
        assert refused.json()["status_message"] == (
            "the OCPI-to-* headers address party DE*XYZ; this platform is NL*WTL"
        )
        versions = await client.get("/ocpi/versions", headers=b64(TOKEN))
        assert not [k for k in versions.headers if k.startswith("ocpi-")]
    assert sync_conn.execute("SELECT status FROM evses WHERE uid = '3256'").fetchone() != (
        "CHARGING",
    )
