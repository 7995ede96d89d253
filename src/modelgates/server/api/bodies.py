"""Reading a JSON body into a wire model, within a size limit."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from modelgates.models.problems import as_reported
from modelgates.server.services.errors import ServiceError

M = TypeVar("M", bound=BaseModel)


class BodyRejected(ServiceError):
    def __init__(self, status: int, message: str, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(message, metadata)
        self.status = status


def invalid_fields(problems: list[dict[str, str]]) -> BodyRejected:
    """A 400 naming each offending field (``{"field", "message"}``), the first in the message."""
    first = problems[0]
    return BodyRejected(
        400,
        f"Invalid request: {first['field']}: {first['message']}",
        metadata={"field": first["field"], "errors": problems},
    )


def invalid_body(error: ValidationError) -> ServiceError:
    """A 400 naming each offending field and why, never the offending value (it may be a secret)."""
    return invalid_fields(
        [{"field": field, "message": message} for field, message in as_reported(error, "body")]
    )


async def read_model(request: Request, model: type[M], max_bytes: int) -> M:
    raw = await read_json_bytes(request, max_bytes)
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise BodyRejected(400, "The body is not valid JSON.") from None
        raise invalid_body(error) from None


async def read_json_bytes(request: Request, max_bytes: int) -> bytes:
    """The body of a request sent as JSON, not empty and at most ``max_bytes``, unparsed."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise BodyRejected(415, "The body must be JSON, sent with Content-Type: application/json.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyRejected(413, f"The body is larger than {max_bytes} bytes.")
    raw = bytearray()
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > max_bytes:
                raise BodyRejected(413, f"The body is larger than {max_bytes} bytes.")
    except ClientDisconnect:
        raise BodyRejected(400, "The request body was cut short.") from None
    if not raw.strip():
        raise BodyRejected(400, "The body is empty; send a JSON object.")
    return bytes(raw)
