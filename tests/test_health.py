"""/health: 200 when all is well, 503 naming the broken dependency; recovers by itself."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from ingest import credentials
from tests.conftest import make_app
from tests.ingest.helpers import TOKEN, b64, location_example
from wattlas.local import free_port
from wattlas.migrate import head_revision

LOC1 = "/ocpi/2.2.1/locations/BE/BEC/LOC1"


async def test_health_ok_names_database_redis_and_revision(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True and body["redis"]["ok"] is True
    assert body["schema"] == {"ok": True, "revision": head_revision(), "expected": head_revision()}
    assert response.headers["cache-control"] == "no-store"


async def test_unreachable_database_is_named(settings: Settings) -> None:
    broken = msgspec.structs.replace(
        settings, database_url=f"postgresql://x@127.0.0.1:{free_port()}/x"
    )
    async with AsyncTestClient(app=make_app(broken)) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is False
    assert "no connection to 127.0.0.1" in body["database"]["error"]
    assert body["redis"]["ok"] is True
    async with AsyncTestClient(app=make_app(broken)) as client:
        ready = await client.get("/health/ready")
    assert (ready.status_code, ready.json()["status"]) == (503, "unavailable")


async def test_ready_when_all_is_well(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    ready = await client.get("/health/ready")
    assert (ready.status_code, ready.json()["status"]) == (200, "ok")


def _start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    import redis as redis_sync

    while time.monotonic() < deadline:
        try:
            if redis_sync.Redis(port=port).ping():
                return process
        except redis_sync.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis did not start")


async def _nearby_statuses(
    client: AsyncTestClient[Litestar], lat: float, lon: float
) -> list[object]:
    """(id, available, occupied, EVSE statuses) of each location within the default 5 km."""
    nearby = await client.get("/v1/locations/nearby", params={"lat": lat, "lon": lon})
    assert nearby.status_code == 200, nearby.text
    found: list[object] = []
    for result in nearby.json()["results"]:
        detail = (await client.get(f"/v1/locations/{result['id']}")).json()
        availability = result["availability"]
        found.append(
            (
                result["id"],
                availability["available"],
                availability["occupied"],
                {e["uid"]: e["status"] for e in detail["evses"]},
            )
        )
    return found


@pytest.mark.slow
async def test_redis_outage_is_reported_and_recovered_without_restart(
    settings: Settings, tmp_path: Path, sync_conn: psycopg.Connection
) -> None:
    async with Store(settings.database_url or "", max_size=2, name="test") as store:
        await credentials.add_static(
            store, "becharged", TOKEN, [Party.parse("BE*BEC")], version="2.2.1"
        )
    example = location_example()  # BE*BEC LOC1: 3256 AVAILABLE, 3257 RESERVED (occupied)
    lat, lon = (float(example["coordinates"][k]) for k in ("latitude", "longitude"))
    port = free_port()
    redis_process = _start_redis(port, tmp_path)
    own = msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{port}/0")
    try:
        async with AsyncTestClient(app=make_app(own)) as client:
            assert (await client.get("/health")).status_code == 200
            put = await client.put(LOC1, json=example, headers=b64(TOKEN))
            assert (put.status_code, put.json()["status_code"]) == (201, 1000)
            (public_id,) = sync_conn.execute("SELECT public_id FROM locations").fetchall()[0]
            before = [(public_id, 1, 1, {"3256": "AVAILABLE", "3257": "RESERVED"})]
            assert await _nearby_statuses(client, lat, lon) == before

            redis_process.terminate()
            redis_process.wait(timeout=10)
            down = await client.get("/health")
            assert down.status_code == 503
            assert down.json()["redis"]["ok"] is False
            assert down.json()["database"]["ok"] is True
            # Ready all the same: a load balancer draining on readiness keeps this node.
            ready = await client.get("/health/ready")
            assert ready.status_code == 200
            assert (ready.json()["status"], ready.json()["redis"]["ok"]) == ("degraded", False)
            # The rest of the service keeps answering from PostgreSQL: discovery, exactly...
            assert await _nearby_statuses(client, lat, lon) == before
            search = await client.get("/v1/search", params={"q": "gent zuid"})
            assert [r["id"] for r in search.json()["results"]] == [public_id]
            # ...and an OCPI status push, acknowledged, stored and shown by discovery.
            patch = await client.patch(
                f"{LOC1}/3256",
                json={"status": "CHARGING", "last_updated": "2030-01-01T00:00:00Z"},
                headers=b64(TOKEN),
            )
            assert (patch.status_code, patch.json()["status_code"]) == (200, 1000)
            assert sync_conn.execute(
                "SELECT uid, status, status_bucket FROM evses ORDER BY uid"
            ).fetchall() == [("3256", "CHARGING", "occupied"), ("3257", "RESERVED", "occupied")]
            assert await _nearby_statuses(client, lat, lon) == [
                (public_id, 0, 2, {"3256": "CHARGING", "3257": "RESERVED"})
            ]

            redis_process = _start_redis(port, tmp_path)
            deadline = time.monotonic() + 10
            while (await client.get("/health")).status_code != 200:
                assert time.monotonic() < deadline, "health did not recover"
                await asyncio.sleep(0.2)
    finally:
        redis_process.kill()
        redis_process.wait(timeout=10)
