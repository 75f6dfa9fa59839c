"""The OCPI endpoints networks call (ocpi.md §2, §3.3, §4.2; Appendix A), for 2.2.1, 2.2 and
2.1.1, with and without trailing slash. The checks every request needs (version, token, party,
body) are dependencies (``guards``); a refusal or failure anywhere becomes an OCPI envelope in
one exception handler. What is left here is what differs per endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Router, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Response

from app.services import Services, services_of
from app.store import Tx
from app.store.locations import fetch_location
from app.store.networks import NetworkAuth
from app.store.tariffs import fetch_tariff
from ingest import credentials
from ingest.credentials import HandshakeError
from ingest.ocpi import transport
from ingest.receiver import tariffs as tariff_ops
from ingest.receiver.auth import TokenCache
from ingest.receiver.guards import (
    EXCEPTION_HANDLERS,
    MODULES,
    REGISTRATION,
    VERSIONS,
    OcpiRefusal,
    Receiver,
    answer,
)
from ingest.receiver.operations import (
    Outcome,
    Pusher,
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
from ingest.receiver.writer import PushWriter

AnyRequest = Request[Any, Any, Any]
Write = Callable[[Tx], Awaitable[Outcome]]


@asynccontextmanager
async def receiver_lifespan(app: Litestar) -> AsyncIterator[None]:
    services = services_of(app)
    receiver = Receiver(
        TokenCache(services.store),
        PushWriter(services.store, services.redis, services.hub.tell_listeners),
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


async def _write(request: AnyRequest, receiver: Receiver, pusher: Pusher, write: Write) -> Any:
    outcome = await receiver.writer.write(pusher.network_id, pusher.version, write)
    return outcome_answer(request, outcome)


def _paths(path: str) -> list[str]:
    return [path, path + "/"]


# ---- versions and credentials ------------------------------------------------------------------
@get(_paths("/versions"), dependencies=VERSIONS)
async def versions(
    request: AnyRequest,
    registrant: NamedDependency[NetworkAuth],
    services: NamedDependency[Services],
) -> Any:
    return answer(request, credentials.our_versions(services.settings))


@get(_paths("/{version:str}"), dependencies=REGISTRATION)
async def version_details(
    request: AnyRequest,
    registrant: NamedDependency[NetworkAuth],
    ocpi_version: NamedDependency[str],
    services: NamedDependency[Services],
) -> Any:
    return answer(request, credentials.our_version_details(services.settings, ocpi_version))


CREDENTIALS = _paths("/{version:str}/credentials")


@get(CREDENTIALS, dependencies=REGISTRATION)
async def get_credentials(
    request: AnyRequest,
    registrant: NamedDependency[NetworkAuth],
    ocpi_version: NamedDependency[str],
    services: NamedDependency[Services],
) -> Any:
    # We keep only hashes: echo the token the caller authenticated with (ocpi.md P4).
    presented = transport.token_candidates(request.headers.get("authorization"))
    token = presented[-1] if presented else ""
    return answer(request, credentials.our_credentials(services.settings, token, ocpi_version))


async def _register(
    request: AnyRequest,
    registrant: NetworkAuth,
    version: str,
    services: Services,
    receiver: Receiver,
    *,
    update: bool,
) -> Any:
    registered = registrant.token_kind in ("B", "C", "STATIC")
    if registered != update:
        what = "already registered: use PUT" if registered else "not registered: use POST"
        raise OcpiRefusal(transport.CLIENT_ERROR, what, 405)
    body = decode_object(await request.body())
    try:
        ours = await credentials.accept_registration(
            services.store, services.settings, registrant, version, body
        )
    except ValueError as exc:
        raise OcpiRefusal(
            transport.INVALID_PARAMETERS,
            str(exc),
            200 if transport.is_22_or_later(version) else 400,
        ) from None
    except HandshakeError as exc:
        raise OcpiRefusal(exc.status_code, str(exc)) from None
    receiver.tokens.forget(registrant.network_id)
    return answer(request, ours)


@post(CREDENTIALS, dependencies=REGISTRATION, status_code=200)
async def post_credentials(
    request: AnyRequest,
    registrant: NamedDependency[NetworkAuth],
    ocpi_version: NamedDependency[str],
    services: NamedDependency[Services],
    receiver: NamedDependency[Receiver],
) -> Any:
    return await _register(request, registrant, ocpi_version, services, receiver, update=False)


@put(CREDENTIALS, dependencies=REGISTRATION)
async def put_credentials(
    request: AnyRequest,
    registrant: NamedDependency[NetworkAuth],
    ocpi_version: NamedDependency[str],
    services: NamedDependency[Services],
    receiver: NamedDependency[Receiver],
) -> Any:
    return await _register(request, registrant, ocpi_version, services, receiver, update=True)


@delete(CREDENTIALS, dependencies=REGISTRATION, status_code=200)
async def delete_credentials(
    request: AnyRequest,
    registrant: NamedDependency[NetworkAuth],
    services: NamedDependency[Services],
    receiver: NamedDependency[Receiver],
) -> Any:
    if registrant.token_kind == "A":  # noqa: S105 - a kind, not a secret
        raise OcpiRefusal(transport.CLIENT_ERROR, "not registered", 405)
    await credentials.unregister(services.store, registrant)
    receiver.tokens.forget(registrant.network_id)
    return answer(request)


# ---- Locations receiver ------------------------------------------------------------------------
LOCATION = "/{version:str}/locations/{cc:str}/{pid:str}/{location_id:str}"
EVSE = LOCATION + "/{evse_uid:str}"
CONNECTOR = EVSE + "/{connector_id:str}"


@get(_paths(LOCATION) + _paths(EVSE) + _paths(CONNECTOR), dependencies=MODULES)
async def get_location_object(
    request: AnyRequest,
    pusher: NamedDependency[Pusher],
    services: NamedDependency[Services],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
    evse_uid: FromPath[str | None] = None,
    connector_id: FromPath[str | None] = None,
) -> Any:
    """The object as we store it, for the CPO to verify (ocpi.md §3.3)."""
    stored = await fetch_location(services.store, cc, pid, location_id)
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


@put(_paths(LOCATION), dependencies=MODULES)
async def put_location_handler(
    request: AnyRequest,
    receiver: NamedDependency[Receiver],
    pusher: NamedDependency[Pusher],
    payload: NamedDependency[dict[str, Any]],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
) -> Any:
    return await _write(
        request,
        receiver,
        pusher,
        lambda tx: put_location(tx, pusher, cc, pid, location_id, payload),
    )


@put(_paths(EVSE), dependencies=MODULES)
async def put_evse_handler(
    request: AnyRequest,
    receiver: NamedDependency[Receiver],
    pusher: NamedDependency[Pusher],
    payload: NamedDependency[dict[str, Any]],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
    evse_uid: FromPath[str],
) -> Any:
    return await _write(
        request,
        receiver,
        pusher,
        lambda tx: put_evse(tx, pusher, cc, pid, location_id, evse_uid, payload),
    )


@put(_paths(CONNECTOR), dependencies=MODULES)
async def put_connector_handler(
    request: AnyRequest,
    receiver: NamedDependency[Receiver],
    pusher: NamedDependency[Pusher],
    payload: NamedDependency[dict[str, Any]],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
    evse_uid: FromPath[str],
    connector_id: FromPath[str],
) -> Any:
    return await _write(
        request,
        receiver,
        pusher,
        lambda tx: put_connector(tx, pusher, cc, pid, location_id, evse_uid, connector_id, payload),
    )


@patch(_paths(LOCATION), dependencies=MODULES)
async def patch_location_handler(
    request: AnyRequest,
    receiver: NamedDependency[Receiver],
    pusher: NamedDependency[Pusher],
    payload: NamedDependency[dict[str, Any]],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
) -> Any:
    return await _write(
        request,
        receiver,
        pusher,
        lambda tx: patch_location(tx, pusher, cc, pid, location_id, payload),
    )


@patch(_paths(EVSE), dependencies=MODULES)
async def patch_evse_handler(
    request: AnyRequest,
    receiver: NamedDependency[Receiver],
    pusher: NamedDependency[Pusher],
    payload: NamedDependency[dict[str, Any]],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
    evse_uid: FromPath[str],
) -> Any:
    if is_status_patch(payload):  # the most common message: batched set-based
        outcome = await receiver.writer.status_patch(
            StatusPatch(cc, pid, location_id, evse_uid, payload, pusher)
        )
        return outcome_answer(request, outcome)
    return await _write(
        request,
        receiver,
        pusher,
        lambda tx: patch_evse(tx, pusher, cc, pid, location_id, evse_uid, payload),
    )


@patch(_paths(CONNECTOR), dependencies=MODULES)
async def patch_connector_handler(
    request: AnyRequest,
    receiver: NamedDependency[Receiver],
    pusher: NamedDependency[Pusher],
    payload: NamedDependency[dict[str, Any]],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
    evse_uid: FromPath[str],
    connector_id: FromPath[str],
) -> Any:
    return await _write(
        request,
        receiver,
        pusher,
        lambda tx: patch_connector(
            tx, pusher, cc, pid, location_id, evse_uid, connector_id, payload
        ),
    )


# ---- Tariffs receiver --------------------------------------------------------------------------
TARIFF = "/{version:str}/tariffs/{cc:str}/{pid:str}/{tariff_id:str}"


@get(_paths(TARIFF), dependencies=MODULES)
async def get_tariff_handler(
    request: AnyRequest,
    pusher: NamedDependency[Pusher],
    services: NamedDependency[Services],
    cc: FromPath[str],
    pid: FromPath[str],
    tariff_id: FromPath[str],
) -> Any:
    raw = await fetch_tariff(services.store, cc, pid, tariff_id)
    if raw is None:
        raise OcpiRefusal(transport.CLIENT_ERROR, f"unknown tariff {tariff_id}", 404)
    return answer(request, raw)


@put(_paths(TARIFF), dependencies=MODULES)
async def put_tariff_handler(
    request: AnyRequest,
    receiver: NamedDependency[Receiver],
    pusher: NamedDependency[Pusher],
    payload: NamedDependency[dict[str, Any]],
    cc: FromPath[str],
    pid: FromPath[str],
    tariff_id: FromPath[str],
) -> Any:
    return await _write(
        request,
        receiver,
        pusher,
        lambda tx: tariff_ops.put_tariff(tx, pusher, cc, pid, tariff_id, payload),
    )


@patch(_paths(TARIFF), dependencies={**MODULES})
async def patch_tariff_handler(
    request: AnyRequest,
    receiver: NamedDependency[Receiver],
    pusher: NamedDependency[Pusher],
    payload: NamedDependency[dict[str, Any]],
    cc: FromPath[str],
    pid: FromPath[str],
    tariff_id: FromPath[str],
) -> Any:
    """2.1.1 only: PATCH was removed from the Tariffs receiver in 2.2 (ocpi.md §4.1)."""
    if transport.is_22_or_later(pusher.version):
        raise OcpiRefusal(
            transport.CLIENT_ERROR,
            f"tariffs cannot be PATCHed in OCPI {pusher.version}: PUT the whole tariff",
            405,
        )
    return await _write(
        request,
        receiver,
        pusher,
        lambda tx: tariff_ops.patch_tariff(tx, pusher, cc, pid, tariff_id, payload),
    )


@delete(_paths(TARIFF), dependencies=MODULES, status_code=200)
async def delete_tariff_handler(
    request: AnyRequest,
    receiver: NamedDependency[Receiver],
    pusher: NamedDependency[Pusher],
    cc: FromPath[str],
    pid: FromPath[str],
    tariff_id: FromPath[str],
) -> Any:
    return await _write(
        request,
        receiver,
        pusher,
        lambda tx: tariff_ops.delete_tariff(tx, pusher, cc, pid, tariff_id),
    )


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
    ],
    exception_handlers=EXCEPTION_HANDLERS,
    include_in_schema=False,
)
