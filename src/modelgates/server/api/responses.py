"""Answers in the contract's shapes, and the handlers that turn every failure into one."""

from __future__ import annotations

import logging
from typing import Any, cast

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from modelgates.models.errors import ErrorBody, ErrorResponse
from modelgates.server.ratelimit import RateLimiterUnavailable
from modelgates.server.services.errors import ServiceError
from modelgates.server.store import StoreUnavailable

logger = logging.getLogger("modelgates.server")


class ModelResponse(Response):
    """A wire model as JSON, serialized by pydantic (UTC timestamps with Z, money as numbers)."""

    media_type = "application/json"

    def __init__(self, model: BaseModel, status_code: int = 200) -> None:
        super().__init__(model.model_dump_json().encode("utf-8"), status_code=status_code)


def error_response(
    status: int,
    message: str,
    metadata: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = ErrorResponse(error=ErrorBody(code=status, message=message, metadata=metadata))
    response = ModelResponse(body, status_code=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    response.headers.update(headers or {})
    return response


async def on_service_error(_request: Request, exc: Exception) -> Response:
    exc = cast(ServiceError, exc)  # Starlette calls this for ServiceError only
    return error_response(exc.status, exc.message, exc.metadata, exc.headers)


_HTTP_MESSAGES = {
    404: "Not found.",
    405: "Method not allowed.",
}


async def on_http_exception(request: Request, exc: Exception) -> Response:
    exc = cast(HTTPException, exc)  # Starlette calls this for HTTPException only
    message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return error_response(exc.status_code, message, None, headers)


def allowed_methods(request: Request) -> str:
    """Every method the path answers. Starlette's own ``Allow`` names only those of the first
    route that matched the path, and a path may have one route per method."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


#: Seconds a client is asked to wait before retrying when the database does not answer.
UNAVAILABLE_RETRY_AFTER_SECONDS = 2


def service_unavailable() -> Response:
    return error_response(
        503,
        "The service is temporarily unavailable; try again shortly.",
        None,
        {"Retry-After": str(UNAVAILABLE_RETRY_AFTER_SECONDS)},
    )


async def on_unavailable(request: Request, exc: Exception) -> Response:
    """503 while the database or Redis cannot be used: the store and the rate limiter decide
    which of their dependencies' failures those are, and raise their own errors for them."""
    # One line, no traceback (an outage would flood the log) and no SQL: the error's class and
    # the driver's message.
    logger.warning("503 on %s %s: %s", request.method, request.url.path, exc)
    return service_unavailable()


EXCEPTION_HANDLERS = {
    ServiceError: on_service_error,
    HTTPException: on_http_exception,
    StoreUnavailable: on_unavailable,
    RateLimiterUnavailable: on_unavailable,
}  # an unexpected error is answered by outer.OuterLayer, the outermost layer
