"""A database with every bundled real OCPI dump loaded once for the read-only API tests; the
networks are marked live (in contact) so that statuses are not stale."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.domain.parties import Party
from app.settings import Settings
from app.store import Store
from ingest.loader import load_file
from tests.conftest import OCPI_FIXTURES, execute, make_app
from wattlas.local import LocalServices
from wattlas.migrate import upgrade


async def _load_all(url: str) -> None:
    manifest = json.loads((OCPI_FIXTURES / "manifest.json").read_text())["networks"]
    async with Store(url, max_size=2, name="test") as store:
        for entry in manifest:
            party = Party.parse(entry["party"]) if entry.get("party") else None
            await load_file(
                store, OCPI_FIXTURES / entry["file"], party=party, network_name=entry["name"]
            )
    await execute(url, "UPDATE networks SET last_contact_at = now(), stale_after_s = 315360000")


@pytest.fixture(scope="session")
def fixture_db(local_services: LocalServices) -> str:
    url = local_services.create_database("wattlas_api")
    upgrade(url)
    asyncio.run(_load_all(url))
    return url


@pytest.fixture(scope="session")
def fixture_settings(base_settings: Settings, fixture_db: str) -> Settings:
    return msgspec.structs.replace(base_settings, database_url=fixture_db)


@pytest.fixture(scope="session")
async def api(fixture_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=make_app(fixture_settings)) as client:
        yield client


@pytest.fixture(scope="session")
def db(fixture_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(fixture_db, autocommit=True) as connection:
        yield connection
