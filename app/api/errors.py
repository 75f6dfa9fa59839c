"""Every failure of the public API answers in one JSON shape, at one boundary (the
stac-fastapi-pgstac anchor): handlers raise, these handlers translate.

- bad input → 400 naming the parameter (``InvalidParameter``, Litestar's own validation);
- unknown resource → 404; wrong method → 405; any other HTTP error with its own status;
- the database: unavailable → 503 with ``Retry-After``; a statement timeout → 504; a conflict
  that outlived its retries → 503 with ``Retry-After``;
- anything else → 500, logged with the request id and the exception (never a stack trace in
  the answer).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from app.api.schemas import ErrorBody, ErrorDetail
from app.limits import BodyTimeout
from app.logs import get_logger
from app.store import Conflict, NotFound, StoreError, StoreTimeout, StoreUnavailable

log = get_logger(__name__)

_MISSING = re.compile(r"Missing required \w+ parameter '([^']+)'")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
AnyRequest = Request[Any, Any, Any]


class InvalidParameter(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


_REQUIRED_FIELD = re.compile(r"Object missing required field `([^`]+)`")
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.DOTALL)


def invalid_body(error: msgspec.ValidationError | msgspec.DecodeError) -> InvalidParameter:
    """A body a handler decodes itself (msgspec), refused naming the field at fault: an unknown
    or missing field by its name, a wrong value by its path, the body when it is not JSON or
    not an object."""
    if isinstance(error, msgspec.DecodeError) and not isinstance(error, msgspec.ValidationError):
        return InvalidParameter("body", f"is not JSON: {error}")
    text = str(error)
    if unknown := _UNKNOWN_FIELD.search(text):
        return InvalidParameter(unknown.group(1), text)
    if missing := _REQUIRED_FIELD.search(text):
        return InvalidParameter(missing.group(1), "is required")
    found = _AT_PATH.match(text)
    assert found is not None  # the pattern matches any text
    return InvalidParameter(found["path"] or "body", found["message"])


class ApiError(Exception):
    """An answer other than 2xx that a handler decides on (404 for an unknown id, 503 for the
    live stream without Redis, 429 for a quota)."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.parameter = parameter
        self.headers = headers or {}


def request_id(request: AnyRequest) -> str:
    return request.headers.get("x-request-id") or str(uuid.uuid4())


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    parameter: str | None = None,
    request: AnyRequest | None = None,
    headers: dict[str, str] | None = None,
) -> Response[ErrorBody]:
    rid = request_id(request) if request is not None and status_code >= 500 else None
    out = {"Cache-Control": "no-store", **(headers or {})}
    if rid is not None:
        out["X-Request-ID"] = rid
    return Response(
        ErrorBody(ErrorDetail(message, code, parameter, rid)), status_code=status_code, headers=out
    )


def invalid_parameter_handler(request: AnyRequest, exc: InvalidParameter) -> Response[ErrorBody]:
    return error_response(400, "invalid_parameter", exc.message, parameter=exc.parameter)


def api_error_handler(request: AnyRequest, exc: ApiError) -> Response[ErrorBody]:
    return error_response(
        exc.status_code,
        exc.code,
        exc.message,
        parameter=exc.parameter,
        request=request,
        headers=exc.headers,
    )


def validation_handler(request: AnyRequest, exc: ValidationException) -> Response[ErrorBody]:
    """Litestar's own parameter validation (types, required values), in our error shape."""
    parameter, message = "request", exc.detail or "invalid request"
    missing = _MISSING.search(message)
    if missing is not None:
        return error_response(400, "invalid_parameter", "is required", parameter=missing.group(1))
    extra = exc.extra
    if isinstance(extra, list) and extra and isinstance(extra[0], dict):
        # A parameter whose name is a Python keyword is ``format_`` in the handler.
        parameter = str(extra[0].get("key") or parameter).rstrip("_")
        message = str(extra[0].get("message") or message)
        if parameter == "data":  # Litestar's name of the body as a whole: name the field
            unknown = _UNKNOWN_FIELD.search(message)
            parameter = unknown.group(1) if unknown else "body"
    return error_response(400, "invalid_parameter", message, parameter=parameter)


# Path prefixes whose errors another part answers in its own shape (the OCPI receiver answers
# OCPI envelopes even for a path no route matches): filled in by the composition root.
PREFIX_HANDLERS: list[tuple[str, Any]] = []


def _elsewhere(request: AnyRequest, exc: Exception) -> Response[Any] | None:
    for prefix, handler in PREFIX_HANDLERS:
        if request.url.path.startswith(prefix):
            result: Response[Any] = handler(request, exc)
            return result
    return None


def http_error_handler(request: AnyRequest, exc: HTTPException) -> Response[Any]:
    if (other := _elsewhere(request, exc)) is not None:
        return other
    status = exc.status_code
    if status >= 500:
        return internal_error_handler(request, exc)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 429: "rate_limited"}
    return error_response(
        status,
        codes.get(status, "bad_request"),
        exc.detail or "request refused",
        parameter="path" if status in (404, 405) else "body" if status == 413 else None,
        headers=dict(exc.headers or {}),
    )


def store_error_handler(request: AnyRequest, exc: StoreError) -> Response[ErrorBody]:
    retry = {"Retry-After": str(max(1, round(exc.retry_after_s or 1)))}
    if isinstance(exc, StoreUnavailable):
        log.warning("api.database_unavailable", path=request.url.path, error=str(exc))
        return error_response(
            503, "unavailable", "the database is unavailable; retry shortly",
            request=request, headers=retry,
        )  # fmt: skip
    if isinstance(exc, StoreTimeout):
        log.warning("api.query_timeout", path=request.url.path, error=str(exc))
        return error_response(
            504, "timeout", "the query took too long and was cancelled; ask for less or retry",
            request=request, headers=retry,
        )  # fmt: skip
    if isinstance(exc, Conflict):
        return error_response(
            503, "conflict", "the database was busy with a conflicting change; retry",
            request=request, headers=retry,
        )  # fmt: skip
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", str(exc))
    return internal_error_handler(request, exc)


def body_error_handler(request: AnyRequest, exc: Exception) -> Response[Any]:
    """A body that is not JSON we can read: invalid UTF-8, nested beyond the decoder's depth,
    or not sent in time."""
    if (other := _elsewhere(request, exc)) is not None:
        return other
    if isinstance(exc, BodyTimeout):
        return error_response(408, "timeout", str(exc), parameter="body")
    what = "is not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else "is nested too deeply"
    return error_response(400, "invalid_parameter", f"the JSON body {what}", parameter="body")


def internal_error_handler(request: AnyRequest, exc: Exception) -> Response[Any]:
    if (other := _elsewhere(request, exc)) is not None:
        return other
    rid = request_id(request)
    log.error(
        "api.internal_error",
        request_id=rid,
        method=request.method,
        path=request.url.path,
        error=f"{type(exc).__name__}: {exc}",
        exc_info=exc,
    )
    return error_response(
        500,
        "internal",
        "internal error; it has been logged with this request_id",
        request=request,
        headers={"X-Request-ID": rid},
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    InvalidParameter: invalid_parameter_handler,
    ApiError: api_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_error_handler,
    BodyTimeout: body_error_handler,
    UnicodeDecodeError: body_error_handler,
    RecursionError: body_error_handler,
    StoreError: store_error_handler,
    Exception: internal_error_handler,
}
