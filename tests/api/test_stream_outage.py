"""The live stream tells the truth about its gaps (issue 9, finding 7): an open stream whose
events may have been lost (Redis unreachable) is told ``reset``; many clients opening at once
share the process's one read of the stream instead of a Redis connection each."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.api.test_map_endpoints import _read_events, _subscribed
from tests.conftest import settings_env, start_granian
from tests.test_health import _start_redis
from wattlas.local import free_port

GENT = "3.6,50.9,3.9,51.2"


@pytest.mark.slow
async def test_open_streams_are_told_reset_when_redis_goes_away(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    redis_process: subprocess.Popen[bytes] = _start_redis(port, tmp_path)
    env = {**settings_env(settings), "WATTLAS_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    server = start_granian("wattlas.asgi:app", env, tmp_path, name="api")
    try:
        readers = [await _subscribed(server.url, GENT, 2, timeout_s=20) for _ in range(2)]
        redis_process.terminate()
        redis_process.wait(timeout=10)
        for reader in readers:
            events = await asyncio.wait_for(reader, timeout=15)
            assert [e["event"] for e in events] == ["hello", "reset"]
            assert json.loads(events[1]["data"]) == {
                "reason": "live stream interrupted (Redis unreachable)"
            }
        # While Redis is away a new client is told so at once.
        async with httpx.AsyncClient(timeout=10) as client:
            refused = await client.get(f"{server.url}/v1/stream", params={"bbox": GENT})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "unavailable"
        assert refused.headers["retry-after"] == "5"
    finally:
        server.stop()
        redis_process.kill()
        redis_process.wait(timeout=10)


@pytest.mark.slow
async def test_many_clients_opening_at_once_all_get_their_stream(
    settings: Settings, tmp_path: Path
) -> None:
    server = start_granian("wattlas.asgi:app", settings_env(settings), tmp_path, name="api")
    try:
        clients = 300
        results: list[Any] = await asyncio.gather(
            *(_read_events(server.url, GENT, 1, timeout_s=30) for _ in range(clients)),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        assert failures == []
        assert [r[0]["event"] for r in results] == ["hello"] * clients
    finally:
        server.stop()
