"""What a route needs from the running app: the settings, the store and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request

from modelgates.models.endpoints import ENDPOINTS, Endpoint
from modelgates.server.gateway.completions import Gateway
from modelgates.server.ratelimit import RateLimiter
from modelgates.server.services.errors import TooManyRequests
from modelgates.server.settings import Settings
from modelgates.server.store import Store


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class AppContext:
    settings: Settings
    store: Store
    limiter: RateLimiter
    #: The server's secret (see :mod:`modelgates.server.secret`).
    secret: bytes
    #: The model gateway (with no models when no providers file is set).
    gateway: Gateway
    now: Callable[[], datetime] = field(default=utcnow)
    #: The JSON API this app serves (the table, unless a test adds to it).
    endpoints: tuple[Endpoint[Any], ...] = ENDPOINTS


def context_of(request: Request) -> AppContext:
    ctx = request.app.state.context
    if not isinstance(ctx, AppContext):
        raise TypeError("the app has no AppContext: make it with create_app()")
    return ctx


#: The longest client address kept (the audit trail's column): an IPv6 address takes 45.
MAX_CLIENT_ADDRESS_LENGTH = 64


def client_address(request: Request) -> str | None:
    """The peer's address. Behind a proxy, run uvicorn with its proxy-headers options so that
    this is the client rather than the proxy (docs/deploy.md)."""
    if request.client is None:
        return None
    # Where every hop is trusted (MODELGATES_FORWARDED_ALLOW_IPS=*), uvicorn takes the leftmost
    # X-Forwarded-For entry, which is the client's own text: any length, up to the head's bound.
    return request.client.host[:MAX_CLIENT_ADDRESS_LENGTH]


async def limit_rate(ctx: AppContext, rule: str, *key: str) -> None:
    """Count one attempt against ``rule`` (unless it is "off"); TooManyRequests past it."""
    if rule == "off":
        return
    decision = await ctx.limiter.hit(rule, *key)
    if not decision.allowed:
        raise TooManyRequests(decision.retry_after)
