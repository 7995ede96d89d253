"""``GET /healthz`` (the process is up) and ``GET /readyz`` (it can serve: send it traffic)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from modelgates.server.api.context import context_of
from modelgates.server.api.responses import error_response
from modelgates.server.services import health

#: Seconds a prober is asked to wait before asking again when this process is not ready.
NOT_READY_RETRY_AFTER_SECONDS = 5
_NO_STORE = {"Cache-Control": "no-store"}


async def readyz(request: Request) -> Response:
    ctx = context_of(request)
    result = await health.readiness(
        ctx.store, ctx.limiter, redis_configured=bool(ctx.settings.redis_url)
    )
    if not result.ready:
        message = "Not ready: " + "; ".join(result.problems) + "."
        headers = {**_NO_STORE, "Retry-After": str(NOT_READY_RETRY_AFTER_SECONDS)}
        return error_response(503, message, {"checks": result.checks}, headers)
    return JSONResponse({"status": "ready", "checks": result.checks}, headers=_NO_STORE)
