"""The OCPI endpoints networks call (ocpi.md §2, §3.3, §4.2; Appendix A), for 2.2.1, 2.2 and
2.1.1, with and without trailing slash. Handlers are thin: authenticate, decode, call one
operation, answer in the OCPI envelope with the request and correlation ids echoed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar, Request, Router, delete, get, patch, post, put
from litestar.params import FromPath
from litestar.response import Response
from psycopg import AsyncConnection

from app.live.hub import StreamHub
from app.logs import get_logger
from app.runtime import Runtime
from ingest import credentials, networks
from ingest.credentials import HandshakeError
from ingest.ocpi import transport
from ingest.receiver import tariffs as tariff_ops
from ingest.receiver.auth import TokenCache
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
from ingest.store import fetch_location

log = get_logger(__name__)

AnyRequest = Request[Any, Any, Any]


@dataclass
class Receiver:
    tokens: TokenCache
    writer: PushWriter


@asynccontextmanager
async def receiver_lifespan(app: Litestar) -> AsyncIterator[None]:
    runtime: Runtime = app.state.runtime
    hub = runtime.extras.get("hub")
    on_committed = hub.tell_listeners if isinstance(hub, StreamHub) else None
    receiver = Receiver(
        TokenCache(runtime.pool), PushWriter(runtime.pool, runtime.redis, on_committed)
    )
    runtime.extras["receiver"] = receiver
    try:
        yield
    finally:
        await receiver.writer.stop()


# ---- answering ---------------------------------------------------------------------------------
def answer(
    request: AnyRequest,
    data: Any = None,
    status_code: int = transport.SUCCESS,
    message: str | None = None,
    http_status: int = 200,
) -> Response[bytes]:
    body = transport.envelope_encoder.encode(transport.envelope(data, status_code, message))
    request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
    correlation_id = request.headers.get("x-correlation-id") or request_id
    return Response(
        body,
        status_code=http_status,
        media_type="application/json",
        headers={"X-Request-ID": request_id, "X-Correlation-ID": correlation_id},
    )


def outcome_answer(request: AnyRequest, outcome: Outcome) -> Response[bytes]:
    return answer(request, None, outcome.status_code, outcome.message, outcome.http_status)


def _runtime(request: AnyRequest) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _receiver(request: AnyRequest) -> Receiver:
    receiver = _runtime(request).extras["receiver"]
    assert isinstance(receiver, Receiver)
    return receiver


class Refusal(Exception):
    def __init__(self, response: Response[bytes]) -> None:
        self.response = response


async def _auth(request: AnyRequest, *, registration: bool = False) -> networks.NetworkAuth:
    """The calling network; 401 for an unknown token, or token A outside registration."""
    auth = await _receiver(request).tokens.authenticate(request.headers.get("authorization"))
    if auth is None:
        raise Refusal(
            answer(request, None, transport.CLIENT_ERROR, "unknown or missing token", 401)
        )
    if auth.token_kind == "A" and not registration:  # noqa: S105 - a kind, not a secret
        raise Refusal(
            answer(
                request,
                None,
                transport.CLIENT_ERROR,
                "token A is only valid for versions and credentials",
                401,
            )
        )
    return auth


def _version(request: AnyRequest, version: str) -> str:
    if version not in transport.SUPPORTED_VERSIONS:
        raise Refusal(
            answer(
                request,
                None,
                transport.UNSUPPORTED_VERSION,
                f"unsupported OCPI version {version!r}",
                404,
            )
        )
    return version


def _party(request: AnyRequest, auth: networks.NetworkAuth, cc: str, pid: str) -> None:
    """A token writes only its own parties (ocpi.md P28): else 404, logged, nothing written."""
    if not auth.may_write(cc, pid):
        log.warning(
            "push.refused_foreign_party",
            network=auth.name,
            party=f"{cc}*{pid}",
            path=request.url.path,
        )
        raise Refusal(
            answer(
                request,
                None,
                transport.CLIENT_ERROR,
                f"party {cc.upper()}*{pid.upper()} is not registered for this token",
                404,
            )
        )


async def _body(request: AnyRequest, version: str) -> dict[str, Any]:
    body = decode_object(await request.body())
    if body is None:
        # Not JSON at all: HTTP 400 (ocpi.md §1.5).
        raise Refusal(
            answer(request, None, transport.INVALID_PARAMETERS, "body is not a JSON object", 400)
        )
    return body


def _pusher(auth: networks.NetworkAuth, version: str) -> Pusher:
    return Pusher(auth.network_id, version, datetime.now(UTC))


async def _guard(
    request: AnyRequest, handler: Callable[[], Awaitable[Response[bytes]]]
) -> Response[bytes]:
    try:
        return await handler()
    except Refusal as refusal:
        return refusal.response


# ---- versions and credentials ------------------------------------------------------------------
@get(["/versions", "/versions/"], include_in_schema=False)
async def versions(request: AnyRequest) -> Response[bytes]:
    async def handle() -> Response[bytes]:
        await _auth(request, registration=True)
        return answer(request, credentials.our_versions(_runtime(request).settings))

    return await _guard(request, handle)


@get(["/{version:str}", "/{version:str}/"], include_in_schema=False)
async def version_details(request: AnyRequest, version: FromPath[str]) -> Response[bytes]:
    async def handle() -> Response[bytes]:
        _version(request, version)
        await _auth(request, registration=True)
        return answer(request, credentials.our_version_details(_runtime(request).settings, version))

    return await _guard(request, handle)


CREDENTIALS = ["/{version:str}/credentials", "/{version:str}/credentials/"]


@get(CREDENTIALS, include_in_schema=False)
async def get_credentials(request: AnyRequest, version: FromPath[str]) -> Response[bytes]:
    async def handle() -> Response[bytes]:
        _version(request, version)
        await _auth(request, registration=True)
        # We keep only hashes: echo the token the caller authenticated with (ocpi.md P4).
        presented = transport.token_candidates(request.headers.get("authorization"))
        token = presented[-1] if presented else ""
        return answer(
            request, credentials.our_credentials(_runtime(request).settings, token, version)
        )

    return await _guard(request, handle)


async def _register(request: AnyRequest, version: str, *, update: bool) -> Response[bytes]:
    _version(request, version)
    auth = await _auth(request, registration=True)
    registered = auth.token_kind in ("B", "C", "STATIC")
    if registered != update:
        what = "already registered: use PUT" if registered else "not registered: use POST"
        return answer(request, None, transport.CLIENT_ERROR, what, 405)
    body = decode_object(await request.body())
    runtime = _runtime(request)
    try:
        async with runtime.pool.connection() as conn:
            ours = await credentials.accept_registration(
                conn, runtime.settings, auth, version, body
            )
    except ValueError as exc:
        return answer(
            request,
            None,
            transport.INVALID_PARAMETERS,
            str(exc),
            200 if transport.is_22_or_later(version) else 400,
        )
    except HandshakeError as exc:
        return answer(request, None, exc.status_code, str(exc))
    _receiver(request).tokens.forget(auth.network_id)
    return answer(request, ours)


@post(CREDENTIALS, include_in_schema=False, status_code=200)
async def post_credentials(request: AnyRequest, version: FromPath[str]) -> Response[bytes]:
    return await _guard(request, lambda: _register(request, version, update=False))


@put(CREDENTIALS, include_in_schema=False)
async def put_credentials(request: AnyRequest, version: FromPath[str]) -> Response[bytes]:
    return await _guard(request, lambda: _register(request, version, update=True))


@delete(CREDENTIALS, include_in_schema=False, status_code=200)
async def delete_credentials(request: AnyRequest, version: FromPath[str]) -> Response[bytes]:
    async def handle() -> Response[bytes]:
        _version(request, version)
        auth = await _auth(request, registration=True)
        if auth.token_kind == "A":  # noqa: S105 - a kind, not a secret
            return answer(request, None, transport.CLIENT_ERROR, "not registered", 405)
        async with _runtime(request).pool.connection() as conn:
            await credentials.unregister(conn, auth)
        _receiver(request).tokens.forget(auth.network_id)
        return answer(request)

    return await _guard(request, handle)


# ---- Locations receiver ------------------------------------------------------------------------
LOCATION = "/{version:str}/locations/{cc:str}/{pid:str}/{location_id:str}"
EVSE = LOCATION + "/{evse_uid:str}"
CONNECTOR = EVSE + "/{connector_id:str}"


def _paths(path: str) -> list[str]:
    return [path, path + "/"]


async def _push(
    request: AnyRequest,
    version: str,
    cc: str,
    pid: str,
    make: Callable[[Pusher, dict[str, Any]], Callable[[AsyncConnection], Awaitable[Outcome]]],
) -> Response[bytes]:
    _version(request, version)
    auth = await _auth(request)
    _party(request, auth, cc, pid)
    body = await _body(request, version)
    pusher = _pusher(auth, version)
    outcome = await _receiver(request).writer.write(auth.network_id, make(pusher, body))
    return outcome_answer(request, outcome)


@get(_paths(LOCATION) + _paths(EVSE) + _paths(CONNECTOR), include_in_schema=False)
async def get_location_object(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
    evse_uid: FromPath[str | None] = None,
    connector_id: FromPath[str | None] = None,
) -> Response[bytes]:
    """The object as we store it, for the CPO to verify (ocpi.md §3.3)."""

    async def handle() -> Response[bytes]:
        _version(request, version)
        auth = await _auth(request)
        _party(request, auth, cc, pid)
        async with _runtime(request).pool.connection() as conn:
            stored = await fetch_location(conn, cc, pid, location_id)
        if stored is None:
            return answer(
                request,
                None,
                transport.UNKNOWN_LOCATION,
                f"unknown location {cc}*{pid}*{location_id}",
                404,
            )
        if evse_uid is None:
            return answer(request, stored.tree)
        evse = stored.evse(evse_uid)
        if evse is None:
            return answer(
                request, None, transport.UNKNOWN_LOCATION, f"unknown EVSE {evse_uid}", 404
            )
        if connector_id is None:
            return answer(request, evse)
        connector = stored.connector(evse, connector_id)
        if connector is None:
            return answer(
                request, None, transport.UNKNOWN_LOCATION, f"unknown connector {connector_id}", 404
            )
        return answer(request, connector)

    return await _guard(request, handle)


@put(_paths(LOCATION), include_in_schema=False)
async def put_location_handler(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
) -> Response[bytes]:
    return await _guard(
        request,
        lambda: _push(
            request,
            version,
            cc,
            pid,
            lambda pusher, body: (
                lambda conn: put_location(conn, pusher, cc, pid, location_id, body)
            ),
        ),
    )


@put(_paths(EVSE), include_in_schema=False)
async def put_evse_handler(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
    evse_uid: FromPath[str],
) -> Response[bytes]:
    return await _guard(
        request,
        lambda: _push(
            request,
            version,
            cc,
            pid,
            lambda pusher, body: (
                lambda conn: put_evse(conn, pusher, cc, pid, location_id, evse_uid, body)
            ),
        ),
    )


@put(_paths(CONNECTOR), include_in_schema=False)
async def put_connector_handler(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
    evse_uid: FromPath[str],
    connector_id: FromPath[str],
) -> Response[bytes]:
    return await _guard(
        request,
        lambda: _push(
            request,
            version,
            cc,
            pid,
            lambda pusher, body: (
                lambda conn: put_connector(
                    conn, pusher, cc, pid, location_id, evse_uid, connector_id, body
                )
            ),
        ),
    )


@patch(_paths(LOCATION), include_in_schema=False)
async def patch_location_handler(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
) -> Response[bytes]:
    return await _guard(
        request,
        lambda: _push(
            request,
            version,
            cc,
            pid,
            lambda pusher, body: (
                lambda conn: patch_location(conn, pusher, cc, pid, location_id, body)
            ),
        ),
    )


@patch(_paths(EVSE), include_in_schema=False)
async def patch_evse_handler(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
    evse_uid: FromPath[str],
) -> Response[bytes]:
    async def handle() -> Response[bytes]:
        _version(request, version)
        auth = await _auth(request)
        _party(request, auth, cc, pid)
        body = await _body(request, version)
        pusher = _pusher(auth, version)
        writer = _receiver(request).writer
        if is_status_patch(body):
            outcome = await writer.status_patch(
                StatusPatch(cc, pid, location_id, evse_uid, body, pusher)
            )
        else:
            outcome = await writer.write(
                auth.network_id,
                lambda conn: patch_evse(conn, pusher, cc, pid, location_id, evse_uid, body),
            )
        return outcome_answer(request, outcome)

    return await _guard(request, handle)


@patch(_paths(CONNECTOR), include_in_schema=False)
async def patch_connector_handler(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    location_id: FromPath[str],
    evse_uid: FromPath[str],
    connector_id: FromPath[str],
) -> Response[bytes]:
    return await _guard(
        request,
        lambda: _push(
            request,
            version,
            cc,
            pid,
            lambda pusher, body: (
                lambda conn: patch_connector(
                    conn, pusher, cc, pid, location_id, evse_uid, connector_id, body
                )
            ),
        ),
    )


# ---- Tariffs receiver --------------------------------------------------------------------------
TARIFF = "/{version:str}/tariffs/{cc:str}/{pid:str}/{tariff_id:str}"


@get(_paths(TARIFF), include_in_schema=False)
async def get_tariff_handler(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    tariff_id: FromPath[str],
) -> Response[bytes]:
    async def handle() -> Response[bytes]:
        _version(request, version)
        auth = await _auth(request)
        _party(request, auth, cc, pid)
        async with _runtime(request).pool.connection() as conn:
            raw = await tariff_ops.fetch_tariff(conn, cc, pid, tariff_id)
        if raw is None:
            return answer(request, None, transport.CLIENT_ERROR, f"unknown tariff {tariff_id}", 404)
        return answer(request, raw)

    return await _guard(request, handle)


@put(_paths(TARIFF), include_in_schema=False)
async def put_tariff_handler(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    tariff_id: FromPath[str],
) -> Response[bytes]:
    return await _guard(
        request,
        lambda: _push(
            request,
            version,
            cc,
            pid,
            lambda pusher, body: (
                lambda conn: tariff_ops.put_tariff(conn, pusher, cc, pid, tariff_id, body)
            ),
        ),
    )


@patch(_paths(TARIFF), include_in_schema=False)
async def patch_tariff_handler(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    tariff_id: FromPath[str],
) -> Response[bytes]:
    """2.1.1 only: PATCH was removed from the Tariffs receiver in 2.2 (ocpi.md §4.1)."""

    async def handle() -> Response[bytes]:
        if transport.is_22_or_later(version):
            return answer(
                request,
                None,
                transport.CLIENT_ERROR,
                f"tariffs cannot be PATCHed in OCPI {version}: PUT the whole tariff",
                405,
            )
        return await _push(
            request,
            version,
            cc,
            pid,
            lambda pusher, body: (
                lambda conn: tariff_ops.patch_tariff(conn, pusher, cc, pid, tariff_id, body)
            ),
        )

    return await _guard(request, handle)


@delete(_paths(TARIFF), include_in_schema=False, status_code=200)
async def delete_tariff_handler(
    request: AnyRequest,
    version: FromPath[str],
    cc: FromPath[str],
    pid: FromPath[str],
    tariff_id: FromPath[str],
) -> Response[bytes]:
    async def handle() -> Response[bytes]:
        _version(request, version)
        auth = await _auth(request)
        _party(request, auth, cc, pid)
        pusher = _pusher(auth, version)
        outcome = await _receiver(request).writer.write(
            auth.network_id, lambda conn: tariff_ops.delete_tariff(conn, pusher, cc, pid, tariff_id)
        )
        return outcome_answer(request, outcome)

    return await _guard(request, handle)


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
)
