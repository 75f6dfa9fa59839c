"""``wattlas run``, the README's first command, end to end: with the sandbox's usual port taken it
picks a free one and still starts with data, and after it stops nothing it started is left
(issue 9, finding 7)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.conftest import settings_env
from wattlas.local import free_port

START_TIMEOUT_S = 240


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that mention ``text`` (a unique state directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if text in cmdline or text.encode() in environ:
            found.append(cmdline.strip())
    return found


@pytest.mark.slow
def test_run_picks_a_free_sandbox_port_and_leaves_nothing_behind(
    settings: Settings, tmp_path: Path
) -> None:
    api_port = free_port()
    state_dir = tmp_path / "run-state"
    env = {
        **os.environ,
        **settings_env(settings),
        "WATTLAS_PORT": str(api_port),
        "WATTLAS_STATE_DIR": str(state_dir),
        "WATTLAS_SANDBOX_PORT": "0",  # replaced below by a port someone else holds
    }
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        env["WATTLAS_SANDBOX_PORT"] = str(busy)
        log = (tmp_path / "run.log").open("w+")
        run = subprocess.Popen(
            [str(Path(sys.executable).parent / "wattlas"), "run", "--push-rate", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while "Wattlas is running" not in (tmp_path / "run.log").read_text():
                assert run.poll() is None, (tmp_path / "run.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "run.log").read_text()
                time.sleep(0.5)
            text = (tmp_path / "run.log").read_text()
            sandbox_line = next(line for line in text.splitlines() if "sandbox    http" in line)
            sandbox_port = int(sandbox_line.split("http://")[1].split()[0].rsplit(":", 1)[1])
            assert sandbox_port != busy
            # The demo networks were pulled through the sandbox on its new port: data is there.
            nearby = httpx.get(
                f"http://127.0.0.1:{api_port}/v1/locations/nearby",
                params={"lat": 52.37, "lon": 4.89, "radius_m": 10000, "limit": 5},
                timeout=10,
            )
            assert nearby.status_code == 200, nearby.text
            assert len(nearby.json()["results"]) == 5
            assert _listening(sandbox_port)
            assert _processes_mentioning(str(state_dir))  # the probe sees what runs
        finally:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C in the terminal
            code = run.wait(timeout=60)
            log.close()
    assert code == 0, (tmp_path / "run.log").read_text()
    assert not _listening(api_port)
    assert not _listening(sandbox_port)
    assert _processes_mentioning(str(state_dir)) == []
