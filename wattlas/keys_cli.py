"""``wattlas keys …``: API keys of the public API (issue 11). Every command prints JSON; a new
or rotated key is shown once, in ``key``, and never again (only its hash is stored)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import msgspec
import redis.asyncio as aioredis

from app.access.keys import key_hash, new_key, shown
from app.access.quota import Quotas, QuotaUnavailable
from app.services import redis_client
from app.settings import Settings
from app.store import Duplicate, NotFound, Store
from app.store import api_keys as key_store
from app.store.api_keys import ApiKey
from wattlas import context

T = TypeVar("T")
DEFAULT_RATE_PER_MIN = 60
DEFAULT_DAILY_QUOTA = 10_000


def _run(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        async with Store.from_settings(settings, name="wattlas-keys", max_size=2) as store:
            return await work(store)

    return asyncio.run(run())


def _print(value: Any) -> None:
    click.echo(json.dumps(msgspec.to_builtins(value), indent=2))


def _fail(message: str) -> None:
    click.echo(f"wattlas: {message}", err=True)
    sys.exit(2)


def _described(record: ApiKey, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": record.name,
        "key_prefix": record.key_prefix,
        "rate_per_min": record.rate_per_min,
        "daily_quota": record.daily_quota,
        "created_at": record.created_at,
        "rotated_at": record.rotated_at,
        "revoked_at": record.revoked_at,
        "active": not record.revoked,
    }
    if secret is not None:
        out["key"] = secret  # shown this once
    return out


@click.group("keys")
def keys_group() -> None:
    """API keys of the public API: create, list, rotate, revoke, usage."""


@keys_group.command("create")
@click.argument("name")
@click.option(
    "--rate-per-min",
    type=click.IntRange(min=1),
    default=DEFAULT_RATE_PER_MIN,
    show_default=True,
    help="Calls allowed in any 60 seconds.",
)
@click.option(
    "--daily-quota",
    type=click.IntRange(min=1),
    default=DEFAULT_DAILY_QUOTA,
    show_default=True,
    help="Calls allowed per UTC day.",
)
def create(name: str, rate_per_min: int, daily_quota: int) -> None:
    """A new key; the JSON printed holds the key itself, shown this once."""
    secret = new_key()
    try:
        key = _run(
            context.resolve_settings(),
            lambda store: key_store.create(
                store,
                name=name,
                key_sha256=key_hash(secret),
                key_prefix=shown(secret),
                rate_per_min=rate_per_min,
                daily_quota=daily_quota,
            ),
        )
    except Duplicate:
        _fail(f"an API key named {name!r} exists already (rotate it, or pick another name)")
    _print(_described(key, secret))


@keys_group.command("list")
def list_keys() -> None:
    """Every key (without the secret: its prefix), revoked ones too."""
    keys = _run(context.resolve_settings(), key_store.all_keys)
    _print([_described(k) for k in keys])


@keys_group.command("rotate")
@click.argument("name")
def rotate(name: str) -> None:
    """A new secret for the key (printed once); the old one stops working. Its limits and
    today's counts stay with it."""
    secret = new_key()
    try:
        key = _run(
            context.resolve_settings(),
            lambda store: key_store.rotate(
                store, name, key_sha256=key_hash(secret), key_prefix=shown(secret)
            ),
        )
    except NotFound as exc:
        _fail(str(exc))
    _print(_described(key, secret))


@keys_group.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """The key stops working (within 10 s on every API process); it stays listed."""
    try:
        key = _run(context.resolve_settings(), lambda store: key_store.revoke(store, name))
    except NotFound as exc:
        _fail(str(exc))
    _print(_described(key))


@keys_group.command("usage")
@click.argument("name")
@click.option("--days", type=click.IntRange(1, 8), default=7, show_default=True)
def usage(name: str, days: int) -> None:
    """Calls in the last minute and per UTC day (allowed and refused), from Redis."""
    settings = context.resolve_settings(need_redis=True)

    async def work(store: Store) -> dict[str, Any]:
        key = await key_store.by_name(store, name)
        redis: aioredis.Redis | None = redis_client(settings)
        try:
            counted = await Quotas(redis).usage(key, days)
        finally:
            if redis is not None:
                await redis.aclose()
        return {
            "name": key.name,
            "rate_per_min": key.rate_per_min,
            "daily_quota": key.daily_quota,
            "last_minute": counted.last_minute,
            "days": [msgspec.to_builtins(d) for d in counted.days],
        }

    try:
        _print(_run(settings, work))
    except NotFound as exc:
        _fail(str(exc))
    except QuotaUnavailable as exc:
        _fail(f"Redis does not answer, usage is counted there: {exc}")
