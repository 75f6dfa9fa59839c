"""A push that can never be stored is a 2001 naming the field, never "retry", and never costs
another push (issue 9, finding 4): NUL characters, numbers no column holds, ids too long for an
index. Against the real receiver and database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from app.store.networks import Grant
from ingest import credentials
from ingest.receiver.operations import Pusher, StatusPatch
from ingest.receiver.writer import PushWriter
from tests.conftest import make_app
from tests.ingest.helpers import TOKEN, b64, location_example

OTHER = "poison-token-0123456789"
BASE = "/ocpi/2.2.1/locations/BE/BEC/LOC1"
LATER = "2030-01-01T00:00:00Z"


@pytest.fixture
async def service(settings: Settings, store: Store) -> AsyncIterator[AsyncTestClient[Litestar]]:
    await credentials.add_static(store, "becharged", TOKEN, [Party.parse("BE*BEC")])
    await credentials.add_static(store, "poisoner", OTHER, [Party.parse("NL*PSN")])
    async with AsyncTestClient(app=make_app(settings)) as client:
        put = await client.put(BASE, json=location_example(), headers=b64(TOKEN))
        assert put.json()["status_code"] == 1000
        yield client


def _answer(response: Any) -> tuple[int, int, str]:
    body = response.json()
    return response.status_code, body["status_code"], body["status_message"]


def _connector(**values: Any) -> dict[str, Any]:
    evse = location_example()["evses"][0]
    connector = {**evse["connectors"][0], **values}
    return {**evse, "connectors": [connector], "last_updated": LATER}


async def test_values_no_column_holds_are_refused_naming_the_field(
    service: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    before = sync_conn.execute("SELECT status, raw FROM evses ORDER BY uid").fetchall()
    nul_status = await service.patch(
        f"{BASE}/3256", json={"status": "CHARGING\x00", "last_updated": LATER}, headers=b64(TOKEN)
    )
    assert _answer(nul_status) == (
        200, 2001, "status contains a NUL character (U+0000), which cannot be stored"
    )  # fmt: skip
    named = location_example()
    named["name"] = "Gent\x00Zuid"
    nul_name = await service.put(BASE, json=named, headers=b64(TOKEN))
    assert _answer(nul_name) == (
        200, 2001, "name contains a NUL character (U+0000), which cannot be stored"
    )  # fmt: skip
    nested = await service.put(
        f"{BASE}/3256", json=_connector(tariff_ids=["A\x00"]), headers=b64(TOKEN)
    )
    assert _answer(nested)[:2] == (200, 2001)
    assert nested.json()["status_message"].startswith("connectors[0].tariff_ids[0] contains a NUL")
    in_url = await service.patch(
        f"{BASE}/3256%00", json={"status": "CHARGING", "last_updated": LATER}, headers=b64(TOKEN)
    )
    assert _answer(in_url) == (400, 2001, "path: the path holds a NUL")
    long_uid = await service.put(
        f"{BASE}/{'E' * 8192}", json={**_connector(), "uid": "E" * 8192}, headers=b64(TOKEN)
    )
    assert _answer(long_uid) == (
        200,
        2001,
        "evse_uid is 8,192 characters long; an OCPI id has at most 36 (we accept up to 255)"
        " (in the URL)",
    )
    assert sync_conn.execute("SELECT status, raw FROM evses ORDER BY uid").fetchall() == before


@pytest.mark.parametrize(
    ("field", "value", "note"),
    [
        ("max_voltage", 2**64, "max_voltage 18446744073709551616 V is not plausible"),
        ("max_voltage", 1e30, "max_voltage 1e+30 V is not plausible"),
        ("max_amperage", -5, "max_amperage -5 A is not plausible"),
        ("max_electric_power", 1e308, "max_electric_power 1e+308 W is not plausible"),
    ],
)
async def test_numbers_beyond_any_charger_are_ignored_with_a_note(
    service: AsyncTestClient[Litestar],
    sync_conn: psycopg.Connection,
    field: str,
    value: float,
    note: str,
) -> None:
    answer = await service.put(
        f"{BASE}/3256", json=_connector(**{field: value}), headers=b64(TOKEN)
    )
    assert _answer(answer) == (200, 1000, "Success")
    column = {"max_electric_power": "max_electric_power_w"}.get(field, field)
    stored = sync_conn.execute(
        f"SELECT c.{column} FROM connectors c JOIN evses e ON e.id = c.evse_pk"
        " WHERE e.uid = '3256' AND c.connector_id = '1'"
    ).fetchone()
    assert stored == (None,)
    (reason,) = sync_conn.execute(
        "SELECT reason FROM quarantine WHERE severity = 'note' AND object_kind = 'connector'"
        " AND reason LIKE %s",
        (f"{field} %",),
    ).fetchone() or (None,)
    assert reason is not None and reason.startswith(note) and reason.endswith("; ignored")


async def test_poisoned_pushes_of_one_network_cost_another_nothing(
    service: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    """1,500 good status pushes of one network among 30 poisoned ones of another, all at once:
    every good one is acknowledged, every poisoned one is a 2001."""
    start = datetime(2030, 1, 1, tzinfo=UTC)

    def good(i: int) -> Any:
        at = (start + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z")
        status = "CHARGING" if i % 2 else "AVAILABLE"
        return service.patch(
            f"{BASE}/{'3256' if i % 3 else '3257'}",
            json={"status": status, "last_updated": at},
            headers=b64(TOKEN),
        )

    def poisoned(i: int) -> Any:
        kinds = [{"status": "X\x00"}, {"status": "AVAILABLE", "n": "\x00"}]
        body = {**kinds[i % 2], "last_updated": LATER}
        return service.patch(
            "/ocpi/2.2.1/locations/NL/PSN/P1/E1", content=json.dumps(body), headers=b64(OTHER)
        )

    calls = [good(i) for i in range(1500)] + [poisoned(i) for i in range(30)]
    answers = await asyncio.gather(*calls)
    assert [a.json()["status_code"] for a in answers[:1500]] == [1000] * 1500
    assert {(a.status_code, a.json()["status_code"]) for a in answers[1500:]} == {(200, 2001)}


async def test_the_writer_isolates_a_push_the_database_refuses(store: Store) -> None:
    """Defence in depth: a value the checks before the writer did not catch fails the set-based
    batch in PostgreSQL; the batch is redone one push at a time, the others are stored."""
    await credentials.add_static(store, "becharged", TOKEN, [Party.parse("BE*BEC")])
    async with AsyncTestClient(app=make_app_for(store)) as client:
        put = await client.put(BASE, json=location_example(), headers=b64(TOKEN))
        assert put.json()["status_code"] == 1000
    from app.store import networks

    auth = await networks.authenticate(store, [TOKEN])
    assert auth is not None
    writer = PushWriter(store, None)
    try:
        pusher = Pusher(auth.network_id, "2.2.1", datetime.now(UTC), auth.token_sha256)
        items = [
            StatusPatch("BE", "BEC", "LOC1", uid, {"status": status, "last_updated": at}, pusher)
            for uid, status, at in (
                ("3256", "CHARGING", "2030-01-01T00:00:01Z"),
                ("3257", "AVAILABLE\x00", "2030-01-01T00:00:02Z"),  # the database refuses it
            )
        ]
        outcomes = await asyncio.gather(*(writer.status_patch(item) for item in items))
    finally:
        await writer.stop()
    assert [(o.status_code, o.http_status) for o in outcomes] == [(1000, 200), (2001, 200)]
    assert outcomes[1].message.startswith("the update cannot be stored:")
    rows = await _statuses(store)
    assert rows == [("3256", "CHARGING"), ("3257", "RESERVED")]
    assert Grant  # the writer re-checks the token's grant on every batch (test_parties)


async def _statuses(store: Store) -> list[tuple[str, str]]:
    from app.store.locations import fetch_location

    stored = await fetch_location(store, "BE", "BEC", "LOC1")
    assert stored is not None
    return sorted((e["uid"], e["status"]) for e in stored.tree["evses"])


def make_app_for(store: Store) -> Litestar:
    from app.settings import load_settings

    settings = load_settings(
        {}, database_url=store.url, log_level="WARNING", run_scheduler=False, cluster_refresh_s=0.0
    )
    return make_app(settings)
