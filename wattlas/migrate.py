"""Schema migrations: ``wattlas migrate`` and the revision the service reports in /health."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def sqlalchemy_url(database_url: str) -> str:
    """Our URLs are libpq style; SQLAlchemy wants the driver in the scheme."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {database_url!r}")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
    refold_search_text(database_url)


def refold_search_text(database_url: str) -> int:
    """Stored search text folded by older rules is folded again (issue 11: transliteration);
    the rows that need it are found by the store, so this is cheap when nothing does."""
    from app.store import Store
    from app.store.search import refold_search_text as refold

    async def run() -> int:
        async with Store(database_url, max_size=1, name="wattlas-migrate") as store:
            return await refold(store)

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the CLI: no loop yet
        return asyncio.run(run())
    # Called from async code (the test suite, an embedding service): a loop of its own, apart.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("postgresql://localhost/x"))
    head = script.get_current_head()
    assert head is not None
    return head
