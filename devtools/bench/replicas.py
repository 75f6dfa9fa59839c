"""Past one machine (issue 15) on the 300k dataset: where a nearby question's cost goes, and
what a streaming replica takes off the primary.

- a fresh hot standby of the benchmark cluster (``pg_basebackup -R``), destroyed at the end;
- nearby 5 km / 50 over HTTP (wrk), the same questions as the queries part, against one API
  process: first reading from the primary alone, then with the replica in
  ``WATTLAS_DATABASE_REPLICA_URLS``; per run, requests/s, latency, and the CPU each request
  cost the API process, the primary and the replica (process trees, /proc), which are the
  per-core figures the capacity page (docs/capacity.md) is computed from;
- the replica's replay lag while wrk sends status PATCHes at 256 connections, sampled from
  ``/health`` every 0.25 s.

All of it shares this machine's two cores: the replica's requests/s here are not a second
machine's. The per-request CPU figures are what carries over.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, cast

import httpx
import psycopg

from devtools.bench import push
from devtools.bench.harness import Environment, Server, tree_cpu_s
from devtools.bench.queries import sample_points, wrk
from devtools.bench.stats import summary_ms
from wattlas.local import LocalReplica


def _postmaster(data_pid_file: Any) -> list[int]:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return [int(data_pid_file.read_text().split()[0])]
    return []


def _scans(url: str, table: str | None = "locations") -> int:
    """Index and sequential scans this server counted, of one table or of all of them."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(coalesce(idx_scan, 0) + coalesce(seq_scan, 0)), 0)"
            " FROM pg_stat_user_tables WHERE %(table)s::text IS NULL OR relname = %(table)s",
            {"table": table},
        ).fetchone()
    return int(row[0]) if row else 0


def _measured(
    api: Server,
    paths: list[str],
    *,
    primary: list[int],
    replica: list[int],
    seconds: int,
    connections: int,
) -> dict[str, Any]:
    def cpu_s() -> dict[str, float]:
        trees = {"api": api.pids(), "primary": primary, "replica": replica}
        return {name: tree_cpu_s(pids) for name, pids in trees.items()}

    before = cpu_s()
    out = wrk(paths, "nearby-replicas", api.url, connections=connections, seconds=seconds)
    after = cpu_s()
    requests = max(out["requests"], 1)
    out["cpu_ms_per_request"] = {
        k: round(1000 * (after[k] - before[k]) / requests, 3) for k in before
    }
    return out


async def _lag_under_pushes(env: Environment, api: Server, seconds: int) -> dict[str, Any]:
    token = await push._push_token(env)
    evses = push._evses(env.database_url, 20_000, 0.3)
    script = push._lua(evses, token, int(time.time()) - 1800)
    lags: list[float] = []
    unhealthy = 0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal unhealthy
        async with httpx.AsyncClient(base_url=api.url, timeout=5) as client:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    replica = (await client.get("/health")).json()["replicas"][0]
                    if replica.get("lag_s") is not None:
                        lags.append(replica["lag_s"])
                    unhealthy += not replica["healthy"]
                await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    loaded = await asyncio.to_thread(push._wrk, script, api.url, connections=256, seconds=seconds)
    stop.set()
    await sampler
    return {
        "pushes_per_s": loaded["pushes_per_s"],
        "samples": len(lags),
        "samples_left_out": unhealthy,
        "lag_ms": summary_ms(lags),
    }


async def run(env: Environment, *, seconds: int, connections: int) -> dict[str, Any]:
    replica: LocalReplica = env.services.add_replica("bench-replica")
    replica.destroy()  # a fresh copy: an old one may be too far behind to catch up
    started = time.perf_counter()
    replica.start()
    results: dict[str, Any] = {"replica_copy_s": round(time.perf_counter() - started, 1)}
    database = env.database_url.rsplit("/", 1)[-1]
    replica_url = replica.url_of(database)
    primary_pids = env.service_pids()[:1]
    replica_pids = _postmaster(replica.data / "postmaster.pid")
    points = sample_points(env.database_url, 3000)
    paths = [
        f"/v1/locations/nearby?lat={lat:.5f}&lon={lon:.5f}&radius_m=5000&limit=50"
        for lat, lon in points
    ]
    try:
        for name, extra in (
            ("primary_only", {}),
            ("with_replica", {"WATTLAS_DATABASE_REPLICA_URLS": replica_url}),
        ):
            api = env.start(
                f"api-{name}",
                "wattlas.asgi:app",
                workers=1,
                WATTLAS_DB_POOL_SIZE="16",
                **cast(Any, extra),
            )
            try:
                wrk(paths, "nearby-replicas", api.url, connections=connections, seconds=5)  # warm
                scans_before = _scans(replica_url)
                primary_scans_before = _scans(env.database_url, None)
                results[name] = _measured(
                    api,
                    paths,
                    primary=primary_pids,
                    replica=replica_pids,
                    seconds=seconds,
                    connections=connections,
                )
                await asyncio.sleep(1.5)  # the replica's statistics are flushed each second
                results[name]["replica_location_scans"] = _scans(replica_url) - scans_before
                results[name]["primary_table_scans"] = (
                    _scans(env.database_url, None) - primary_scans_before
                )
                if name == "with_replica":
                    # What the primary spends with no request at all (WAL sender, the
                    # replica watcher's position samples, the sequencer, autovacuum): the
                    # floor of its per-request figure above.
                    idle_before = tree_cpu_s(primary_pids)
                    await asyncio.sleep(seconds)
                    results["primary_idle_cpu_ms_per_s"] = round(
                        1000 * (tree_cpu_s(primary_pids) - idle_before) / seconds, 1
                    )
                    results["replica_lag_under_pushes"] = await _lag_under_pushes(env, api, seconds)
            finally:
                api.stop()
    finally:
        replica.destroy()
    return results
