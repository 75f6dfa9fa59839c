"""What a price costs (issue 13): nearby 5 km / 50 with and without ``energy_kwh`` on the 300k
dataset, and ``POST /v1/price`` on one worker for a 4-element tariff.

The dataset has no tariffs, so this part gives every party four (written through the receiver's
own normaliser and the store's upsert, as a pull would) and links every connector to one of
them; both are removed again at the end (and at the start, after an interrupted run), so the
other parts measure the dataset as it was. A party with a few tariffs for thousands of locations
is what real networks look like; the second "with price" figure gives every request its own
session (energy 5.0–80.0 kWh), so that nothing comes from the quote cache.

Runs are interleaved, three of each, and each side is its median run (the VM drifts by up to
±30 % between runs; interleaving puts the drift on both sides)."""

from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from app.api.pricer import PriceAsk, Pricer
from app.domain.filters import Filters
from app.price.quote import SessionAsk
from app.store import Store, discovery, tariffs
from app.store.records import Problem
from devtools.bench.explain import explained
from devtools.bench.harness import Environment, tree_cpu_s
from devtools.bench.queries import STALE_AFTER_S, sample_points, wrk
from ingest.ocpi.tariffs import normalise_tariff

PREFIX = "BENCHP-"
STAMP = "2026-01-01T00:00:00Z"


def bench_tariffs(cc: str, pid: str) -> list[dict[str, Any]]:
    """Four tariffs of a party: energy; energy + start fee; time-of-day energy with a parking
    fee after an hour (the 4-element tariff of tests/price/throughput.py); time."""

    def priced(kind: str, price: float, step: int = 1) -> dict[str, Any]:
        return {"type": kind, "price": price, "vat": 19, "step_size": step}

    elements = [
        [{"price_components": [priced("ENERGY", 0.39)]}],
        [
            {"price_components": [priced("FLAT", 0.50)]},
            {"price_components": [priced("ENERGY", 0.35)]},
        ],
        [
            {"price_components": [priced("FLAT", 0.50)]},
            {
                "price_components": [priced("ENERGY", 0.39)],
                "restrictions": {"start_time": "07:00", "end_time": "22:00", "min_power": 50},
            },
            {"price_components": [priced("ENERGY", 0.59)]},
            {
                "price_components": [priced("PARKING_TIME", 6, 60)],
                "restrictions": {"min_duration": 3600},
            },
        ],
        [{"price_components": [priced("TIME", 2.40, 60)]}],
    ]
    return [
        {"country_code": cc, "party_id": pid, "id": f"{PREFIX}{i}", "currency": "EUR",
         "elements": e, "last_updated": STAMP}
        for i, e in enumerate(elements)
    ]  # fmt: skip


async def _add(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        parties = conn.execute(
            "SELECT DISTINCT l.country_code, l.party_id, l.network_id FROM locations l"
        ).fetchall()
    now = datetime.now(UTC)
    async with Store(database_url, max_size=1, name="bench-prices") as store:
        for cc, pid, network_id in parties:
            problems: list[Problem] = []
            records = [
                normalise_tariff(
                    json.dumps(t).encode(), country_code=cc, party_id=pid, received_at=now,
                    problems=problems, ocpi_version="2.2.1",
                )
                for t in bench_tariffs(cc, pid)
            ]  # fmt: skip
            assert not problems, problems
            async with store.transaction() as tx:
                await tariffs.apply_tariffs(
                    tx, [r for r in records if r], network_id=network_id, received_at=now
                )
    with psycopg.connect(database_url, autocommit=True) as conn:
        linked = conn.execute(
            f"UPDATE connectors SET tariff_ids = ARRAY['{PREFIX}' || (id % 4)::text]"
            " WHERE tariff_ids = '{}'"
        ).rowcount
        # What the store keeps per location (migration 0008), as a write through it would.
        conn.execute("UPDATE locations SET tariff_links = wattlas_tariff_links(id)")
    return {"parties": len(parties), "tariffs": 4 * len(parties), "connectors_linked": linked}


def _remove(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        unlinked = conn.execute(
            f"UPDATE connectors SET tariff_ids = '{{}}' WHERE tariff_ids[1] LIKE '{PREFIX}%'"
        ).rowcount
        deleted = conn.execute(f"DELETE FROM tariffs WHERE tariff_id LIKE '{PREFIX}%'").rowcount
        if unlinked:  # back to what the store holds (registry tariffs stay linked)
            conn.execute(
                "UPDATE locations SET tariff_links = wattlas_tariff_links(id)"
                " WHERE tariff_links <> '[]'"
            )
    return {"connectors_unlinked": unlinked, "tariffs_deleted": deleted}


PRICE_BODY = {
    "tariffs": bench_tariffs("DE", "WAT")[2:3],
    "session": {"energy_kwh": 42.5, "max_power_kw": 150, "start_at": "2026-12-02T17:30:00+01:00",
                "parking_min": 75},
    "time_zone": "Europe/Berlin",
}  # fmt: skip


async def _explain(database_url: str, out_dir: Path) -> None:
    """The plans of a priced nearby page: the nearby query (with the links column) and what a
    process with empty caches then reads (its parties' tariff versions, the tariff objects)."""
    lat, lon = 40.7484, -73.9857  # Manhattan

    async def call(store: Store) -> Any:
        now = datetime.now(UTC)
        rows = await discovery.nearby(
            store, lat=lat, lon=lon, radius_m=5000, limit=50, filters=Filters(), now=now,
            stale_after_s=STALE_AFTER_S,
        )  # fmt: skip
        return await Pricer(store).location_prices(rows, PriceAsk(SessionAsk(Decimal(30))), now)

    explain_dir = out_dir / "explain"
    explain_dir.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join(await explained(database_url, call))
    (explain_dir / "nearby_priced.txt").write_text(text + "\n")


async def run(
    env: Environment, *, workers: int, seconds: int, connections: int, out_dir: Path
) -> dict[str, Any]:
    results: dict[str, Any] = {"removed_before": _remove(env.database_url)}
    results["added"] = await _add(env.database_url)
    try:
        await _explain(env.database_url, out_dir)
        api = env.start(
            "api-prices", "wattlas.asgi:app", workers=workers, WATTLAS_DB_POOL_SIZE="16"
        )
        serving = [*api.pids(), *env.service_pids()]
        points = sample_points(env.database_url, 3000)
        rng = random.Random(5)
        base = [
            f"/v1/locations/nearby?lat={lat:.5f}&lon={lon:.5f}&radius_m=5000&limit=50"
            for lat, lon in points
        ]
        variants = {
            "without": base,
            "with_price": [f"{p}&energy_kwh=30" for p in base],
            "with_price_every_session_new": [
                f"{p}&energy_kwh={rng.randint(50, 800) / 10}" for p in base
            ],
        }
        # Every path answers a priced body: check one before timing anything.
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        wrk(variants["with_price"][:50], "prices_warm", api.url, connections=connections, seconds=5)
        for _ in range(3):
            for name, paths in variants.items():
                cpu_before = tree_cpu_s(serving)
                out = wrk(
                    paths, f"prices_{name}", api.url, connections=connections, seconds=seconds
                )
                assert out["non_2xx"] == 0, out
                out["serving_cpu_ms_per_request"] = round(
                    1000 * (tree_cpu_s(serving) - cpu_before) / max(1, out["requests"]), 3
                )
                runs[name].append(out)
        for name, measured in runs.items():
            median = statistics.median(r["requests_per_s"] for r in measured)
            results[name] = {
                **next(r for r in measured if r["requests_per_s"] == median),
                "runs_requests_per_s": [r["requests_per_s"] for r in measured],
            }
        plain = results["without"]
        for name in ("with_price", "with_price_every_session_new"):
            results[name]["cost_percent"] = round(
                100 * (plain["requests_per_s"] / results[name]["requests_per_s"] - 1), 1
            )
            results[name]["cpu_cost_percent"] = round(
                100 * (results[name]["serving_cpu_ms_per_request"]
                       / plain["serving_cpu_ms_per_request"] - 1), 1
            )  # fmt: skip
        api.stop()
        one = env.start("api-price-1", "wattlas.asgi:app", workers=1)
        results["price_endpoint_one_worker"] = wrk(
            ["/v1/price"], "price_post", one.url, connections=16, seconds=seconds, body=PRICE_BODY
        )
        assert results["price_endpoint_one_worker"]["non_2xx"] == 0
        one.stop()
    finally:
        results["removed_after"] = _remove(env.database_url)
    return results
