"""What every OCPI request of the receiver is checked for, declared once (ocpi.md §1.3, §1.5,
P28), as Litestar dependencies that refuse by raising ``OcpiRefusal``; and the exception
handlers that turn any refusal or failure into an OCPI envelope.

Order of the checks (each dependency needs the one before): the version in the path
(404, 3002) → the token (401) → the party in the path belongs to the token (404) → the body is
a JSON object (400). A handler then is the few lines that differ.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.types import ExceptionHandlersMap

from app.limits import BodyTimeout
from app.logs import get_logger
from app.services import Services
from app.store import RejectedData, StoreError, StoreUnavailable, Tx, locks
from app.store.networks import Grant, NetworkAuth
from ingest.ocpi import storable, transport
from ingest.receiver.auth import TokenCache
from ingest.receiver.operations import Outcome, Pusher, StatusPatch, decode_object
from ingest.receiver.writer import PushWriter

log = get_logger(__name__)

AnyRequest = Request[Any, Any, Any]
Write = Callable[[Tx], Awaitable[Outcome]]


@dataclass
class Receiver:
    """The receiver's own services (kept as ``app.state.receiver`` by its lifespan), beside the
    process's."""

    services: Services
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
    """An OCPI envelope, with the request's X-Request-ID and X-Correlation-ID echoed and, on a
    functional module of 2.2+, the routing headers of the answer (from us, to the party that
    asked: its ``OCPI-from-*``, else the party in the path; ocpi.md §1.9)."""
    body = transport.envelope_encoder.encode(transport.envelope(data, status_code, message))
    request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
    correlation_id = request.headers.get("x-correlation-id") or request_id
    out = {"X-Request-ID": request_id, "X-Correlation-ID": correlation_id}
    out.update(_answer_routing(request))
    out.update(headers or {})
    return Response(body, status_code=http_status, media_type="application/json", headers=out)


def _answer_routing(request: AnyRequest) -> dict[str, str]:
    params = request.path_params
    version = params.get("version")
    parts = request.url.path.split("/")
    if not transport.is_22_or_later(version) or not transport.FUNCTIONAL_MODULES & set(parts):
        return {}
    receiver: Receiver | None = getattr(request.app.state, "receiver", None)
    if receiver is None:
        return {}
    settings = receiver.services.settings
    asked_by = transport.header_party(request.headers, "from")
    if asked_by is None and "cc" in params and "pid" in params:
        asked_by = (str(params["cc"]).upper(), str(params["pid"]).upper())
    return transport.routing_headers((settings.ocpi_country_code, settings.ocpi_party_id), asked_by)


# ---- dependencies ------------------------------------------------------------------------------
# Each check takes the one before it, so that Litestar resolves them one after the other (it runs
# independent dependencies of one request in an anyio task group: measured at ~20 µs a request,
# a fifth of a refused push).
@dataclass(frozen=True)
class Caller:
    """A checked caller: who it is, the OCPI version of the route, and the receiver."""

    auth: NetworkAuth
    version: str
    receiver: Receiver


@dataclass(frozen=True)
class Push:
    """A checked push: the network may write the party in the path; ``pusher`` is what the
    operations need to know of it."""

    pusher: Pusher
    receiver: Receiver
    grant: Grant  # checked again by the writer, in the write's transaction
    objects: tuple[int, ...] = ()  # what the write will change (its lock keys)

    async def write(self, write: Write) -> Outcome:
        outcome = await self.receiver.writer.write(self.pusher, self.grant, write, self.objects)
        return self._heard(outcome)

    async def status(self, item: StatusPatch) -> Outcome:
        return self._heard(await self.receiver.writer.status_patch(item))

    def _heard(self, outcome: Outcome) -> Outcome:
        if outcome.http_status == 401:  # refused by the writer: this process forgets it too
            self.receiver.tokens.forget(self.pusher.network_id)
        return outcome


def _receiver(request: AnyRequest) -> Receiver:
    receiver: Receiver = request.app.state.receiver
    return receiver


def _ocpi_version(version: FromPath[str]) -> str:
    if version not in transport.SUPPORTED_VERSIONS:
        raise OcpiRefusal(
            transport.UNSUPPORTED_VERSION, f"unsupported OCPI version {version!r}", 404
        )
    return version


async def _authenticate(request: AnyRequest, version: str) -> Caller:
    receiver = _receiver(request)
    auth = await receiver.tokens.authenticate(request.headers.get("authorization"))
    if auth is None:
        raise OcpiRefusal(transport.CLIENT_ERROR, "unknown or missing token", 401)
    return Caller(auth, version, receiver)


async def _versions_caller(request: AnyRequest) -> Caller:
    """The calling network, any token (token A included), on the versions list."""
    return await _authenticate(request, "")


async def _registrant(request: AnyRequest, ocpi_version: NamedDependency[str]) -> Caller:
    """The calling network, any token (token A included): version details and credentials."""
    return await _authenticate(request, ocpi_version)


# A refusal for a party the cached answer does not list asks the database again if the answer
# is older than this: a hub's new party (its ClientInfo, a pull) may have arrived meanwhile.
RECHECK_REFUSAL_AFTER_S = 1.0


async def _push(
    request: AnyRequest,
    registrant: NamedDependency[Caller],
    cc: FromPath[str],
    pid: FromPath[str],
) -> Push:
    """Registered (token A only opens versions and credentials), writing only its own parties
    (ocpi.md P28: else 404, logged, nothing written), with ids in the path we can store (2001
    naming the one that is not)."""
    auth = registrant.auth
    if auth.token_kind == "A":  # noqa: S105 - a kind, not a secret
        raise OcpiRefusal(
            transport.CLIENT_ERROR, "token A is only valid for versions and credentials", 401
        )
    if auth.subscriber:
        log.warning("push.refused_subscriber", network=auth.name, path=request.url.path)
        raise OcpiRefusal(
            transport.CLIENT_ERROR,
            "a subscriber's token only reads: pull from the hub endpoints of version details",
            403,
        )
    _check_addressed_to_us(request, registrant)
    if not auth.may_write(cc, pid):
        again = await registrant.receiver.tokens.authenticate(
            request.headers.get("authorization"), max_age_s=RECHECK_REFUSAL_AFTER_S
        )
        auth = again if again is not None else auth
    if not auth.may_write(cc, pid):
        log.warning(
            "push.refused_foreign_party",
            network=auth.name,
            party=f"{cc.upper()}*{pid.upper()}",
            path=request.url.path,
        )
        raise OcpiRefusal(
            transport.CLIENT_ERROR,
            f"party {cc.upper()}*{pid.upper()} is not registered for this token",
            404,
        )
    for name in ("location_id", "evse_uid", "connector_id", "tariff_id"):
        value = request.path_params.get(name)
        if isinstance(value, str) and (bad := storable.id_problem(name, value)) is not None:
            raise OcpiRefusal(
                transport.INVALID_PARAMETERS,
                f"{bad} (in the URL)",
                _invalid_http(registrant.version),
            )
    pusher = Pusher(auth.network_id, registrant.version, datetime.now(UTC), auth.token_sha256)
    grant = Grant(auth.token_sha256, cc.upper(), pid.upper())
    params = request.path_params
    objects: tuple[int, ...]
    if "tariff_id" in params:
        objects = (locks.object_key("tariff", cc, pid, params["tariff_id"]),)
    elif "location_id" in params:
        objects = (locks.object_key("location", cc, pid, params["location_id"]),)
    else:
        objects = ()
    return Push(pusher, registrant.receiver, grant, objects)


def _check_addressed_to_us(request: AnyRequest, registrant: Caller) -> None:
    """A 2.2+ request whose ``OCPI-to-*`` headers name another party is not for us: a hub that
    misroutes it is told so, nothing is written (ocpi.md §1.9). Without the headers (a direct
    peer, 2.1.1) it is ours."""
    if not transport.is_22_or_later(registrant.version):
        return
    addressed = transport.header_party(request.headers, "to")
    settings = registrant.receiver.services.settings
    us = (settings.ocpi_country_code, settings.ocpi_party_id)
    if addressed is not None and addressed != us:
        log.warning(
            "push.misrouted",
            network=registrant.auth.name,
            to="*".join(addressed),
            path=request.url.path,
        )
        raise OcpiRefusal(
            transport.INVALID_PARAMETERS,
            f"the OCPI-to-* headers address party {'*'.join(addressed)}; this platform is "
            f"{'*'.join(us)}",
            _invalid_http(registrant.version),
        )


def _invalid_http(version: str) -> int:
    # 2.2+: a request that reached the OCPI layer is answered with HTTP 200 (ocpi.md §1.5).
    return 200 if transport.is_22_or_later(version) else 400


async def _payload(request: AnyRequest, push: NamedDependency[Push]) -> dict[str, Any]:
    body = decode_object(await request.body())
    if body is None:
        # Not JSON at all: HTTP 400 (ocpi.md §1.5).
        raise OcpiRefusal(
            transport.INVALID_PARAMETERS,
            "body is not a JSON object (valid UTF-8 JSON, nested at most a few hundred levels)",
            400,
        )
    if (bad := storable.unstorable_body(body)) is not None:
        raise OcpiRefusal(transport.INVALID_PARAMETERS, bad, _invalid_http(push.pusher.version))
    return body


# What a route is checked for: the versions list and version details/credentials take any
# registrant (token A allowed); the modules a push (registered, owning the party in the path)
# and, where they write, its payload.
VERSIONS = {"registrant": Provide(_versions_caller)}
REGISTRATION = {
    "ocpi_version": Provide(_ocpi_version, sync_to_thread=False),
    "registrant": Provide(_registrant),
}
MODULES = {
    **REGISTRATION,
    "push": Provide(_push),
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


def _body_error(request: AnyRequest, exc: Exception) -> Response[bytes]:
    if isinstance(exc, BodyTimeout):
        return answer(request, None, transport.CLIENT_ERROR, str(exc), 408)
    return answer(
        request, None, transport.INVALID_PARAMETERS, "body is not a JSON object we can read", 400
    )


def ocpi_error(request: AnyRequest, exc: Exception) -> Response[bytes]:
    """Any failure under /ocpi, answered as an OCPI envelope (also for a path no route
    matches: the app's own handlers hand those over, ``app.api.errors.PREFIX_HANDLERS``)."""
    if isinstance(exc, OcpiRefusal):
        return _refusal(request, exc)
    if isinstance(exc, StoreError):
        return _store_failure(request, exc)
    if isinstance(exc, BodyTimeout | UnicodeDecodeError | RecursionError):
        return _body_error(request, exc)
    if isinstance(exc, HTTPException):
        return _http_error(request, exc)
    return _internal(request, exc)


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
    BodyTimeout: _body_error,
    UnicodeDecodeError: _body_error,
    RecursionError: _body_error,
    Exception: _internal,
}
