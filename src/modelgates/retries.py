"""When to send a request again, and how long to wait first.

The policy here does no I/O: it looks at an outcome and a clock and answers with a delay in
seconds, or ``None`` for "stop". The sync and async send loops in ``modelgates.core`` share it and
differ only in how they sleep.

Defaults (the contract): exponential backoff from 500 ms by a factor of 1.5, at most 60 s a wait
and 60 s in all, on connection errors, timeouts, 408, 429 and 5XX. A server's ``retry-after-ms`` or
``Retry-After`` (seconds or an HTTP-date) replaces the computed wait, still capped by
``max_interval`` and by what is left of ``max_elapsed_time``: the loop never sleeps past its
budget.

An operation that is not safe to repeat (creating a key: a retry after a lost answer could make a
second key) is retried only when the request surely did no work: on a failure to connect (see
``modelgates._call``), and on 429 and 503, which a server sends before doing anything.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Backoff", "BackoffStrategy", "RetryConfig", "is_retryable_status", "parse_retry_after"]

# Jitter only ever shortens a wait, so that max_interval stays a hard ceiling while clients that
# failed together still spread out.
_JITTER = 0.25


@dataclass(frozen=True)
class BackoffStrategy:
    """Exponential backoff; all times in milliseconds."""

    initial_interval: float = 500
    max_interval: float = 60_000
    exponent: float = 1.5
    max_elapsed_time: float = 60_000

    def __post_init__(self) -> None:
        # A zero interval would retry in a tight loop for the whole budget.
        if not self.initial_interval > 0:
            raise ValueError("initial_interval must be positive")
        if not self.max_interval > 0:
            raise ValueError("max_interval must be positive")
        if not self.exponent >= 1:
            raise ValueError("exponent must be at least 1")
        if not self.max_elapsed_time >= 0:
            raise ValueError("max_elapsed_time must not be negative")
        if not all(math.isfinite(v) for v in (self.max_interval, self.max_elapsed_time)):
            raise ValueError("intervals must be finite")


@dataclass(frozen=True)
class RetryConfig:
    """Whether and how to retry. ``RetryConfig("none")`` sends each request once."""

    strategy: Literal["backoff", "none"] = "backoff"
    backoff: BackoffStrategy = field(default_factory=BackoffStrategy)
    retry_connection_errors: bool = True

    def __post_init__(self) -> None:
        if self.strategy not in ("backoff", "none"):
            raise ValueError(f'strategy must be "backoff" or "none", not {self.strategy!r}')


def is_retryable_status(status_code: int, *, safe_to_retry: bool = True) -> bool:
    """408 Request Timeout, 429 Too Many Requests and every 5XX may succeed a moment later.

    With ``safe_to_retry=False`` only 429 and 503, the statuses that say the request was not
    acted on: a 500 or a gateway's 502 may come after the work was done.
    """
    if not safe_to_retry:
        return status_code in (429, 503)
    return status_code in (408, 429) or 500 <= status_code <= 599


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked the client to wait, or ``None`` if it did not say (readably).

    ``retry-after-ms`` (milliseconds) wins over ``Retry-After`` (RFC 9110 §10.2.3: delay-seconds or
    an HTTP-date, compared with ``now``, a Unix time). A date in the past means "now".
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value / 1000
    after = headers.get("retry-after")
    if after is None:
        return None
    after = after.strip()
    if after.isascii() and after.isdigit():
        return float(after)
    # Here rather than at the top: email.utils is slow to import and dates are rare.
    from datetime import timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(after)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse result means just that
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


class Backoff:
    """The retry schedule of one call. Its budget starts at ``started`` (a ``clock`` reading),
    by default when it is created.

    ``clock`` (monotonic seconds) and ``rand`` (uniform in [0, 1)) are injectable for tests.
    """

    def __init__(
        self,
        config: RetryConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        started: float | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._rand = rand
        began = clock() if started is None else started
        self._deadline = began + config.backoff.max_elapsed_time / 1000
        self._interval = min(config.backoff.initial_interval, config.backoff.max_interval) / 1000

    def next_delay(self, requested: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up.

        ``requested`` is the server's ``Retry-After``, which replaces the computed interval.
        """
        if self._config.strategy == "none":
            return None
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            return None
        strategy = self._config.backoff
        ceiling = strategy.max_interval / 1000
        if requested is None:
            delay = self._interval * (1 - _JITTER * self._rand())
            # Grown step by step rather than as exponent**n, which could overflow a float.
            self._interval = min(self._interval * strategy.exponent, ceiling)
        else:
            delay = requested
        return min(delay, ceiling, remaining)
