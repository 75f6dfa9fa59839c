"""Bad input → HTTP 400 with a JSON body naming the parameter and the problem, at one boundary
(stac-fastapi-pgstac anchor): handlers raise, the app translates."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ValidationException

from app.api.schemas import ErrorBody, ErrorDetail

_MISSING = re.compile(r"Missing required \w+ parameter '([^']+)'")


class InvalidParameter(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


def invalid_parameter_handler(
    request: Request[Any, Any, Any], exc: InvalidParameter
) -> Response[ErrorBody]:
    return Response(ErrorBody(ErrorDetail(exc.parameter, exc.message)), status_code=400)


def validation_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[ErrorBody]:
    """Litestar's own parameter validation (types, required values), in our error shape."""
    parameter, message = "request", exc.detail or "invalid request"
    missing = _MISSING.search(message)
    if missing is not None:
        return Response(ErrorBody(ErrorDetail(missing.group(1), "is required")), status_code=400)
    extra = exc.extra
    if isinstance(extra, list) and extra and isinstance(extra[0], dict):
        parameter = str(extra[0].get("key") or parameter)
        message = str(extra[0].get("message") or message)
    return Response(ErrorBody(ErrorDetail(parameter, message)), status_code=400)


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    InvalidParameter: invalid_parameter_handler,
    ValidationException: validation_handler,
}
