"""Usage windows: the UTC day, the ISO week (from Monday) and the month a moment falls in.

Each period is a whole number that grows by one from one period to the next, so a key's counter
can say which period it belongs to and a single UPDATE can roll it over (see
``tx.usage.charge_key``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from modelgates.server.store import KeyRow

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday: three days after a Monday


@dataclass(frozen=True)
class Periods:
    day: int
    week: int
    month: int


def periods_at(now: datetime) -> Periods:
    day = now.toordinal() - datetime(1970, 1, 1).toordinal()
    return Periods(day=day, week=(day + _EPOCH_WEEKDAY) // 7, month=now.year * 12 + now.month - 1)


@dataclass(frozen=True)
class Usage:
    total: int
    daily: int
    weekly: int
    monthly: int
    #: What the limit still allows in its window, beside the key's open holds; None without a
    #: limit.
    remaining: int | None


def usage_of(key: KeyRow, now: datetime) -> Usage:
    """A key's usage in micro-dollars, with counters of past periods read as zero."""
    current = periods_at(now)
    daily = key.day_micros if key.day_index == current.day else 0
    weekly = key.week_micros if key.week_index == current.week else 0
    monthly = key.month_micros if key.month_index == current.month else 0
    window = {"daily": daily, "weekly": weekly, "monthly": monthly}.get(
        key.limit_reset or "", key.usage_micros
    )
    remaining = (
        None if key.limit_micros is None else max(key.limit_micros - window - key.held_micros, 0)
    )
    return Usage(
        total=key.usage_micros, daily=daily, weekly=weekly, monthly=monthly, remaining=remaining
    )
