"""Alembic environment: migrations/ is the schema's only author (architecture.md)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from app.store.tables import metadata
from migrations.filters import include_object


def run_migrations() -> None:
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by wattlas.migrate"
    connectable = create_engine(url, poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            include_object=include_object,
            compare_type=True,
            compare_server_default=False,
        )
        with context.begin_transaction():
            # One migration at a time, whatever the number of nodes starting at once (issue 15:
            # each container runs `wattlas migrate && wattlas serve`): the second waits here,
            # then finds the schema at head and has nothing to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(727005)"))
            context.run_migrations()


run_migrations()
