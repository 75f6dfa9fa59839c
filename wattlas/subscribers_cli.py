"""``wattlas subscribers …``: downstream platforms (eMSP apps, fleet tools) that register with us
over OCPI and pull our aggregated Locations and Tariffs (issue 14); their tokens only read."""

from __future__ import annotations

import click
import msgspec

from app.store import Store, networks
from ingest import credentials
from wattlas import context
from wattlas.commands import fail, print_invite, when, with_store


@click.group("subscribers")
def subscribers_group() -> None:
    """Downstream platforms that pull from us over OCPI (we are their hub)."""


@subscribers_group.command("invite")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def invite(name: str, as_json: bool) -> None:
    """A one-time token A and our versions URL, for a platform that will register with us."""
    settings = context.advertised(context.resolve_settings())
    try:
        token = with_store(
            settings, lambda store: credentials.invite(store, name, kind="subscriber")
        )
    except networks.NetworkExists as exc:
        fail(str(exc))
    print_invite(
        settings,
        name,
        token,
        as_json,
        "after its credentials POST it pulls Locations and Tariffs from the endpoints its "
        "version details list (read only).",
    )


@subscribers_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """Each subscriber: status, version, registration, last pull. Changes are not pushed to
    subscribers yet: each pulls (``date_from`` for what changed)."""
    settings = context.resolve_settings()
    rows = with_store(settings, networks.list_subscribers)
    if as_json:
        click.echo(msgspec.json.encode(rows).decode())
        return
    click.echo(f"{'subscriber':20} {'status':10} {'OCPI':6} {'registered':19}  {'last pull':19}")
    for s in rows:
        click.echo(
            f"{s.name[:20]:20} {s.status:10} {s.ocpi_version or '-':6} "
            f"{when(s.last_registration_at):19}  {when(s.last_pull_at):19}"
        )
        if s.last_registration_error:
            click.echo(f"{'':20} registration failed: {s.last_registration_error}")


@subscribers_group.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke every token of a subscriber: its pulls are refused from now on."""
    settings = context.resolve_settings()

    async def work(store: Store) -> None:
        if await networks.network_kind(store, name) != "subscriber":
            raise networks.UnknownNetwork(f"{name} is a network, not a subscriber")
        await credentials.revoke(store, name)

    try:
        with_store(settings, work)
    except networks.UnknownNetwork as exc:
        fail(str(exc))
    click.echo(f"revoked {name}")
