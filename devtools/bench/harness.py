"""The benchmark environment: private PostgreSQL and Redis in their own state directory (never
the development data), the service under granian, and the sandbox serving the generated
dataset as an OCPI peer. Everything is started here and stopped at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec

from app.settings import Settings, load_settings
from wattlas.local import LocalServices, ensure_system_packages, free_port
from wattlas.migrate import upgrade
from wattlas.serving import granian_command

ROOT = Path(__file__).resolve().parent.parent.parent
STATE = ROOT / ".wattlas-bench"

# Benchmark-size PostgreSQL settings for this 2-core, 24 GB machine type.
PG_SETTINGS = {
    "shared_buffers": "2GB",
    "effective_cache_size": "8GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "8GB",
    "wal_buffers": "64MB",
    "checkpoint_completion_target": "0.9",
}


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> list[int]:
        """The server and its worker processes."""
        out = subprocess.run(
            ["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [int(p) for p in out]

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (worker processes included)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            total += rss_mb(current)
        todo.extend(children.get(current, []))
    return total


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def tree_cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system, with reaped children's) of these processes and all their
    descendants: what serving a load cost, whatever else runs on the machine."""
    children = _children()
    tick = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0.0, list(pids), set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime are fields 14–17 of stat(5); [0] here is field 3.
            total += sum(int(f) for f in fields[11:15]) / tick
        todo.extend(children.get(current, []))
    return total


@dataclass
class Environment:
    services: LocalServices
    settings: Settings
    servers: list[Server] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        assert self.settings.database_url is not None
        return self.settings.database_url

    def service_pids(self) -> list[int]:
        """PostgreSQL's postmaster and Redis (their process trees serve every request)."""
        pids = []
        with contextlib.suppress(OSError, ValueError, IndexError):
            pg = self.services.pg_data / "postmaster.pid"
            pids.append(int(pg.read_text().split()[0]))
        with contextlib.suppress(OSError, ValueError):
            pids.append(int((self.services.redis_dir / "redis.pid").read_text().strip()))
        return pids

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "WATTLAS_DATABASE_URL": self.database_url,
            "WATTLAS_REDIS_URL": self.settings.redis_url or "",
            "WATTLAS_LOG_LEVEL": "WARNING",
            "WATTLAS_RUN_SCHEDULER": "false",
            # Off unless a part asks for it (the queries part measures it): its background
            # warm-up (a minute of a core per worker at 300k) would share the cores with what the
            # other parts measure, and their nearby questions are about PostGIS and replicas.
            "WATTLAS_NEARBY_CACHE": "false",
            **extra,
        }

    def start(
        self, name: str, target: str, *, workers: int = 1, port: int | None = None, **extra_env: str
    ) -> Server:
        port = port or free_port()
        log = STATE / f"{name}.log"
        env = self.env(WATTLAS_PORT=str(port), **extra_env)
        with log.open("wb") as out:
            process = subprocess.Popen(
                granian_command(target, host="127.0.0.1", port=port, workers=workers, backlog=4096),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        server = Server(name, f"http://127.0.0.1:{port}", process, log)
        self.servers.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{server.url}/health", timeout=1)
                return server
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not start")


@contextlib.contextmanager
def environment(database: str = "wattlas_bench", *, fresh: bool) -> Iterator[Environment]:
    ensure_system_packages()
    STATE.mkdir(exist_ok=True)
    services = LocalServices(STATE / "services", pg_settings=PG_SETTINGS)
    services.start()
    url = services.database_url.rsplit("/", 1)[0] + f"/{database}"
    if fresh:
        url = services.create_database(database)
    upgrade(url)  # a reused dataset gets the migrations written since it was made
    settings = load_settings(
        {},
        database_url=url,
        redis_url=services.redis_url,
        log_level="WARNING",
        log_format="text",
        run_scheduler=False,
    )
    env = Environment(services, settings)
    try:
        yield env
    finally:
        for server in env.servers:
            server.stop()
        services.stop()


def dump(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(value), indent=2))
