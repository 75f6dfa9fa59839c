"""API keys and quotas (issue 11): ``wattlas keys`` creates, lists, rotates, revokes and
reports keys; the API checks them, counts every call in Redis and refuses with 429 and the IETF
RateLimit fields; the counts hold across processes and under concurrency."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.settings import Settings
from tests.conftest import ServerProcess, make_app, settings_env, start_granian
from wattlas.cli import main

Client = AsyncTestClient[Litestar]
NEARBY = "/v1/locations/nearby"
HERE = {"lat": 52.37, "lon": 4.89}


@pytest.fixture
def cli(settings: Settings) -> CliRunner:
    return CliRunner(
        env={
            "WATTLAS_DATABASE_URL": settings.database_url or "",
            "WATTLAS_REDIS_URL": settings.redis_url or "",
            "WATTLAS_LOG_LEVEL": "WARNING",
        }
    )


def keys(cli: CliRunner, *args: str) -> Any:
    result = cli.invoke(main, ["keys", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def akeys(cli: CliRunner, *args: str) -> Any:
    """``keys`` from a test that runs in the event loop (the command runs its own)."""
    return await asyncio.to_thread(keys, cli, *args)


def required(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, api_keys_required=True)


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[Client]:
    """The service with keys required."""
    async with AsyncTestClient(app=make_app(required(settings))) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def fields(value: str) -> dict[str, dict[str, int]]:
    """A RateLimit / RateLimit-Policy field: {"minute": {"r": 4, "t": 60}, …}."""
    out = {}
    for item in value.split(","):
        name, *params = item.strip().split(";")
        out[name.strip('"')] = {k: int(v) for k, v in (p.split("=") for p in params)}
    return out


# ---- the command ------------------------------------------------------------------------------
def test_keys_are_created_listed_rotated_and_revoked(cli: CliRunner, database_url: str) -> None:
    created = keys(cli, "create", "planner-app", "--rate-per-min", "5", "--daily-quota", "100")
    assert re.fullmatch(r"wk_[A-Za-z0-9_-]{43}", created["key"])
    assert (created["name"], created["rate_per_min"], created["daily_quota"]) == (
        "planner-app", 5, 100,
    )  # fmt: skip
    assert created["key_prefix"] == created["key"][:10] and created["active"] is True
    listed = keys(cli, "list")
    assert [(k["name"], k["key_prefix"], k["active"]) for k in listed] == [
        ("planner-app", created["key_prefix"], True)
    ]
    assert "key" not in listed[0]
    import psycopg

    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT key_sha256 FROM api_keys").fetchone()
    assert stored is not None and created["key"].encode() not in bytes(stored[0])
    rotated = keys(cli, "rotate", "planner-app")
    assert rotated["key"] != created["key"] and rotated["rotated_at"] is not None
    revoked = keys(cli, "revoke", "planner-app")
    assert revoked["active"] is False and revoked["revoked_at"] is not None
    again = cli.invoke(main, ["keys", "create", "planner-app"])
    assert again.exit_code == 2 and "exists already" in again.output
    missing = cli.invoke(main, ["keys", "rotate", "nobody"])
    assert missing.exit_code == 2 and "no API key named 'nobody'" in missing.output


# ---- checking keys ----------------------------------------------------------------------------
async def test_keyless_calls_are_refused_when_keys_are_required(
    guarded: Client, cli: CliRunner
) -> None:
    response = await guarded.get(NEARBY, params=HERE)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == {
        "message": "an API key is required: send it as Authorization: Bearer KEY or X-Api-Key",
        "code": "unauthorized",
        "parameter": "Authorization",
    }
    key = (await akeys(cli, "create", "app"))["key"]
    for headers in (bearer(key), {"X-Api-Key": key}):
        ok = await guarded.get(NEARBY, params=HERE, headers=headers)
        assert ok.status_code == 200, ok.text
        assert fields(ok.headers["ratelimit-policy"]) == {
            "minute": {"q": 60, "w": 60},
            "day": {"q": 10_000, "w": 86_400},
        }
    wrong = await guarded.get(NEARBY, params=HERE, headers=bearer("wk_" + "x" * 43))
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "unknown API key"
    # Outside the public discovery API no key is asked for.
    for path in ("/health", "/v1/ping", "/v1/map-config", "/schema/openapi.json", "/"):
        assert (await guarded.get(path)).status_code == 200, path


async def test_a_wrong_key_is_refused_even_when_keys_are_optional(client: Client) -> None:
    assert (await client.get(NEARBY, params=HERE)).status_code == 200
    response = await client.get(NEARBY, params=HERE, headers={"X-Api-Key": "wk_nope"})
    assert response.status_code == 401


async def test_rotated_and_revoked_keys_stop_working(settings: Settings, cli: CliRunner) -> None:
    first = (await akeys(cli, "create", "app"))["key"]
    rotated = (await akeys(cli, "rotate", "app"))["key"]
    async with AsyncTestClient(app=make_app(required(settings))) as client:
        assert (await client.get(NEARBY, params=HERE, headers=bearer(rotated))).status_code == 200
        old = await client.get(NEARBY, params=HERE, headers=bearer(first))
        assert old.status_code == 401
    await akeys(cli, "revoke", "app")
    async with AsyncTestClient(app=make_app(required(settings))) as client:
        gone = await client.get(NEARBY, params=HERE, headers=bearer(rotated))
        assert gone.status_code == 401
        assert gone.json()["error"]["message"] == "this API key was revoked"


# ---- limits -----------------------------------------------------------------------------------
async def test_five_calls_a_minute_pass_and_the_sixth_is_refused(
    guarded: Client, cli: CliRunner
) -> None:
    key = (await akeys(cli, "create", "five", "--rate-per-min", "5"))["key"]
    remaining = []
    for _ in range(5):
        ok = await guarded.get(NEARBY, params=HERE, headers=bearer(key))
        assert ok.status_code == 200
        remaining.append(fields(ok.headers["ratelimit"])["minute"]["r"])
    assert remaining == [4, 3, 2, 1, 0]
    refused = await guarded.get(
        NEARBY, params=HERE, headers={**bearer(key), "Origin": "https://a.example"}
    )
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited" and "5 calls a minute" in error["message"]
    retry = int(refused.headers["retry-after"])
    assert 1 <= retry <= 60
    assert fields(refused.headers["ratelimit"])["minute"] == {"r": 0, "t": retry}
    assert fields(refused.headers["ratelimit-policy"])["minute"] == {"q": 5, "w": 60}
    # A browser app can read all of it.
    assert refused.headers["access-control-allow-origin"] == "*"
    exposed = refused.headers["access-control-expose-headers"].lower()
    assert "retry-after" in exposed and "ratelimit" in exposed
    usage = await akeys(cli, "usage", "five")
    assert usage["last_minute"] == 5
    assert usage["days"][0]["calls"] == 5 and usage["days"][0]["refused"] == 1


async def test_the_daily_quota_holds(guarded: Client, cli: CliRunner) -> None:
    key = (await akeys(cli, "create", "three", "--daily-quota", "3"))["key"]
    codes = [
        (await guarded.get(NEARBY, params=HERE, headers=bearer(key))).status_code for _ in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    refused = await guarded.get(NEARBY, params=HERE, headers=bearer(key))
    assert "daily quota of 3 calls" in refused.json()["error"]["message"]
    assert fields(refused.headers["ratelimit"])["day"]["r"] == 0
    assert int(refused.headers["retry-after"]) == fields(refused.headers["ratelimit"])["day"]["t"]


async def test_the_rate_limit_holds_under_concurrency(guarded: Client, cli: CliRunner) -> None:
    key = (await akeys(cli, "create", "burst", "--rate-per-min", "7"))["key"]
    answers = await asyncio.gather(
        *(guarded.get(NEARBY, params=HERE, headers=bearer(key)) for _ in range(30))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 7 + [429] * 23


@pytest.fixture
def two_servers(
    settings: Settings, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {**settings_env(settings), "WATTLAS_API_KEYS_REQUIRED": "true"}
    first = start_granian("wattlas.asgi:app", env, tmp_path, name="api-a")
    try:
        second = start_granian("wattlas.asgi:app", env, tmp_path, name="api-b")
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_quota_holds_across_two_api_processes(
    two_servers: tuple[ServerProcess, ServerProcess], cli: CliRunner
) -> None:
    key = keys(cli, "create", "shared", "--daily-quota", "10", "--rate-per-min", "1000")["key"]
    first, second = two_servers
    codes = []
    for i in range(14):
        server = (first, second)[i % 2]
        response = httpx.get(f"{server.url}{NEARBY}", params=HERE, headers=bearer(key), timeout=10)
        codes.append((server.port, response.status_code))
    assert [c for _, c in codes] == [200] * 10 + [429] * 4
    assert {port for port, code in codes if code == 200} == {first.port, second.port}
    usage = keys(cli, "usage", "shared")
    assert usage["days"][0] == {"date": usage["days"][0]["date"], "calls": 10, "refused": 4}
    # And the per-minute rate, concurrently from both processes.
    burst = keys(cli, "create", "burst", "--rate-per-min", "6")["key"]

    async def hammer() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            answers = await asyncio.gather(
                *(
                    client.get(f"{s.url}{NEARBY}", params=HERE, headers=bearer(burst))
                    for s in (first, second) * 10
                )
            )
        return sorted(a.status_code for a in answers)

    assert asyncio.run(hammer()) == [200] * 6 + [429] * 14


async def test_without_redis_keys_are_checked_and_limits_not_enforced(
    settings: Settings, cli: CliRunner
) -> None:
    """Documented behaviour: Redis is derived state; while it is down, a valid key is served
    without limits (and without RateLimit fields), an invalid one is still refused."""
    key = (await akeys(cli, "create", "offline", "--rate-per-min", "1"))["key"]
    no_redis = msgspec.structs.replace(
        required(settings), redis_url="redis://127.0.0.1:1/0", nearby_cache=False
    )
    async with AsyncTestClient(app=make_app(no_redis)) as client:
        started = time.monotonic()
        for _ in range(3):
            ok = await client.get(NEARBY, params=HERE, headers=bearer(key))
            assert ok.status_code == 200 and "ratelimit" not in ok.headers
        assert time.monotonic() - started < 5
        bad = await client.get(NEARBY, params=HERE, headers=bearer("wk_unknown"))
        assert bad.status_code == 401


@pytest.fixture
def keyed_server(settings: Settings, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {**settings_env(settings), "WATTLAS_API_KEYS_REQUIRED": "true"}
    server = start_granian("wattlas.asgi:app", env, tmp_path, name="api-keyed")
    try:
        yield server
    finally:
        server.stop()


def test_the_stream_takes_its_key_in_the_query(keyed_server: ServerProcess, cli: CliRunner) -> None:
    """EventSource cannot send headers, so the stream reads ``api_key`` from the query (a real
    server: an open event stream never ends inside the in-process test client)."""
    key = keys(cli, "create", "map", "--rate-per-min", "5")["key"]
    stream = f"{keyed_server.url}/v1/stream"
    refused = httpx.get(stream, params={"bbox": "4,52,5,53"}, timeout=10)
    assert refused.status_code == 401
    params = {"bbox": "4,52,5,53", "api_key": key}
    with httpx.stream("GET", stream, params=params, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert fields(response.headers["ratelimit"])["minute"]["r"] == 4
