"""Serving with granian: in this process (``wattlas serve``) or as a child (``wattlas run``)."""

from __future__ import annotations

import os
import subprocess
import sys

from app.settings import Settings
from wattlas.context import child_environment

ASGI_TARGET = "wattlas.asgi:app"


def granian_command(
    target: str, *, host: str, port: int, workers: int, backlog: int | None = None
) -> list[str]:
    """The granian command line for an ASGI target (the service, the sandbox, benchmarks)."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-ws",
        "--log-level",
        "warning",
        *(["--backlog", str(backlog)] if backlog is not None else []),
        target,
    ]


def granian_args(settings: Settings, target: str = ASGI_TARGET) -> list[str]:
    return granian_command(target, host=settings.host, port=settings.port, workers=settings.workers)


def serve_forever(settings: Settings) -> None:
    """Replace this process with granian serving the app (signals go straight to it)."""
    env = child_environment(settings, dict(os.environ))
    args = granian_args(settings)
    os.execve(args[0], args, env)


def sandbox_args(settings: Settings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        settings.host,
        "--port",
        str(settings.sandbox_port),
        "--workers",
        "1",
        "--no-ws",
        "--log-level",
        "warning",
        "devtools.sandbox.asgi:app",
    ]


def serve_sandbox_forever(settings: Settings) -> None:
    env = dict(os.environ)
    env["WATTLAS_SANDBOX_PORT"] = str(settings.sandbox_port)
    env["WATTLAS_SANDBOX_PUSH_RATE"] = str(settings.sandbox_push_rate)
    if settings.sandbox_networks:
        env["WATTLAS_SANDBOX_NETWORKS"] = settings.sandbox_networks
    args = sandbox_args(settings)
    os.execve(args[0], args, env)


def start_sandbox(settings: Settings, push_rate: float) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["WATTLAS_SANDBOX_PORT"] = str(settings.sandbox_port)
    env["WATTLAS_SANDBOX_PUSH_RATE"] = str(push_rate)
    env["WATTLAS_STATE_DIR"] = str(settings.state_dir)
    return subprocess.Popen(sandbox_args(settings), env=env)


def start_server(
    settings: Settings, target: str = ASGI_TARGET, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = child_environment(settings, dict(os.environ))
    env.update(extra_env or {})
    return subprocess.Popen(granian_args(settings, target), env=env)
