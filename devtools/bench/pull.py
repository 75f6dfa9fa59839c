"""Full pull of a network's locations: the generated dataset served by the sandbox over HTTP,
registered with the real handshake, pulled through decode → normalise → apply."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec

from app.store import Store, networks
from devtools.bench.harness import Environment, tree_cpu_s, tree_rss_mb
from ingest import credentials
from ingest.sync import sync
from wattlas.local import free_port


async def _sample_rss(samples: list[tuple[float, float]], started: float) -> None:
    while True:
        samples.append((time.perf_counter() - started, tree_rss_mb(os.getpid())))
        await asyncio.sleep(0.5)


async def pull(env: Environment, dataset: Path) -> dict[str, Any]:
    api = env.start("api-for-handshake", "wattlas.asgi:app")
    sandbox_port = free_port()
    sandbox = env.start(
        "sandbox",
        "devtools.sandbox.asgi:app",
        port=sandbox_port,
        WATTLAS_SANDBOX_DATASET=str(dataset),
        WATTLAS_SANDBOX_NETWORKS="bench",
        WATTLAS_SANDBOX_PORT=str(sandbox_port),
        WATTLAS_SANDBOX_PUSH_RATE="0",
        WATTLAS_STATE_DIR=str(env.services.state_dir.parent / "sandbox"),
    )
    async with httpx.AsyncClient() as http:
        info = (await http.get(f"{sandbox.url}/_control/bench/credentials")).json()
    settings = msgspec.structs.replace(env.settings, port=int(api.url.rsplit(":", 1)[1]))
    store = Store.from_settings(env.settings, name="bench-pull", max_size=4)
    await store.open()
    samples: list[tuple[float, float]] = []
    try:
        if "bench" not in await networks.active_names(store):
            await credentials.register_with(
                store, settings, info["versions_url"], info["token_a"], "bench"
            )
        network_id = await networks.network_id_by_name(store, "bench")
        parts = {
            "puller": [os.getpid()],
            "postgres": env.service_pids()[:1],
            "sandbox": sandbox.pids(),
        }
        cpu_before = {name: tree_cpu_s(pids) for name, pids in parts.items()}
        started = time.perf_counter()
        sampler = asyncio.create_task(_sample_rss(samples, started))
        try:
            report = await sync(store, network_id, module="locations", full=True)
        finally:
            sampler.cancel()
        cpu_s = {
            name: round(tree_cpu_s(pids) - cpu_before[name], 1) for name, pids in parts.items()
        }
    finally:
        await store.close()
        sandbox.stop()
        api.stop()
    rss = [mb for _, mb in samples]
    tenth = rss[max(0, len(rss) // 10)] if rss else 0.0
    return {
        "locations": report.objects,
        "accepted": report.accepted,
        "quarantined": report.quarantined,
        "evses": report.evses,
        "pages": report.pages,
        "seconds": round(report.seconds, 2),
        "evses_per_s": round(report.evses / report.seconds),
        "rss_mb_at_10_percent": round(tenth, 1),
        "rss_mb_peak": round(max(rss, default=0.0), 1),
        # Where the time went: the puller's wait for each stage, and each process tree's CPU (two
        # cores: the run cannot be faster than the sum over two).
        "stage_seconds": {k: round(v, 1) for k, v in report.stage_seconds.items()},
        "cpu_s": cpu_s,
        "database_bound_evses_per_s": round(report.evses / max(cpu_s["postgres"], 0.1)),
        "complete": report.complete,
        "error": report.error,
    }
