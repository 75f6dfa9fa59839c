"""Answers a client or a CDN can keep and revalidate (issue 11, "caching that works").

An ETag is a hash of what an answer says, without the fields that only the clock changes
(``generated_at``, ``status_age_s``, ``silent_s``): it changes when the data does (a status, a
connector, a tariff, a network going silent, a location opening or closing) and stays the
same while nothing but time passes. Such tags are weak (RFC 9110 §8.8.1): two answers with the
same tag are equivalent, not byte-identical (an age has grown). ``If-None-Match`` with a
matching tag is answered 304 with no body; the work of answering is done all the same (the tag
is the answer's), what is saved is the transfer and the client's decoding.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from litestar import Request
from litestar.config.compression import CompressionConfig
from litestar.response import Response

# Short: availability moves. A CDN may serve a stale answer while it revalidates in the
# background (stale-while-revalidate), so a busy map tile costs the origin one request per
# few seconds, not one per viewer.
LIST_CACHE_CONTROL = "public, max-age=5, stale-while-revalidate=30"
NETWORKS_CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=300"
# Every answer's compression: gzip from 50 KB (the app's, and ``app.api.nearby_fast``'s).
COMPRESSION = CompressionConfig(
    backend="gzip",
    minimum_size=50_000,
    gzip_compress_level=5,
    exclude=["/v1/stream", "/v1/export"],
)
_GENERATED_AT = re.compile(rb',"generated_at":"[^"]*"(?:,"data_as_of":"[^"]*")?')


def without_generated_at(body: bytes) -> bytes:
    """The body without its top-level ``generated_at`` and ``data_as_of`` (the last one: it
    follows the results, and a quote inside a string is always escaped, so no string can end
    the match early). An answer from a replica and one from the primary saying the same have
    the same tag."""
    # Found from the end: the field follows the results, so a page of 500 is not scanned.
    start = body.rfind(b',"generated_at":"')
    last = _GENERATED_AT.match(body, start) if start >= 0 else None
    if last is None:
        return body
    return body[: last.start()] + body[last.end() :]


def etag_of(media_type: str, content: bytes) -> str:
    digest = hashlib.sha256(media_type.encode() + b"\n" + content).hexdigest()[:32]
    return f'W/"{digest}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison of ``If-None-Match`` (a list of tags, or ``*``) with our tag."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == ours for t in if_none_match.split(","))


def revalidated(
    if_none_match: str | None,
    body: bytes,
    *,
    media_type: str,
    version: bytes | None = None,
    cache_control: str = LIST_CACHE_CONTROL,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, content) of ``body`` with its ETag (of ``version``, the content
    without clock fields; by default the body without ``generated_at``): a 304 with no content
    when the client has it already."""
    etag = etag_of(media_type, without_generated_at(body) if version is None else version)
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Accept"}
    if matches(if_none_match, etag):
        return 304, headers, b""
    return 200, headers, body


def answer(
    request: Request[Any, Any, Any],
    body: bytes,
    *,
    media_type: str,
    version: bytes | None = None,
    cache_control: str = LIST_CACHE_CONTROL,
) -> Response[Any]:
    """``body`` as a response, with its ETag, or a 304 (``revalidated``)."""
    status, headers, content = revalidated(
        request.headers.get("if-none-match"), body, media_type=media_type, version=version,
        cache_control=cache_control,
    )  # fmt: skip
    if status == 304:
        return Response(b"", status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)
