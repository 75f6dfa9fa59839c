"""Nearby and viewport before and after the bundled registries are imported into the
benchmark dataset, in one run (issue 12: "budgets unchanged with the registries loaded"), and
the import's time at that size. The registries are removed again at the end (and at the start,
after an interrupted run), so the dataset stays what the other parts measure. Every answer must
be a 200, and the import must have stored what the files hold (no party refused)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from app.domain.sources import REGISTRIES
from app.store import Store, sites, source_imports
from devtools.bench.harness import Environment
from devtools.bench.queries import _bbox_param, city_boxes, sample_points, sequential_http, wrk
from ingest.registries.importer import import_files
from wattlas.sources_cli import BUNDLED, REGISTRY_FILES


async def _remove(database_url: str) -> int:
    async with Store(database_url, max_size=1, name="bench-registries") as store:
        removed = 0
        for name in REGISTRIES:
            async with store.transaction() as tx:
                removed += await source_imports.remove_registry(tx, name)
    return removed


async def _measure(
    api_url: str, paths: list[str], boxes: list[Any], *, seconds: int, connections: int
) -> dict[str, Any]:
    nearby = wrk(paths, "nearby_registries", api_url, connections=connections, seconds=seconds)
    assert nearby["non_2xx"] == 0, nearby
    async with httpx.AsyncClient(base_url=api_url, timeout=60) as client:
        viewport = await sequential_http(
            client,
            [("GET", "/v1/locations", {"params": {"bbox": _bbox_param(b), "limit": 500}})
             for b in boxes],
        )  # fmt: skip
    return {"nearby_http": nearby, "viewport_http": viewport}


async def run(env: Environment, *, workers: int, seconds: int, connections: int) -> dict[str, Any]:
    results: dict[str, Any] = {"removed_before": await _remove(env.database_url)}
    api = env.start(
        "api-registries", "wattlas.asgi:app", workers=workers, WATTLAS_DB_POOL_SIZE="16"
    )
    points = sample_points(env.database_url, 3000)
    paths = [
        f"/v1/locations/nearby?lat={lat:.5f}&lon={lon:.5f}&radius_m=5000&limit=50"
        "&exclude_network=ZZ*ZZZ"
        for lat, lon in points
    ]
    boxes = city_boxes(120)
    try:
        results["before"] = await _measure(
            api.url, paths, boxes, seconds=seconds, connections=connections
        )
        started = time.perf_counter()
        async with Store(env.database_url, max_size=2, name="bench-registries") as store:
            stored = quarantined = 0
            for source, names in REGISTRY_FILES.items():
                report = await import_files(
                    store, source, [BUNDLED / n for n in names], merge=False, force=True
                )
                stored += report.accepted + report.unchanged
                quarantined += report.quarantined
                refused = [r for r in report.reasons if "belongs to another network" in r]
                assert not refused, f"{source}: {refused}"
            merge = await sites.merge_sites(store)
        results["import_s"] = round(time.perf_counter() - started, 1)
        results["merge_s"] = merge.seconds
        results["stored"], results["quarantined"] = stored, quarantined
        results["after"] = await _measure(
            api.url, paths, boxes, seconds=seconds, connections=connections
        )
    finally:
        results["removed_after"] = await _remove(env.database_url)
    before, after = results["before"], results["after"]
    rps_before = before["nearby_http"]["requests_per_s"]
    rps_after = after["nearby_http"]["requests_per_s"]
    results["nearby_change_percent"] = round(100 * (rps_after / rps_before - 1), 1)
    results["viewport_p50_change_percent"] = round(
        100 * (after["viewport_http"]["p50_ms"] / before["viewport_http"]["p50_ms"] - 1), 1
    )
    return results
