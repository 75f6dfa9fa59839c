"""The migrations are the schema's only author; the table metadata must agree with them."""

from __future__ import annotations

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from app.db.tables import metadata
from migrations.filters import include_object
from wattlas.migrate import head_revision, sqlalchemy_url


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": include_object, "compare_type": True}
            )
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_database_is_at_head(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row == (head_revision(),)


def test_postgis_and_trigram_extensions_are_installed(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        names = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    assert {"postgis", "pg_trgm"} <= names
