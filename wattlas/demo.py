"""The demo network of ``wattlas run``: the sandbox serves each bundled real OCPI dump as a CPO
peer; Wattlas registers with each over the real credentials handshake, pulls their locations
and tariffs, and the sandbox then pushes status changes, so the map's availability moves."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time

import httpx

from app.logs import get_logger
from app.settings import Settings
from app.store import Store, networks
from ingest import credentials
from ingest.sync import SyncBusy, SyncImpossible, sync
from wattlas.local import port_is_free
from wattlas.serving import start_sandbox

log = get_logger(__name__)

# The hub re-serves operators the demo already has as their own networks; it is for the tests.
DEMO_EXCLUDES = {"hub"}


def _wait(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited with code {process.returncode}")
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
                    report = await sync(store, network_id, module=module, full=True)
                    if module == "locations":
                        lines.append(
                            f"    {name:14} {report.objects:5} locations pulled, "
                            f"{report.quarantined} quarantined"
                        )
    return lines


def start_demo_network(
    settings: Settings, children: list[subprocess.Popen[bytes]], *, push_rate: float
) -> list[str]:
    if not port_is_free(settings.sandbox_port):
        log.warning("demo.sandbox_port_busy", port=settings.sandbox_port)
        return [f"    sandbox    port {settings.sandbox_port} is busy: not started"]
    process = start_sandbox(settings, push_rate=push_rate)
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
