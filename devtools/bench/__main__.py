"""``python -m devtools.bench run``: the benchmarks behind the README's figures (``make bench``);
``python -m devtools.bench generate``: write the benchmark dataset alone (see ``bench.dataset``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import psycopg

from devtools.bench import outages, prices, pull, push, queries, registries, replicas, sync
from devtools.bench.dataset import generate
from devtools.bench.harness import ROOT, STATE, dump, environment
from devtools.bench.report import machine, table

PROGRESS_STEPS = 20  # a progress line every 5 %
PARTS = ("pull", "push", "queries", "registries", "prices", "sync", "replicas", "outages")
# The parts on the 300k dataset; ``outages`` brings its own services and small dataset.
DATASET_PARTS = frozenset({"pull", "push", "queries", "registries", "prices", "sync", "replicas"})


@click.group()
def main() -> None:
    """Wattlas benchmarks."""


@main.command("generate")
@click.option("--locations", type=click.IntRange(min=1), default=300_000, show_default=True)
@click.option("--evses", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for page-NNNNN.json and manifest.json (old pages in it are replaced).",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--page-size", type=click.IntRange(min=1), default=1000, show_default=True)
def generate_command(locations: int, evses: int, out_dir: Path, seed: int, page_size: int) -> None:
    """OCPI 2.2.1 Locations at real station coordinates, deterministic for a seed."""
    if evses < locations:
        raise click.BadParameter(
            "must be at least --locations (one EVSE each)", param_hint="--evses"
        )
    started = time.perf_counter()
    step = max(1, locations // PROGRESS_STEPS)
    next_report = step

    def progress(done: int, total: int) -> None:
        nonlocal next_report
        if done >= next_report or done == total:
            elapsed_s = time.perf_counter() - started
            click.echo(
                f"bench.generate progress locations={done}/{total} "
                f"({100 * done // total}%) elapsed_s={elapsed_s:.1f}"
            )
            next_report = (done // step + 1) * step

    click.echo(
        f"bench.generate start locations={locations} evses={evses} seed={seed} out={out_dir}"
    )
    info = generate(
        out_dir,
        locations=locations,
        evses=evses,
        seed=seed,
        page_size=page_size,
        progress=progress,
    )
    elapsed_s = time.perf_counter() - started
    click.echo(
        f"bench.generate done locations={info.locations} evses={info.evses} "
        f"connectors={info.connectors} pages={info.pages} seconds={elapsed_s:.1f} out={out_dir}"
    )


def _dataset(path: Path, locations: int, evses: int) -> Path:
    manifest = path / "manifest.json"
    if manifest.exists():
        info = json.loads(manifest.read_text())
        if (info.get("locations"), info.get("evses")) == (locations, evses):
            return path
    click.echo(f"bench: generating {locations:,} locations / {evses:,} EVSEs into {path}")
    generate(path, locations=locations, evses=evses, seed=42, page_size=1000)
    return path


def _loaded(database_url: str) -> bool:
    try:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM locations l JOIN networks n ON n.id = l.network_id"
                " WHERE n.name = 'bench'"
            ).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


@main.command("run")
@click.option(
    "--only",
    type=click.Choice(PARTS),
    multiple=True,
    help="Run only these parts (default: all).",
)
@click.option(
    "--fresh/--reuse",
    default=True,
    show_default=True,
    help="Start from an empty database (the pull then measures a first load).",
)
@click.option("--locations", type=click.IntRange(min=1), default=300_000, show_default=True)
@click.option("--evses", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option(
    "--seconds",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Duration of each load test.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="API worker processes (one per core).",
)
@click.option("--connections", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=ROOT / "devtools" / "bench" / "results",
    show_default=True,
)
def run_command(
    only: tuple[str, ...],
    fresh: bool,
    locations: int,
    evses: int,
    seconds: int,
    workers: int,
    connections: int,
    out_dir: Path,
) -> None:
    """Pull, push, query and outage benchmarks on private services; results and plans in
    --out."""
    parts = set(only or PARTS)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    if parts & DATASET_PARTS:
        dataset = _dataset(STATE / "dataset", locations, evses)
        results["dataset"] = json.loads((dataset / "manifest.json").read_text())
    previous = out_dir / "results.json"
    if only and previous.exists():  # a partial run keeps the other parts' last figures
        kept = json.loads(previous.read_text())
        # The top-level time and machine are the dataset parts'; outages carry their own.
        results = {**kept, **results} if parts & DATASET_PARTS else kept
    if parts & DATASET_PARTS:
        _dataset_parts(parts, fresh, dataset, results, workers, seconds, connections, out_dir)
    if "outages" in parts:
        click.echo("bench: outages under load (PostgreSQL, Redis, a worker) ...")
        results["outages"] = outages.run(outages.Config(workers=workers))
        click.echo(f"bench: outages {results['outages']['seconds']} s")
    dump(out_dir / "results.json", results)
    report = table(results) + "\n"
    if outages.table(results):
        report += "\n" + outages.table(results) + "\n"
    (out_dir / "results.md").write_text(report)
    click.echo(report)
    click.echo(f"bench: results in {out_dir}")


def _dataset_parts(
    parts: set[str],
    fresh: bool,
    dataset: Path,
    results: dict[str, Any],
    workers: int,
    seconds: int,
    connections: int,
    out_dir: Path,
) -> None:
    with environment(fresh=fresh or "pull" in parts) as env:
        if "pull" in parts or not _loaded(env.database_url):
            click.echo("bench: full pull of the dataset over OCPI ...")
            results["pull"] = asyncio.run(pull.pull(env, dataset))
            click.echo(f"bench: pull {results['pull']}")
        load: dict[str, Any] = {"workers": workers, "seconds": seconds, "connections": connections}
        runs: dict[str, tuple[str, Callable[[], Coroutine[Any, Any, dict[str, Any]]]]] = {
            "push": ("status pushes", lambda: push.run(env, **load)),
            "queries": ("discovery queries", lambda: queries.run(env, **load, out_dir=out_dir)),
            "registries": (
                "nearby and viewport before and after importing the registries",
                lambda: registries.run(env, **load),
            ),
            "prices": (
                "nearby with and without a price, and POST /v1/price",
                lambda: prices.run(env, **load, out_dir=out_dir),
            ),
            "sync": (
                "the snapshot, the change feed under pushes, and what the feed costs them",
                lambda: sync.run(env, **load),
            ),
            "replicas": (
                "nearby on the primary and on a streaming replica, and the replica's lag",
                lambda: replicas.run(env, seconds=seconds, connections=connections),
            ),
        }
        for name, (what, run) in runs.items():
            if name in parts:
                click.echo(f"bench: {what} ...")
                results[name] = asyncio.run(run())
                if name != "queries":  # its figures are in the report
                    click.echo(f"bench: {name} {results[name]}")


if __name__ == "__main__":
    main()
