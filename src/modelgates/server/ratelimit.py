"""Rate limits: in this process's memory by default, shared through Redis when configured.

Built on the ``limits`` library, so the behaviour is the same with either storage; only where
the counters live differs. Sliding-window counters: two counters a key rather than a timestamp a
hit, a close approximation of a moving window (and the in-memory moving window's background
expiry races with ``clear``). Redis is for counters that must be shared by
every replica but need not survive a restart.

Redis not answering (refusing connections, or a timeout) leaves :meth:`RateLimiter.hit` and
:meth:`RateLimiter.clear` as :class:`RateLimiterUnavailable` (answered 503): an attempt that
must be counted is refused rather than let through uncounted. Any other Redis error is a
failure of ours and leaves as it is (500).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis.exceptions
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string


class RateLimiterUnavailable(Exception):
    """The limiter's storage (Redis) does not answer; its error is the ``__cause__``, and the
    message one line for the log."""


#: The Redis errors that mean "not answering now", rather than a failure of ours.
_AWAY = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _unavailable(error: Exception) -> RateLimiterUnavailable:
    lines = str(error).strip().splitlines()
    return RateLimiterUnavailable(f"{type(error).__name__}: {lines[0] if lines else ''}")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: Whole seconds until the next attempt may succeed (0 when allowed).
    retry_after: int


class RateLimiter:
    """Counts hits per rule and key, e.g. ``await limiter.hit("5/minute", "login", email)``."""

    def __init__(self, redis_url: str | None = None) -> None:
        storage: Storage
        if redis_url:
            # "redis://host:port/db" → the async client of redis-py, which we already depend on.
            made = storage_from_string(f"async+{redis_url}", implementation="redispy")
            if not isinstance(made, Storage):
                raise TypeError(f"limits made a {type(made).__name__}, not an async storage")
            storage = made
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._rules: dict[str, RateLimitItem] = {}

    def _rule(self, rule: str) -> RateLimitItem:
        if rule not in self._rules:
            self._rules[rule] = parse(rule)
        return self._rules[rule]

    async def hit(self, rule: str, *key: str) -> Decision:
        """Count one attempt against ``rule`` (e.g. ``"10/15 minutes"``) for ``key``."""
        item = self._rule(rule)
        try:
            if await self._limiter.hit(item, *key):
                return Decision(allowed=True, retry_after=0)
            stats = await self._limiter.get_window_stats(item, *key)
        except _AWAY as error:
            raise _unavailable(error) from error
        return Decision(
            allowed=False, retry_after=max(1, math.ceil(stats.reset_time - time.time()))
        )

    async def clear(self, rule: str, *key: str) -> None:
        """Forget the attempts counted for ``key`` (e.g. after a successful sign-in)."""
        try:
            await self._limiter.clear(self._rule(rule), *key)
        except _AWAY as error:
            raise _unavailable(error) from error

    async def check_storage(self) -> bool:
        """Whether the storage answers (for readiness checks)."""
        return bool(await self._storage.check())
