"""We as a hub for downstream platforms (issue 14): the Locations and Tariffs Sender interface
(ocpi.md §3.2, §4.1) under ``/ocpi/{version}/hub``, for subscribers only (``wattlas subscribers
invite``; their version details list these URLs instead of our receivers).

- ``GET /ocpi/{version}/hub/locations?date_from&date_to&offset&limit``: every visible location,
  in id order, each as its network sent it with its original party's ``country_code`` and
  ``party_id``, in the subscriber's version (``ingest.ocpi.render``); ``X-Total-Count``,
  ``X-Limit`` and a ``Link`` to the next page (ocpi.md §1.6).
- ``GET /ocpi/{version}/hub/locations/{location_id}[/{evse_uid}[/{connector_id}]]``: one object;
  when parties share the id, the ``OCPI-to-country-code``/``OCPI-to-party-id`` headers say whose.
  The answer's ``OCPI-from-*`` headers name the object's party.
- ``GET /ocpi/{version}/hub/tariffs`` (same paging).

A subscriber's token only reads (the receiver refuses its writes with 403); a network's token
is refused here (its version details do not list these endpoints).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery

from app.domain.timestamps import parse_timestamp
from app.store import Db, hub
from app.store import networks as network_store
from ingest.ocpi import render, transport
from ingest.receiver.guards import REGISTRATION, Caller, OcpiRefusal, answer

AnyRequest = Request[Any, Any, Any]
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
HUB = "/{version:str}/hub"


async def _subscriber(request: AnyRequest, registrant: NamedDependency[Caller]) -> Caller:
    auth = registrant.auth
    if not auth.subscriber:
        raise OcpiRefusal(
            transport.CLIENT_ERROR,
            "the hub endpoints are for subscribers (`wattlas subscribers invite`)",
            403,
        )
    if auth.token_kind == "A":  # noqa: S105 - a kind, not a secret
        raise OcpiRefusal(
            transport.CLIENT_ERROR, "token A is only valid for versions and credentials", 401
        )
    return registrant


SENDER = {**REGISTRATION, "subscriber": Provide(_subscriber)}
Subscriber = NamedDependency[Caller]


def _instant(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise OcpiRefusal(
            transport.INVALID_PARAMETERS, f"{name} is not an OCPI DateTime: {value[:40]!r}", 400
        )
    return parsed


def _window(
    date_from: FromQuery[str | None] = None,
    date_to: FromQuery[str | None] = None,
    offset: FromQuery[int] = 0,
    limit: FromQuery[int | None] = None,
) -> hub.Window:
    """The paging of a list (ocpi.md §1.6), one dependency for every list."""
    if offset < 0:
        raise OcpiRefusal(transport.INVALID_PARAMETERS, "offset must be 0 or more", 400)
    if limit is not None and limit < 1:
        raise OcpiRefusal(transport.INVALID_PARAMETERS, "limit must be 1 or more", 400)
    # A limit over ours is lowered to ours, and X-Limit says so (ocpi.md §1.6).
    applied = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
    return hub.Window(
        _instant("date_from", date_from), _instant("date_to", date_to), offset, applied
    )


LISTS = {**SENDER, "window": Provide(_window, sync_to_thread=False)}
Page = Callable[[Db, hub.Window], Awaitable[tuple[int, list[dict[str, Any]]]]]
Render = Callable[[dict[str, Any], str], dict[str, Any]]


async def _page(
    request: AnyRequest, caller: Caller, window: hub.Window, page: Page, rendered: Render
) -> Any:
    """One page of a module's list, in the caller's version, with the paging headers."""
    total, rows = await page(caller.receiver.services.store, window)
    await _seen(caller)
    data = [rendered(row, caller.version) for row in rows]
    headers = {"X-Total-Count": str(total), "X-Limit": str(window.limit)}
    following = window.offset + len(data)
    if following < total:
        query = {k: v for k, v in request.query_params.items() if k not in ("offset", "limit")}
        query.update(offset=str(following), limit=str(window.limit))
        base = caller.receiver.services.settings.base_url
        headers["Link"] = f'<{base}{request.url.path}?{urlencode(query)}>; rel="next"'
    return answer(request, data, headers=headers)


async def _seen(caller: Caller) -> None:
    async with caller.receiver.services.store.transaction() as tx:
        await network_store.touch(tx, caller.auth.network_id)


@get(f"{HUB}/locations", dependencies=LISTS)
async def list_locations(
    request: AnyRequest,
    subscriber: Subscriber,
    window: NamedDependency[hub.Window],
) -> Any:
    return await _page(request, subscriber, window, hub.locations_page, render.location)


@get(
    [
        f"{HUB}/locations/{{location_id:str}}",
        f"{HUB}/locations/{{location_id:str}}/{{evse_uid:str}}",
        f"{HUB}/locations/{{location_id:str}}/{{evse_uid:str}}/{{connector_id:str}}",
    ],
    dependencies=SENDER,
)
async def get_location(
    request: AnyRequest,
    subscriber: Subscriber,
    location_id: FromPath[str],
    evse_uid: FromPath[str | None] = None,
    connector_id: FromPath[str | None] = None,
) -> Any:
    party = transport.header_party(request.headers, "to")
    found = await hub.location_by_id(subscriber.receiver.services.store, location_id, party)
    if not found:
        raise OcpiRefusal(transport.UNKNOWN_LOCATION, f"unknown location {location_id}", 404)
    if len(found) > 1:
        raise OcpiRefusal(
            transport.INVALID_PARAMETERS,
            f"location {location_id} exists for several parties: say whose with the "
            "OCPI-to-country-code and OCPI-to-party-id headers",
            400,
        )
    row = found[0]
    await _seen(subscriber)
    data: Any = render.location(row, subscriber.version)
    if evse_uid is not None:
        data = next(
            (e for e in data["evses"] if str(e.get("uid", "")).upper() == evse_uid.upper()), None
        )
        if data is None:
            raise OcpiRefusal(transport.UNKNOWN_LOCATION, f"unknown EVSE {evse_uid}", 404)
        if connector_id is not None:
            data = next(
                (
                    c
                    for c in data["connectors"]
                    if str(c.get("id", "")).upper() == connector_id.upper()
                ),
                None,
            )
            if data is None:
                raise OcpiRefusal(
                    transport.UNKNOWN_LOCATION, f"unknown connector {connector_id}", 404
                )
    headers = {}
    if transport.is_22_or_later(subscriber.version):
        settings = subscriber.receiver.services.settings
        headers = transport.routing_headers(
            (row["country_code"], row["party_id"]),
            (settings.ocpi_country_code, settings.ocpi_party_id),
        )
    return answer(request, data, headers=headers)


@get(f"{HUB}/tariffs", dependencies=LISTS)
async def list_tariffs(
    request: AnyRequest,
    subscriber: Subscriber,
    window: NamedDependency[hub.Window],
) -> Any:
    return await _page(request, subscriber, window, hub.tariffs_page, render.tariff)


SENDER_HANDLERS = [list_locations, get_location, list_tariffs]
