"""A database outage answers clearly and the service recovers by itself (issue 8, "one error
boundary"; issue 9, "outages answer clearly"): with a real PostgreSQL stopped under a running
service, a discovery question is a 503 in the API's error shape with ``Retry-After``, an OCPI
push a 3000 envelope with ``Retry-After``, each within a second; when PostgreSQL is back the
same process answers again, without a restart.

The outage is of a private PostgreSQL cluster of this module's own, so the rest of the suite is
not touched."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store, StoreUnavailable
from ingest import credentials
from tests.conftest import make_app, settings_env, start_granian
from tests.ingest.helpers import TOKEN, b64, location_example
from wattlas.local import LocalServices, freeze_postgres
from wattlas.migrate import upgrade

LOCATION = "/ocpi/2.2.1/locations/BE/BEC/LOC1"
STATUS = {"status": "CHARGING", "last_updated": "2030-01-01T00:00:00Z"}
ANSWER_WITHIN_S = 1.0


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[LocalServices]:
    root = Path(tempfile.mkdtemp(prefix="wattlas-outage-"))
    root.chmod(0o755)
    services = LocalServices(root / "state", pg_settings={"fsync": "off"})
    services.start_postgres()
    try:
        yield services
    finally:
        services.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def client(
    own_postgres: LocalServices, base_settings: Settings
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    url = own_postgres.create_database("wattlas_outage")
    upgrade(url)
    async with Store(url, max_size=2, name="test") as store:
        await credentials.add_static(store, "becharged", TOKEN, [Party.parse("BE*BEC")])
    settings = msgspec.structs.replace(base_settings, database_url=url, nearby_cache=False)
    async with AsyncTestClient(app=make_app(settings)) as test_client:
        yield test_client


async def _timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


@pytest.mark.slow
async def test_a_database_outage_answers_503_and_3000_and_recovers_without_restart(
    client: AsyncTestClient[Litestar], own_postgres: LocalServices
) -> None:
    put = await client.put(LOCATION, json=location_example(), headers=b64(TOKEN))
    assert (put.status_code, put.json()["status_code"]) == (201, 1000)
    detail_path = "/v1/search"
    found = await client.get(detail_path, params={"q": "gent zuid"})
    assert [r["ocpi_id"] for r in found.json()["results"]] == ["LOC1"]
    public_id = found.json()["results"][0]["id"]

    own_postgres.stop_postgres()
    for _ in range(3):  # the first failure and the ones after it, while the pool reconnects
        nearby, took_s = await _timed(
            client.get(
                "/v1/locations/nearby", params={"lat": 51.0476, "lon": 3.7299, "radius_m": 1000}
            )
        )
        assert nearby.status_code == 503, nearby.text
        assert nearby.json()["error"]["code"] == "unavailable"
        assert nearby.json()["error"]["message"] == "the database is unavailable; retry shortly"
        assert nearby.headers["retry-after"] == "5"
        assert took_s < ANSWER_WITHIN_S
    detail, took_s = await _timed(client.get(f"/v1/locations/{public_id}"))
    assert (detail.status_code, detail.json()["error"]["code"]) == (503, "unavailable")
    assert took_s < ANSWER_WITHIN_S

    # The token is remembered for a few seconds: this push reaches the writer, whose
    # transaction cannot start; a push with an unknown token fails at the token lookup.
    push, took_s = await _timed(client.patch(f"{LOCATION}/3256", json=STATUS, headers=b64(TOKEN)))
    assert push.status_code == 503
    assert push.json()["status_code"] == 3000
    assert push.headers["retry-after"]
    assert took_s < ANSWER_WITHIN_S
    stranger, took_s = await _timed(
        client.patch(f"{LOCATION}/3256", json=STATUS, headers=b64("someone-else-0123456789"))
    )
    assert (stranger.status_code, stranger.json()["status_code"]) == (503, 3000)
    assert stranger.headers["retry-after"] == "5"
    assert took_s < ANSWER_WITHIN_S

    own_postgres.start_postgres()
    deadline = time.monotonic() + 30
    while True:
        again = await client.patch(f"{LOCATION}/3256", json=STATUS, headers=b64(TOKEN))
        if again.status_code == 200:
            break
        assert time.monotonic() < deadline, f"no recovery: {again.status_code} {again.text}"
        await asyncio.sleep(0.2)
    assert again.json()["status_code"] == 1000
    detail = await client.get(f"/v1/locations/{public_id}")
    assert detail.status_code == 200
    assert {e["uid"]: e["status"] for e in detail.json()["evses"]} == {
        "3256": "CHARGING",
        "3257": "RESERVED",
    }


@pytest.mark.slow
async def test_callers_already_waiting_hear_of_the_outage_and_the_pool_comes_back_soon(
    own_postgres: LocalServices,
) -> None:
    url = own_postgres.create_database("wattlas_outage_pool")
    async with Store(url, max_size=1, min_size=1, name="test-pool") as store:

        async def hold() -> None:
            async with store.connection() as conn:
                await conn.execute("SELECT pg_sleep(30)")

        async def wait_for_one() -> float:
            with pytest.raises(StoreUnavailable):
                async with store.connection() as conn:
                    await conn.execute("SELECT 1")
            return time.monotonic()

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.5)  # the only connection is busy
        waiter = asyncio.create_task(wait_for_one())
        await asyncio.sleep(0.5)  # the second caller is queued for it
        stopped_at = time.monotonic()
        own_postgres.stop_postgres()
        with pytest.raises(StoreUnavailable):
            await holder
        heard_at = await waiter
        # Without the periodic look, the waiter kept its whole 5 s wait.
        assert heard_at - stopped_at < 1.5

        await asyncio.sleep(20)  # psycopg_pool alone would now wait up to 16 s between tries
        own_postgres.start_postgres()
        back_at = time.monotonic()
        while True:
            try:
                async with store.connection() as conn:
                    await conn.execute("SELECT 1")
                break
            except StoreUnavailable:
                assert time.monotonic() - back_at < 6, "the pool did not reconnect within 6 s"
                await asyncio.sleep(0.2)
        back_s = time.monotonic() - back_at
        print(f"\nwaiter heard in {heard_at - stopped_at:.2f} s; back {back_s:.2f} s after restart")


@pytest.mark.slow
async def test_a_frozen_database_answers_503_and_3000_within_seconds_never_a_hang(
    own_postgres: LocalServices, base_settings: Settings, tmp_path: Path
) -> None:
    """SIGSTOP to PostgreSQL under load (issue 9: every request holding a connection hung for
    the whole freeze): the primary's watch finds it silent within a second, severs the
    connections in use and refuses new ones, so every question is answered, 503 or 3000 with
    Retry-After, and the service answers 200 again soon after SIGCONT."""
    url = own_postgres.create_database("wattlas_frozen")
    upgrade(url)
    async with Store(url, max_size=2, name="test") as store:
        await credentials.add_static(store, "becharged", TOKEN, [Party.parse("BE*BEC")])
    # The database's path: the nearby index would answer from memory for up to
    # MAX_TAIL_AGE_S (tests/api/test_nearby_index.py says what it does when the feed stops).
    env = {
        **settings_env(base_settings),
        "WATTLAS_DATABASE_URL": url,
        "WATTLAS_NEARBY_CACHE": "false",
    }
    server = start_granian("wattlas.asgi:app", env, tmp_path, name="api")
    answers: list[tuple[str, int, int | None, str | None, float, float]] = []
    stop = asyncio.Event()

    async def driver(client: httpx.AsyncClient, kind: str) -> None:
        while not stop.is_set():
            started = time.monotonic()
            if kind == "nearby":
                r = await client.get("/v1/locations/nearby", params={"lat": 51.0476, "lon": 3.7299})
                ocpi = None
            else:
                r = await client.patch(f"{LOCATION}/3256", json=STATUS, headers=b64(TOKEN))
                ocpi = r.json()["status_code"]
            answers.append(
                (kind, r.status_code, ocpi, r.headers.get("retry-after"), started,
                 time.monotonic() - started)
            )  # fmt: skip
            await asyncio.sleep(0.02)

    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            put = await client.put(LOCATION, json=location_example(), headers=b64(TOKEN))
            assert put.json()["status_code"] == 1000
            drivers = [
                asyncio.create_task(driver(client, kind)) for kind in ["nearby"] * 6 + ["push"] * 2
            ]
            # Freeze only once every driver has had answers: on a loaded machine the first
            # questions to a fresh server can take over a second by themselves.
            deadline = time.monotonic() + 20
            while len([a for a in answers if a[1] == 200]) < 3 * len(drivers):
                assert time.monotonic() < deadline, "no answers before the freeze"
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            freeze_postgres(own_postgres.pg_data)
            frozen_at = time.monotonic()
            try:
                await asyncio.sleep(4.0)
            finally:
                freeze_postgres(own_postgres.pg_data, frozen=False)
            thawed_at = time.monotonic()
            try:
                deadline = time.monotonic() + 15
                while not any(a[1] == 200 and a[4] > thawed_at for a in answers):
                    assert time.monotonic() < deadline, "no 200 after the thaw"
                    await asyncio.sleep(0.1)
            finally:
                stop.set()
                await asyncio.gather(*drivers)
    finally:
        server.stop()
    during = [a for a in answers if frozen_at + 1.5 < a[4] < thawed_at - 0.5]
    assert len(during) > 20
    assert {(kind, status) for kind, status, *_ in during} <= {("nearby", 503), ("push", 503)}
    assert {a[2] for a in during if a[0] == "push"} == {3000}
    assert all(a[3] for a in during)  # Retry-After on each
    # Refused at once while frozen; those in flight when it froze waited for the watch to find
    # it silent (a probe every 0.5 s, silent after 1 s): about 1.5 s, never the whole freeze.
    assert max(a[5] for a in during) < 0.5, sorted(a[5] for a in during)[-5:]
    # Those in flight when it froze, or asked before the watch found it silent, are answered
    # within 2.5 s of the freeze.
    caught = [
        a[4] + a[5] - frozen_at
        for a in answers
        if a[4] + a[5] > frozen_at and a[4] <= frozen_at + 1.5
    ]
    near = sorted((round(a[4] - frozen_at, 2), round(a[5], 2), a[1]) for a in answers)
    assert caught and max(caught) < 2.5, [x for x in near if -3 < x[0] < 2]
