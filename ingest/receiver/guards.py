"""What every OCPI request of the receiver is checked for, declared once (ocpi.md §1.3, §1.5,
P28), as Litestar dependencies that refuse by raising ``OcpiRefusal``; and the exception
handlers that turn any refusal or failure into an OCPI envelope.

Order of the checks (each dependency needs the one before): the version in the path
(404, 3002) → the token (401) → the party in the path belongs to the token (404) → the body is
a JSON object (400). A handler then is the few lines that differ.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.types import ExceptionHandlersMap

from app.logs import get_logger
from app.store import RejectedData, StoreError, StoreUnavailable
from app.store.networks import NetworkAuth
from ingest.ocpi import transport
from ingest.receiver.auth import TokenCache
from ingest.receiver.operations import Pusher, decode_object
from ingest.receiver.writer import PushWriter

log = get_logger(__name__)

AnyRequest = Request[Any, Any, Any]


@dataclass
class Receiver:
    """The receiver's own services (kept as ``app.state.receiver`` by its lifespan)."""

    tokens: TokenCache
    writer: PushWriter


class OcpiRefusal(Exception):
    """Answer with this OCPI status code and message (and this HTTP status)."""

    def __init__(self, status_code: int, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http_status = http_status


def answer(
    request: AnyRequest,
    data: Any = None,
    status_code: int = transport.SUCCESS,
    message: str | None = None,
    http_status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    """An OCPI envelope, with the request's X-Request-ID and X-Correlation-ID echoed."""
    body = transport.envelope_encoder.encode(transport.envelope(data, status_code, message))
    request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
    correlation_id = request.headers.get("x-correlation-id") or request_id
    return Response(
        body,
        status_code=http_status,
        media_type="application/json",
        headers={"X-Request-ID": request_id, "X-Correlation-ID": correlation_id, **(headers or {})},
    )


# ---- dependencies ------------------------------------------------------------------------------
def _receiver(state: State) -> Receiver:
    receiver: Receiver = state.receiver
    return receiver


def _ocpi_version(version: FromPath[str]) -> str:
    if version not in transport.SUPPORTED_VERSIONS:
        raise OcpiRefusal(
            transport.UNSUPPORTED_VERSION, f"unsupported OCPI version {version!r}", 404
        )
    return version


async def _any_registrant(request: AnyRequest, receiver: NamedDependency[Receiver]) -> NetworkAuth:
    """The calling network, any token (token A included): versions and credentials."""
    auth = await receiver.tokens.authenticate(request.headers.get("authorization"))
    if auth is None:
        raise OcpiRefusal(transport.CLIENT_ERROR, "unknown or missing token", 401)
    return auth


async def _registrant(
    request: AnyRequest, receiver: NamedDependency[Receiver], ocpi_version: NamedDependency[str]
) -> NetworkAuth:
    """The same, on a route of one version: the version is checked first."""
    return await _any_registrant(request, receiver)


async def _caller(request: AnyRequest, registrant: NamedDependency[NetworkAuth]) -> NetworkAuth:
    """The calling network, registered: token A only opens versions and credentials."""
    if registrant.token_kind == "A":  # noqa: S105 - a kind, not a secret
        raise OcpiRefusal(
            transport.CLIENT_ERROR, "token A is only valid for versions and credentials", 401
        )
    return registrant


def _pusher(
    request: AnyRequest,
    caller: NamedDependency[NetworkAuth],
    ocpi_version: NamedDependency[str],
    cc: FromPath[str],
    pid: FromPath[str],
) -> Pusher:
    """A token writes only its own parties (ocpi.md P28): else 404, logged, nothing written."""
    if not caller.may_write(cc, pid):
        log.warning(
            "push.refused_foreign_party",
            network=caller.name,
            party=f"{cc.upper()}*{pid.upper()}",
            path=request.url.path,
        )
        raise OcpiRefusal(
            transport.CLIENT_ERROR,
            f"party {cc.upper()}*{pid.upper()} is not registered for this token",
            404,
        )
    return Pusher(caller.network_id, ocpi_version, datetime.now(UTC))


async def _payload(request: AnyRequest, pusher: NamedDependency[Pusher]) -> dict[str, Any]:
    body = decode_object(await request.body())
    if body is None:
        # Not JSON at all: HTTP 400 (ocpi.md §1.5).
        raise OcpiRefusal(transport.INVALID_PARAMETERS, "body is not a JSON object", 400)
    return body


# Which checks a route wants: versions/credentials take the registrant (token A allowed), the
# modules a pusher (registered, owning the party in the path) and a payload where they write.
VERSIONS = {
    "receiver": Provide(_receiver, sync_to_thread=False),
    "registrant": Provide(_any_registrant),
}
REGISTRATION = {
    "receiver": Provide(_receiver, sync_to_thread=False),
    "ocpi_version": Provide(_ocpi_version, sync_to_thread=False),
    "registrant": Provide(_registrant),
}
MODULES = {
    **REGISTRATION,
    "caller": Provide(_caller),
    "pusher": Provide(_pusher, sync_to_thread=False),
    "payload": Provide(_payload),
}


# ---- exception handlers ------------------------------------------------------------------------
def _refusal(request: AnyRequest, exc: OcpiRefusal) -> Response[bytes]:
    return answer(request, None, exc.status_code, exc.message, exc.http_status)


def _store_failure(request: AnyRequest, exc: StoreError) -> Response[bytes]:
    if isinstance(exc, RejectedData):
        return answer(request, None, transport.INVALID_PARAMETERS, f"cannot be stored: {exc}")
    log.error("ocpi.store_failed", path=request.url.path, error=str(exc))
    retry = {"Retry-After": str(max(1, round(exc.retry_after_s or 1)))}
    message = (
        "the database is unavailable; retry"
        if isinstance(exc, StoreUnavailable)
        else "could not complete the request; retry"
    )
    return answer(request, None, transport.SERVER_ERROR, message, 503, retry)


def _http_error(request: AnyRequest, exc: HTTPException) -> Response[bytes]:
    if exc.status_code >= 500:
        return _internal(request, exc)
    return answer(
        request,
        None,
        transport.CLIENT_ERROR,
        exc.detail or "request refused",
        exc.status_code,
        dict(exc.headers or {}),
    )


def _internal(request: AnyRequest, exc: Exception) -> Response[bytes]:
    request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
    log.error(
        "ocpi.internal_error",
        request_id=request_id,
        method=request.method,
        path=request.url.path,
        error=f"{type(exc).__name__}: {exc}",
        exc_info=exc,
    )
    return answer(
        request, None, transport.SERVER_ERROR, "internal error; retry", 500,
        {"X-Request-ID": request_id},
    )  # fmt: skip


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    OcpiRefusal: _refusal,
    StoreError: _store_failure,
    HTTPException: _http_error,
    Exception: _internal,
}
