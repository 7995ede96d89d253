"""Money: integer micro-dollars inside, decimal USD at the edges."""

from __future__ import annotations

from decimal import Decimal

MICROS_PER_USD = 1_000_000


def to_micros(usd: Decimal) -> int:
    # The wire models allow at most six decimal places, so this is exact.
    return int(usd * MICROS_PER_USD)


def to_usd(micros: int) -> Decimal:
    return Decimal(micros).scaleb(-6)
