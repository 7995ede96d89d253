"""``create_app(settings)``: the ASGI application. Wiring only; the rules live in services/."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelgates.server.api import keys, oauth
from modelgates.server.api.context import AppContext, utcnow
from modelgates.server.api.headers import ApiHeaders
from modelgates.server.api.responses import EXCEPTION_HANDLERS
from modelgates.server.ratelimit import RateLimiter
from modelgates.server.services import codes
from modelgates.server.settings import Settings
from modelgates.server.store import Store

logger = logging.getLogger("modelgates.server")

#: How often expired codes' sealed keys are forgotten.
SWEEP_INTERVAL_SECONDS = 60.0


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings) -> Starlette:
    store = Store.open(settings.database_url, pool_size=settings.db_pool_size)
    context = AppContext(
        settings=settings, store=store, limiter=RateLimiter(settings.redis_url), now=utcnow
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep_forever(context))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await store.close()

    routes = [
        Route("/api/v1/auth/keys/code", oauth.create_auth_code, methods=["POST"]),
        Route("/api/v1/auth/keys", oauth.exchange_auth_code, methods=["POST"]),
        Route("/api/v1/key", keys.current_key, methods=["GET"]),
        Route("/api/v1/auth/key", keys.current_key, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(ApiHeaders)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.context = context
    return app


async def _sweep_forever(context: AppContext) -> None:
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
        try:
            await codes.forget_expired_secrets(context.store, context.now())
        except Exception:  # a passing database outage must not end the sweeper
            logger.exception("sweeping expired codes failed")
