"""Serving with granian: in this process (``wattlas serve``) or as a child (``wattlas run``)."""

from __future__ import annotations

import os
import subprocess
import sys

from app.settings import Settings
from wattlas.context import child_environment

ASGI_TARGET = "wattlas.asgi:app"


def granian_args(settings: Settings, target: str = ASGI_TARGET) -> list[str]:
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(settings.workers),
        "--no-ws",
        "--log-level",
        "warning",
        target,
    ]


def serve_forever(settings: Settings) -> None:
    """Replace this process with granian serving the app (signals go straight to it)."""
    env = child_environment(settings, dict(os.environ))
    args = granian_args(settings)
    os.execve(args[0], args, env)


def start_server(
    settings: Settings, target: str = ASGI_TARGET, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = child_environment(settings, dict(os.environ))
    env.update(extra_env or {})
    return subprocess.Popen(granian_args(settings, target), env=env)
