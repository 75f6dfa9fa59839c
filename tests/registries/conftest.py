"""A database with every bundled registry imported once (and merged), for the read-only tests
of coverage, provenance and routes; what each reader yields, for computing expectations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.settings import Settings
from app.store import Store, sites
from ingest.registries import Record, Rejected
from ingest.registries.importer import ImportReport, import_files, reader
from tests.conftest import make_app
from wattlas.local import LocalServices
from wattlas.migrate import upgrade
from wattlas.sources_cli import BUNDLED, REGISTRY_FILES


async def _import_all(url: str) -> dict[str, ImportReport]:
    reports = {}
    async with Store(url, max_size=2, name="test") as store:
        for source, names in REGISTRY_FILES.items():
            paths = [BUNDLED / name for name in names]
            reports[source] = await import_files(store, source, paths, merge=False)
        await sites.merge_sites(store)
    return reports


@pytest.fixture(scope="session")
def registry_reports(local_services: LocalServices) -> tuple[str, dict[str, ImportReport]]:
    url = local_services.create_database("wattlas_registries")
    upgrade(url)
    return url, asyncio.run(_import_all(url))


@pytest.fixture(scope="session")
def registry_db(registry_reports: tuple[str, dict[str, ImportReport]]) -> str:
    return registry_reports[0]


@pytest.fixture(scope="session")
def read_items() -> dict[str, list[Record | Rejected]]:
    """What each registry's reader yields from the bundled files."""
    return {
        source: list(reader(source)([BUNDLED / n for n in names]))
        for source, names in REGISTRY_FILES.items()
    }


@pytest.fixture(scope="session")
async def registry_api(
    base_settings: Settings, registry_db: str
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    settings = msgspec.structs.replace(base_settings, database_url=registry_db)
    async with AsyncTestClient(app=make_app(settings)) as client:
        yield client


@pytest.fixture(scope="session")
def registry_conn(registry_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(registry_db, autocommit=True) as connection:
        yield connection


ROOT = Path(__file__).resolve().parents[2]
