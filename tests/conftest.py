"""Real PostgreSQL + PostGIS and real Redis, started by the suite itself on free ports in a
temporary state directory (never the development data), torn down at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import hypothesis
import msgspec
import psycopg
import pytest
import redis as redis_sync
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.settings import Settings, load_settings
from app.store import Store
from wattlas.local import LocalServices, ensure_system_packages, free_port
from wattlas.migrate import upgrade
from wattlas.serving import granian_command

# Property tests are reproducible: the same examples on every run and machine, none kept between
# runs (issue 9: "a fixed seed and example budget in CI").
hypothesis.settings.register_profile("wattlas", derandomize=True, database=None, deadline=None)
hypothesis.settings.load_profile("wattlas")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
OCPI_FIXTURES = FIXTURES / "ocpi"
SPEC_EXAMPLES = FIXTURES / "spec-examples"

# Tables the tests empty between cases (everything but migrations' and PostGIS' own).
TABLES = (
    "api_keys",
    "changes",
    "change_queue",
    "cluster_cells",
    "quarantine",
    "sync_runs",
    "connectors",
    "evses",
    "tariffs",
    "locations",
    "network_tokens",
    "network_parties",
    "networks",
)


@pytest.fixture(scope="session")
def local_services() -> Iterator[LocalServices]:
    ensure_system_packages()
    root = Path(tempfile.mkdtemp(prefix="wattlas-test-"))
    root.chmod(0o755)  # the postgres user must reach the cluster inside
    services = LocalServices(
        root / "state",
        # Speed over crash safety: the test cluster itself is never crashed, and it is thrown
        # away at the end. (Durability of acknowledged pushes is about our process, see
        # tests/ingest/test_durability.py.)
        pg_settings={"fsync": "off", "full_page_writes": "off", "shared_buffers": "128MB"},
    )
    services.start()
    try:
        yield services
    finally:
        services.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(local_services: LocalServices) -> str:
    url = local_services.create_database("wattlas_test")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url(local_services: LocalServices) -> str:
    return local_services.redis_url


@pytest.fixture(scope="session")
def base_settings(database_url: str, redis_url: str) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        redis_url=redis_url,
        log_format="text",
        log_level="WARNING",
        db_pool_size=4,
        run_scheduler=False,
        cluster_refresh_s=0.0,
        nearby_cache=True,  # the default; tests that need PostGIS alone turn it off
    )


def _clean(database_url: str, redis_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        conn.execute("UPDATE changes_horizon SET pruned_through = 0")
    client = redis_sync.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def clean_db(database_url: str, redis_url: str) -> Iterator[str]:
    """An empty schema (and an empty Redis) for one test."""
    _clean(database_url, redis_url)
    yield database_url


@pytest.fixture
def settings(base_settings: Settings, clean_db: str) -> Settings:
    return base_settings


@pytest.fixture
async def store(clean_db: str) -> AsyncIterator[Store]:
    """The store on the empty test database (what the ingest functions take)."""
    async with Store(clean_db, max_size=4, name="test") as test_store:
        yield test_store


@pytest.fixture
async def conn(clean_db: str) -> AsyncIterator[psycopg.AsyncConnection]:
    async with await psycopg.AsyncConnection.connect(clean_db) as connection:
        yield connection


@pytest.fixture
def sync_conn(clean_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(clean_db, autocommit=True) as connection:
        yield connection


def make_app(settings: Settings) -> Litestar:
    from wattlas.compose import build_app

    return build_app(settings)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The whole service in this process (its lifespan opens real pools)."""
    async with AsyncTestClient(app=make_app(settings)) as test_client:
        yield test_client


# ---- real servers in child processes -----------------------------------------------------------
@dataclass
class ServerProcess:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def kill_hard(self) -> None:
        """SIGKILL to the server and its workers at once: a crash, no shutdown of any kind."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_granian(
    target: str,
    env: dict[str, str],
    tmp_path: Path,
    *,
    workers: int = 1,
    name: str = "server",
    port: int | None = None,
) -> ServerProcess:
    port = port or free_port()
    log_path = tmp_path / f"{name}-{port}.log"
    full_env = {**os.environ, **env}
    full_env.setdefault("WATTLAS_PORT", str(port))
    full_env.setdefault("WATTLAS_LOG_FORMAT", "json")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            granian_command(target, host="127.0.0.1", port=port, workers=workers),
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,  # its own process group: granian's workers die with it
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", port, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{server.log()}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{server.url}/health", timeout=0.5)
            return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} did not start:\n{server.log()}")


def settings_env(settings: Settings) -> dict[str, str]:
    return {
        "WATTLAS_DATABASE_URL": settings.database_url or "",
        "WATTLAS_REDIS_URL": settings.redis_url or "",
        "WATTLAS_LOG_LEVEL": "INFO",
        "WATTLAS_RUN_SCHEDULER": "false",
        # As the settings say (on in the suite's): a test about the PostGIS path turns it off.
        "WATTLAS_NEARBY_CACHE": "true" if settings.nearby_cache else "false",
    }


@pytest.fixture
def api_server(settings: Settings, tmp_path: Path) -> Iterator[ServerProcess]:
    """The real service under granian, on a free port, against the test database."""
    server = start_granian("wattlas.asgi:app", settings_env(settings), tmp_path, name="api")
    try:
        yield server
    finally:
        server.stop()


async def execute(url: str, statement: str, params: tuple[object, ...] | None = None) -> None:
    """One statement of a test's own, on a connection of its own (autocommit)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(statement, params)


def decode(response: httpx.Response) -> object:
    return msgspec.json.decode(response.content)
