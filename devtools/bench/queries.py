"""Discovery queries at 300,000 locations / 1,000,000 EVSEs, each beside its floors measured in
the same run: over HTTP (wrk under concurrent load for nearby, sequential requests for the
heavier ones), the same SQL executed directly, and a bare endpoint that does no work. The plan
of every driver-facing query is written next to the results."""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

from app.access.keys import key_hash, new_key, shown
from app.domain.filters import NO_FILTERS, Bbox, Filters
from app.domain.route import Pieces, pieces, validate
from app.store import Store, api_keys, detail, discovery, search
from app.store import clusters as clusters_store
from devtools.bench.explain import explained
from devtools.bench.harness import ROOT, STATE, Environment, rss_mb, tree_cpu_s
from devtools.bench.stats import summary_ms

SF_DC = ROOT / "fixtures" / "routes" / "us_sanfrancisco_to_washingtondc_4767km.geojson"
EUROPE = Bbox(-25.0, 34.0, 45.0, 72.0)
EUROPE_PARAM = "-25,34,45,72"
NEW_YORK = Bbox(-74.06, 40.70, -73.90, 40.80)
# City centres of the dataset; viewports of ~13 × 11 km are drawn around them.
CITIES = (
    (40.7484, -73.9857), (34.0522, -118.2437), (47.6062, -122.3321), (41.8781, -87.6298),
    (37.7749, -122.4194), (33.749, -84.388), (52.52, 13.405), (48.1351, 11.582),
    (53.5511, 9.9937), (51.5074, -0.1278), (55.7558, 37.6173), (52.3676, 4.9041),
)  # fmt: skip
STALE_AFTER_S = 1800
Call = Callable[[Store], Awaitable[Any]]


# ---- load generators ----------------------------------------------------------------------------
def wrk(
    paths: list[str],
    name: str,
    base: str,
    *,
    connections: int,
    seconds: int,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> dict[str, Any]:
    """GET the paths round-robin at full rate with wrk (POST ``body`` as JSON, when given);
    requests/s and latency percentiles."""
    script = STATE / f"{name}.lua"
    entries = ",\n".join(json.dumps(p) for p in paths)
    request = "wrk.format('GET', paths[(i % #paths) + 1])"
    if body is not None:
        headers = {**(headers or {}), "Content-Type": "application/json"}
        request = (
            f"wrk.format('POST', paths[(i % #paths) + 1], nil, {json.dumps(json.dumps(body))})"
        )
    script.write_text(
        f"local paths = {{\n{entries}\n}}\nlocal i = 0\n"
        f"request = function()\n  i = i + 1\n  return {request}\nend\n"
    )
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            *(arg for k, v in (headers or {}).items() for arg in ("-H", f"{k}: {v}")),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps is not None, out
    latency = {}
    for pct in ("50", "90", "99"):
        match = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        assert match is not None, out
        value = float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        latency[f"p{pct}_ms"] = round(value, 2)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "requests": int(total.group(1)) if total else 0,
        "requests_per_s": round(float(rps.group(1))),
        "connections": connections,
        **latency,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


async def concurrent_sql(
    store: Store, calls: list[Call], *, concurrency: int, seconds: float
) -> dict[str, Any]:
    """The calls round-robin from ``concurrency`` tasks for ``seconds``: the database's floor
    (the store's own query functions on its pool, without HTTP)."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(first: int) -> None:
        i = first
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await calls[i % len(calls)](store)
            samples.append(time.perf_counter() - started)
            i += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"requests_per_s": round(len(samples) / elapsed), **summary_ms(samples)}


async def sequential_sql(store: Store, calls: list[Call]) -> dict[str, Any]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        await call(store)
        samples.append(time.perf_counter() - started)
    return summary_ms(samples)


async def sequential_http(
    client: httpx.AsyncClient, requests: list[tuple[str, str, dict[str, Any]]]
) -> dict[str, Any]:
    """(method, path, httpx kwargs) one after the other; every answer must be 200."""
    samples = []
    for method, path, kwargs in requests:
        started = time.perf_counter()
        response = await client.request(method, path, **kwargs)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text[:300]
    return summary_ms(samples)


# ---- inputs -------------------------------------------------------------------------------------
def sample_points(database_url: str, n: int, seed: int = 1) -> list[tuple[float, float]]:
    """Query points where drivers are: dataset locations, moved up to ~1 km."""
    rng = random.Random(seed)
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT setseed(0.5)")
        rows = conn.execute(
            "SELECT lat, lon FROM locations WHERE visible ORDER BY random() LIMIT %s", (n,)
        ).fetchall()
    return [(lat + rng.uniform(-0.01, 0.01), lon + rng.uniform(-0.01, 0.01)) for lat, lon in rows]


def city_boxes(n: int, seed: int = 3) -> list[Bbox]:
    rng = random.Random(seed)
    boxes = []
    for _ in range(n):
        lat, lon = rng.choice(CITIES)
        lat += rng.uniform(-0.03, 0.03)
        lon += rng.uniform(-0.03, 0.03)
        boxes.append(Bbox(lon - 0.08, lat - 0.05, lon + 0.08, lat + 0.05))
    return boxes


def route_coordinates() -> list[tuple[float, float]]:
    data = json.loads(SF_DC.read_text())
    geometry = data["features"][0]["geometry"] if "features" in data else data["geometry"]
    return [(c[0], c[1]) for c in geometry["coordinates"]]


def _bbox_param(b: Bbox) -> str:
    return f"{b.min_lon},{b.min_lat},{b.max_lon},{b.max_lat}"


# ---- the queries as the API runs them -----------------------------------------------------------
class Queries:
    def __init__(self, now: datetime, route: Pieces) -> None:
        self.now = now
        self.route = route

    def nearby(self, lat: float, lon: float) -> Call:
        async def call(store: Store) -> Any:
            return await discovery.nearby(
                store, lat=lat, lon=lon, radius_m=5000, limit=50, filters=NO_FILTERS,
                now=self.now, stale_after_s=STALE_AFTER_S,
            )  # fmt: skip

        return call

    def viewport(self, box: Bbox) -> Call:
        async def call(store: Store) -> Any:
            return await discovery.viewport(
                store, bbox=box, limit=500, after=None, filters=NO_FILTERS, now=self.now,
                stale_after_s=STALE_AFTER_S,
            )  # fmt: skip

        return call

    def along_route(self, filters: Filters = NO_FILTERS) -> Call:
        async def call(store: Store) -> Any:
            return await discovery.along_route(
                store, pieces=self.route, corridor_m=5000, start_offset_m=0, limit=500,
                after=None, filters=filters, now=self.now, stale_after_s=STALE_AFTER_S,
            )  # fmt: skip

        return call

    def text(self, query: str, lat: float, lon: float) -> Call:
        async def call(store: Store) -> Any:
            return await search.text_search(
                store, query=query, lat=lat, lon=lon, limit=20, filters=NO_FILTERS,
                now=self.now, stale_after_s=STALE_AFTER_S,
            )  # fmt: skip

        return call

    def clusters(self, filters: Filters = NO_FILTERS, zoom: int = 4, bbox: Bbox = EUROPE) -> Call:
        async def call(store: Store) -> Any:
            return await clusters_store.clusters(
                store, bbox=bbox, zoom=zoom, filters=filters, now=datetime.now(UTC),
                stale_after_s=STALE_AFTER_S, refresh_s=15.0,
            )  # fmt: skip

        return call

    def detail(self, public_id: str) -> Call:
        async def call(store: Store) -> Any:
            return await detail.location_detail(
                store, public_id, now=self.now, stale_after_s=STALE_AFTER_S
            )

        return call


async def _bench_key(database_url: str) -> str:
    """A fresh key with limits the benchmark cannot reach."""
    key = new_key()
    async with Store(database_url, max_size=1, name="bench-keys") as store:
        await api_keys.create(
            store,
            name=f"bench-{time.time_ns()}",
            key_sha256=key_hash(key),
            key_prefix=shown(key),
            rate_per_min=100_000_000,
            daily_quota=1_000_000_000,
        )
    return key


def wait_for_warm_index(url: str, workers: int, timeout_s: float = 600.0) -> float:
    """Seconds until every API worker's nearby index holds every body: ``/health`` answers
    from whichever worker accepts, so until as many processes as there are workers said so."""
    started = time.monotonic()
    warmed: set[int] = set()
    while len(warmed) < workers:
        assert time.monotonic() - started < timeout_s, "the nearby index did not warm in time"
        index = httpx.get(f"{url}/health", timeout=10).json().get("nearby_index") or {}
        if index.get("warmed"):
            warmed.add(index["pid"])
        time.sleep(0.1 if index.get("warmed") else 0.5)
    return round(time.monotonic() - started, 1)


async def run(
    env: Environment, *, workers: int, seconds: int, connections: int, out_dir: Path
) -> dict[str, Any]:
    api = env.start(
        "api",
        "wattlas.asgi:app",
        workers=workers,
        WATTLAS_DB_POOL_SIZE="16",
        WATTLAS_NEARBY_CACHE="true",  # the nearby rows measure both paths
    )
    results: dict[str, Any] = {"api_workers": workers}
    results["nearby_index_warm_s"] = wait_for_warm_index(api.url, workers)
    points = sample_points(env.database_url, 3000)
    boxes = city_boxes(120)
    us_points = [p for p in points if -125 < p[1] < -66][:100]
    q = Queries(datetime.now(UTC), pieces(validate(route_coordinates())))
    dc = Filters(power_class="DC", available=True)

    nearby_paths = [
        f"/v1/locations/nearby?lat={lat:.5f}&lon={lon:.5f}&radius_m=5000&limit=50"
        for lat, lon in points
    ]
    # The API answers these from each process's nearby index (warmed above: every point and
    # body in memory), twice over. The same questions with a filter that excludes nothing go
    # to PostGIS every time.
    serving = [*api.pids(), *env.service_pids()]
    results["nearby_http_first_pass"] = wrk(
        nearby_paths, "nearby", api.url, connections=connections, seconds=seconds
    )
    cpu_before = tree_cpu_s(serving)
    results["nearby_http"] = wrk(
        nearby_paths, "nearby", api.url, connections=connections, seconds=seconds
    )
    results["nearby_http"]["serving_cpu_ms_per_request"] = round(
        1000 * (tree_cpu_s(serving) - cpu_before) / max(1, results["nearby_http"]["requests"]), 3
    )
    # Without and with an API key (looked up, cached per process, and counted in Redis: the
    # minute window and the daily quota; limits high enough never to refuse), the same questions
    # going to PostGIS every time. Interleaved, three times each, so that the VM's drift between
    # runs (up to ±30 %) falls on both sides; each side is its median run.
    key = await _bench_key(env.database_url)
    db_paths = [f"{path}&exclude_network=ZZ*ZZZ" for path in nearby_paths]
    plain_runs, keyed_runs = [], []

    def measured(name: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        # CPU of every process that serves the load (API workers, PostgreSQL, Redis) per
        # request: the cost of a request on a saturated machine, unmoved by other load on it.
        cpu_before = tree_cpu_s(serving)
        out = wrk(
            db_paths, name, api.url, connections=connections, seconds=seconds, headers=headers
        )
        cpu_s = tree_cpu_s(serving) - cpu_before
        out["serving_cpu_ms_per_request"] = round(1000 * cpu_s / max(1, out["requests"]), 3)
        return out

    for _ in range(3):
        plain_runs.append(measured("nearby_db"))
        keyed_runs.append(measured("nearby_db_keyed", {"Authorization": f"Bearer {key}"}))
    plain = sorted(plain_runs, key=lambda r: r["requests_per_s"])[1]
    keyed = sorted(keyed_runs, key=lambda r: r["requests_per_s"])[1]
    results["nearby_http_database"] = plain
    results["nearby_http_database_keyed"] = keyed
    results["nearby_http_database_runs"] = {
        side: [{k: r[k] for k in ("requests_per_s", "serving_cpu_ms_per_request")} for r in runs]
        for side, runs in (("plain", plain_runs), ("keyed", keyed_runs))
    }
    results["api_key_cost_percent"] = round(
        100 * (1 - keyed["requests_per_s"] / plain["requests_per_s"]), 1
    )
    # The same cost from CPU per request (median of each side's runs): on two saturated cores,
    # throughput is inversely proportional to it.
    cpu_plain = statistics.median(r["serving_cpu_ms_per_request"] for r in plain_runs)
    cpu_keyed = statistics.median(r["serving_cpu_ms_per_request"] for r in keyed_runs)
    results["api_key_cost_cpu_percent"] = round(100 * (1 - cpu_plain / cpu_keyed), 1)
    results["bare_endpoint_http"] = wrk(
        ["/v1/ping"], "ping", api.url, connections=connections, seconds=seconds
    )
    route_body = {
        "route": {"type": "LineString", "coordinates": route_coordinates()},
        "corridor_m": 5000,
        "limit": 500,
    }
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
        for _ in range(3):
            await client.get("/v1/ping")
        results["viewport_http"] = await sequential_http(
            client,
            [("GET", "/v1/locations", {"params": {"bbox": _bbox_param(b), "limit": 500}})
             for b in boxes],
        )  # fmt: skip
        # Encoded once: a client's JSON encoding of the 28,458 points (~55 ms with httpx's
        # standard-library json) was timed as the server's answer.
        route_request = {
            "content": msgspec.json.encode(route_body),
            "headers": {"content-type": "application/json"},
        }
        results["along_route_http"] = await sequential_http(
            client, [("POST", "/v1/locations/along-route", route_request)] * 15
        )
        results["search_http"] = await sequential_http(
            client,
            [("GET", "/v1/search", {"params": {"q": "main street", "lat": p[0], "lon": p[1],
                                               "limit": 20}})
             for p in us_points],
        )  # fmt: skip
        results["clusters_europe_z4_http"] = await sequential_http(
            client, [("GET", "/v1/clusters", {"params": {"bbox": EUROPE_PARAM, "zoom": 4}})] * 30
        )
        results["clusters_europe_z4_dc_available_http"] = await sequential_http(
            client,
            [("GET", "/v1/clusters", {"params": {"bbox": EUROPE_PARAM, "zoom": 4,
                                                 "power_type": "DC", "available": "true"}})] * 30,
        )  # fmt: skip
        nearby_first = (await client.get(nearby_paths[0])).json()["results"]
        results["result_counts"] = {
            "nearby": len(nearby_first),
            "viewport_new_york": len(
                (
                    await client.get(
                        "/v1/locations", params={"bbox": _bbox_param(NEW_YORK), "limit": 500}
                    )
                ).json()["results"]
            ),
            "along_route": len(
                (await client.post("/v1/locations/along-route", json=route_body)).json()["results"]
            ),
        }
    results["api_rss_mb"] = {str(pid): round(rss_mb(pid), 1) for pid in api.pids()}
    results["api_rss_mb_max"] = max(results["api_rss_mb"].values())
    api.stop()

    async with Store.from_settings(env.settings, name="bench", max_size=16) as store:
        started = time.perf_counter()
        await clusters_store.refresh_cluster_cells(store)
        results["cluster_cells_refresh_ms"] = round((time.perf_counter() - started) * 1000)
        results["nearby_sql_direct"] = await concurrent_sql(
            store, [q.nearby(*p) for p in points], concurrency=16, seconds=seconds
        )
        results["viewport_sql_direct"] = await sequential_sql(store, [q.viewport(b) for b in boxes])
        results["along_route_sql_direct"] = await sequential_sql(store, [q.along_route()] * 15)
        results["search_sql_direct"] = await sequential_sql(
            store, [q.text("main street", *p) for p in us_points]
        )
        results["clusters_europe_z4_sql_direct"] = await sequential_sql(store, [q.clusters()] * 30)

    public_id = nearby_first[0]["id"]
    plans = {
        "nearby": q.nearby(40.7484, -73.9857),
        "viewport": q.viewport(NEW_YORK),
        "along_route": q.along_route(),
        "along_route_dc_available": q.along_route(dc),
        "search": q.text("main street", 40.7484, -73.9857),
        "clusters_europe_z4": q.clusters(),
        "clusters_europe_z4_dc_available": q.clusters(dc),
        "clusters_new_york_z12": q.clusters(zoom=12, bbox=NEW_YORK),
        "detail": q.detail(public_id),
    }
    explain_dir = out_dir / "explain"
    explain_dir.mkdir(parents=True, exist_ok=True)
    for name, call in plans.items():
        text = "\n\n".join(await explained(env.database_url, call))
        (explain_dir / f"{name}.txt").write_text(text + "\n")
    return results
