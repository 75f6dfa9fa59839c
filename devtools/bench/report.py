"""The figures beside their budgets (architecture.md) and their floors, as a Markdown table."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    postgres = subprocess.run(
        ["/usr/lib/postgresql/15/bin/postgres", "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgres": postgres,
        "kernel": platform.release(),
    }


def _get(results: dict[str, Any], path: str) -> Any:
    value: Any = results
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


# (what, budget text, measured path, unit, floor path, floor text, meets(value) -> bool)
ROWS: list[tuple[str, str, str, str, str | None, str, Any]] = [
    ("full pull, EVSEs/s", "≥ 25,000 (50,000 the aim)", "pull.evses_per_s", "/s",
     "pull.database_bound_evses_per_s", "the rate if PostgreSQL's CPU were the only cost",
     lambda v: v >= 25_000),
    ("pull memory, peak", "flat", "pull.rss_mb_peak", " MB", "pull.rss_mb_at_10_percent",
     "at 10 %", lambda v: True),
    ("status PATCH pushes, acknowledged, 32 connections", "≥ 10,000/s", "push.c32.pushes_per_s",
     "/s", "push.floor_refused_at_auth.requests_per_s", "same PATCH refused at auth",
     lambda v: v >= 10_000),
    ("status PATCH pushes, acknowledged, 256 connections", "≥ 10,000/s",
     "push.c256.pushes_per_s", "/s", "push.floor_refused_at_auth.requests_per_s",
     "same PATCH refused at auth", lambda v: v >= 10_000),
    ("push → visible in the API, p99 (under 256-connection push load)", "≤ 1,000 ms",
     "push.visibility_under_load.push_to_visible.p99_ms", " ms", None, "", lambda v: v <= 1000),
    ("nearby 5 km / 50, HTTP, nearby cache on (second pass)", "≥ 3,000 req/s",
     "queries.nearby_http.requests_per_s", " req/s",
     "queries.bare_endpoint_http.requests_per_s", "bare endpoint", lambda v: v >= 3000),
    ("nearby 5 km / 50, HTTP p99, nearby cache on", "≤ 20 ms", "queries.nearby_http.p99_ms",
     " ms",
     "queries.nearby_sql_direct.p99_ms", "SQL alone, p99", lambda v: v <= 20),
    ("nearby, first pass (cache cold), HTTP", "≥ 3,000 req/s",
     "queries.nearby_http_first_pass.requests_per_s", " req/s",
     "queries.nearby_sql_direct.requests_per_s", "SQL alone, 16 connections",
     lambda v: v >= 3000),
    ("nearby without the cache (every answer from PostGIS; the default), HTTP", "≥ 3,000 req/s",
     "queries.nearby_http_database.requests_per_s", " req/s",
     "queries.nearby_sql_direct.requests_per_s", "SQL alone, 16 connections",
     lambda v: v >= 3000),
    ("nearby without the cache, HTTP p99", "≤ 20 ms", "queries.nearby_http_database.p99_ms",
     " ms", "queries.nearby_sql_direct.p99_ms", "SQL alone, p99", lambda v: v <= 20),
    ("nearby without the cache, with an API key (checked and rate-limited in Redis)",
     "≤ 10 % below keyless", "queries.nearby_http_database_keyed.requests_per_s", " req/s",
     "queries.nearby_http_database.requests_per_s", "same questions, no key",
     lambda v: True),
    ("API key cost on nearby throughput (median of three interleaved runs each)", "≤ 10 %",
     "queries.api_key_cost_percent", " %", None, "", lambda v: v <= 10),
    ("API key cost in serving CPU per request (API, PostgreSQL, Redis; median runs)", "≤ 10 %",
     "queries.api_key_cost_cpu_percent", " %", None, "", lambda v: v <= 10),
    ("viewport (city, 500), HTTP p50", "≤ 30 ms", "queries.viewport_http.p50_ms", " ms",
     "queries.viewport_sql_direct.p50_ms", "SQL alone", lambda v: v <= 30),
    ("along-route SF → DC, 5 km, HTTP p50", "≤ 150 ms", "queries.along_route_http.p50_ms", " ms",
     "queries.along_route_sql_direct.p50_ms", "SQL alone", lambda v: v <= 150),
    ("search \"main street\" near a point, HTTP p50", "≤ 20 ms", "queries.search_http.p50_ms",
     " ms", "queries.search_sql_direct.p50_ms", "SQL alone", lambda v: v <= 20),
    ("clusters, Europe at zoom 4, HTTP p50", "≤ 50 ms", "queries.clusters_europe_z4_http.p50_ms",
     " ms", "queries.clusters_europe_z4_sql_direct.p50_ms", "SQL alone", lambda v: v <= 50),
    ("nearby from PostGIS with the registries imported, HTTP", "unchanged",
     "registries.after.nearby_http.requests_per_s", " req/s",
     "registries.before.nearby_http.requests_per_s", "same run, before the import",
     lambda v: True),
    ("viewport (city, 500) with the registries imported, HTTP p50", "≤ 30 ms, unchanged",
     "registries.after.viewport_http.p50_ms", " ms",
     "registries.before.viewport_http.p50_ms", "same run, before the import",
     lambda v: v <= 30),
    ("import of every bundled registry into the 300k dataset, with the merge", "≤ 60 s",
     "registries.import_s", " s", None, "", lambda v: v <= 60),
    ("nearby 5 km / 50 with a price (energy_kwh=30), HTTP", "≤ 25 % below without",
     "prices.with_price.requests_per_s", " req/s",
     "prices.without.requests_per_s", "same questions, no price (median of 3 interleaved)",
     lambda v: True),
    ("price cost on nearby throughput", "≤ 25 %", "prices.with_price.cost_percent", " %", None,
     "", lambda v: v <= 25),
    ("price cost on nearby, every request a new session (no quote cache)", "≤ 25 %",
     "prices.with_price_every_session_new.cost_percent", " %", None, "", lambda v: v <= 25),
    ("POST /v1/price, 4-element tariff, one worker", "≥ 2,000 sessions/s",
     "prices.price_endpoint_one_worker.requests_per_s", "/s", None, "", lambda v: v >= 2000),
    ("snapshot GET /v1/export, every visible location, one client", "≥ 20,000 locations/s",
     "sync.export.locations_per_s", "/s", "sync.export_gzip.locations_per_s", "gzip",
     lambda v: v >= 20_000),
    ("API process memory during the snapshot (peak; before it in the floor column)", "flat",
     "sync.export.rss_peak_mb", " MB", "sync.export.rss_before_mb", "before the export",
     lambda v: True),
    ("change feed: commit → long-polling reader, p99, under 256-connection pushes", "≤ 1,000 ms",
     "sync.feed_under_pushes.commit_to_reader.p99_ms", " ms", None, "", lambda v: v <= 1000),
    ("status pushes with the change feed written (median of 3 interleaved)", "≤ 10 % below without",
     "sync.feed_cost.median_with_per_s", "/s", "sync.feed_cost.median_without_per_s",
     "same run, feed not written", lambda v: True),
    ("change feed's cost on push throughput", "≤ 10 %", "sync.feed_cost.cost_pct", " %", None,
     "", lambda v: v <= 10),
    ("nearby 5 km / 50, HTTP, one API process reading from a streaming replica",
     "reads leave the primary", "replicas.with_replica.requests_per_s", " req/s",
     "replicas.primary_only.requests_per_s", "same process, primary only", lambda v: True),
    ("table scans on the primary during that run (the background jobs' only)",
     "none from the requests", "replicas.with_replica.primary_table_scans", "",
     "replicas.primary_only.primary_table_scans", "primary only", lambda v: v <= 300),
    ("CPU per nearby request: API process, and the replica answering it",
     "(per-core figures, docs/capacity.md)", "replicas.with_replica.cpu_ms_per_request.api",
     " ms", "replicas.with_replica.cpu_ms_per_request.replica", "ms on the replica",
     lambda v: True),
    ("replica replay lag under 256-connection status pushes, p99", "≤ 2 s (left out beyond)",
     "replicas.replica_lag_under_pushes.lag_ms.p99_ms", " ms", None, "", lambda v: v <= 2000),
    ("API process memory (largest worker, after the query runs, nearby cache on)", "≤ 250 MB",
     "queries.api_rss_mb_max", " MB", None, "", lambda v: v <= 250),
]  # fmt: skip


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "not run"
    number = f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}"
    return number + unit


def table(results: dict[str, Any]) -> str:
    lines = ["| what | budget | measured | floor |", "|---|---|---|---|"]
    for what, budget, path, unit, floor_path, floor_text, meets in ROWS:
        value = _get(results, path)
        mark = "" if value is None or meets(value) else " **(below budget)**"
        floor = ""
        if floor_path:
            floor = f"{_fmt(_get(results, floor_path), unit)} ({floor_text})"
        lines.append(f"| {what} | {budget} | {_fmt(value, unit)}{mark} | {floor} |")
    return "\n".join(lines)
