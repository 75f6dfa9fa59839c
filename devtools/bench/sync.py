"""Sync for offline copies (issue 14) on the 300k dataset:

- the snapshot: ``GET /v1/export`` of every visible location, plain and gzip, read to the end
  by one client; locations per second, and the API process's memory before and at its highest
  during the export (sampled every 50 ms): flat means a batch's worth, whatever the total;
- the change feed under the push benchmark's load: a client long-polls ``GET /v1/changes``
  while wrk sends status PATCHes; the delay from each change's commit to the client reading it
  (one machine, one clock), and whether it keeps up;
- what writing the feed costs the pushes: the same wrk run with ``wattlas_record_changes``
  replaced by a function that does nothing, then with it (interleaved, three of each; the
  round trip of the call stays in both, so this is the lock, the numbering and the insert).
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from devtools.bench import push
from devtools.bench.harness import Environment, Server, rss_mb
from devtools.bench.stats import summary_ms

feed_migration = importlib.import_module("migrations.versions.0009_change_feed")
NOOP_RECORD = """
CREATE OR REPLACE FUNCTION wattlas_record_changes(
    kinds text[], location_pks bigint[], tariff_pks bigint[]
) RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$
"""


async def _export(api: Server, *, gzip: bool) -> dict[str, Any]:
    pid = api.pids()[-1]
    before = rss_mb(pid)
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    lines = 0
    wire_bytes = 0
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(base_url=api.url, timeout=600) as client,
        client.stream("GET", "/v1/export", headers=headers) as response,
    ):
        assert response.status_code == 200
        cursor = response.headers["wattlas-cursor"]
        async for _ in response.aiter_lines():
            lines += 1
        wire_bytes = response.num_bytes_downloaded
    elapsed = time.perf_counter() - started
    done.set()
    await sampler
    return {
        "locations": lines - 1,
        "seconds": round(elapsed, 1),
        "locations_per_s": round((lines - 1) / elapsed),
        "mb_on_the_wire": round(wire_bytes / 1e6, 1),
        "rss_before_mb": round(before),
        "rss_peak_mb": round(peak),
        "cursor": cursor,
    }


async def _follow(api: Server, cursor: str, stop: asyncio.Event) -> dict[str, Any]:
    """Long-poll the feed until ``stop``; each change's delay from its commit."""
    delays: list[float] = []
    changes = 0
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
        while not stop.is_set():
            page = (
                await client.get(
                    "/v1/changes", params={"cursor": cursor, "limit": 1000, "wait_s": 5}
                )
            ).json()
            read_at = datetime.now(UTC)
            for change in page["changes"]:
                committed = datetime.fromisoformat(change["committed_at"])
                delays.append((read_at - committed).total_seconds())
            changes += len(page["changes"])
            cursor = page["next_cursor"]
    return {"changes_read": changes, "commit_to_reader": summary_ms(delays), "cursor": cursor}


def _newest(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()
    return int(row[0]) if row else 0


def _record_function(database_url: str, statement: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(statement)


async def run(env: Environment, *, workers: int, seconds: int, connections: int) -> dict[str, Any]:
    api = env.start("api-sync", "wattlas.asgi:app", workers=workers)
    results: dict[str, Any] = {"api_workers": workers}
    try:
        results["export"] = await _export(api, gzip=False)
        results["export_gzip"] = await _export(api, gzip=True)

        token = await push._push_token(env)
        evses = push._evses(env.database_url, 20_000, 0.1)
        base_epoch_s = int(time.time()) - 3600

        def pushes(offset_s: int) -> dict[str, Any]:
            return push._wrk(
                push._lua(evses, token, base_epoch_s + offset_s),
                api.url,
                connections=256,
                seconds=seconds,
            )

        # The feed under the push load, read by a long-polling client.
        stop = asyncio.Event()
        follower = asyncio.create_task(_follow(api, str(_newest(env.database_url)), stop))
        loaded = await asyncio.to_thread(pushes, 0)
        await asyncio.sleep(6)  # the last long poll answers
        stop.set()
        followed = await follower
        results["feed_under_pushes"] = {
            "pushes_per_s": loaded["pushes_per_s"],
            "acknowledged": loaded["requests"] - loaded["not_acknowledged"],
            **followed,
        }

        # Pushes with and without writing the feed, interleaved.
        runs: dict[str, list[int]] = {"without_feed": [], "with_feed": []}
        try:
            for i in range(3):
                _record_function(env.database_url, NOOP_RECORD)
                runs["without_feed"].append(pushes(600 * (2 * i + 1))["pushes_per_s"])
                _record_function(env.database_url, feed_migration.RECORD_FUNCTION)
                runs["with_feed"].append(pushes(600 * (2 * i + 2))["pushes_per_s"])
        finally:
            _record_function(env.database_url, feed_migration.RECORD_FUNCTION)
        without, with_ = (statistics.median(runs[k]) for k in ("without_feed", "with_feed"))
        results["feed_cost"] = {
            **runs,
            "median_without_per_s": round(without),
            "median_with_per_s": round(with_),
            "cost_pct": round(100 * (1 - with_ / without), 1),
        }
    finally:
        api.stop()
    return results
