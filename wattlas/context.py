"""Resolve where the database and Redis are, for commands run by a user.

With ``WATTLAS_DATABASE_URL`` / ``WATTLAS_REDIS_URL`` set, those are used and nothing local is
started. Otherwise the private servers of the state directory are used if they run.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import msgspec

from app.settings import Settings, load_settings
from wattlas.local import LocalServices


class NoServices(RuntimeError):
    pass


def local_services(settings: Settings) -> LocalServices:
    return LocalServices(
        settings.state_dir, pg_port=settings.pg_port, redis_port=settings.redis_port
    )


def with_local_urls(settings: Settings, services: LocalServices) -> Settings:
    return msgspec.structs.replace(
        settings,
        database_url=settings.database_url or services.database_url,
        redis_url=settings.redis_url or services.redis_url,
    )


def resolve_settings(*, need_redis: bool = False, **overrides: object) -> Settings:
    """Settings whose URLs point at a running database (and Redis, when asked)."""
    settings = load_settings(None, **overrides)
    if settings.database_url is not None and (settings.redis_url is not None or not need_redis):
        return settings
    services = local_services(settings)
    if settings.database_url is None and not services.postgres_running():
        raise NoServices(
            "no database: set WATTLAS_DATABASE_URL, or start the private one with "
            "`wattlas services start` (or `make run` for everything)"
        )
    if need_redis and settings.redis_url is None and not services.redis_running():
        raise NoServices(
            "no Redis: set WATTLAS_REDIS_URL, or start the private one with "
            "`wattlas services start`"
        )
    resolved = with_local_urls(settings, services)
    if not services.redis_running() and settings.redis_url is None:
        resolved = msgspec.structs.replace(resolved, redis_url=None)
    return resolved


def child_environment(settings: Settings, base: dict[str, str]) -> dict[str, str]:
    """The environment for a server process: the resolved URLs, so its workers find them, and
    where it listens, so the URLs it advertises to peers are the ones it is reached on."""
    env = dict(base)
    env["WATTLAS_HOST"] = settings.host
    env["WATTLAS_PORT"] = str(settings.port)
    if settings.public_url:
        env["WATTLAS_PUBLIC_URL"] = settings.public_url
    if settings.database_url:
        env["WATTLAS_DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["WATTLAS_REDIS_URL"] = settings.redis_url
    return env


# ---- where this checkout's service is reached ----------------------------------------------------
SERVING_FILE = "serving.json"


def record_served_url(settings: Settings, pid: int) -> None:
    """Remember the URL the service of this state directory is reached on, while process ``pid``
    (``wattlas serve`` becoming granian, or ``wattlas run``) lives: other commands of the same
    checkout (``networks invite``, ``networks add``) advertise it to peers."""
    path = Path(settings.state_dir) / SERVING_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"base_url": settings.base_url, "pid": pid}))


def served_url(settings: Settings) -> str | None:
    """The URL recorded by a service of this state directory that still runs, else None."""
    path = Path(settings.state_dir) / SERVING_FILE
    try:
        record = json.loads(path.read_text())
        pid, url = int(record["pid"]), str(record["base_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    except PermissionError:
        pass  # alive, another user's
    return url


def advertised(settings: Settings) -> Settings:
    """Settings whose ``base_url`` is where peers reach us: ``WATTLAS_PUBLIC_URL`` when set,
    else the URL of the running service of this checkout, else host and port of the settings."""
    if settings.public_url:
        return settings
    url = served_url(settings)
    return msgspec.structs.replace(settings, public_url=url) if url else settings
