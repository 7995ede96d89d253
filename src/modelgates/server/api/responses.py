"""Answers in the contract's shapes, and the handlers that turn every failure into one."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelgates.models.errors import ErrorBody, ErrorResponse
from modelgates.server.services.errors import ServiceError

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
    assert isinstance(exc, ServiceError)
    return error_response(exc.status, exc.message, exc.metadata)


_HTTP_MESSAGES = {
    404: "Not found.",
    405: "Method not allowed.",
}


async def on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, message, None, dict(exc.headers or {}))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the server's log (it holds no request bodies); the client learns only
    # that something failed.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "Internal server error.")


EXCEPTION_HANDLERS = {
    ServiceError: on_service_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
