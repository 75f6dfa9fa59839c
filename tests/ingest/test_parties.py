"""One owner per party (architecture.md; issue 9, finding 1; issue 16, "party isolation on
every write path"): no handshake, credentials update or static token can claim a party another
network owns; no token writes another party's data on any path; a party moves between networks
only by an operator's explicit command."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store, networks
from ingest import credentials
from tests.conftest import make_app
from tests.ingest.helpers import b64, location_example, spec
from wattlas.cli import main

OWNER_TOKEN = "owner-token-BBB-0123456789"
OTHER_TOKEN = "other-token-CCC-0123456789"
BASE = "/ocpi/2.2.1/locations/DE/BBB/BLOC1"
TARIFF = "/ocpi/2.2.1/tariffs/DE/BBB/TB"


def _location() -> dict[str, Any]:
    body = location_example()
    body.update(country_code="DE", party_id="BBB", id="BLOC1")
    return body


def _tariff() -> dict[str, Any]:
    body = spec("tariff_3_alt_url.json")
    body.update(country_code="DE", party_id="BBB", id="TB")
    return body


@pytest.fixture
async def service(settings: Settings, store: Store) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """DE*BBB owned by network `bbb` (a location BLOC1 and a tariff TB of its own); network
    `ccc` owns DE*CCC."""
    await credentials.add_static(store, "bbb", OWNER_TOKEN, [Party.parse("DE*BBB")])
    await credentials.add_static(store, "ccc", OTHER_TOKEN, [Party.parse("DE*CCC")])
    async with AsyncTestClient(app=make_app(settings)) as client:
        put = await client.put(BASE, json=_location(), headers=b64(OWNER_TOKEN))
        assert put.json()["status_code"] == 1000
        put = await client.put(TARIFF, json=_tariff(), headers=b64(OWNER_TOKEN))
        assert put.json()["status_code"] == 1000
        yield client


def _owned(sync_conn: psycopg.Connection) -> list[tuple[str, str, bool]]:
    return sync_conn.execute(
        "SELECT n.name, p.country_code || '*' || p.party_id, p.owner FROM network_parties p"
        " JOIN networks n ON n.id = p.network_id ORDER BY 1, 2"
    ).fetchall()


def _stored(sync_conn: psycopg.Connection) -> tuple[Any, ...]:
    row = sync_conn.execute(
        "SELECT (SELECT n.name FROM networks n WHERE n.id = l.network_id), l.name,"
        " (SELECT array_agg(e.status ORDER BY e.uid) FROM evses e WHERE e.location_id = l.id),"
        " (SELECT t.deleted_at IS NULL FROM tariffs t WHERE t.tariff_id = 'TB')"
        " FROM locations l WHERE l.ocpi_id = 'BLOC1'"
    ).fetchone()
    assert row is not None
    return tuple(row)


def _claim(token: str, party: str, url: str = "http://127.0.0.1:9/ocpi/versions") -> dict:  # type: ignore[type-arg]
    cc, pid = party.split("*")
    return {
        "token": token,
        "url": url,
        "roles": [
            {
                "role": "CPO",
                "party_id": pid,
                "country_code": cc,
                "business_details": {"name": "Evil"},
            }
        ],
    }


async def test_a_handshake_cannot_claim_an_owned_party(
    service: AsyncTestClient[Litestar],
    store: Store,
    sync_conn: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = _stored(sync_conn)
    token_a = await credentials.invite(store, "evil")
    answer = await service.post(
        "/ocpi/2.2.1/credentials",
        json=_claim("evil-token-b-0123456789", "DE*BBB"),
        headers=b64(token_a),
    )
    assert answer.status_code == 200
    assert answer.json()["status_code"] == 2001
    assert answer.json()["status_message"] == (
        "party DE*BBB is registered to another network: it cannot be claimed"
    )
    assert "data" not in answer.json()  # no token for the claimant
    assert sync_conn.execute("SELECT status FROM networks WHERE name = 'evil'").fetchone() == (
        "INVITED",
    )
    # Token A is still only token A: the modules stay closed to it.
    refused = await service.put(BASE, json=_location(), headers=b64(token_a))
    assert refused.status_code == 401
    deleted = await service.delete(TARIFF, headers=b64(token_a))
    assert deleted.status_code == 401
    assert _stored(sync_conn) == before
    assert _owned(sync_conn) == [("bbb", "DE*BBB", True), ("ccc", "DE*CCC", True)]
    assert any("network.party_claim_refused" in r.getMessage() for r in caplog.records)


async def test_a_registered_network_cannot_add_an_owned_party_by_put(
    service: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    claim = _claim(OTHER_TOKEN, "DE*CCC")
    claim["roles"].append({**claim["roles"][0], "party_id": "BBB"})
    answer = await service.put("/ocpi/2.2.1/credentials", json=claim, headers=b64(OTHER_TOKEN))
    assert answer.json()["status_code"] == 2001
    assert "party DE*BBB is registered to another network" in answer.json()["status_message"]
    assert _owned(sync_conn) == [("bbb", "DE*BBB", True), ("ccc", "DE*CCC", True)]
    still = await service.patch(
        f"{BASE}/3256",
        json={"status": "CHARGING", "last_updated": "2030-01-01T00:00:00Z"},
        headers=b64(OTHER_TOKEN),
    )
    assert (still.status_code, still.json()["status_code"]) == (404, 2000)


def _cli(settings: Settings) -> CliRunner:
    return CliRunner(
        env={
            "WATTLAS_DATABASE_URL": settings.database_url or "",
            "WATTLAS_REDIS_URL": settings.redis_url or "",
            "WATTLAS_LOG_LEVEL": "WARNING",
        }
    )


async def test_a_static_token_cannot_claim_an_owned_party_and_a_move_is_explicit(
    service: AsyncTestClient[Litestar], settings: Settings, sync_conn: psycopg.Connection
) -> None:
    cli = _cli(settings)
    refused = await asyncio.to_thread(
        cli.invoke,
        main,
        ["networks", "add-token", "netdup", "--token", "dup-token-0123456789", "--party", "DE*BBB"],
    )
    assert refused.exit_code == 2
    assert "party DE*BBB belongs to another network (bbb)" in refused.output
    assert sync_conn.execute("SELECT count(*) FROM networks WHERE name = 'netdup'").fetchone() == (
        0,
    )
    # An operator moves it, explicitly: then the new owner writes it and the old one no more.
    added = await asyncio.to_thread(
        cli.invoke,
        main,
        ["networks", "add-token", "netnew", "--token", "new-token-0123456789", "--party", "DE*NEW"],
    )
    assert added.exit_code == 0, added.output
    not_yet = await asyncio.to_thread(
        cli.invoke, main, ["networks", "parties", "netnew", "add", "DE*BBB"]
    )
    assert not_yet.exit_code == 2 and "belongs to another network (bbb)" in not_yet.output
    moved = await asyncio.to_thread(
        cli.invoke, main, ["networks", "parties", "netnew", "add", "DE*BBB", "--take-over"]
    )
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.strip() == "netnew: now owns DE*BBB (moved from bbb)"
    assert _owned(sync_conn) == [
        ("bbb", "DE*BBB", False),
        ("ccc", "DE*CCC", True),
        ("netnew", "DE*BBB", True),
        ("netnew", "DE*NEW", True),
    ]
    # The token caches of this process forget within their TTL; a new process asks at once.
    async with AsyncTestClient(app=make_app(settings)) as fresh:
        old = await fresh.put(BASE, json=_location(), headers=b64(OWNER_TOKEN))
        assert (old.status_code, old.json()["status_code"]) == (404, 2000)
        new = await fresh.put(BASE, json=_location(), headers=b64("new-token-0123456789"))
        assert new.json()["status_code"] == 1000
    listed = await asyncio.to_thread(cli.invoke, main, ["networks", "parties", "netnew", "list"])
    assert listed.stdout.splitlines() == ["DE*BBB owner (operator)", "DE*NEW owner (credentials)"]


async def test_two_networks_claiming_one_party_at_once_one_wins(
    settings: Settings, store: Store, sync_conn: psycopg.Connection
) -> None:
    """The unique index decides a race the check before it cannot see."""

    async def claim(name: str) -> str:
        try:
            await credentials.add_static(
                store, name, f"{name}-token-0123456789", [Party("NL", "RCE")]
            )
        except networks.PartyOwned:
            return "refused"
        return "owner"

    outcomes = await asyncio.gather(*(claim(f"racer{i}") for i in range(6)))
    assert sorted(outcomes) == ["owner"] + ["refused"] * 5
    assert sync_conn.execute(
        "SELECT count(*) FROM network_parties WHERE (country_code, party_id) = ('NL', 'RCE')"
    ).fetchone() == (1,)


LATER = "2030-01-01T00:00:00Z"
WRITES = [
    ("PUT", BASE, _location),
    ("PATCH", BASE, lambda: {"name": "Taken", "last_updated": LATER}),
    ("PUT", f"{BASE}/3256", lambda: location_example()["evses"][0]),
    ("PATCH", f"{BASE}/3256", lambda: {"status": "OUTOFORDER", "last_updated": LATER}),
    ("PATCH", f"{BASE}/3256", lambda: {"floor_level": "9", "last_updated": LATER}),
    ("PUT", f"{BASE}/3256/1", lambda: location_example()["evses"][0]["connectors"][0]),
    ("PATCH", f"{BASE}/3256/1", lambda: {"max_amperage": 8, "last_updated": LATER}),
    ("PUT", TARIFF, _tariff),
    ("DELETE", TARIFF, None),
    ("PATCH", "/ocpi/2.1.1/tariffs/DE/BBB/TB", lambda: {"currency": "USD"}),
    ("GET", BASE, None),
    ("GET", TARIFF, None),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "make_body"), WRITES)
async def test_no_token_reaches_another_partys_data_on_any_path(
    service: AsyncTestClient[Litestar],
    sync_conn: psycopg.Connection,
    method: str,
    path: str,
    make_body: Any,
) -> None:
    before = _stored(sync_conn)
    quarantined = sync_conn.execute("SELECT count(*) FROM quarantine").fetchone()
    kwargs: dict[str, Any] = {"headers": b64(OTHER_TOKEN)}
    if make_body is not None:
        kwargs["content"] = json.dumps(make_body())
    answer = await service.request(method, path, **kwargs)
    assert (answer.status_code, answer.json()["status_code"]) == (404, 2000)
    assert answer.json()["status_message"] == "party DE*BBB is not registered for this token"
    assert _stored(sync_conn) == before
    assert sync_conn.execute("SELECT count(*) FROM quarantine").fetchone() == quarantined


async def test_a_loaded_dump_never_writes_a_party_an_ocpi_network_owns(
    service: AsyncTestClient[Litestar], store: Store, sync_conn: psycopg.Connection, tmp_path: Any
) -> None:
    from ingest.loader import load_file

    before = _stored(sync_conn)
    other = _location()
    other.update(id="BLOC2", name="Not theirs")
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps({"data": [{**_location(), "name": "Overwritten?"}, other]}))
    report = await load_file(store, dump, network_name="somedump", check_geography=False)
    assert (report.objects, report.accepted, report.quarantined) == (2, 0, 2)
    assert _stored(sync_conn) == before
    assert sync_conn.execute(
        "SELECT object_key, reason FROM quarantine WHERE severity = 'rejected' ORDER BY 1"
    ).fetchall() == [
        ("DE*BBB*BLOC1", "party DE*BBB belongs to another network (bbb): not written"),
        ("DE*BBB*BLOC2", "party DE*BBB belongs to another network (bbb): not written"),
    ]
    assert sync_conn.execute("SELECT count(*) FROM locations").fetchone() == (1,)
    # A party nobody owns is written from a file, and known to the dump's network, not owned.
    free = _location()
    free.update(party_id="FRE", id="F1")
    dump.write_text(json.dumps({"data": [free]}))
    report = await load_file(store, dump, network_name="somedump", check_geography=False)
    assert (report.accepted, report.quarantined) == (1, 0)
    assert ("somedump", "DE*FRE", False) in _owned(sync_conn)
