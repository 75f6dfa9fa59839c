"""The folder map (docs/architecture.md) is true: every import of the product's code follows its
arrows, only the store touches the database, and no module reaches for another's private
names. Read from the source with ``ast``, so a new module is checked the day it is written."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("app", "ingest", "wattlas", "migrations")

# Which top-level parts a part may import (besides itself, the standard library and packages).
ALLOWED: dict[str, tuple[str, ...]] = {
    "app.domain": (),
    "app.geo": (),
    "app.price": ("app.domain",),
    "app.store": ("app.domain", "app.logs", "app.settings"),
    "app.live": ("app.domain", "app.store", "app.logs", "app.api.schemas", "app.api.summaries"),
    "app.api": (
        "app.domain", "app.store", "app.live", "app.logs", "app.services", "app.settings",
        "app.price", "app.limits",
    ),
    "app.web": ("app.geo", "app.settings", "app.domain"),
    "app.access": ("app.store", "app.logs", "app.settings", "app.api.schemas"),
    "ingest.ocpi": ("app.domain", "app.store.records", "app.geo"),
    "ingest": (
        "app.domain", "app.store", "app.live", "app.logs", "app.settings", "app.services",
        "app.price", "app.geo", "app.limits",
    ),
    "wattlas": ("app", "ingest", "migrations", "devtools"),
    "migrations": ("app.store.tables",),
}  # fmt: skip
# The app's own top-level modules and what they may use.
APP_TOP = ("app.settings", "app.logs", "app.services", "app.jobs", "app.factory", "app.limits")


def _modules() -> list[tuple[str, Path]]:
    out = []
    for part in PRODUCT:
        for path in sorted((ROOT / part).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            out.append((name, path))
    return out


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _part(module: str) -> str:
    """The most specific key of ALLOWED that the module belongs to."""
    candidates = [p for p in ALLOWED if module == p or module.startswith(p + ".")]
    return max(candidates, key=len) if candidates else module.split(".")[0]


def _ours(module: str) -> bool:
    return module.split(".")[0] in (*PRODUCT, "devtools", "tests")


@pytest.mark.parametrize(("name", "path"), _modules(), ids=lambda v: str(v))
def test_imports_follow_the_folder_map(name: str, path: Path) -> None:
    if name in APP_TOP or name == "app":
        return  # the composition of the app itself (settings, logs, services, factory)
    part = _part(name)
    allowed = ALLOWED.get(part)
    assert allowed is not None, f"{name}: not in the folder map (docs/architecture.md)"
    for module, names in _imports(path):
        if not _ours(module) or module == part or module.startswith(part + "."):
            continue
        targets = [module] + [f"{module}.{n}" for n in names]
        assert any(t == a or t.startswith(a + ".") for t in targets for a in allowed), (
            f"{name} imports {module}: {part} may import only {', '.join(allowed) or 'nothing'}"
        )


@pytest.mark.parametrize(("name", "path"), _modules(), ids=lambda v: str(v))
def test_only_the_store_touches_the_database(name: str, path: Path) -> None:
    if name.startswith(("app.store", "migrations")):
        return
    for module, _ in _imports(path):
        assert module.split(".")[0] not in ("psycopg", "psycopg_pool", "sqlalchemy"), (
            f"{name} imports {module}: connections and SQL belong to app/store"
        )


@pytest.mark.parametrize(("name", "path"), _modules(), ids=lambda v: str(v))
def test_no_module_imports_another_modules_private_names(name: str, path: Path) -> None:
    for module, names in _imports(path):
        if _ours(module):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            assert not private, f"{name} imports private {private} from {module}"
