"""Shared payloads and helpers for the ingestion tests (built from the official spec examples)."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from app.settings import Settings
from tests.conftest import SPEC_EXAMPLES, ServerProcess, settings_env, start_granian

TOKEN = "push-token-BEC-0123456789"


def spec(name: str) -> Any:
    return json.loads((SPEC_EXAMPLES / name).read_text())


def location_example() -> dict[str, Any]:
    """The official 2.2.1 example: BE*BEC LOC1, EVSEs 3256 (AVAILABLE) and 3257 (RESERVED)."""
    return copy.deepcopy(spec("location_example.json"))


def b64(token: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


def raw(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def evse_row(sync_conn: psycopg.Connection, uid: str) -> tuple[Any, ...] | None:
    return sync_conn.execute(
        "SELECT status, status_bucket, visible, last_updated FROM evses WHERE uid = %s", (uid,)
    ).fetchone()


def location_row(sync_conn: psycopg.Connection, ocpi_id: str) -> tuple[Any, ...] | None:
    return sync_conn.execute(
        """
        SELECT visible, evse_count, available_count, occupied_count, out_of_service_count,
               unknown_count, last_updated, hidden_reason
        FROM locations WHERE ocpi_id = %s
        """,
        (ocpi_id,),
    ).fetchone()


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


@contextlib.contextmanager
def running_sandbox(
    tmp_path: Path, settings: Settings, networks: str, **env: str
) -> Iterator[ServerProcess]:
    """The sandbox OCPI network under granian on a free port, serving ``networks`` (comma
    list), pushing nothing unless ``env`` says otherwise; stopped on exit."""
    from wattlas.local import free_port

    port = free_port()
    environment = {
        **settings_env(settings),
        "WATTLAS_STATE_DIR": str(tmp_path / "sandbox-state"),
        "WATTLAS_SANDBOX_PUSH_RATE": "0",
        "WATTLAS_SANDBOX_NETWORKS": networks,
        "WATTLAS_SANDBOX_PORT": str(port),
        "WATTLAS_PORT": str(port),
        **env,
    }
    server = start_granian(
        "devtools.sandbox.asgi:app", environment, tmp_path, name="sandbox", port=port
    )
    try:
        yield server
    finally:
        server.stop()
