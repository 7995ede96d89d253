"""``GET /api/v1/key``: the calling key's own record."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelgates.models.keys import KeyRecordResponse
from modelgates.server.api.context import context_of
from modelgates.server.api.responses import ModelResponse
from modelgates.server.services import keys


async def current_key(request: Request) -> Response:
    ctx = context_of(request)
    row = await keys.authenticate(ctx.store, request.headers.get("authorization"), ctx.now())
    return ModelResponse(KeyRecordResponse(data=keys.record_of(row)))
