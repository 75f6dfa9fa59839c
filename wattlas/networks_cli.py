"""``wattlas networks …``: connect, list, pull from and revoke networks."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, TypeVar

import click
import msgspec

from app.domain.parties import Party
from app.logs import get_logger
from app.store import Store, StoreError, networks, pulls
from app.store.pull_status import PULLED_MODULES
from ingest import credentials
from ingest.credentials import HandshakeError
from wattlas import context
from wattlas.commands import fail, print_invite, when, with_store

T = TypeVar("T")
log = get_logger(__name__)


@click.group("networks")
def networks_group() -> None:
    """Charging networks: connect over OCPI, list, pull, revoke."""


@networks_group.command("invite")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def invite(name: str, as_json: bool) -> None:
    """A one-time token A and our versions URL, for a network that will register with us."""
    settings = context.advertised(context.resolve_settings())
    try:
        token = with_store(settings, lambda store: credentials.invite(store, name))
    except networks.NetworkExists as exc:
        fail(str(exc))
    print_invite(settings, name, token, as_json, "its credentials POST completes the registration.")


@networks_group.command("add")
@click.option("--versions-url", required=True, help="The network's OCPI versions URL.")
@click.option("--token", "token_a", required=True, help="The token A the network gave us.")
@click.option("--name", default=None, help="Our name for it (default: from the URL).")
def add(versions_url: str, token_a: str, name: str | None) -> None:
    """Register with a network (we initiate the credentials handshake). The service must be
    running: the network calls our versions endpoint back during the handshake."""
    settings = context.advertised(context.resolve_settings())
    if not settings.public_url:
        click.echo(
            f"wattlas: no running service of this checkout is recorded; advertising "
            f"{credentials.versions_url(settings)} (set WATTLAS_PUBLIC_URL if that is wrong)",
            err=True,
        )
    try:
        name, version, parties = with_store(
            settings,
            lambda store: credentials.register_with(store, settings, versions_url, token_a, name),
        )
    except (HandshakeError, networks.NetworkExists) as exc:
        fail(str(exc))
    click.echo(f"registered {name}: OCPI {version}, parties {', '.join(map(str, parties))}")


@networks_group.command("add-token")
@click.argument("name")
@click.option("--token", required=True, help="The token this network pushes with.")
@click.option("--party", "parties", multiple=True, required=True, help="CC*PID it may write.")
@click.option("--version", default="2.2.1", show_default=True)
@click.option("--their-token", default=None, help="The token we pull with (if we pull).")
@click.option("--versions-url", default=None, help="Their versions URL (to discover endpoints).")
@click.option("--locations-url", default=None, help="Their Locations sender URL.")
@click.option("--tariffs-url", default=None, help="Their Tariffs sender URL.")
def add_token(
    name: str,
    token: str,
    parties: tuple[str, ...],
    version: str,
    their_token: str | None,
    versions_url: str | None,
    locations_url: str | None,
    tariffs_url: str | None,
) -> None:
    """A static token (no handshake) that may push for the given parties."""
    settings = context.resolve_settings()
    try:
        parsed = [Party.parse(p) for p in parties]
        with_store(
            settings,
            lambda store: credentials.add_static(
                store,
                name,
                token,
                parsed,
                version=version,
                their_token=their_token,
                versions_url_=versions_url,
                locations_url=locations_url,
                tariffs_url=tariffs_url,
            ),
        )
    except (ValueError, HandshakeError, networks.NetworkExists) as exc:
        fail(str(exc))
    click.echo(f"static token registered for {name}: {', '.join(parties)}")


@networks_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """Each network: version, parties, last pull and push, counts, quarantine, health."""
    settings = context.resolve_settings()
    rows = with_store(
        settings, lambda store: networks.list_networks(store, stale_after_s=settings.stale_after_s)
    )
    if as_json:
        click.echo(msgspec.json.encode(rows).decode())
        return
    header = (
        f"{'network':16} {'kind':5} {'status':10} {'OCPI':6} {'locations':>9} {'visible':>7} "
        f"{'EVSEs':>6} {'quarant.':>8}  {'last push':19}  health"
    )
    click.echo(header)
    for n in rows:
        click.echo(
            f"{n.name[:16]:16} {n.kind:5} {n.status:10} {n.ocpi_version or '-':6} "
            f"{n.locations:9} {n.visible_locations:7} {n.evses:6} {n.quarantined:8}  "
            f"{when(n.last_push_at):19}  {'ok' if n.healthy else 'NOT OK'}: {n.health}"
        )
        if n.parties:
            click.echo(f"{'':16} parties {', '.join(n.parties)}" + (" (hub)" if n.hub else ""))
        for m in n.modules:
            line = (
                f"{'':16} {m.module:13} last ok {when(m.last_ok_at)}, "
                f"last try {when(m.last_attempt_at)} {m.last_status}"
            )
            if m.last_error:
                line += f": {m.last_error}"
            elif m.last_ok_at:
                line += (
                    f" ({m.objects} objects: {m.accepted} accepted, {m.unchanged} unchanged, "
                    f"{m.skipped_older} older than stored, {m.quarantined} quarantined)"
                )
            click.echo(line)
            for note in m.notes[:3]:
                click.echo(f"{'':18} note: {note}")
        if n.last_registration_error:
            click.echo(
                f"{'':16} registration ({n.last_registration_initiator}) failed "
                f"{when(n.last_registration_at)}: {n.last_registration_error}"
            )


@networks_group.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke every token of a network; its data stays, its pushes stop being accepted."""
    settings = context.resolve_settings()
    try:
        with_store(settings, lambda store: credentials.revoke(store, name))
    except networks.UnknownNetwork as exc:
        fail(str(exc))
    click.echo(f"revoked {name}")


@networks_group.command("pull")
@click.argument("name")
@click.option("--full", is_flag=True, help="Full sync (default: incremental after the first).")
@click.option(
    "--module",
    type=click.Choice([*PULLED_MODULES, "all"]),
    default="all",
    show_default=True,
    help="all: every module the network serves (hubclientinfo first, for a hub).",
)
@click.option("--location", "location_id", default=None, help="GET just this location (repair).")
def pull(name: str, full: bool, module: str, location_id: str | None) -> None:
    """Pull from a network now. One JSON line per module; exits 1 when a module did not
    complete (its error is in its line and in `networks list`)."""
    from ingest.sync import SyncBusy, SyncImpossible, pull_object, sync

    settings = context.resolve_settings()
    us = (settings.ocpi_country_code, settings.ocpi_party_id)

    async def run() -> list[dict[str, Any]]:
        async with Store.from_settings(settings, name="wattlas-cli", max_size=3) as store:
            network_id = await networks.network_id_by_name(store, name)
            if location_id is not None:
                result = await pull_object(store, network_id, location_id)
                return [{"applied": result.applied, "unchanged": result.unchanged}]
            target = await pulls.pull_target(store, network_id)
            served = [m for m in PULLED_MODULES if credentials.endpoint_url(target.endpoints, m)]
            modules = sorted(served, key=lambda m: m != "hubclientinfo")
            if module != "all":
                modules = [module]
            elif not served:
                raise SyncImpossible(
                    f"network {name} lists no endpoint to pull from (they list: "
                    f"{credentials.describe_endpoints(target.endpoints)})"
                )
            lines = []
            for m in modules:
                try:
                    report = await sync(store, network_id, module=m, full=full or None, us=us)
                except SyncImpossible as exc:
                    lines.append({"module": m, "complete": False, "error": str(exc)})
                    continue
                lines.append(
                    {
                        "module": report.module,
                        "kind": report.kind,
                        "complete": report.complete,
                        "resumed": report.resumed,
                        "pages": report.pages,
                        "objects": report.objects,
                        "accepted": report.accepted,
                        "unchanged": report.unchanged,
                        "skipped_older": report.skipped_older,
                        "quarantined": report.quarantined,
                        "hidden_absent": report.hidden_absent,
                        "evses": report.evses,
                        "seconds": round(report.seconds, 3),
                        "error": report.error,
                        "notes": report.notes,
                    }
                )
            return lines

    try:
        lines = asyncio.run(run())
    except (networks.UnknownNetwork, SyncBusy, SyncImpossible, StoreError) as exc:
        fail(str(exc))
    for line in lines:
        click.echo(json.dumps(line))
    failed = [line for line in lines if line.get("complete") is False]
    for line in failed:
        click.echo(f"wattlas: {line['module']} did not complete: {line['error']}", err=True)
    if failed:
        sys.exit(1)


@networks_group.command("parties")
@click.argument("name")
@click.argument("action", type=click.Choice(["add", "remove", "list"]))
@click.argument("party", required=False)
@click.option(
    "--take-over",
    is_flag=True,
    help="Move the party from the network that owns it now (an operator's explicit decision).",
)
def parties(name: str, action: str, party: str | None, take_over: bool) -> None:
    """The parties NAME owns: add (refused if another network owns it, unless --take-over),
    remove, list."""
    settings = context.resolve_settings()
    if action != "list" and party is None:
        fail(f"{action} needs a party, CC*PID (e.g. NL*FLA)")

    async def work(store: Store) -> str:
        network_id = await networks.network_id_by_name(store, name)
        if action == "list":
            return "\n".join(
                f"{k.party} {'owner' if k.owner else 'routed'} ({k.source}"
                + (f", {k.client_status})" if k.client_status else ")")
                for k in await networks.parties_of(store, network_id)
            )
        assert party is not None
        parsed = Party.parse(party)
        hub = await networks.is_hub(store, network_id)
        async with store.transaction() as tx:
            if action == "remove":
                if not await networks.remove_party(tx, network_id, parsed):
                    raise networks.UnknownNetwork(f"{name} has no party {parsed}")
                return f"{name}: removed {parsed}"
            if take_over:
                before = await networks.take_over_party(tx, network_id, parsed)
                log.warning("network.party_moved", party=str(parsed), to=name, owner_before=before)
                return f"{name}: now owns {parsed}" + (f" (moved from {before})" if before else "")
            # Through a hub, a party is routed, never owned: the CPO may connect directly later
            # and own it, and a party another network owns stays out of the hub's reach.
            await networks.set_parties(
                tx, network_id, [parsed], replace=False, owner=not hub, source="operator"
            )
            return f"{name}: {'routes' if hub else 'owns'} {parsed}"

    try:
        click.echo(with_store(settings, work))
    except (ValueError, networks.UnknownNetwork) as exc:
        fail(str(exc))
