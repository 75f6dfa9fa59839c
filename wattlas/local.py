"""Private PostgreSQL + PostGIS and Redis servers in a project-local state directory.

Used by ``wattlas run`` / ``wattlas services`` and by the test suite. Never touches the
system's own clusters: every server here is started from the Debian binaries, on a free or
configured port on 127.0.0.1, with its data under the state directory. PostgreSQL refuses to
run as root, so when we are root it runs as the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.logs import get_logger

log = get_logger(__name__)

SYSTEM_PACKAGES = ("postgresql-15", "postgresql-15-postgis-3", "postgresql-contrib", "redis-server")
PG_MAJOR = "15"
DATABASE_NAME = "wattlas"
DATABASE_USER = "wattlas"


class LocalServiceError(RuntimeError):
    """A local service could not be installed or started; the message says what to do."""


def is_root() -> bool:
    return os.geteuid() == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pg_bindir() -> Path | None:
    candidate = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
    if (candidate / "postgres").exists():
        return candidate
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def postgis_installed() -> bool:
    return Path(f"/usr/share/postgresql/{PG_MAJOR}/extension/postgis.control").exists()


def missing_system_packages() -> list[str]:
    missing = []
    if pg_bindir() is None:
        missing.append("postgresql-15")
    if not postgis_installed():
        missing.append("postgresql-15-postgis-3")
    if not Path(f"/usr/share/postgresql/{PG_MAJOR}/extension/pg_trgm.control").exists():
        missing.append("postgresql-contrib")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    return missing


def ensure_system_packages(extra: tuple[str, ...] = ()) -> None:
    """Install PostgreSQL 15 + PostGIS 3 and Redis from Debian when they are absent."""
    missing = missing_system_packages() + [p for p in extra if not _dpkg_installed(p)]
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt is None:
        raise LocalServiceError(
            f"missing system packages {' '.join(missing)} and no apt-get to install them; "
            "install them, or set WATTLAS_DATABASE_URL and WATTLAS_REDIS_URL"
        )
    prefix: list[str] = [] if is_root() else (["sudo", "-n"] if shutil.which("sudo") else [])
    if not is_root() and not prefix:
        raise LocalServiceError(f"run as root or install: apt-get install {' '.join(missing)}")
    log.info("system.install", packages=missing)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Keep the packages' maintainer scripts from starting the system's own services.
    policy = Path("/usr/sbin/policy-rc.d")
    created_policy = False
    if is_root() and not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        created_policy = True
    try:
        subprocess.run([*prefix, apt, "update", "-qq"], check=True, env=env)
        subprocess.run(
            [*prefix, apt, "install", "-y", "-qq", "--no-install-recommends", *missing],
            check=True,
            env=env,
        )
    finally:
        if created_policy:
            policy.unlink(missing_ok=True)


def _dpkg_installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    )
    return "install ok installed" in result.stdout


def _as_postgres(cmd: list[str]) -> list[str]:
    if is_root():
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _postgres_can_use(path: Path) -> bool:
    """True when the ``postgres`` user can reach and write ``path`` (only asked when root)."""
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-w", str(path)],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@dataclass
class LocalServices:
    """The private PostgreSQL and Redis of one state directory."""

    state_dir: Path
    pg_port: int | None = None
    redis_port: int | None = None
    pg_settings: dict[str, str] = field(default_factory=dict)
    quiet: bool = False

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        self._state_file = self.state_dir / "services.json"
        saved = self._read_state()
        self.pg_port = self.pg_port or _int_or_none(saved.get("pg_port"))
        self.redis_port = self.redis_port or _int_or_none(saved.get("redis_port"))

    # ---- paths ----------------------------------------------------------------------------------
    @property
    def pg_root(self) -> Path:
        """Where the cluster lives: in the state dir, unless the postgres user cannot reach it."""
        saved = self._read_state().get("pg_root")
        if isinstance(saved, str) and saved:
            return Path(saved)
        local = self.state_dir / "postgres"
        if not is_root():
            return local
        self.state_dir.mkdir(parents=True, exist_ok=True)
        local.mkdir(parents=True, exist_ok=True)
        shutil.chown(local, "postgres", "postgres")
        if _postgres_can_use(local):
            return local
        # A parent directory (a mktemp dir, /root) is closed to other users: keep the cluster in
        # a directory named after this state dir instead, and remember where it is.
        digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]
        fallback = Path("/var/tmp") / f"wattlas-pg-{digest}"  # noqa: S108 - postgres-owned, 0700
        fallback.mkdir(parents=True, exist_ok=True)
        shutil.chown(fallback, "postgres", "postgres")
        return fallback

    @property
    def pg_data(self) -> Path:
        return self.pg_root / "data"

    @property
    def pg_log(self) -> Path:
        return self.pg_root / "postgres.log"

    @property
    def redis_dir(self) -> Path:
        return self.state_dir / "redis"

    @property
    def database_url(self) -> str:
        return f"postgresql://{DATABASE_USER}@127.0.0.1:{self.pg_port}/{DATABASE_NAME}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    # ---- state file -----------------------------------------------------------------------------
    def _read_state(self) -> dict[str, object]:
        try:
            data = json.loads(self._state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_state(self, **values: object) -> None:
        state = self._read_state()
        state.update(values)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(json.dumps(state, indent=2))

    # ---- PostgreSQL -----------------------------------------------------------------------------
    def _pg(self, tool: str) -> str:
        bindir = pg_bindir()
        if bindir is None:
            raise LocalServiceError(
                "PostgreSQL 15 is not installed (apt-get install postgresql-15)"
            )
        return str(bindir / tool)

    def postgres_running(self) -> bool:
        if not (self.pg_data / "PG_VERSION").exists():
            return False
        status = subprocess.run(
            _as_postgres([self._pg("pg_ctl"), "status", "-D", str(self.pg_data)]),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def start_postgres(self) -> None:
        pg_root = self.pg_root
        self._write_state(pg_root=str(pg_root))
        fresh = not (self.pg_data / "PG_VERSION").exists()
        if fresh:
            self.pg_data.mkdir(parents=True, exist_ok=True)
            if is_root():
                shutil.chown(self.pg_data, "postgres", "postgres")
            self.pg_data.chmod(0o700)
            subprocess.run(
                _as_postgres(
                    [
                        self._pg("initdb"),
                        "-D",
                        str(self.pg_data),
                        "-U",
                        DATABASE_USER,
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                check=True,
                capture_output=True,
            )
        if self.postgres_running():
            running_port = self._running_pg_port()
            if running_port:
                self.pg_port = running_port
            log.info("postgres.reused", port=self.pg_port, data=str(self.pg_data))
        else:
            if self.pg_port is None or not port_is_free(self.pg_port):
                self.pg_port = free_port()
            self._pg_start(self.pg_data, self.pg_log, self.pg_port)
            log.info("postgres.started", port=self.pg_port, data=str(self.pg_data))
        self._write_state(pg_port=self.pg_port)
        if fresh:
            self._psql("postgres", f"CREATE DATABASE {DATABASE_NAME}")

    def _pg_start(self, data: Path, log_file: Path, port: int) -> None:
        options = {
            "port": str(port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",
            "max_connections": "200",
            "shared_buffers": "512MB",
            "work_mem": "16MB",
            "maintenance_work_mem": "256MB",
            "effective_cache_size": "4GB",
            "random_page_cost": "1.1",
            "jit": "off",
            "max_wal_size": "4GB",
            "checkpoint_timeout": "15min",
            **self.pg_settings,
        }
        opts = " ".join(f"-c {k}={v}" for k, v in options.items())
        result = subprocess.run(
            _as_postgres(
                [
                    self._pg("pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(data),
                    "-l",
                    str(log_file),
                    "-o",
                    opts,
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = log_file.read_text()[-2000:] if log_file.exists() else result.stderr
            raise LocalServiceError(f"PostgreSQL did not start on port {port}:\n{tail}")

    def add_replica(self, name: str = "replica") -> LocalReplica:
        """A streaming replica of this cluster (``pg_basebackup -R``), not yet started: a
        second private server beside the primary, with the same settings (a hot standby needs
        ``max_connections`` at least the primary's)."""
        return LocalReplica(self, self.pg_root / name)

    def _running_pg_port(self) -> int | None:
        pid_file = self.pg_data / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            return int(lines[3])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def _psql(self, database: str, sql: str) -> None:
        psql = self._pg("psql")
        subprocess.run(
            [
                psql,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.pg_port),
                "-U",
                DATABASE_USER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
        )

    def create_database(self, name: str) -> str:
        """A fresh empty database in this cluster; returns its URL (used by the tests)."""
        self._psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._psql("postgres", f"CREATE DATABASE {name}")
        return f"postgresql://{DATABASE_USER}@127.0.0.1:{self.pg_port}/{name}"

    def stop_postgres(self) -> None:
        if self.postgres_running():
            subprocess.run(
                _as_postgres(
                    [self._pg("pg_ctl"), "stop", "-D", str(self.pg_data), "-m", "fast", "-w"]
                ),
                capture_output=True,
                check=False,
            )
            log.info("postgres.stopped", port=self.pg_port)

    # ---- Redis ----------------------------------------------------------------------------------
    def _redis_pid(self) -> int | None:
        try:
            pid = int((self.redis_dir / "redis.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def redis_running(self) -> bool:
        return (
            self._redis_pid() is not None
            and self.redis_port is not None
            and _redis_ping(self.redis_port)
        )

    def start_redis(self) -> None:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise LocalServiceError("redis-server is not installed (apt-get install redis-server)")
        if self.redis_running():
            log.info("redis.reused", port=self.redis_port)
            return
        if self.redis_port is None or not port_is_free(self.redis_port):
            self.redis_port = free_port()
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        # Redis holds derived, rebuildable state only (architecture: PostgreSQL is the truth).
        subprocess.run(
            [
                redis_server,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.redis_dir),
                "--pidfile",
                str(self.redis_dir / "redis.pid"),
                "--logfile",
                str(self.redis_dir / "redis.log"),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--protected-mode",
                "yes",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_ping(self.redis_port):
            if time.monotonic() > deadline:
                raise LocalServiceError(f"Redis did not start on port {self.redis_port}")
            time.sleep(0.05)
        self._write_state(redis_port=self.redis_port)
        log.info("redis.started", port=self.redis_port)

    def stop_redis(self) -> None:
        pid = self._redis_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self._redis_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        log.info("redis.stopped", port=self.redis_port)

    # ---- both -----------------------------------------------------------------------------------
    def start(self) -> None:
        self.start_postgres()
        self.start_redis()

    def stop(self) -> None:
        self.stop_redis()
        self.stop_postgres()

    def status(self) -> dict[str, object]:
        return {
            "state_dir": str(self.state_dir),
            "postgres": {
                "running": self.postgres_running(),
                "port": self.pg_port,
                "data": str(self.pg_data),
                "url": self.database_url if self.pg_port else None,
            },
            "redis": {
                "running": self.redis_running(),
                "port": self.redis_port,
                "url": self.redis_url if self.redis_port else None,
            },
        }

    def destroy(self) -> None:
        """Stop both servers and delete their data (used by the test suite's temp clusters)."""
        self.stop()
        shutil.rmtree(self.pg_root, ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)


@dataclass
class LocalReplica:
    """A hot standby of a ``LocalServices`` cluster, streaming from it (tests, benchmarks)."""

    primary: LocalServices
    root: Path
    port: int | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def database_url(self) -> str:
        return f"postgresql://{DATABASE_USER}@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def url_of(self, database: str) -> str:
        return f"postgresql://{DATABASE_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Copy the primary (once) and start streaming from it; returns when it accepts
        connections."""
        if not (self.data / "PG_VERSION").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            if is_root():
                shutil.chown(self.root, "postgres", "postgres")
            subprocess.run(
                _as_postgres(
                    [
                        self.primary._pg("pg_basebackup"),
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(self.primary.pg_port),
                        "-U",
                        DATABASE_USER,
                        "-D",
                        str(self.data),
                        "-R",  # standby.signal and primary_conninfo: a streaming replica
                        "-X",
                        "stream",
                        "-c",
                        "fast",
                    ]
                ),
                check=True,
                capture_output=True,
            )
        if self.port is None or not port_is_free(self.port):
            self.port = free_port()
        self.primary._pg_start(self.data, self.log_file, self.port)
        log.info("postgres.replica_started", port=self.port, data=str(self.data))

    def _pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL to the replica's postmaster and its backends: a crash."""
        pid = self._pid()
        if pid is None:
            return
        subprocess.run(["pkill", "-KILL", "-P", str(pid)], check=False)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def freeze(self, frozen: bool = True) -> None:
        freeze_postgres(self.data, frozen)

    def stop(self) -> None:
        self.freeze(False)  # a stopped process would not act on the signal
        subprocess.run(
            _as_postgres(
                [self.primary._pg("pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w"]
            ),
            capture_output=True,
            check=False,
        )

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def freeze_postgres(data: Path, frozen: bool = True) -> None:
    """SIGSTOP (or SIGCONT) to a server's postmaster and its backends: a server that accepts
    connections and never answers (a paused VM, a partition)."""
    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return
    sig = signal.SIGSTOP if frozen else signal.SIGCONT
    subprocess.run(["pkill", f"-{sig.name.removeprefix('SIG')}", "-P", str(pid)], check=False)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False
