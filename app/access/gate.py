"""In front of the app: who may call the public discovery API, from where, and how often
(issue 11). An ASGI layer, like ``app.limits``: cheaper than a Litestar middleware, and it
answers preflights, 401s and 429s before any routing or dependency is resolved.

For the public discovery paths (``PUBLIC``) only; ``/ocpi``, the map page, ``/health``,
``/schema`` and the map's own helpers pass untouched:

- **CORS** (``WATTLAS_CORS_ORIGINS``, default any origin): preflights answered for GET (and
  POST on along-route), no credentials, the rate-limit and cache fields exposed to scripts.
  Written here because Litestar's CORS configuration applies to the whole app, and the OCPI
  endpoints must not have it. (Fetch standard, "CORS protocol".)
- **API keys**: ``Authorization: Bearer KEY`` or ``X-Api-Key: KEY`` (and ``api_key=`` on the
  stream, for EventSource). An unknown or revoked key is a 401; no key is a 401 only with
  ``WATTLAS_API_KEYS_REQUIRED``. Keys are looked up by hash and remembered per process for
  ``KEY_CACHE_S`` (a revocation takes effect within that time on every process).
- **Quotas** (``app.access.quota``): a refused call is a 429 with ``Retry-After``; every call
  with a key carries ``RateLimit`` / ``RateLimit-Policy``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import msgspec

from app.access.keys import key_hash, key_of
from app.access.quota import Quotas
from app.api.schemas import ErrorBody, ErrorDetail
from app.logs import get_logger
from app.settings import Settings
from app.store import Store, StoreError
from app.store import api_keys as key_store
from app.store.api_keys import ApiKey

log = get_logger(__name__)

Message = dict[str, Any]
Headers = list[tuple[bytes, bytes]]
KEY_CACHE_S = 10.0
KEY_CACHE_MAX = 10_000

# The public discovery endpoints: path prefixes and the methods browsers may use on them.
PUBLIC: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/v1/locations/along-route", ("POST",)),
    ("/v1/locations", ("GET",)),
    ("/v1/search", ("GET",)),
    ("/v1/clusters", ("GET",)),
    ("/v1/networks", ("GET",)),
    ("/v1/sources", ("GET",)),
    ("/v1/price", ("POST",)),
    ("/v1/stream", ("GET",)),
    ("/v1/changes", ("GET",)),  # the sync endpoints (issue 14): carmakers' copies
    ("/v1/export", ("GET",)),
)
REQUEST_HEADERS = b"Accept, Authorization, Content-Type, If-None-Match, Last-Event-ID, X-Api-Key"
EXPOSED = (
    b"ETag, RateLimit, RateLimit-Policy, Retry-After, Wattlas-Cursor, Wattlas-Replica-Lag-S,"
    b" X-Request-ID"
)
PREFLIGHT_MAX_AGE_S = b"600"
_encoder = msgspec.json.Encoder()


def public_methods(path: str) -> tuple[str, ...] | None:
    """The methods of a public discovery path (None: not one)."""
    for prefix, methods in PUBLIC:
        if path == prefix or path.startswith(prefix + "/"):
            return methods
    return None


class KeyCache:
    """Keys by hash, for ``KEY_CACHE_S`` (unknown keys too, so that a wrong key sent in a loop
    does not cost a database read each time)."""

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[float, ApiKey | None]] = {}

    async def get(self, store: Store, digest: bytes) -> ApiKey | None:
        now = time.monotonic()
        entry = self._entries.get(digest)
        if entry is not None and entry[0] > now:
            return entry[1]
        key = await key_store.by_hash(store, digest)
        if len(self._entries) >= KEY_CACHE_MAX:
            self._entries.clear()
        self._entries[digest] = (now + KEY_CACHE_S, key)
        return key


class AccessGate:
    def __init__(
        self,
        app: Callable[[Any, Any, Any], Awaitable[None]],
        settings: Settings,
        services: Callable[[], Any],
    ) -> None:
        """``services`` returns the process's ``Services`` (opened by the app's lifespan)."""
        self.app = app
        self.required = settings.api_keys_required
        origins = settings.cors_origin_list
        self.any_origin = "*" in origins
        self.origins = frozenset(o.encode() for o in origins if o != "*")
        self._services = services
        self._keys = KeyCache()
        self._quotas: Quotas | None = None

    def _cors(self, origin: bytes | None) -> Headers:
        if origin is None:
            return []
        if self.any_origin:
            allow = [(b"access-control-allow-origin", b"*")]
        elif origin in self.origins:
            allow = [(b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        else:
            return []
        return [*allow, (b"access-control-expose-headers", EXPOSED)]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        methods = public_methods(scope["path"])
        if methods is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        origin = headers.get(b"origin")
        cors = self._cors(origin)
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            wanted = headers[b"access-control-request-method"].decode("latin-1").upper()
            if cors and wanted in methods:
                await _answer(send, 204, b"", [*cors, *_preflight(methods)])
                return
            await self.app(scope, receive, send)  # not allowed: no CORS fields, as Litestar
            return
        key = key_of(
            headers.get(b"authorization", b"").decode("latin-1"),
            headers.get(b"x-api-key", b"").decode("latin-1") or _query_key(scope),
        )
        extra = cors
        if key is not None:
            refusal, extra = await self._check(key, cors)
            if refusal is not None:
                await refusal(send)
                return
        elif self.required:
            await _error(
                send, 401, "unauthorized",
                "an API key is required: send it as Authorization: Bearer KEY or X-Api-Key",
                "Authorization", [*cors, (b"www-authenticate", b'Bearer realm="wattlas"')],
            )  # fmt: skip
            return
        await self.app(scope, receive, _adding(send, extra) if extra else send)

    async def _check(
        self, key: str, cors: Headers
    ) -> tuple[Callable[[Any], Awaitable[None]] | None, Headers]:
        services = self._services()
        try:
            record = await self._keys.get(services.store, key_hash(key))
        except StoreError:
            # Keys cannot be checked: the database's own outage answer (503).
            return _refusal(
                503, "unavailable", "the database is unavailable; retry shortly", None,
                [*cors, (b"retry-after", b"5")],
            ), cors  # fmt: skip
        if record is None or record.revoked:
            what = "this API key was revoked" if record is not None else "unknown API key"
            return _refusal(
                401, "unauthorized", what, "Authorization",
                [*cors, (b"www-authenticate", b'Bearer realm="wattlas", error="invalid_token"')],
            ), cors  # fmt: skip
        if self._quotas is None:
            self._quotas = Quotas(services.redis)
        verdict = await self._quotas.spend(record)
        if verdict is None:
            return None, cors
        if not verdict.allowed:
            what = (
                f"rate limit of {record.rate_per_min} calls a minute reached"
                if verdict.refused_by == "minute"
                else f"daily quota of {record.daily_quota:,} calls reached (resets at 00:00 UTC)"
            )
            return _refusal(
                429, "rate_limited", f"{what}; retry in {verdict.retry_after_s} s", None,
                [*cors, *verdict.headers],
            ), cors  # fmt: skip
        return None, [*cors, *verdict.headers]


def _query_key(scope: Any) -> str:
    """``api_key`` of the query string, on the stream only (EventSource sends no headers)."""
    if scope["path"] != "/v1/stream" or b"api_key=" not in scope.get("query_string", b""):
        return ""
    values = parse_qs(scope["query_string"].decode("latin-1")).get("api_key")
    return values[0] if values else ""


def _preflight(methods: tuple[str, ...]) -> Headers:
    return [
        (b"access-control-allow-methods", ", ".join((*methods, "OPTIONS")).encode()),
        (b"access-control-allow-headers", REQUEST_HEADERS),
        (b"access-control-max-age", PREFLIGHT_MAX_AGE_S),
    ]


def _adding(send: Any, extra: Headers) -> Any:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *extra]
        await send(message)

    return sending


def _refusal(
    status: int, code: str, message: str, parameter: str | None, headers: Headers
) -> Callable[[Any], Awaitable[None]]:
    async def refuse(send: Any) -> None:
        await _error(send, status, code, message, parameter, headers)

    return refuse


async def _error(
    send: Any, status: int, code: str, message: str, parameter: str | None, headers: Headers
) -> None:
    body = _encoder.encode(ErrorBody(ErrorDetail(message, code, parameter)))
    await _answer(
        send,
        status,
        body,
        [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), *headers],
    )


async def _answer(send: Any, status: int, body: bytes, headers: Headers) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
