"""Serving with granian: in this process (``wattlas serve``) or as a child (``wattlas run``)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

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
        # A worker that dies (killed, crashed) is started again by granian's main process.
        "--respawn-failed-workers",
        "--respawn-interval",
        "1",
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
    return granian_command(
        "devtools.sandbox.asgi:app", host=settings.host, port=settings.sandbox_port, workers=1
    )


def serve_sandbox_forever(settings: Settings) -> None:
    env = dict(os.environ)
    env["WATTLAS_SANDBOX_PORT"] = str(settings.sandbox_port)
    env["WATTLAS_SANDBOX_PUSH_RATE"] = str(settings.sandbox_push_rate)
    if settings.sandbox_networks:
        env["WATTLAS_SANDBOX_NETWORKS"] = settings.sandbox_networks
    args = sandbox_args(settings)
    os.execve(args[0], args, env)


def _die_with_parent() -> None:
    """In the child, before it runs: Linux sends it SIGTERM when its parent dies, however that
    happens (a SIGKILL of ``wattlas run`` included), so nothing is left behind listening."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """A server ``wattlas run`` started and keeps running: in a process group of its own
    (stopping the group stops its workers too), dying with its parent."""

    name: str
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    once: bool = False  # a job that ends (the bundled import), not a server to keep running

    def start(self) -> Child:
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        return self

    def poll(self) -> int | None:
        """The exit code once it has ended, else None."""
        return self.process.poll() if self.process is not None else 0

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGINT to the group (granian stops its workers), SIGKILL if it lingers."""
        child = self.process
        if child is None or child.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGINT)
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=timeout_s)


def sandbox_environment(
    settings: Settings, push_rate: float, *, demo_tariffs: bool = False
) -> dict[str, str]:
    env = dict(os.environ)
    if demo_tariffs:
        env["WATTLAS_SANDBOX_DEMO_TARIFFS"] = "true"
    env["WATTLAS_SANDBOX_PORT"] = str(settings.sandbox_port)
    env["WATTLAS_SANDBOX_PUSH_RATE"] = str(push_rate)
    env["WATTLAS_STATE_DIR"] = str(settings.state_dir)
    return env


def start_sandbox(settings: Settings, push_rate: float, *, demo_tariffs: bool = False) -> Child:
    env = sandbox_environment(settings, push_rate, demo_tariffs=demo_tariffs)
    return Child("sandbox", sandbox_args(settings), env).start()


def server_environment(
    settings: Settings, extra_env: dict[str, str] | None = None
) -> dict[str, str]:
    env = child_environment(settings, dict(os.environ))
    env.update(extra_env or {})
    return env


def start_bundled_import(settings: Settings) -> Child:
    """``wattlas sources import-bundled`` in the background: the API answers meanwhile."""
    args = [sys.executable, "-c", "from wattlas.cli import main; main()"]
    return Child(
        "registries", [*args, "sources", "import-bundled"], server_environment(settings), once=True
    ).start()


def start_server(
    settings: Settings, target: str = ASGI_TARGET, extra_env: dict[str, str] | None = None
) -> Child:
    return Child(
        "api", granian_args(settings, target), server_environment(settings, extra_env)
    ).start()
