"""The migrations are the schema's only author; the table metadata must agree with them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from app.store.tables import metadata
from migrations.filters import include_object
from wattlas import revisions
from wattlas.local import LocalServices
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


def test_status_updates_have_room_on_their_pages(database_url: str) -> None:
    """The storage options in the table metadata are the ones the migrations set (autogenerate
    does not compare them)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN ('locations', 'evses')"
        ).fetchall()
    assert dict(rows) == {"locations": ["fillfactor=70"], "evses": ["fillfactor=80"]}
    for name, table in (("locations", "70"), ("evses", "80")):
        assert metadata.tables[name].dialect_options["postgresql"]["with"] == {
            "fillfactor": int(table)
        }


def test_nodes_starting_at_once_migrate_one_at_a_time(local_services: LocalServices) -> None:
    """Two `wattlas migrate` at once on an empty database (two containers starting together):
    both succeed and the schema is at head once (issue 15)."""
    url = local_services.create_database("wattlas_migrate_race")
    code = f"from wattlas.migrate import upgrade; upgrade({url!r})"
    nodes = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(2)
    ]
    for node in nodes:
        _, error = node.communicate(timeout=120)
        assert node.returncode == 0, error.decode()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)
        ]


def test_the_head_read_from_the_files_is_alembics(tmp_path: Path) -> None:
    """``wattlas.revisions`` reads the head without importing the migrations; it must name the
    revision Alembic names, and refuse files that do not say one head."""
    assert revisions.head_revision() == head_revision()
    for name, revision, down in (("a", "0001", None), ("b", "0002", "0001"), ("c", "0003", "0001")):
        (tmp_path / f"{name}.py").write_text(f"revision = {revision!r}\ndown_revision = {down!r}\n")
    with pytest.raises(revisions.RevisionError, match="2 heads \\(0002, 0003\\)"):
        revisions.head_revision(tmp_path)
    (tmp_path / "d.py").write_text('revision: str = "0004"\ndown_revision = ("0002", "0003")\n')
    assert revisions.head_revision(tmp_path) == "0004"  # a merge, annotated as Alembic writes it


def test_serving_imports_neither_alembic_nor_sqlalchemy() -> None:
    """They are the migrations' tools; in each API process they would cost 30 MB or more."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, wattlas.asgi; print(sorted(m for m in sys.modules "
         "if m.split('.')[0] in ('alembic', 'sqlalchemy', 'geoalchemy2')))"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.strip().splitlines()[-1] == "[]"
