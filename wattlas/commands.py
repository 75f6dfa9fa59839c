"""What the management commands share: running store work from a command, failing with one
clear line, printing a time."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from app.settings import Settings
from app.store import Store

T = TypeVar("T")


def with_store(
    settings: Settings, work: Callable[[Store], Awaitable[T]], *, name: str = "wattlas-cli"
) -> T:
    async def run() -> T:
        async with Store.from_settings(settings, name=name, max_size=3) as store:
            return await work(store)

    return asyncio.run(run())


def fail(message: str) -> None:
    """Exit 2 with the message on stderr (a mistake the user can fix, not a crash)."""
    click.echo(f"wattlas: {message}", err=True)
    sys.exit(2)


def when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def print_invite(settings: Settings, name: str, token: str, as_json: bool, after: str) -> None:
    """What an invited network or subscriber is given: our versions URL and its token A."""
    from ingest.credentials import versions_url

    url = versions_url(settings)
    if as_json:
        click.echo(json.dumps({"versions_url": url, "token": token}))
    else:
        click.echo(f"versions URL  {url}\ntoken A       {token}\nGive both to {name}; {after}")
