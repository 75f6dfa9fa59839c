"""The one place that owns database connections (style.md, stac-fastapi-pgstac anchor)."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from app.settings import Settings


class DatabaseNotConfigured(RuntimeError):
    pass


def database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise DatabaseNotConfigured(
            "no database: set WATTLAS_DATABASE_URL, or start the local one with "
            "`wattlas services start` (`make run` does everything)"
        )
    return settings.database_url


async def _configure(conn: AsyncConnection) -> None:
    # Answers must come back fast or not at all; a stuck query never holds a driver's request.
    await conn.execute("SET statement_timeout = '30s'")
    await conn.commit()


def create_pool(
    settings: Settings, *, min_size: int = 1, max_size: int | None = None, name: str = "wattlas"
) -> AsyncConnectionPool:
    """An unopened pool; the app's lifespan (or a CLI command) opens and closes it."""
    return AsyncConnectionPool(
        database_url(settings),
        min_size=min_size,
        max_size=max_size or settings.db_pool_size,
        configure=_configure,
        open=False,
        name=name,
        kwargs={"autocommit": True, "application_name": name},
    )


async def connect(settings: Settings) -> AsyncConnection:
    """A single connection for a command; autocommit, so every ``transaction()`` is a real one."""
    return await AsyncConnection.connect(
        database_url(settings), autocommit=True, application_name="wattlas-cli"
    )
