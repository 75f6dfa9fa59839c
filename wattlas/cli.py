"""``wattlas``: the one command for everything a user runs."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from app.logs import configure_logging
from app.settings import SettingsError, load_settings
from app.store import StoreError
from ingest.ocpi.geocheck import CountryDataMissing
from wattlas import context
from wattlas.keys_cli import keys_group
from wattlas.networks_cli import networks_group
from wattlas.sources_cli import import_command, sources_group
from wattlas.subscribers_cli import subscribers_group


def _fail(message: str) -> None:
    click.echo(f"wattlas: {message}", err=True)
    sys.exit(2)


class WattlasGroup(click.Group):
    """Turns the errors a user can fix into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (SettingsError, context.NoServices, CountryDataMissing) as exc:
            _fail(str(exc))
        except StoreError as exc:  # the database refused or is unreachable: say so, in a line
            _fail(f"database: {exc}")


@click.group(cls=WattlasGroup)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines as text (default on a terminal) or JSON.",
)
def main(log_format: str | None) -> None:
    """Wattlas: charging-station discovery over OCPI, with live availability."""
    settings = load_settings()
    fmt = log_format or ("text" if sys.stderr.isatty() else settings.log_format)
    configure_logging(settings.log_level, fmt)


# ---- local services ----------------------------------------------------------------------------
@main.group()
def services() -> None:
    """The private PostgreSQL + PostGIS and Redis of this checkout (in WATTLAS_STATE_DIR)."""


@services.command("start")
def services_start() -> None:
    """Install (if missing) and start the private PostgreSQL and Redis."""
    from wattlas.local import ensure_system_packages

    settings = load_settings()
    ensure_system_packages()
    local = context.local_services(settings)
    local.start()
    click.echo(json.dumps(local.status(), indent=2))


@services.command("stop")
def services_stop() -> None:
    """Stop the private PostgreSQL and Redis (their data is kept)."""
    local = context.local_services(load_settings())
    local.stop()


@services.command("status")
def services_status() -> None:
    """Where the private servers run, and whether they do."""
    click.echo(json.dumps(context.local_services(load_settings()).status(), indent=2))


# ---- schema ------------------------------------------------------------------------------------
@main.command()
def migrate() -> None:
    """Upgrade the configured database to the code's schema revision."""
    from app.store.core import database_url
    from wattlas.migrate import head_revision, upgrade

    settings = context.resolve_settings()
    upgrade(database_url(settings))
    click.echo(f"schema at revision {head_revision()}")


# ---- serving -----------------------------------------------------------------------------------
@main.command()
@click.option("--host", default=None, help="Address to listen on (WATTLAS_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (WATTLAS_PORT).")
@click.option("--workers", type=int, default=None, help="Worker processes (WATTLAS_WORKERS).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the API, the OCPI endpoints and the map with granian."""
    from wattlas.serving import serve_forever

    settings = context.resolve_settings(host=host, port=port, workers=workers)
    context.record_served_url(settings, os.getpid())  # this process becomes granian
    serve_forever(settings)


@main.command()
@click.option("--host", default=None, help="Address to listen on (WATTLAS_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (WATTLAS_PORT).")
@click.option("--no-sandbox", is_flag=True, help="Do not start the sandbox network.")
@click.option(
    "--push-rate",
    type=float,
    default=2.0,
    show_default=True,
    help="Status changes per second the sandbox network pushes.",
)
def run(host: str | None, port: int | None, no_sandbox: bool, push_rate: float) -> None:
    """Everything on one machine: private PostGIS + Redis, the bundled real data, the sandbox
    network pushing live status, the API and the map. Ctrl-C stops it all."""
    from wattlas.devrun import run_everything

    settings = load_settings(host=host, port=port)
    sys.exit(run_everything(settings, sandbox=not no_sandbox, push_rate=push_rate))


# ---- data --------------------------------------------------------------------------------------
@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--party", default=None, help="CC*PID for dumps whose locations carry none (2.1.1).")
@click.option(
    "--network",
    "network_name",
    default=None,
    help="Network name to record the data under (default: from the file name).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the per-file summary as JSON.")
def load(
    files: tuple[Path, ...], party: str | None, network_name: str | None, as_json: bool
) -> None:
    """Load OCPI location dumps through decode → normalise → apply."""
    from wattlas.loading import load_files

    settings = context.resolve_settings()
    reports = asyncio.run(
        load_files(
            settings,
            list(files),
            party=party,
            network_name=network_name,
            progress=not as_json and sys.stderr.isatty(),
        )
    )
    if as_json:
        click.echo(msgspec.json.encode(reports).decode())
    else:
        from wattlas.loading import format_reports

        click.echo(format_reports(reports))
    if any(r.error for r in reports):
        sys.exit(1)


@main.command()
@click.option("--network", "network_name", default=None, help="Only this network.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--notes", is_flag=True, help="Show repair notes instead of rejections.")
@click.option("--summary", is_flag=True, help="Counts per network and reason instead of rows.")
def quarantine(network_name: str | None, limit: int, notes: bool, summary: bool) -> None:
    """What was rejected (or repaired) and why."""
    from wattlas.loading import show_quarantine

    settings = context.resolve_settings()
    click.echo(asyncio.run(show_quarantine(settings, network_name, limit, notes, summary)))


@main.command()
@click.option("--port", type=int, default=None, help="Port (WATTLAS_SANDBOX_PORT).")
@click.option(
    "--push-rate",
    type=float,
    default=None,
    help="Status changes per second to push (WATTLAS_SANDBOX_PUSH_RATE).",
)
@click.option("--networks", "names", default=None, help="Comma list of sandbox networks.")
def sandbox(port: int | None, push_rate: float | None, names: str | None) -> None:
    """Run the sandbox OCPI network: the bundled real locations served as CPO peers."""
    from wattlas.serving import serve_sandbox_forever

    settings = load_settings(
        None, sandbox_port=port, sandbox_push_rate=push_rate, sandbox_networks=names
    )
    serve_sandbox_forever(settings)


@main.command()
def worker() -> None:
    """Only the pull scheduler (no HTTP): for running ingestion apart from the API."""
    from wattlas.worker import run_worker

    asyncio.run(run_worker(context.resolve_settings()))


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.pass_context
def bench(ctx: click.Context) -> None:
    """Benchmarks at 300k locations / 1M EVSEs (`wattlas bench --help`; `make bench`)."""
    from devtools.bench.__main__ import main as bench_main

    bench_main.main(args=["run", *ctx.args], prog_name="wattlas bench")


main.add_command(networks_group)
main.add_command(subscribers_group)
main.add_command(keys_group)
main.add_command(import_command)
main.add_command(sources_group)


def entrypoint() -> None:  # pragma: no cover - console script shim
    main(prog_name=Path(sys.argv[0]).name)
