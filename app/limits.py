"""Bounds every request before it costs anything (issue 9, "input is bounded"), in front of the
whole app (API, map and OCPI alike): the app's ``__call__`` runs ``RequestLimits`` first (cheaper
than a Litestar middleware, which adds a layer of exception handling to every request).

- a path with a NUL character (``/static/x%00``) is a 400, not a file system error;
- a query string longer than ``MAX_QUERY_BYTES`` is a 414;
- a request body must arrive within ``BODY_TIMEOUT_S`` of the request's start (a client that
  sends a byte a second cannot hold a worker): after that, a 408;
- every answer says ``X-Content-Type-Options: nosniff``.

Body sizes are bounded per route by Litestar (``request_max_body_size``), the text of each
parameter by the parameter's own check.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

# ASGI messages are plain dicts here: the middleware reads and adds a few keys, nothing more.
Message = dict[str, Any]

MAX_QUERY_BYTES: Final = 4096
BODY_TIMEOUT_S: Final = 15.0


class BodyTimeout(Exception):
    """The request body did not arrive in time."""


def _error(status: int, code: str, message: str, parameter: str, path: str = "") -> bytes:
    """The API's error shape; under /ocpi an OCPI envelope (2001: the request is refused)."""
    if path.startswith("/ocpi"):
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return msgspec.json.encode(
            {"status_code": 2001, "status_message": f"{parameter}: {message}", "timestamp": stamp}
        )
    return msgspec.json.encode(
        {"error": {"message": message, "code": code, "parameter": parameter}}
    )


class RequestLimits:
    def __init__(self, app: Any, body_timeout_s: float = BODY_TIMEOUT_S) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if "\x00" in path:
            body = _error(400, "invalid_path", "the path holds a NUL", "path", path)
            await _answer(send, 400, body)
            return
        if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
            message = f"the query string is longer than {MAX_QUERY_BYTES:,} bytes"
            await _answer(send, 414, _error(414, "too_large", message, "query", path))
            return
        if scope.get("method") in _NO_BODY:
            await self.app(scope, receive, _with_nosniff(send))
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        body_done = False

        async def bounded_receive() -> Message:
            nonlocal body_done
            if body_done:
                later: Message = await receive()  # later reads wait for a disconnect: no deadline
                return later
            try:
                async with asyncio.timeout_at(deadline):
                    message: Message = await receive()
            except TimeoutError:
                raise BodyTimeout(
                    f"the request body did not arrive within {self.body_timeout_s:g} s"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, bounded_receive, _with_nosniff(send))


_NO_BODY: Final = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_NOSNIFF: Final = (b"x-content-type-options", b"nosniff")


def _with_nosniff(send: Any) -> Any:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), _NOSNIFF]
        await send(message)

    return sending


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
