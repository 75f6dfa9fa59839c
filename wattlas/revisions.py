"""The schema revision this code expects (``/health`` compares it with the database's), read
from the migration files without importing them.

Alembic's ``ScriptDirectory`` finds the head by importing every migration, and with them
Alembic, SQLAlchemy and GeoAlchemy2: 30 MB or more in each API process, which needs only the
head's name and holds a memory budget of 250 MB (issue 15). Each file says what it needs in two
assignments (``revision = "0012"``, ``down_revision = "0011"``), read here with ``ast``.
``tests/test_schema.py`` requires the same head as Alembic's, and that serving imports none of
the three.
"""

from __future__ import annotations

import ast
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class RevisionError(Exception):
    """The migration files do not say one head."""


def _assigned(path: Path) -> dict[str, object]:
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            values[target.id] = ast.literal_eval(value)
    return values


def head_revision(directory: Path = MIGRATIONS_DIR / "versions") -> str:
    """The one revision no other revision comes after."""
    revisions: set[str] = set()
    preceded: set[str] = set()
    for path in sorted(directory.glob("*.py")):
        values = _assigned(path)
        if "revision" not in values:
            continue
        revision, down = values["revision"], values.get("down_revision")
        if not isinstance(revision, str):
            raise RevisionError(f"{path.name}: revision is not a string: {revision!r}")
        revisions.add(revision)
        downs = (down,) if isinstance(down, str) else down or ()
        if not isinstance(downs, tuple | list) or not all(isinstance(d, str) for d in downs):
            raise RevisionError(f"{path.name}: down_revision is not a revision: {down!r}")
        preceded.update(downs)
    heads = sorted(revisions - preceded)
    if len(heads) != 1:
        raise RevisionError(f"{directory}: {len(heads)} heads ({', '.join(heads) or 'none'})")
    return heads[0]
