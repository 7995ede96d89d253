"""``create_app(settings)``: the ASGI application. Wiring only; the rules live in services/."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelgates.models.endpoints import ENDPOINTS, Endpoint
from modelgates.server.api.context import AppContext, utcnow
from modelgates.server.api.health import readyz
from modelgates.server.api.responses import EXCEPTION_HANDLERS, error_response
from modelgates.server.api.routing import api_routes
from modelgates.server.docs.endpoint import PATH as DOCS_MCP_PATH
from modelgates.server.docs.endpoint import McpEndpoint
from modelgates.server.gateway.completions import Gateway
from modelgates.server.gateway.providers import empty_catalogue, load_catalogue
from modelgates.server.observability import Metrics, configure_logging
from modelgates.server.outer import OuterLayer
from modelgates.server.ratelimit import RateLimiter
from modelgates.server.secret import server_secret
from modelgates.server.services import ceiling, codes
from modelgates.server.settings import Settings, provider_key
from modelgates.server.store import Store
from modelgates.server.web import errors as web_errors
from modelgates.server.web import routes as web_routes

logger = logging.getLogger("modelgates.server")

#: How often expired codes' sealed keys are forgotten, and abandoned holds settled.
SWEEP_INTERVAL_SECONDS = 60.0
#: How long past a request's longest possible life its hold is left before the sweeper takes
#: its process for dead.
ABANDONED_HOLD_GRACE_SECONDS = 60.0


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


#: CPython's thread switch interval in a server process. A store thread that comes back from the
#: driver (each statement, the commit) waits for the GIL while the event loop runs; at the default
#: 5 ms it can wait that long each time, holding SQLite's write lock or PostgreSQL's row locks
#: all the while (bench/exchange.py, docs/performance.md).
SWITCH_INTERVAL_SECONDS = 0.0001


def create_app(
    settings: Settings,
    endpoints: tuple[Endpoint[Any], ...] = ENDPOINTS,
) -> Starlette:
    """The app; ``endpoints`` is the JSON API it serves (the table's, unless a test adds one).
    ProvidersError when the providers file cannot be served."""
    catalogue = (
        load_catalogue(settings.providers_file, provider_key)
        if settings.providers_file
        else empty_catalogue()
    )
    metrics = Metrics()
    gateway = Gateway(catalogue, meter=metrics.completion_settled)
    store = Store.open(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_timeout=settings.db_connect_timeout_seconds,
    )
    context = AppContext(
        settings=settings,
        store=store,
        limiter=RateLimiter(settings.redis_url),
        secret=server_secret(settings),
        gateway=gateway,
        now=utcnow,
        endpoints=endpoints,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        _tune_for_serving()
        sweeper = asyncio.create_task(_sweep_forever(context))
        docs_mcp = asyncio.create_task(mcp_endpoint.serve())
        try:
            yield
        finally:
            for task in (sweeper, docs_mcp):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await gateway.aclose()
            await store.close()

    mcp_endpoint = McpEndpoint()
    routes = [
        *api_routes(endpoints),
        Route(DOCS_MCP_PATH, mcp_endpoint, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *web_routes(),
    ]
    if settings.metrics_token:
        routes.append(Route("/metrics", _metrics_endpoint(settings.metrics_token, metrics)))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(OuterLayer, metrics=metrics, endpoints=endpoints)],
        exception_handlers={**EXCEPTION_HANDLERS, HTTPException: web_errors.on_http_exception},
        lifespan=lifespan,
    )
    app.state.context = context
    return app


def _tune_for_serving() -> None:
    """Settings of the interpreter for a process that serves, made when it starts serving."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # What start-up made (modules, tables, compiled statements) lives as long as the process:
    # out of the collector's sight, a full collection takes ~0 ms instead of ~55 ms, a pause in
    # which this process serves nothing and, on SQLite, may hold the other processes' writer
    # lock (bench/exchange.py's paced p99).
    gc.collect()
    gc.freeze()


def create_app_from_env() -> Starlette:
    """The app with Settings from ``MODELGATES_*`` variables alone: the factory each worker of
    ``modelgates serve --workers N`` imports (``modelgates.server.app:create_app_from_env``)."""
    configure_logging()
    return create_app(Settings.load())


def _metrics_endpoint(token: str, metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    expected = f"Bearer {token}".encode()

    async def metrics_page(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode("latin-1")
        if not hmac.compare_digest(given, expected):
            return error_response(401, "Metrics need 'Authorization: Bearer <metrics token>'.")
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return metrics_page


async def _sweep_forever(context: AppContext) -> None:
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
        await sweep(context)


async def sweep(context: AppContext) -> None:
    """Forget expired codes' secrets; settle the holds of requests whose process died (any
    process may: a hold is settled once, by whoever comes first)."""
    try:
        await codes.forget_expired_secrets(context.store, context.now())
    except Exception:  # a passing database outage must not end the sweeper
        logger.exception("sweeping expired codes failed")
    try:
        # A process without providers still settles others' holds: at the longest a providers
        # file allows (twice a timeout of an hour).
        longest = context.gateway.longest_request_seconds or 2 * 3600.0
        await ceiling.abandon_stale(
            context.store,
            context.now(),
            timedelta(seconds=longest + ABANDONED_HOLD_GRACE_SECONDS),
        )
    except Exception:
        logger.exception("settling abandoned holds failed")
