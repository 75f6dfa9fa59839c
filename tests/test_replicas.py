"""Past one machine (issue 15): a real streaming replica of the suite's primary
(``pg_basebackup -R``, a second private server), API processes under granian reading from it,
and two API nodes sharing one database and one Redis.

- drivers' reads are answered by the replica (its own statistics count them), pushes go to the
  primary and show through the replica within the lag bound, and answers say their lag;
- a replica whose replay stops is left out once its lag passes the bound, and taken back when it
  catches up; killed under load, it costs no client an error;
- an SSE client on node B sees a push received by node A;
- two schedulers never pull the same network at once (``tests/ingest/test_sandbox_peer.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from ingest import credentials
from tests.api.test_map_endpoints import _subscribed
from tests.conftest import ServerProcess, settings_env, start_granian
from tests.ingest.helpers import TOKEN, b64, location_example
from wattlas.local import LocalReplica, LocalServices

pytestmark = pytest.mark.slow

GENT = {"lat": 51.047599, "lon": 3.729944, "radius_m": 5000}
GENT_BBOX = "3.6,50.9,3.9,51.2"
LOCATIONS = "/ocpi/2.2.1/locations/BE/BEC"
MAX_LAG_S = 1.0


@pytest.fixture(scope="module")
def replica(local_services: LocalServices, database_url: str) -> Iterator[LocalReplica]:
    replica = local_services.add_replica("replica-test")
    replica.start()
    try:
        yield replica
    finally:
        replica.destroy()


def replica_url(replica: LocalReplica, settings: Settings) -> str:
    return replica.url_of((settings.database_url or "").rsplit("/", 1)[-1])


def api_env(settings: Settings, replica: LocalReplica) -> dict[str, str]:
    return {
        **settings_env(settings),
        "WATTLAS_DATABASE_REPLICA_URLS": replica_url(replica, settings),
        "WATTLAS_REPLICA_MAX_LAG_S": str(MAX_LAG_S),
        # Nearby questions read the database here: with the index on, unfiltered ones are
        # answered from memory and never reach a replica (tests/api/test_nearby_index.py).
        "WATTLAS_NEARBY_CACHE": "false",
    }


@pytest.fixture
def api(
    settings: Settings, store: Store, replica: LocalReplica, tmp_path: Path
) -> Iterator[ServerProcess]:
    server = start_granian("wattlas.asgi:app", api_env(settings, replica), tmp_path, name="api")
    try:
        yield server
    finally:
        server.stop()


async def register(store: Store) -> None:
    await credentials.add_static(store, "becharged", TOKEN, [Party.parse("BE*BEC")])


def location(ocpi_id: str, lat_offset: float) -> dict[str, Any]:
    body = location_example()
    body["id"] = ocpi_id
    body["coordinates"] = {
        "latitude": f"{51.047599 + lat_offset:.6f}",
        "longitude": "3.729944",
    }
    return body


async def push(client: httpx.AsyncClient, url: str, ocpi_id: str, lat_offset: float) -> None:
    answer = await client.put(
        f"{url}{LOCATIONS}/{ocpi_id}", json=location(ocpi_id, lat_offset), headers=b64(TOKEN)
    )
    assert answer.json()["status_code"] == 1000, answer.text


async def nearby_ids(client: httpx.AsyncClient, url: str) -> tuple[set[str], httpx.Response]:
    answer = await client.get(f"{url}/v1/locations/nearby", params=GENT)
    assert answer.status_code == 200, answer.text
    return {r["ocpi_id"] for r in answer.json()["results"]}, answer


async def until(check: Any, timeout_s: float, step_s: float = 0.02) -> float:
    """Seconds until ``await check()`` is true (fails after ``timeout_s``)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s} s"
        await asyncio.sleep(step_s)
    return time.monotonic() - started


async def replica_health(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    replicas = (await client.get(f"{url}/health")).json()["replicas"]
    assert len(replicas) == 1
    return dict(replicas[0])


def location_scans(url: str) -> int:
    """Index and sequential scans of ``locations`` this server has counted (a standby counts
    the queries it answers itself)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_stat_user_tables"
            " WHERE relname = 'locations'"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_reads_go_to_the_replica_and_pushes_show_through_it_within_the_lag_bound(
    store: Store, settings: Settings, replica: LocalReplica, tmp_path: Path
) -> None:
    await register(store)
    server = start_granian("wattlas.asgi:app", api_env(settings, replica), tmp_path, name="api")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            health = await replica_health(client, server.url)
            assert health["name"] == replica_url(replica, settings).split("@", 1)[1]
            assert health["healthy"] is True
            assert 0 <= health["lag_s"] < MAX_LAG_S

            await push(client, server.url, "R1", 0.0)
            pushed_at = time.monotonic()

            async def visible() -> bool:
                return "R1" in (await nearby_ids(client, server.url))[0]

            await until(visible, timeout_s=MAX_LAG_S + 1)
            assert time.monotonic() - pushed_at <= MAX_LAG_S + 0.5

            # Counted by the replica itself: 20 questions, at least 20 scans of locations.
            before = location_scans(replica_url(replica, settings))
            for _ in range(20):
                ids, answer = await nearby_ids(client, server.url)
                assert ids == {"R1"}
            body = answer.json()
            lag_s = float(answer.headers["wattlas-replica-lag-s"])
            assert 0 <= lag_s < MAX_LAG_S
            assert "data_as_of" in body and body["data_as_of"] <= body["generated_at"]

            async def counted() -> bool:
                return location_scans(replica_url(replica, settings)) - before >= 20

            # A backend flushes its statistics when idle, at most every second (10 s when busy).
            await until(counted, timeout_s=15, step_s=0.2)

            # The detail answers from the replica too, and says so; the receiver's own GET is
            # the primary's (it has no lag header).
            detail = await client.get(f"{server.url}/v1/locations/{body['results'][0]['id']}")
            assert detail.status_code == 200 and "wattlas-replica-lag-s" in detail.headers
            own = await client.get(f"{server.url}{LOCATIONS}/R1", headers=b64(TOKEN))
            assert own.json()["data"]["id"] == "R1"
            assert "wattlas-replica-lag-s" not in own.headers
    finally:
        server.stop()


async def test_a_replica_whose_replay_stops_is_left_out_and_taken_back_when_it_catches_up(
    api: ServerProcess, store: Store, settings: Settings, replica: LocalReplica
) -> None:
    await register(store)
    standby = replica_url(replica, settings)
    async with httpx.AsyncClient(timeout=10) as client:
        await push(client, api.url, "R1", 0.0)

        async def r1_visible() -> bool:
            return "R1" in (await nearby_ids(client, api.url))[0]

        await until(r1_visible, timeout_s=MAX_LAG_S + 1)
        with psycopg.connect(standby, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        try:
            await push(client, api.url, "R2", 0.001)
            pushed_at = time.monotonic()

            # The replica never gets R2, yet R2 is answered within the bound: once the lag
            # passes it, the primary answers instead.
            async def r2_visible() -> bool:
                ids, answer = await nearby_ids(client, api.url)
                return "R2" in ids and "data_as_of" not in answer.json()

            await until(r2_visible, timeout_s=MAX_LAG_S + 2)
            assert time.monotonic() - pushed_at <= MAX_LAG_S + 1.0
            health = await replica_health(client, api.url)
            assert health["healthy"] is False
            assert health["lag_s"] > MAX_LAG_S
            assert health["error"].startswith("replay lag ")
        finally:
            with psycopg.connect(standby, autocommit=True) as conn:
                conn.execute("SELECT pg_wal_replay_resume()")

        async def back() -> bool:
            return bool((await replica_health(client, api.url))["healthy"])

        assert await until(back, timeout_s=2) < 1.5
        ids, answer = await nearby_ids(client, api.url)
        assert ids == {"R1", "R2"} and "data_as_of" in answer.json()


async def test_killing_the_replica_under_load_costs_no_client_an_error(
    api: ServerProcess, store: Store, settings: Settings, replica: LocalReplica
) -> None:
    await register(store)
    statuses: list[int] = []
    served_by_replica = 0
    stop = asyncio.Event()

    async def driver(client: httpx.AsyncClient) -> None:
        nonlocal served_by_replica
        while not stop.is_set():
            answer = await client.get(f"{api.url}/v1/locations/nearby", params=GENT)
            statuses.append(answer.status_code)
            served_by_replica += "wattlas-replica-lag-s" in answer.headers

    async with httpx.AsyncClient(timeout=10) as client:
        await push(client, api.url, "R1", 0.0)
        drivers = [asyncio.create_task(driver(client)) for _ in range(8)]
        try:

            async def replica_answering() -> bool:
                return served_by_replica > 10

            await until(replica_answering, timeout_s=5)
            replica.kill()
            killed_at = len(statuses)

            async def left_out() -> bool:
                return not (await replica_health(client, api.url))["healthy"]

            assert await until(left_out, timeout_s=2) < 1.0
            await asyncio.sleep(1.0)
            assert len(statuses) - killed_at > 20  # the primary kept answering
        finally:
            stop.set()
            await asyncio.gather(*drivers)
        assert statuses.count(200) == len(statuses), sorted(set(statuses))

        replica.start()

        async def back() -> bool:
            return bool((await replica_health(client, api.url))["healthy"])

        await until(back, timeout_s=10, step_s=0.1)

        # Taken back with a fresh pool: reads return to it at once.
        async def answers_again() -> bool:
            answer = await client.get(f"{api.url}/v1/locations/nearby", params=GENT)
            assert answer.status_code == 200
            return "wattlas-replica-lag-s" in answer.headers

        assert await until(answers_again, timeout_s=10, step_s=0.05) < 1.0


async def test_an_sse_client_on_node_b_sees_a_push_received_by_node_a(
    store: Store, settings: Settings, replica: LocalReplica, tmp_path: Path
) -> None:
    await register(store)
    node_a = start_granian("wattlas.asgi:app", settings_env(settings), tmp_path, name="node-a")
    node_b = start_granian("wattlas.asgi:app", api_env(settings, replica), tmp_path, name="node-b")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await push(client, node_a.url, "LOC1", 0.0)
            reader = await _subscribed(node_b.url, GENT_BBOX, 2)
            answer = await client.patch(
                f"{node_a.url}{LOCATIONS}/LOC1/3256",
                json={"status": "CHARGING", "last_updated": "2026-01-01T00:00:00Z"},
                headers=b64(TOKEN),
            )
            assert answer.json()["status_code"] == 1000, answer.text
            events = await asyncio.wait_for(reader, timeout=10)
        assert [e["event"] for e in events] == ["hello", "availability"]
        change = json.loads(events[1]["data"])
        assert [(e["uid"], e["status"]) for e in change["evses"]] == [("3256", "CHARGING")]
        assert change["availability"]["occupied"] == 2  # 3257 was RESERVED already
    finally:
        for node in (node_a, node_b):
            with contextlib.suppress(Exception):
                node.stop()


async def test_a_frozen_replica_under_load_is_left_out_and_its_reads_answered_elsewhere(
    api: ServerProcess, store: Store, settings: Settings, replica: LocalReplica
) -> None:
    """SIGSTOP: the replica accepts connections and never answers (TCP does not time out on a
    live host). Reads in flight on it are severed when a check finds it silent, and asked again
    on the primary: every answer 200, none slower than the check's timeout and a retry."""
    await register(store)
    answers: list[tuple[int, float]] = []
    stop = asyncio.Event()

    async def driver(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            started = time.monotonic()
            answer = await client.get(f"{api.url}/v1/locations/nearby", params=GENT)
            answers.append((answer.status_code, time.monotonic() - started))

    async with httpx.AsyncClient(timeout=30) as client:
        await push(client, api.url, "R1", 0.0)

        async def on_replica() -> bool:
            answer = await client.get(f"{api.url}/v1/locations/nearby", params=GENT)
            return "wattlas-replica-lag-s" in answer.headers

        await until(on_replica, timeout_s=5)
        drivers = [asyncio.create_task(driver(client)) for _ in range(8)]
        try:
            await asyncio.sleep(0.5)
            replica.freeze()
            frozen_at = len(answers)

            async def left_out() -> bool:
                return not (await replica_health(client, api.url))["healthy"]

            assert await until(left_out, timeout_s=3) < 1.0
            await asyncio.sleep(1.5)
            assert len(answers) - frozen_at > 20  # the primary kept answering
        finally:
            replica.freeze(False)
            stop.set()
            await asyncio.gather(*drivers)
        assert {status for status, _ in answers} == {200}
        assert max(seconds for _, seconds in answers) < 2.0

        async def back() -> bool:
            return bool((await replica_health(client, api.url))["healthy"])

        await until(back, timeout_s=10, step_s=0.1)
        await until(on_replica, timeout_s=5)
