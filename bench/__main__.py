"""``python -m bench generate``: write the benchmark dataset (see ``bench.dataset``)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from bench.dataset import generate

PROGRESS_STEPS = 20  # a progress line every 5 %


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


if __name__ == "__main__":
    main()
