"""Readiness: whether this process can serve requests now (what a load balancer probes).

Ready means the database answers, its schema is the one this code expects (or newer: a release
ahead of this one migrated it, see docs/deploy.md), and Redis answers when it is configured.
Every check is bounded in time, so a probe never hangs on a dead dependency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from modelgates.server.ratelimit import RateLimiter
from modelgates.server.store import Store, StoreUnavailable
from modelgates.server.store.migrate import SchemaState, schema_state

#: How long each check may take before it counts as failed.
CHECK_TIMEOUT_SECONDS = 3.0

logger = logging.getLogger("modelgates.server")
T = TypeVar("T")

_PROBLEMS = {
    ("database", "unreachable"): "the database does not answer",
    (
        "migrations",
        SchemaState.BEHIND.value,
    ): "the database needs migrating (modelgates db upgrade)",
    ("redis", "unreachable"): "Redis does not answer",
}


@dataclass(frozen=True)
class Readiness:
    #: Each dependency and its state, e.g. ``{"database": "ok", "migrations": "current"}``.
    checks: dict[str, str]

    @property
    def problems(self) -> list[str]:
        """What stops this process from being ready, as phrases; empty when it is ready."""
        return [
            problem
            for name, state in self.checks.items()
            if (problem := _PROBLEMS.get((name, state))) is not None
        ]

    @property
    def ready(self) -> bool:
        return not self.problems


async def readiness(
    store: Store,
    limiter: RateLimiter,
    *,
    redis_configured: bool,
    timeout: float = CHECK_TIMEOUT_SECONDS,
) -> Readiness:
    """Check the database (and Redis when configured) concurrently, each within ``timeout``."""
    database, redis = await asyncio.gather(
        _bounded(schema_state(store), timeout, "database"),
        _bounded(limiter.check_storage(), timeout, "redis") if redis_configured else _none(),
    )
    checks = {
        "database": "unreachable" if database is None else "ok",
        "migrations": "unknown" if database is None else database.value,
        "redis": "not configured" if not redis_configured else ("ok" if redis else "unreachable"),
    }
    return Readiness(checks=checks)


async def _bounded(awaitable: Awaitable[T], timeout: float, name: str) -> T | None:
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except StoreUnavailable as error:  # its message is one line, safe to log
        logger.warning("readiness: %s check failed: %s", name, error)
        return None
    except Exception as error:  # unreachable, too slow or broken: not ready, whatever the cause
        logger.warning("readiness: %s check failed: %s", name, type(error).__name__)
        return None


async def _none() -> None:
    return None
