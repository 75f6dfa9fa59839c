"""Handshake, pull and push with a real OCPI peer over HTTP: the sandbox network, served by
granian on a free port, and Wattlas served the same way (the peer calls us back)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import psycopg
import pytest

import ingest.sync
from app.settings import Settings
from app.store import Store, networks
from ingest import credentials
from ingest.client import RetryPolicy
from ingest.sync import sync
from tests.conftest import OCPI_FIXTURES, ServerProcess
from tests.ingest.helpers import b64, running_sandbox

PAGE_SIZE = 50
FAST_RETRY = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.3)


@pytest.fixture
def sandbox(tmp_path: Path, settings: Settings) -> Iterator[ServerProcess]:
    with running_sandbox(
        tmp_path, settings, "punkt,fastned,hub", WATTLAS_SANDBOX_PAGE_SIZE=str(PAGE_SIZE)
    ) as server:
        yield server


@pytest.fixture
def served_settings(settings: Settings, api_server: ServerProcess) -> Settings:
    """Settings whose base URL is the running Wattlas (what we tell peers to call)."""
    return msgspec.structs.replace(settings, port=api_server.port)


def control(
    sandbox: ServerProcess, path: str, body: object | None = None, method: str = "POST"
) -> object:
    response = (
        httpx.request(method, f"{sandbox.url}/_control/{path}", json=body, timeout=30)
        if body is not None or method != "GET"
        else httpx.get(f"{sandbox.url}/_control/{path}", timeout=30)
    )
    response.raise_for_status()
    return response.json()


async def register(served: Settings, sandbox: ServerProcess, name: str) -> int:
    info = control(sandbox, f"{name}/credentials", method="GET")
    assert isinstance(info, dict)
    async with Store(served.database_url or "", max_size=2, name="test") as store:
        await credentials.register_with(store, served, info["versions_url"], info["token_a"], name)
        return await networks.network_id_by_name(store, name)


def objects(name: str) -> list[dict]:  # type: ignore[type-arg]
    data = json.loads((OCPI_FIXTURES / name).read_text(encoding="utf-8-sig"))
    return data["data"] if isinstance(data, dict) else data


async def test_we_initiate_the_handshake_then_pull_everything(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    network_id = await register(served_settings, sandbox, "punkt")
    row = sync_conn.execute(
        "SELECT status, ocpi_version, outbound_auth, outbound_token IS NOT NULL,"
        " (SELECT array_agg(kind) FROM network_tokens t WHERE t.network_id = n.id)"
        " FROM networks n WHERE id = %s",
        (network_id,),
    ).fetchone()
    assert row == ("REGISTERED", "2.2.1", "base64", True, ["B"])
    assert sync_conn.execute(
        "SELECT country_code, party_id, role FROM network_parties"
    ).fetchall() == [("RU", "TBM", "CPO")]
    assert control(sandbox, "punkt/credentials", method="GET")["registered"] is True  # type: ignore[index]

    report = await sync(store, network_id, module="locations", retry=FAST_RETRY)
    # Same outcome as loading the dump (tests/ingest/test_load_real_feeds.py), over 10 pages.
    assert (report.kind, report.complete, report.pages, report.objects) == ("full", True, 10, 489)
    assert (report.accepted, report.quarantined, report.total_count) == (487, 2, 489)
    # Where the run's time went, stage by stage (the benchmark reports it).
    assert set(report.stage_seconds) == {"fetch_wait", "normalise_wait", "apply"}
    assert 0 < report.stage_seconds["apply"] < report.seconds
    assert sync_conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE visible) FROM locations"
    ).fetchone() == (487, 481)
    again = await sync(store, network_id, module="locations", full=True, retry=FAST_RETRY)
    assert (again.accepted, again.unchanged, again.hidden_absent) == (0, 487, 0)


async def test_they_initiate_with_token_a_and_push_in_2_1_1(
    served_settings: Settings,
    sandbox: ServerProcess,
    sync_conn: psycopg.Connection,
    api_server: ServerProcess,
    store: Store,
) -> None:
    token_a = await credentials.invite(store, "fastned")
    answer = control(
        sandbox,
        "fastned/register",
        {"versions_url": f"{api_server.url}/ocpi/versions", "token": token_a},
    )
    assert answer == {"ok": True, "version": "2.1.1"}
    assert sync_conn.execute(
        "SELECT status, ocpi_version, outbound_auth FROM networks WHERE name = 'fastned'"
    ).fetchone() == ("REGISTERED", "2.1.1", "raw")
    assert sync_conn.execute("SELECT country_code, party_id FROM network_parties").fetchall() == [
        ("NL", "FLA")
    ]
    # Token A was for registration only.
    assert httpx.get(f"{api_server.url}/ocpi/versions", headers=b64(token_a)).status_code == 401
    network_id = sync_conn.execute("SELECT id FROM networks").fetchone()[0]  # type: ignore[index]
    report = await sync(store, network_id, module="locations", retry=FAST_RETRY)
    # 2.1.1 locations carry no party: the network's only party is theirs.
    assert (report.complete, report.objects, report.accepted, report.quarantined) == (
        True,
        106,
        106,
        0,
    )
    pushed = control(sandbox, "fastned/push", {"count": 5})
    assert isinstance(pushed, list)
    assert [p["status_code"] for p in pushed] == [1000] * 5
    last = pushed[-1]
    assert sync_conn.execute(
        "SELECT status FROM evses e JOIN locations l ON l.id = e.location_id"
        " WHERE l.ocpi_id = %s AND e.uid = %s",
        (last["location_id"].upper(), last["evse_uid"].upper()),
    ).fetchone() == (last["status"],)


@pytest.mark.parametrize("in_worker", [False, True], ids=["in-process", "worker-process"])
async def test_hub_with_several_parties(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    in_worker: bool,
) -> None:
    # A big feed's pages are normalised in a worker process: the same outcome either way.
    monkeypatch.setattr(ingest.sync, "WORKER_THRESHOLD", 0 if in_worker else 20_000)
    network_id = await register(served_settings, sandbox, "hub")
    assert sync_conn.execute(
        "SELECT country_code || '*' || party_id FROM network_parties ORDER BY 1"
    ).fetchall() == [("BR*EZV",), ("DE*ALL",), ("PL*ZEP",), ("PT*EVI",)]
    locations = await sync(store, network_id, module="locations", retry=FAST_RETRY)
    tariffs = await sync(store, network_id, module="tariffs", retry=FAST_RETRY)
    assert (locations.objects, locations.accepted, locations.pages) == (122, 122, 3)
    assert (tariffs.objects, tariffs.accepted, tariffs.complete) == (11, 11, True)
    owners = sync_conn.execute(
        "SELECT country_code || '*' || party_id, count(*) FROM locations GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert owners == [("BR*EZV", 91), ("PL*ZEP", 10), ("PT*EVI", 21)]
    pushed = control(sandbox, "hub/push", {"count": 20})
    assert {p["status_code"] for p in pushed} == {1000}  # type: ignore[union-attr]
    assert len({(p["country_code"], p["party_id"]) for p in pushed}) >= 2  # type: ignore[union-attr]


async def test_complete_full_sync_hides_what_it_did_not_list(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    network_id = await register(served_settings, sandbox, "punkt")
    await sync(store, network_id, module="locations", retry=FAST_RETRY)
    control(sandbox, "punkt/drop", {"id": "54030"})
    report = await sync(store, network_id, module="locations", full=True, retry=FAST_RETRY)
    assert (report.complete, report.hidden_absent) == (True, 1)
    assert sync_conn.execute(
        "SELECT visible, hidden_reason, absent_since IS NOT NULL FROM locations"
        " WHERE ocpi_id = '54030'"
    ).fetchone() == (False, "absent from a complete full pull", True)
    # An incremental sync never hides anything.
    incremental = await sync(store, network_id, module="locations", retry=FAST_RETRY)
    assert (incremental.kind, incremental.hidden_absent) == ("incremental", 0)


async def test_interrupted_full_sync_resumes_and_hides_only_when_complete(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    network_id = await register(served_settings, sandbox, "punkt")
    await sync(store, network_id, module="locations", retry=FAST_RETRY)
    control(sandbox, "punkt/drop", {"id": "54030"})
    control(sandbox, "punkt/fail-from-page", {"page": 4}, method="PUT")
    failed = await sync(store, network_id, module="locations", full=True, retry=FAST_RETRY)
    assert (failed.complete, failed.pages, failed.hidden_absent) == (False, 3, 0)
    assert failed.error is not None and "HTTP 503" in failed.error
    # Nothing was hidden by the failed run.
    assert sync_conn.execute(
        "SELECT visible FROM locations WHERE ocpi_id = '54030'"
    ).fetchone() == (True,)
    assert sync_conn.execute(
        "SELECT status, next_url LIKE '%%offset=150%%' FROM sync_runs WHERE id = %s",
        (failed.run_id,),
    ).fetchone() == ("failed", True)
    control(sandbox, "punkt/fail-from-page", {"page": None}, method="PUT")
    resumed = await sync(store, network_id, module="locations", full=True, retry=FAST_RETRY)
    # It went on from page 4 (7 pages: offsets 150..450) and then hid the dropped location.
    assert (resumed.resumed, resumed.run_id, resumed.complete) == (True, failed.run_id, True)
    assert (resumed.pages, resumed.hidden_absent) == (7, 1)
    assert sync_conn.execute(
        "SELECT visible FROM locations WHERE ocpi_id = '54030'"
    ).fetchone() == (False,)


async def test_a_page_that_cannot_commit_costs_only_itself_and_the_pull_resumes_from_it(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    """Each page is applied in its own transaction with the run's progress: when page n cannot
    commit, the pages before it stay, nothing of n or after it is kept, no transaction is left
    open, and the next pull goes on from n."""
    network_id = await register(served_settings, sandbox, "punkt")
    # A real failure inside the database: recording the third page's progress raises.
    sync_conn.execute(
        "CREATE FUNCTION test_fail_third_page() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN IF NEW.pages = 3 THEN RAISE EXCEPTION 'test: page 3 cannot commit'; END IF;"
        " RETURN NEW; END $$"
    )
    sync_conn.execute(
        "CREATE TRIGGER test_fail_third_page BEFORE UPDATE ON sync_runs"
        " FOR EACH ROW EXECUTE FUNCTION test_fail_third_page()"
    )
    try:
        with pytest.raises(Exception, match="page 3 cannot commit"):
            await sync(store, network_id, module="locations", retry=FAST_RETRY)
    finally:
        sync_conn.execute("DROP TRIGGER test_fail_third_page ON sync_runs")
        sync_conn.execute("DROP FUNCTION test_fail_third_page()")
    run = sync_conn.execute(
        "SELECT id, pages, objects, accepted, next_url LIKE '%%offset=100%%' FROM sync_runs"
    ).fetchone()
    assert run is not None and run[1:] == (2, PAGE_SIZE * 2, run[3], True)
    # Exactly the two committed pages' locations are stored, and no transaction was left open.
    assert sync_conn.execute("SELECT count(*) FROM locations").fetchone() == (run[3],)
    assert 0 < run[3] <= PAGE_SIZE * 2
    assert sync_conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND state LIKE 'idle in transaction%%'"
    ).fetchone() == (0,)
    resumed = await sync(store, network_id, module="locations", full=True, retry=FAST_RETRY)
    assert (resumed.resumed, resumed.run_id, resumed.complete) == (True, run[0], True)
    assert (resumed.pages, resumed.objects) == (8, 489 - PAGE_SIZE * 2)
    assert sync_conn.execute("SELECT count(*) FROM locations").fetchone() == (487,)


async def test_pull_retries_5xx_429_3xxx_and_truncated_json(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
) -> None:
    network_id = await register(served_settings, sandbox, "punkt")
    control(
        sandbox,
        "punkt/faults",
        {
            "faults": [
                {"kind": "http", "http_status": 502},
                {"kind": "rate_limit", "retry_after_s": 0.2},
                {"kind": "ocpi", "ocpi_status": 3000},
                {"kind": "truncate"},
            ]
        },
    )
    report = await sync(
        store,
        network_id,
        module="locations",
        retry=RetryPolicy(attempts=6, base_delay_s=0.01, max_delay_s=0.5),
    )
    assert (report.complete, report.objects, report.accepted) == (True, 489, 487)


async def test_incremental_sync_asks_only_for_what_changed(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    network_id = await register(served_settings, sandbox, "punkt")
    await sync(store, network_id, module="locations", retry=FAST_RETRY)
    pushed = control(sandbox, "punkt/push", {"count": 3})
    changed = {p["location_id"] for p in pushed}  # type: ignore[union-attr]
    report = await sync(store, network_id, module="locations", retry=FAST_RETRY)
    assert report.kind == "incremental"
    assert report.objects == len(changed)
    assert sync_conn.execute(
        "SELECT date_from IS NOT NULL FROM sync_runs WHERE id = %s", (report.run_id,)
    ).fetchone() == (True,)


async def test_scheduler_pulls_registered_networks(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    import asyncio
    import contextlib

    from ingest.scheduler import run_scheduler

    await register(served_settings, sandbox, "punkt")
    task = asyncio.create_task(run_scheduler(store, None, tick_s=0.2))
    try:
        for _ in range(100):
            await asyncio.sleep(0.1)
            row = sync_conn.execute(
                "SELECT count(*) FROM sync_runs WHERE module = 'locations' AND kind = 'full'"
                " AND status = 'complete'"
            ).fetchone()
            if row == (1,):
                break
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert sync_conn.execute("SELECT count(*) FROM locations").fetchone() == (487,)


async def test_two_schedulers_never_pull_the_same_network_at_once(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    """Two schedulers, each with its own store (its own database sessions, as two processes
    have): every network is pulled once, by one of them, and no two runs of one network and
    module overlap in time (issue 15: starting a second ``wattlas serve`` is safe)."""
    import asyncio
    import contextlib
    import itertools

    from ingest.scheduler import run_scheduler

    for name in ("punkt", "fastned", "hub"):
        await register(served_settings, sandbox, name)
    async with Store(served_settings.database_url or "", max_size=4, name="second") as second:
        tasks = [asyncio.create_task(run_scheduler(s, None, tick_s=0.05)) for s in (store, second)]
        try:
            for _ in range(300):
                await asyncio.sleep(0.1)
                row = sync_conn.execute(
                    "SELECT count(DISTINCT network_id) FROM sync_runs"
                    " WHERE module = 'locations' AND kind = 'full' AND status = 'complete'"
                ).fetchone()
                if row == (3,):
                    break
            await asyncio.sleep(1.0)  # both keep ticking: nothing is pulled again
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    runs = sync_conn.execute(
        "SELECT network_id, module, kind, status, started_at, finished_at FROM sync_runs"
        " ORDER BY network_id, module, started_at"
    ).fetchall()
    full_locations = [r for r in runs if r[1:4] == ("locations", "full", "complete")]
    listed = "\n".join(map(repr, runs))  # every run, whole, if this fails
    assert len(full_locations) == 3 and len({r[0] for r in full_locations}) == 3, listed
    for before, after in itertools.pairwise(runs):
        if before[:2] == after[:2]:
            assert before[5] is not None and before[5] <= after[4], (before, after)


async def test_a_network_found_due_is_not_pulled_again_when_another_process_pulled_it(
    served_settings: Settings,
    sandbox: ServerProcess,
    store: Store,
    sync_conn: psycopg.Connection,
) -> None:
    """The race behind two schedulers pulling one network twice (seen in CI): both found it
    due; one pulled it and let the pull lock go before the other asked for the lock. The second
    now sees, under the lock, a run newer than the newest it saw, and stops; one that saw the
    newest run pulls."""
    from app.store import pulls
    from ingest.scheduler import pull_network

    def runs() -> int:
        row = sync_conn.execute("SELECT count(*) FROM sync_runs").fetchone()
        return row[0] if row else 0

    await register(served_settings, sandbox, "punkt")
    [found] = await pulls.due(store, full_s=86400, incremental_s=3600, retry_s=300)
    [same] = await pulls.due(store, full_s=86400, incremental_s=3600, retry_s=300)  # the other
    await pull_network(
        store, None, found.network_id, full=found.full, modules=found.modules,
        seen_run_id=found.seen_run_id,
    )  # fmt: skip
    pulled = runs()
    assert pulled >= 1
    await pull_network(
        store, None, same.network_id, full=same.full, modules=same.modules,
        seen_run_id=same.seen_run_id,
    )  # fmt: skip
    assert runs() == pulled  # not pulled again
    [later] = await pulls.due(store, full_s=0, incremental_s=0, retry_s=0)
    assert later.seen_run_id > same.seen_run_id
    await pull_network(
        store, None, later.network_id, full=later.full, modules=later.modules,
        seen_run_id=later.seen_run_id,
    )  # fmt: skip
    assert runs() > pulled
