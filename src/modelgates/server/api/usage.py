"""``POST /api/v1/usage``: the model gateway charges a key."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelgates.models.usage import RecordUsageRequest, RecordUsageResponse
from modelgates.server.api.bodies import read_model
from modelgates.server.api.context import context_of
from modelgates.server.api.responses import ModelResponse
from modelgates.server.services import usage


async def record_usage(request: Request) -> Response:
    ctx = context_of(request)
    await usage.authenticate_service(ctx.store, request.headers.get("authorization"))
    body = await read_model(request, RecordUsageRequest, ctx.settings.max_body_bytes)
    charge = await usage.record(ctx.store, body, ctx.now())
    return ModelResponse(RecordUsageResponse(data=charge))
