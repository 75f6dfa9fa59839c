"""Our OCPI client: calls to a network's versions, credentials, locations and tariffs endpoints.

It always reads the OCPI body whatever the HTTP status (2.1.1 peers answer errors with 4xx/5xx
and an OCPI body; ocpi.md P5), retries what can succeed later (timeouts, 5xx, 429 with
Retry-After, OCPI 3xxx, truncated or invalid JSON) with backoff, and parses pagination headers
tolerantly (ocpi.md §1.7, P9).
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx
import msgspec

from app.logs import get_logger
from ingest.ocpi import transport

log = get_logger(__name__)

DEFAULT_TIMEOUT_S = 30.0
_LINK_NEXT = re.compile(r"<([^>]*)>\s*;[^,]*?rel\s*=\s*\"?next\"?", re.IGNORECASE)


class OcpiError(RuntimeError):
    """A call that failed for good (after retries), with what the peer said."""

    def __init__(
        self, message: str, *, status_code: int | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.http_status = http_status


class Unauthorized(OcpiError):
    pass


class _Retryable(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class Page:
    """One page of a paginated GET: its raw objects and where the next one is."""

    url: str
    objects: list[bytes]
    next_url: str | None
    total_count: int | None
    limit: int | None
    body_bytes: int
    note: str | None = None  # what paging had to work around on this page


@dataclass
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_delay_s)
        backoff = self.base_delay_s * (2**attempt)
        return float(min(self.max_delay_s, backoff * (0.5 + random.random())))  # noqa: S311


def next_link(header: str | None, request_url: str) -> str | None:
    """The rel="next" URL of a Link header, resolved against the request (relative links)."""
    if not header:
        return None
    match = _LINK_NEXT.search(header)
    if match is None:
        return None
    return urljoin(request_url, str(match.group(1)).strip())


def _int_header(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OcpiClient:
    """Talks to one network with one token (the token we present to it)."""

    def __init__(
        self,
        token: str,
        *,
        auth_encoding: str = "base64",
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        routing: dict[str, str] | None = None,
    ) -> None:
        self.token = token
        self.auth_encoding = auth_encoding
        # OCPI-from/to-* of a functional module's requests (2.2+; ``transport.routing_headers``)
        self.routing = routing or {}
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout_s, follow_redirects=True)
        self.retry = retry or RetryPolicy()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> OcpiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": transport.authorization_header(self.token, self.auth_encoding),
            "X-Request-ID": _request_id(),
            "X-Correlation-ID": _request_id(),
            **self.routing,
        }

    async def request(
        self, method: str, url: str, *, json: Any = None, params: dict[str, str] | None = None
    ) -> tuple[transport.ReceivedEnvelope, httpx.Response]:
        """One OCPI call with retries; returns the decoded envelope of a 1xxx answer."""
        last_error = "no attempt"
        for attempt in range(self.retry.attempts):
            try:
                return await self._once(method, url, json=json, params=params)
            except _Retryable as exc:
                last_error = str(exc)
                if attempt == self.retry.attempts - 1:
                    break
                delay = self.retry.delay(attempt, exc.retry_after_s)
                log.warning(
                    "ocpi.retry",
                    url=url,
                    attempt=attempt + 1,
                    error=last_error,
                    delay_s=round(delay, 2),
                )
                await asyncio.sleep(delay)
        raise OcpiError(f"{method} {url} failed after {self.retry.attempts} attempts: {last_error}")

    async def _once(
        self, method: str, url: str, *, json: Any, params: dict[str, str] | None
    ) -> tuple[transport.ReceivedEnvelope, httpx.Response]:
        try:
            response = await self._http.request(
                method, url, json=json, params=params, headers=self._headers()
            )
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"transport error: {exc}") from exc
        if response.status_code == 401:
            raise Unauthorized(f"{method} {url}: HTTP 401 (token refused)", http_status=401)
        if response.status_code == 429:
            raise _Retryable("HTTP 429 (rate limited)", _retry_after(response))
        try:
            env = transport.decode_envelope(response.content)
        except msgspec.DecodeError as exc:
            if response.status_code >= 500:
                raise _Retryable(f"HTTP {response.status_code}") from exc
            if response.status_code >= 400:
                raise OcpiError(
                    f"{method} {url}: HTTP {response.status_code}, body not OCPI",
                    http_status=response.status_code,
                ) from exc
            # A 2xx with a truncated or invalid body: the transfer broke, try again.
            raise _Retryable(f"invalid or truncated JSON ({exc})") from exc
        if response.status_code >= 500 or 3000 <= env.status_code < 4000:
            detail = f"HTTP {response.status_code}, OCPI {env.status_code}"
            raise _Retryable(
                f"{detail} {env.status_message or ''}".strip(),
                _retry_after(response),
            )
        if not 1000 <= env.status_code < 2000:
            raise OcpiError(
                f"{method} {url}: OCPI {env.status_code} {env.status_message or ''}".strip(),
                status_code=env.status_code,
                http_status=response.status_code,
            )
        return env, response

    async def get_data(self, url: str) -> Any:
        env, _ = await self.request("GET", url)
        return env.decoded_data()

    async def page(self, url: str, params: dict[str, str] | None = None) -> Page:
        env, response = await self.request("GET", url, params=params)
        objects = _raw_objects(env.data)
        return Page(
            url=str(response.request.url),
            objects=objects,
            next_url=next_link(response.headers.get("Link"), str(response.request.url)),
            total_count=_int_header(response, "X-Total-Count"),
            limit=_int_header(response, "X-Limit"),
            body_bytes=len(response.content),
        )

    async def pages(
        self, url: str, params: dict[str, str] | None = None, *, max_pages: int = 1_000_000
    ) -> AsyncIterator[Page]:
        """Every page of a list: ``Link: rel="next"`` is followed while it makes sense, and
        paging goes on by ``offset`` when it does not (ocpi.md §1.7, P9): a next URL on another
        host or scheme (our token is never sent elsewhere), one that points back to a page read
        already, one that fails, the same page served again, or no Link while
        ``X-Total-Count`` says more objects are due. The page where that happened carries a
        ``note`` saying so. Ends on an empty page, or when no next page is due."""
        seen: set[str] = set()
        fetched = _offset_of(url, params)  # a resumed pull starts further on
        current: str | None = url
        current_params = params
        by_offset = False
        previous: tuple[bytes, ...] | None = None
        limit: int | None = None
        note: str | None = None
        count = 0
        while current is not None and count < max_pages:
            try:
                page = await self.page(current, current_params)
            except OcpiError as exc:
                if by_offset or count == 0:
                    raise
                note = f"the Link header's next URL failed ({exc}); paging by offset"
                by_offset = True
                current, current_params = _offset_url(url, params, fetched, limit), None
                continue
            count += 1
            objects = tuple(page.objects)
            if objects and objects == previous:
                if by_offset:
                    raise OcpiError(f"{page.url} served the same page twice, even by offset")
                note = "the Link header led to the same page again; paging by offset"
                by_offset = True
                current, current_params = _offset_url(url, params, fetched, limit), None
                continue
            previous = objects
            fetched += len(page.objects)
            limit = page.limit or limit or len(page.objects) or None
            page.note, note = note, None
            if not page.objects:
                page.next_url = None
                yield page
                return
            nxt, problem = page.next_url, None
            more_due = page.total_count is None or fetched < page.total_count
            if by_offset:
                full_page = limit is not None and len(page.objects) >= limit
                nxt = _offset_url(url, params, fetched, limit) if full_page and more_due else None
            elif nxt is None:
                if page.total_count is not None and fetched < page.total_count:
                    problem = (
                        f"no Link header although X-Total-Count says {page.total_count} "
                        f"and {fetched} were read"
                    )
            elif nxt in seen or nxt == page.url:
                problem = "the Link header points back to a page read already"
            elif not _same_origin(nxt, url):
                problem = f"the Link header points to {_origin(nxt)}, not {_origin(url)}"
            if problem is not None:
                log.warning("ocpi.link_broken", url=page.url, problem=problem)
                by_offset = True
                page.note = f"{problem}; paging by offset"
                nxt = _offset_url(url, params, fetched, limit)
            page.next_url = nxt
            yield page
            seen.add(page.url)
            current, current_params = nxt, None


def _offset_of(url: str, params: dict[str, str] | None) -> int:
    value = (params or {}).get("offset") or httpx.URL(url).params.get("offset")
    try:
        return max(0, int(value)) if value is not None else 0
    except ValueError:
        return 0


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or ''}"


def _same_origin(a: str, b: str) -> bool:
    return _origin(a) == _origin(b)


def _offset_url(url: str, params: dict[str, str] | None, offset: int, limit: int | None) -> str:
    """The list URL with its filters, asking for the objects from ``offset`` on."""
    query = {**dict(httpx.URL(url).params), **(params or {}), "offset": str(offset)}
    if limit:
        query["limit"] = str(limit)
    return str(httpx.URL(url).copy_with(params=query))


_raw_list = msgspec.json.Decoder(list[msgspec.Raw])


def _raw_objects(data: msgspec.Raw) -> list[bytes]:
    body = bytes(data).strip()
    if not body or body == b"null":
        return []
    if body[:1] == b"{":  # a single object where a list was due
        return [body]
    return [bytes(r) for r in _raw_list.decode(body)]


def _request_id() -> str:
    return str(uuid.uuid4())
