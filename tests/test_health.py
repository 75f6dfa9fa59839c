"""/health: 200 when all is well, 503 naming the broken dependency; recovers by itself."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from app.settings import Settings
from tests.conftest import make_app
from wattlas.local import free_port
from wattlas.migrate import head_revision


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


@pytest.mark.slow
async def test_redis_outage_is_reported_and_recovered_without_restart(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    redis_process = _start_redis(port, tmp_path)
    own = msgspec.structs.replace(settings, redis_url=f"redis://127.0.0.1:{port}/0")
    try:
        async with AsyncTestClient(app=make_app(own)) as client:
            assert (await client.get("/health")).status_code == 200

            redis_process.terminate()
            redis_process.wait(timeout=10)
            down = await client.get("/health")
            assert down.status_code == 503
            assert down.json()["redis"]["ok"] is False
            assert down.json()["database"]["ok"] is True
            # The rest of the service keeps answering from PostgreSQL.
            assert (await client.get("/schema")).status_code == 200

            redis_process = _start_redis(port, tmp_path)
            deadline = time.monotonic() + 10
            while (await client.get("/health")).status_code != 200:
                assert time.monotonic() < deadline, "health did not recover"
                await asyncio.sleep(0.2)
    finally:
        redis_process.kill()
        redis_process.wait(timeout=10)
