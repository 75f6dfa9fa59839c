"""Bad input costs nothing and every failure has its answer (issue 9, findings 2, 3, 5, 6, 7):
each finding as it was measured on main, against the real service."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from ingest import credentials
from tests.conftest import make_app, settings_env, start_granian
from tests.ingest.helpers import TOKEN, b64, location_example

ROUTE = "/v1/locations/along-route"
LOCATION = "/ocpi/2.2.1/locations/BE/BEC/LOC1"


@pytest.fixture
async def service(settings: Settings, store: Store) -> AsyncIterator[AsyncTestClient[Litestar]]:
    await credentials.add_static(store, "becharged", TOKEN, [Party.parse("BE*BEC")])
    async with AsyncTestClient(app=make_app(settings)) as client:
        yield client


def _error(response: httpx.Response) -> tuple[int, str, str | None, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error.get("parameter"), error["message"]


# ---- finding 2: a long search query --------------------------------------------------------------
async def test_every_text_parameter_is_bounded_before_any_query(
    service: AsyncTestClient[Litestar],
) -> None:
    # The query of the finding, 7,000 characters: refused as a whole before anything reads it.
    huge_q = await service.get("/v1/search", params={"q": "kadikoy " * 875})
    assert _error(huge_q) == (
        414, "too_large", "query", "the query string is longer than 4,096 bytes"
    )  # fmt: skip
    long_q = await service.get("/v1/search", params={"q": "kadikoy " * 125})  # 1,000 characters
    assert _error(long_q) == (
        400, "invalid_parameter", "q", "must be at most 200 characters, got 1,000"
    )  # fmt: skip
    operator = await service.get(
        "/v1/locations/nearby", params={"lat": 52, "lon": 5, "operator": "x" * 101}
    )
    assert _error(operator) == (
        400, "invalid_parameter", "operator", "must be at most 100 characters, got 101"
    )  # fmt: skip
    networks = await service.get(
        "/v1/locations/nearby",
        params={"lat": 52, "lon": 5, "network": ",".join(f"NL*A{i:02d}" for i in range(51))},
    )
    assert _error(networks) == (400, "invalid_parameter", "network", "at most 50 values, got 51")
    huge = await service.get("/v1/locations/nearby", params={"lat": 52, "lon": 5, "x": "y" * 5000})
    assert _error(huge) == (
        414, "too_large", "query", "the query string is longer than 4,096 bytes"
    )  # fmt: skip


# ---- finding 3: a route of a million points ------------------------------------------------------
async def test_a_huge_route_is_refused_before_it_is_decoded(
    service: AsyncTestClient[Litestar],
) -> None:
    million = {"route": {"type": "LineString", "coordinates": [[5.0, 52.0]] * 1_000_000}}
    refused = await service.post(ROUTE, content=json.dumps(million))
    assert _error(refused)[:3] == (413, "too_large", "body")
    # Under the size limit but with more points than allowed: counted, not decoded.
    compact = b'{"route":{"type":"LineString","coordinates":[' + b"[5,52]," * 60_000 + b"[5,52]]}}"
    assert len(compact) < 4 * 1024 * 1024
    counted = await service.post(ROUTE, content=compact)
    assert _error(counted) == (
        400, "invalid_parameter", "route", "has more than 50,000 points (at most 50,000)"
    )  # fmt: skip


# ---- finding 5: bodies no decoder can read, and odd paths ----------------------------------------
NESTED = b"[" * 1000 + b"]" * 1000
BAD_UTF8 = b'{"route": {"encoded_polyline": "\xff\xfe"}}'


async def test_unreadable_bodies_and_odd_paths_are_clear_4xx(
    service: AsyncTestClient[Litestar], sync_conn: psycopg.Connection
) -> None:
    for body in (NESTED, BAD_UTF8):
        answer = await service.post(ROUTE, content=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["parameter"] == "body"
    ocpi = [
        ("PUT", LOCATION),
        ("PATCH", f"{LOCATION}/3256"),
        ("PUT", "/ocpi/2.2.1/tariffs/BE/BEC/T1"),
        ("PUT", "/ocpi/2.2.1/credentials"),
    ]
    for method, path in ocpi:
        for body in (NESTED, BAD_UTF8):
            answer = await service.request(method, path, content=body, headers=b64(TOKEN))
            assert answer.status_code == 400, (method, path, answer.text)
            assert answer.json()["status_code"] == 2001, (method, path, answer.text)
    odd = await service.get("/static/x%00")
    assert _error(odd) == (400, "invalid_path", "path", "the path holds a NUL")
    unknown = await service.get("/ocpi/2.2.1/nothing/here/at/all/x", headers=b64(TOKEN))
    assert unknown.status_code == 404
    assert unknown.json()["status_code"] == 2000  # an OCPI envelope, even with no route
    assert sync_conn.execute("SELECT count(*) FROM locations").fetchone() == (0,)


# ---- finding 7: headers of the map page, slow bodies -------------------------------------------
async def test_the_map_page_sends_security_headers(service: AsyncTestClient[Litestar]) -> None:
    page = await service.get("/")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    api = await service.get("/v1/ping")
    assert api.headers["x-content-type-options"] == "nosniff"


def _slow_request(port: int, path: str, body: bytes, pause_s: float) -> bytes:
    """Send headers, then the body one byte at a time with a pause between bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        sock.settimeout(0.05)
        answer = b""
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(pause_s)
            try:
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            if answer:
                break
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.slow
def test_a_body_sent_too_slowly_is_timed_out(settings: Settings, tmp_path: Path) -> None:
    env = {**settings_env(settings), "WATTLAS_BODY_TIMEOUT_S": "1"}
    server = start_granian("wattlas.asgi:app", env, tmp_path, name="api")
    try:
        started = time.monotonic()
        answer = _slow_request(server.port, ROUTE, b'{"route": {}, "corridor_m": 100}', 0.2)
        took_s = time.monotonic() - started
    finally:
        server.stop()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"parameter":"body"' in answer
    assert took_s < 5


# ---- finding 6: a worker killed -----------------------------------------------------------------
def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_a_killed_worker_is_started_again(settings: Settings, tmp_path: Path) -> None:
    server = start_granian("wattlas.asgi:app", settings_env(settings), tmp_path, name="api")
    try:
        (worker,) = _children(server.process.pid)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{server.url}/v1/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not come back"
            time.sleep(0.2)
        assert _children(server.process.pid) != [worker]
    finally:
        server.stop()


# ---- finding 7: revocation in every process, before `networks revoke` returns --------------------
@pytest.mark.slow
async def test_a_revoked_token_writes_nothing_sent_after_the_revocation(
    settings: Settings, store: Store, tmp_path: Path, sync_conn: psycopg.Connection
) -> None:
    await credentials.add_static(store, "becharged", TOKEN, [Party.parse("BE*BEC")])
    server = start_granian("wattlas.asgi:app", settings_env(settings), tmp_path, workers=2)
    sent: list[tuple[float, int, int]] = []  # (sent at, HTTP status, OCPI status)
    revoked_at: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            put = await client.put(LOCATION, json=location_example(), headers=b64(TOKEN))
            assert put.json()["status_code"] == 1000

            async def pusher(lane: int) -> None:
                for i in range(400):
                    if revoked_at and time.monotonic() > revoked_at[0] + 1.0:
                        return
                    at = f"2030-01-01T00:{lane:02d}:{i // 60:02d}.{i % 60:02d}Z"
                    started = time.monotonic()
                    answer = await client.patch(
                        f"{LOCATION}/3256",
                        json={"status": "CHARGING" if i % 2 else "AVAILABLE", "last_updated": at},
                        headers=b64(TOKEN),
                    )
                    sent.append((started, answer.status_code, answer.json()["status_code"]))

            async def revoker() -> None:
                await asyncio.sleep(0.5)
                await credentials.revoke(store, "becharged")
                revoked_at.append(time.monotonic())

            await asyncio.gather(*(pusher(lane) for lane in range(8)), revoker())
    finally:
        server.stop()
    assert revoked_at
    before = [s for s in sent if s[0] < revoked_at[0]]
    after = [s for s in sent if s[0] >= revoked_at[0]]
    assert any(ocpi == 1000 for _, _, ocpi in before)
    assert after, "no push was sent after the revocation"
    assert [(http, ocpi) for _, http, ocpi in after if ocpi == 1000] == []
    assert {http for _, http, _ in after} == {401}
    # The network's data stays.
    assert sync_conn.execute("SELECT count(*) FROM evses").fetchone() == (2,)
