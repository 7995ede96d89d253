"""What a route needs from the running app: the settings, the store and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from starlette.requests import Request

from modelgates.server.ratelimit import RateLimiter
from modelgates.server.settings import Settings
from modelgates.server.store import Store


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class AppContext:
    settings: Settings
    store: Store
    limiter: RateLimiter
    now: Callable[[], datetime] = field(default=utcnow)


def context_of(request: Request) -> AppContext:
    ctx = request.app.state.context
    assert isinstance(ctx, AppContext)
    return ctx
