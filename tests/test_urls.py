"""What Wattlas advertises to peers is where it is reached (issue 10): ``wattlas serve --port P``
answers ``/ocpi/versions`` with URLs on P, and ``wattlas networks invite`` run beside it prints a
versions URL on P; with ``WATTLAS_PUBLIC_URL`` that URL wins everywhere. Every OCPI URL works
with and without a trailing slash."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.conftest import settings_env
from wattlas.local import free_port

WATTLAS = str(Path(sys.executable).parent / "wattlas")


def _token(value: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(value.encode()).decode()}


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [WATTLAS, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        **settings_env(settings),
        "WATTLAS_STATE_DIR": str(tmp_path / "state"),
        "WATTLAS_LOG_FORMAT": "json",
    }


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [WATTLAS, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.mark.slow
def test_serve_on_another_port_advertises_that_port_everywhere(
    env: dict[str, str], served: tuple[int, subprocess.Popen[bytes]]
) -> None:
    port, _ = served
    base = f"http://127.0.0.1:{port}"
    invite = json.loads(_cli(env, "networks", "invite", "peer", "--json"))
    assert invite["versions_url"] == f"{base}/ocpi/versions"
    token = _token(invite["token"])
    for path in ("/ocpi/versions", "/ocpi/versions/"):
        versions = httpx.get(base + path, headers=token, timeout=5)
        assert versions.status_code == 200, versions.text
        urls = {v["version"]: v["url"] for v in versions.json()["data"]}
        assert urls["2.2.1"] == f"{base}/ocpi/2.2.1"
    for path in ("/ocpi/2.2.1", "/ocpi/2.2.1/"):
        details = httpx.get(base + path, headers=token, timeout=5).json()["data"]
        assert {e["url"] for e in details["endpoints"]} == {
            f"{base}/ocpi/2.2.1/{module}"
            for module in ("credentials", "locations", "tariffs", "hubclientinfo")
        }
    # The advertised credentials URL answers (token A may read our credentials).
    endpoints = details["endpoints"]
    (credentials_url,) = (e["url"] for e in endpoints if e["identifier"] == "credentials")
    assert httpx.get(credentials_url, headers=token, timeout=5).json()["status_code"] == 1000


@pytest.mark.slow
def test_public_url_wins_over_a_running_service_in_the_cli(
    env: dict[str, str], served: tuple[int, subprocess.Popen[bytes]]
) -> None:
    public = {**env, "WATTLAS_PUBLIC_URL": "https://ocpi.example.org/wattlas/"}
    invite = json.loads(_cli(public, "networks", "invite", "hub", "--json"))
    assert invite["versions_url"] == "https://ocpi.example.org/wattlas/ocpi/versions"
