"""``wattlas run``: the whole thing on one machine, from a fresh clone, with one command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import httpx

from app.logs import get_logger
from app.settings import Settings
from app.store import Store
from app.store import health as store_health
from app.store.core import database_url
from wattlas import context
from wattlas.local import ensure_system_packages, port_is_free
from wattlas.migrate import upgrade
from wattlas.serving import Child, start_bundled_import, start_server

log = get_logger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT_ROOT / "fixtures" / "ocpi"


def fixture_manifest() -> list[dict[str, str]]:
    data = json.loads((FIXTURES / "manifest.json").read_text())
    return list(data["networks"])


async def _location_count(settings: Settings) -> int:
    async with Store.from_settings(settings, name="wattlas-run", max_size=1) as store:
        return await store_health.location_count(store)


async def load_bundled_data(settings: Settings) -> None:
    """The bundled real dumps, through the ingestion path (decode → normalise → apply)."""
    from wattlas.loading import format_reports, load_files

    reports = []
    for entry in fixture_manifest():
        reports += await load_files(
            settings,
            [FIXTURES / entry["file"]],
            party=entry.get("party"),
            network_name=entry["name"],
        )
    print(format_reports(reports), flush=True)


def _wait_healthy(url: str, process: Child, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (code := process.poll()) is not None:
            raise RuntimeError(f"the server exited with code {code}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url}/health did not answer 200 within {timeout_s:g} s")


def banner(settings: Settings, services: dict[str, object], extra: list[str]) -> str:
    pg = services.get("postgres") or {}
    redis = services.get("redis") or {}
    assert isinstance(pg, dict) and isinstance(redis, dict)
    lines = [
        "",
        "  Wattlas is running",
        f"    map        {settings.base_url}/",
        f"    API        {settings.base_url}/v1/locations/nearby?lat=52.37&lon=4.89&radius_m=10000",
        f"    OpenAPI    {settings.base_url}/schema   (Swagger UI: /schema/swagger)",
        f"    health     {settings.base_url}/health",
        f"    OCPI       {settings.base_url}/ocpi/versions",
        f"    PostgreSQL {settings.database_url}  (data: {pg.get('data', 'external')})",
        f"    Redis      {settings.redis_url}",
        *extra,
        "  Ctrl-C stops everything this command started.",
        "",
    ]
    return "\n".join(lines)


RESTARTS_PER_MINUTE = 5


def supervise(children: list[Child]) -> int:
    """Keep what was started running: a child that exits is started again with the same command
    line and environment, at most ``RESTARTS_PER_MINUTE`` times a minute (then ``wattlas run``
    gives up and stops everything)."""
    restarts: list[float] = []
    while True:
        time.sleep(0.5)
        for child in children:
            code = child.poll()
            if code is None or (child.once and child.process is None):
                continue
            if child.once:
                (log.info if code == 0 else log.error)("run.job_ended", child=child.name, code=code)
                child.process = None  # ended: not started again
                continue
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < 60]
            log.error("run.child_exited", child=child.name, code=code)
            if len(restarts) >= RESTARTS_PER_MINUTE:
                log.error("run.giving_up", child=child.name, restarts=len(restarts))
                return 1
            restarts.append(now)
            time.sleep(1)
            child.start()
            log.info("run.child_restarted", child=child.name)


def run_everything(settings: Settings, *, sandbox: bool, push_rate: float) -> int:
    started_local = None
    if not settings.external_services:
        ensure_system_packages()
        started_local = context.local_services(settings)
        started_local.start()
        settings = context.with_local_urls(settings, started_local)
    if not port_is_free(settings.port):
        log.error("run.port_busy", port=settings.port)
        print(
            f"wattlas: port {settings.port} is in use; set WATTLAS_PORT or pass --port",
            file=sys.stderr,
        )
        return 2
    upgrade(database_url(settings))
    context.record_served_url(settings, os.getpid())
    children: list[Child] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        if not sandbox and asyncio.run(_location_count(settings)) == 0:
            # Without the sandbox, the bundled dumps go in as files (same ingestion path).
            asyncio.run(load_bundled_data(settings))
        server = start_server(settings)
        children.append(server)
        _wait_healthy(settings.base_url, server)
        children.append(start_bundled_import(settings))
        extra: list[str] = [
            "    registries the US, German, British and Berlin registries are imported in the",
            "               background on the first start (under a minute; the API answers",
            "               meanwhile): `wattlas sources list` shows what each source holds",
        ]
        if sandbox:
            from wattlas.demo import start_demo_network

            extra += start_demo_network(settings, children, push_rate=push_rate)
        status = started_local.status() if started_local else {}
        print(banner(settings, status, extra), flush=True)
        return supervise(children)
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C (or uv forwarding the first one again) must not cut the clean-up short
        # and leave children and services running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in children:
            child.stop()
        if started_local is not None:
            started_local.stop()
        print("wattlas: stopped", file=sys.stderr)
