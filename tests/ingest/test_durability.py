"""Durable before acknowledged (architecture.md, issue 3): SIGKILL the serving process in the
middle of a burst of status pushes, restart it, and find every acknowledged update."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from ingest import credentials
from ingest.loader import load_file
from tests.conftest import OCPI_FIXTURES, settings_env, start_granian
from tests.ingest.helpers import b64

TOKEN = "burst-token-0123456789"


@pytest.mark.slow
async def test_every_acknowledged_push_survives_a_sigkill(
    settings: Settings, tmp_path: Path, sync_conn: psycopg.Connection
) -> None:
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await load_file(
            store, OCPI_FIXTURES / "ocpi_2_2_locations_powergo.json", network_name="powergo-dump"
        )
        await credentials.add_static(store, "powergo", TOKEN, [Party.parse("NL*PFG")])
    evses = sync_conn.execute(
        "SELECT l.ocpi_id_raw, e.uid_raw FROM evses e JOIN locations l ON l.id = e.location_id"
        " WHERE e.visible ORDER BY e.id LIMIT 300"
    ).fetchall()
    env = settings_env(settings)
    server = start_granian("wattlas.asgi:app", env, tmp_path, name="api")
    base = datetime.now(UTC) - timedelta(hours=1)
    acknowledged: list[tuple[str, str, datetime, str]] = []
    failed = 0
    rejections: list[str | None] = []
    statuses = ("CHARGING", "AVAILABLE", "BLOCKED", "OUTOFORDER")

    async def push(client: httpx.AsyncClient, i: int) -> None:
        nonlocal failed
        location_id, uid = evses[i % len(evses)]
        moment = base + timedelta(milliseconds=i)
        status = statuses[i % len(statuses)]
        try:
            response = await client.patch(
                f"{server.url}/ocpi/2.2.1/locations/NL/PFG/{location_id}/{uid}",
                json={"status": status, "last_updated": moment.isoformat().replace("+00:00", "Z")},
                headers=b64(TOKEN),
                timeout=5,
            )
        except httpx.HTTPError:
            failed += 1
            return
        body = response.json()
        if body["status_code"] == 1000 and body.get("status_message") == "Success":
            acknowledged.append((location_id, uid, moment, status))
        else:
            failed += 1
            rejections.append(body.get("status_message"))

    async def burst() -> None:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(limits=limits) as client:
            semaphore = asyncio.Semaphore(32)

            async def one(i: int) -> None:
                async with semaphore:
                    await push(client, i)

            await asyncio.gather(*(one(i) for i in range(6000)))

    task = asyncio.create_task(burst())
    started = time.monotonic()
    while len(acknowledged) < 300 and time.monotonic() - started < 30:
        await asyncio.sleep(0.01)
    server.kill_hard()  # mid-burst: requests in flight are cut off
    await task
    assert len(acknowledged) >= 300 and failed > 0, (len(acknowledged), failed, rejections[:3])

    restarted = start_granian("wattlas.asgi:app", env, tmp_path, name="api-restarted")
    try:
        assert httpx.get(f"{restarted.url}/health").status_code == 200
    finally:
        restarted.stop()
    stored = {
        (loc, uid): (lu, status)
        for loc, uid, lu, status in sync_conn.execute(
            "SELECT l.ocpi_id_raw, e.uid_raw, e.last_updated, e.status FROM evses e"
            " JOIN locations l ON l.id = e.location_id"
        )
    }
    lost = []
    for location_id, uid, moment, status in acknowledged:
        stored_at, stored_status = stored[(location_id, uid)]
        # The acknowledged update, or a newer one of the same EVSE, is in the database.
        if stored_at < moment or (stored_at == moment and stored_status != status):
            lost.append((location_id, uid, moment, status, stored_at, stored_status))
    assert lost == []
