"""``POST /api/v1/usage``: the model gateway charges a key."""

from __future__ import annotations

from modelgates.models import endpoints
from modelgates.models.usage import RecordUsageRequest, RecordUsageResponse
from modelgates.server.api.routing import ApiCall, handles
from modelgates.server.services import usage


@handles(endpoints.RECORD_USAGE)
async def record_usage(call: ApiCall) -> RecordUsageResponse:
    body = await call.body(RecordUsageRequest)
    return RecordUsageResponse(data=await usage.record(call.ctx.store, body, call.now))
