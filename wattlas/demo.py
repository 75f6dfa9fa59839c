"""The demo network of ``wattlas run``: the sandbox serves each bundled real OCPI dump as a CPO
peer; Wattlas registers with each over the real credentials handshake, pulls their locations
and tariffs, and the sandbox then pushes status changes, so the map's availability moves."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import httpx
import msgspec

from app.logs import get_logger
from app.settings import Settings
from app.store import Store, networks
from ingest import credentials
from ingest.sync import SyncBusy, SyncImpossible, sync
from wattlas.local import free_port, port_is_free
from wattlas.serving import Child, start_sandbox

log = get_logger(__name__)

# The hub re-serves operators the demo already has as their own networks; it is for the tests.
DEMO_EXCLUDES = {"hub"}


def _wait(url: str, process: Child, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (code := process.poll()) is not None:
            raise RuntimeError(f"the sandbox exited with code {code}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the sandbox did not start")


async def connect_sandbox_networks(settings: Settings, sandbox_url: str) -> list[str]:
    """Register with every sandbox network not registered yet, then pull it once."""
    lines: list[str] = []
    async with (
        Store.from_settings(settings, name="wattlas-demo", max_size=4) as store,
        httpx.AsyncClient(timeout=30) as http,
    ):
        names = (await http.get(f"{sandbox_url}/_control/networks")).json()
        known = await networks.active_names(store)
        new: list[str] = []
        for name in names:
            if name in DEMO_EXCLUDES or name in known:
                continue
            info = (await http.get(f"{sandbox_url}/_control/{name}/credentials")).json()
            try:
                await credentials.register_with(
                    store, settings, info["versions_url"], info["token_a"], name
                )
            except (credentials.HandshakeError, networks.NetworkExists) as exc:
                log.error("demo.register_failed", network=name, error=str(exc))
                continue
            new.append(name)
        for network_id, name in await networks.ids_by_name(store, new):
            for module in ("locations", "tariffs"):
                with contextlib.suppress(SyncBusy, SyncImpossible):
                    us = (settings.ocpi_country_code, settings.ocpi_party_id)
                    report = await sync(store, network_id, module=module, full=True, us=us)
                    if module == "locations":
                        lines.append(
                            f"    {name:14} {report.objects:5} locations pulled, "
                            f"{report.quarantined} quarantined"
                        )
    return lines


def sandbox_port(settings: Settings) -> tuple[int, int | None]:
    """(the port the sandbox runs on now, the one it ran on before): the one of the last run if
    it is free, else the configured one if free, else any free port; remembered in the state
    directory like the ports of PostgreSQL and Redis."""
    memory = settings.state_dir / "sandbox.json"
    try:
        before = int(json.loads(memory.read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        before = None
    for candidate in (before, settings.sandbox_port):
        if candidate is not None and port_is_free(candidate):
            port = candidate
            break
    else:
        port = free_port()
        log.warning("demo.sandbox_port_busy", port=settings.sandbox_port, instead=port)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    memory.write_text(json.dumps({"port": port}))
    return port, before


async def repoint_sandbox_networks(settings: Settings, old_url: str, new_url: str) -> int:
    """Networks registered with the sandbox when it ran on another port: their stored URLs
    follow it (their tokens and parties stay)."""
    async with (
        Store.from_settings(settings, name="wattlas-demo", max_size=1) as store,
        store.transaction() as tx,
    ):
        return await networks.rebase_urls(tx, old_url, new_url)


def start_demo_network(settings: Settings, children: list[Child], *, push_rate: float) -> list[str]:
    port, before = sandbox_port(settings)
    settings = msgspec.structs.replace(settings, sandbox_port=port)
    if before is not None and before != port:
        old_url = msgspec.structs.replace(settings, sandbox_port=before).sandbox_url
        moved = asyncio.run(repoint_sandbox_networks(settings, old_url, settings.sandbox_url))
        log.info("demo.sandbox_moved", before=before, now=port, networks=moved)
    process = start_sandbox(settings, push_rate=push_rate, demo_tariffs=True)
    children.append(process)
    _wait(settings.sandbox_url, process)
    pulled = asyncio.run(connect_sandbox_networks(settings, settings.sandbox_url))
    lines = [
        f"    sandbox    {settings.sandbox_url}  (OCPI CPO peers pushing {push_rate:g} "
        "status changes/s)"
    ]
    if pulled:
        lines.append("    networks registered and pulled on this start:")
        lines += pulled
    return lines
