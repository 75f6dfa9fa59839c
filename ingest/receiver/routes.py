"""The OCPI endpoints networks call (ocpi.md §2, §3.3, §4.2; Appendix A), for 2.3.0, 2.2.1, 2.2
and 2.1.1, with and without trailing slash (Litestar drops it before routing). The checks every
request needs (version, token, party, body) are dependencies (``guards``); a refusal or failure
anywhere becomes an OCPI envelope in one exception handler. What is left here is what differs
per endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Router, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Response

from app.logs import get_logger
from app.services import services_of
from app.store import Tx, networks
from app.store.locations import fetch_location
from app.store.networks import PartyOwned
from app.store.records import Problem
from app.store.tariffs import fetch_tariff
from ingest import credentials
from ingest.credentials import HandshakeError
from ingest.ocpi import transport
from ingest.ocpi.hubclientinfo import read_client_info
from ingest.receiver import tariffs as tariff_ops
from ingest.receiver.auth import TokenCache
from ingest.receiver.guards import (
    EXCEPTION_HANDLERS,
    MODULES,
    REGISTRATION,
    VERSIONS,
    Caller,
    OcpiRefusal,
    Push,
    Receiver,
    answer,
)
from ingest.receiver.operations import (
    Outcome,
    StatusPatch,
    decode_object,
    is_status_patch,
    patch_connector,
    patch_evse,
    patch_location,
    put_connector,
    put_evse,
    put_location,
)
from ingest.receiver.sender import SENDER_HANDLERS
from ingest.receiver.writer import PushWriter

log = get_logger(__name__)
MAX_PUSH_BODY_BYTES = 2 * 1024 * 1024
AnyRequest = Request[Any, Any, Any]
Write = Callable[[Tx], Awaitable[Outcome]]


@asynccontextmanager
async def receiver_lifespan(app: Litestar) -> AsyncIterator[None]:
    services = services_of(app)
    receiver = Receiver(
        services,
        TokenCache(services.store),
        PushWriter(services.store, services.redis, services.hub.tell_listeners, services.hub.gap),
    )
    app.state.receiver = receiver
    try:
        yield
    finally:
        await receiver.writer.stop()


def outcome_answer(request: AnyRequest, outcome: Outcome) -> Response[bytes]:
    headers = {}
    if outcome.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, round(outcome.retry_after_s)))
    return answer(request, None, outcome.status_code, outcome.message, outcome.http_status, headers)


async def _write(request: AnyRequest, push: Push, write: Write) -> Any:
    return outcome_answer(request, await push.write(write))


# ---- versions and credentials ------------------------------------------------------------------
Registrant = NamedDependency[Caller]
Checked = NamedDependency[Push]
Payload = NamedDependency[dict[str, Any]]
Segment = FromPath[str]


@get("/versions", dependencies=VERSIONS)
async def versions(request: AnyRequest, registrant: Registrant) -> Any:
    return answer(request, credentials.our_versions(registrant.receiver.services.settings))


@get("/{version:str}", dependencies=REGISTRATION)
async def version_details(request: AnyRequest, registrant: Registrant) -> Any:
    settings = registrant.receiver.services.settings
    details = credentials.our_version_details(
        settings, registrant.version, subscriber=registrant.auth.subscriber
    )
    return answer(request, details)


CREDENTIALS = "/{version:str}/credentials"


@get(CREDENTIALS, dependencies=REGISTRATION)
async def get_credentials(request: AnyRequest, registrant: Registrant) -> Any:
    # We keep only hashes: echo the token the caller authenticated with (ocpi.md P4).
    presented = transport.token_candidates(request.headers.get("authorization"))
    token = presented[-1] if presented else ""
    settings = registrant.receiver.services.settings
    ours = credentials.our_credentials(
        settings, token, registrant.version, subscriber=registrant.auth.subscriber
    )
    return answer(request, ours)


async def _register(request: AnyRequest, registrant: Caller, *, update: bool) -> Any:
    auth, version, receiver = registrant.auth, registrant.version, registrant.receiver
    registered = auth.token_kind in ("B", "C", "STATIC")
    if registered != update:
        what = "already registered: use PUT" if registered else "not registered: use POST"
        raise OcpiRefusal(transport.CLIENT_ERROR, what, 405)
    body = decode_object(await request.body())
    if body is None:
        raise OcpiRefusal(transport.INVALID_PARAMETERS, "body is not a JSON object", 400)
    services = receiver.services
    try:
        ours = await credentials.accept_registration(
            services.store, services.settings, auth, version, body
        )
    except PartyOwned as exc:
        log.warning(
            "network.party_claim_refused", network=auth.name, party=str(exc.party), owner=exc.owner
        )
        raise OcpiRefusal(
            transport.INVALID_PARAMETERS,
            f"party {exc.party} is registered to another network: it cannot be claimed",
        ) from None
    except ValueError as exc:
        raise OcpiRefusal(
            transport.INVALID_PARAMETERS,
            str(exc),
            200 if transport.is_22_or_later(version) else 400,
        ) from None
    except HandshakeError as exc:
        raise OcpiRefusal(exc.status_code, str(exc)) from None
    receiver.tokens.forget(auth.network_id)
    return answer(request, ours)


@post(CREDENTIALS, dependencies=REGISTRATION, status_code=200)
async def post_credentials(request: AnyRequest, registrant: Registrant) -> Any:
    return await _register(request, registrant, update=False)


@put(CREDENTIALS, dependencies=REGISTRATION)
async def put_credentials(request: AnyRequest, registrant: Registrant) -> Any:
    return await _register(request, registrant, update=True)


@delete(CREDENTIALS, dependencies=REGISTRATION, status_code=200)
async def delete_credentials(request: AnyRequest, registrant: Registrant) -> Any:
    if registrant.auth.token_kind == "A":  # noqa: S105 - a kind, not a secret
        raise OcpiRefusal(transport.CLIENT_ERROR, "not registered", 405)
    await credentials.unregister(registrant.receiver.services.store, registrant.auth)
    registrant.receiver.tokens.forget(registrant.auth.network_id)
    return answer(request)


# ---- Locations receiver ------------------------------------------------------------------------
LOCATION = "/{version:str}/locations/{cc:str}/{pid:str}/{location_id:str}"
EVSE = LOCATION + "/{evse_uid:str}"
CONNECTOR = EVSE + "/{connector_id:str}"


@get([LOCATION, EVSE, CONNECTOR], dependencies=MODULES)
async def get_location_object(
    request: AnyRequest,
    push: Checked,
    cc: Segment,
    pid: Segment,
    location_id: Segment,
    evse_uid: FromPath[str | None] = None,
    connector_id: FromPath[str | None] = None,
) -> Any:
    """The object as we store it, for the CPO to verify (ocpi.md §3.3)."""
    stored = await fetch_location(push.receiver.services.store, cc, pid, location_id)
    if stored is None:
        raise OcpiRefusal(
            transport.UNKNOWN_LOCATION, f"unknown location {cc}*{pid}*{location_id}", 404
        )
    if evse_uid is None:
        return answer(request, stored.tree)
    evse = stored.evse(evse_uid)
    if evse is None:
        raise OcpiRefusal(transport.UNKNOWN_LOCATION, f"unknown EVSE {evse_uid}", 404)
    if connector_id is None:
        return answer(request, evse)
    connector = stored.connector(evse, connector_id)
    if connector is None:
        raise OcpiRefusal(transport.UNKNOWN_LOCATION, f"unknown connector {connector_id}", 404)
    return answer(request, connector)


@put(LOCATION, dependencies=MODULES)
async def put_location_handler(
    request: AnyRequest,
    push: Checked,
    payload: Payload,
    cc: Segment,
    pid: Segment,
    location_id: Segment,
) -> Any:
    return await _write(
        request, push, lambda tx: put_location(tx, push.pusher, cc, pid, location_id, payload)
    )


@put(EVSE, dependencies=MODULES)
async def put_evse_handler(
    request: AnyRequest,
    push: Checked,
    payload: Payload,
    cc: Segment,
    pid: Segment,
    location_id: Segment,
    evse_uid: Segment,
) -> Any:
    return await _write(
        request,
        push,
        lambda tx: put_evse(tx, push.pusher, cc, pid, location_id, evse_uid, payload),
    )


@put(CONNECTOR, dependencies=MODULES)
async def put_connector_handler(
    request: AnyRequest,
    push: Checked,
    payload: Payload,
    cc: Segment,
    pid: Segment,
    location_id: Segment,
    evse_uid: Segment,
    connector_id: Segment,
) -> Any:
    return await _write(
        request,
        push,
        lambda tx: put_connector(
            tx, push.pusher, cc, pid, location_id, evse_uid, connector_id, payload
        ),
    )


@patch(LOCATION, dependencies=MODULES)
async def patch_location_handler(
    request: AnyRequest,
    push: Checked,
    payload: Payload,
    cc: Segment,
    pid: Segment,
    location_id: Segment,
) -> Any:
    return await _write(
        request, push, lambda tx: patch_location(tx, push.pusher, cc, pid, location_id, payload)
    )


@patch(EVSE, dependencies=MODULES)
async def patch_evse_handler(
    request: AnyRequest,
    push: Checked,
    payload: Payload,
    cc: Segment,
    pid: Segment,
    location_id: Segment,
    evse_uid: Segment,
) -> Any:
    if is_status_patch(payload):  # the most common message: batched, set-based
        outcome = await push.status(
            StatusPatch(cc, pid, location_id, evse_uid, payload, push.pusher)
        )
        return outcome_answer(request, outcome)
    return await _write(
        request,
        push,
        lambda tx: patch_evse(tx, push.pusher, cc, pid, location_id, evse_uid, payload),
    )


@patch(CONNECTOR, dependencies=MODULES)
async def patch_connector_handler(
    request: AnyRequest,
    push: Checked,
    payload: Payload,
    cc: Segment,
    pid: Segment,
    location_id: Segment,
    evse_uid: Segment,
    connector_id: Segment,
) -> Any:
    return await _write(
        request,
        push,
        lambda tx: patch_connector(
            tx, push.pusher, cc, pid, location_id, evse_uid, connector_id, payload
        ),
    )


# ---- Tariffs receiver --------------------------------------------------------------------------
TARIFF = "/{version:str}/tariffs/{cc:str}/{pid:str}/{tariff_id:str}"


@get(TARIFF, dependencies=MODULES)
async def get_tariff_handler(
    request: AnyRequest, push: Checked, cc: Segment, pid: Segment, tariff_id: Segment
) -> Any:
    raw = await fetch_tariff(push.receiver.services.store, cc, pid, tariff_id)
    if raw is None:
        raise OcpiRefusal(transport.CLIENT_ERROR, f"unknown tariff {tariff_id}", 404)
    return answer(request, raw)


@put(TARIFF, dependencies=MODULES)
async def put_tariff_handler(
    request: AnyRequest,
    push: Checked,
    payload: Payload,
    cc: Segment,
    pid: Segment,
    tariff_id: Segment,
) -> Any:
    return await _write(
        request,
        push,
        lambda tx: tariff_ops.put_tariff(tx, push.pusher, cc, pid, tariff_id, payload),
    )


@patch(TARIFF, dependencies=MODULES)
async def patch_tariff_handler(
    request: AnyRequest,
    push: Checked,
    payload: Payload,
    cc: Segment,
    pid: Segment,
    tariff_id: Segment,
) -> Any:
    """2.1.1 only: PATCH was removed from the Tariffs receiver in 2.2 (ocpi.md §4.1)."""
    if transport.is_22_or_later(push.pusher.version):
        raise OcpiRefusal(
            transport.CLIENT_ERROR,
            f"tariffs cannot be PATCHed in OCPI {push.pusher.version}: PUT the whole tariff",
            405,
        )
    return await _write(
        request,
        push,
        lambda tx: tariff_ops.patch_tariff(tx, push.pusher, cc, pid, tariff_id, payload),
    )


@delete(TARIFF, dependencies=MODULES, status_code=200)
async def delete_tariff_handler(
    request: AnyRequest, push: Checked, cc: Segment, pid: Segment, tariff_id: Segment
) -> Any:
    return await _write(
        request, push, lambda tx: tariff_ops.delete_tariff(tx, push.pusher, cc, pid, tariff_id)
    )


# ---- HubClientInfo receiver (2.2+, ocpi.md §2.6) -----------------------------------------------
CLIENT_INFO = "/{version:str}/hubclientinfo/{cc:str}/{pid:str}"


async def _hub(registrant: Caller) -> None:
    """Only a hub (a party with role HUB in its credentials) tells us about the parties it
    routes; HubClientInfo is a 2.2+ configuration module (no routing headers)."""
    auth, version = registrant.auth, registrant.version
    if not transport.is_22_or_later(version):
        raise OcpiRefusal(transport.CLIENT_ERROR, "OCPI 2.1.1 has no hubclientinfo module", 404)
    if auth.token_kind == "A":  # noqa: S105 - a kind, not a secret
        raise OcpiRefusal(
            transport.CLIENT_ERROR, "token A is only valid for versions and credentials", 401
        )
    if not await networks.is_hub(registrant.receiver.services.store, auth.network_id):
        raise OcpiRefusal(
            transport.CLIENT_ERROR,
            f"only a hub sends ClientInfo: the credentials of {auth.name} name no party with "
            "role HUB",
        )


@get(CLIENT_INFO, dependencies=REGISTRATION)
async def get_client_info(
    request: AnyRequest, registrant: Registrant, cc: Segment, pid: Segment
) -> Any:
    await _hub(registrant)
    info = await networks.client_info(
        registrant.receiver.services.store, registrant.auth.network_id, cc, pid
    )
    if info is None:
        raise OcpiRefusal(transport.CLIENT_ERROR, f"no ClientInfo for {cc}*{pid}", 404)
    return answer(
        request,
        {
            "country_code": info.country_code,
            "party_id": info.party_id,
            "role": info.role,
            "status": info.status,
            "last_updated": transport.format_timestamp(info.last_updated),
        },
    )


@put(CLIENT_INFO, dependencies=REGISTRATION)
async def put_client_info(
    request: AnyRequest, registrant: Registrant, cc: Segment, pid: Segment
) -> Any:
    await _hub(registrant)
    body = decode_object(await request.body())
    if body is None:
        raise OcpiRefusal(transport.INVALID_PARAMETERS, "body is not a JSON object", 400)
    for field, in_url in (("country_code", cc), ("party_id", pid)):
        value = body.setdefault(field, in_url)
        if not isinstance(value, str) or value.strip().upper() != in_url.strip().upper():
            raise OcpiRefusal(
                transport.INVALID_PARAMETERS,
                f"{field} {value!r} in the body differs from {in_url!r} in the URL",
            )
    problems: list[Problem] = []
    info = read_client_info(transport.envelope_encoder.encode(body), problems)
    if info is None:
        raise OcpiRefusal(transport.INVALID_PARAMETERS, problems[0].reason)
    auth, services = registrant.auth, registrant.receiver.services
    async with services.store.transaction() as tx:
        await networks.apply_client_info(
            tx, auth.network_id, [networks.ClientInfoRow(*msgspec.structs.astuple(info))]
        )
        await networks.touch(tx, auth.network_id)
    registrant.receiver.tokens.forget(auth.network_id)  # its parties changed
    log.info("hub.client_info", network=auth.name, party=info.key, status=info.status)
    return answer(request)


ocpi_router = Router(
    path="/ocpi",
    route_handlers=[
        versions,
        version_details,
        get_credentials,
        post_credentials,
        put_credentials,
        delete_credentials,
        get_location_object,
        put_location_handler,
        put_evse_handler,
        put_connector_handler,
        patch_location_handler,
        patch_evse_handler,
        patch_connector_handler,
        get_tariff_handler,
        put_tariff_handler,
        patch_tariff_handler,
        delete_tariff_handler,
        get_client_info,
        put_client_info,
        *SENDER_HANDLERS,
    ],
    exception_handlers=EXCEPTION_HANDLERS,
    include_in_schema=False,
    # A location with a few hundred EVSEs is well under this; more is refused before it is read.
    request_max_body_size=MAX_PUSH_BODY_BYTES,
)
