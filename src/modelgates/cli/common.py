"""What the commands share: the one-line error, and flags read by the wire models' rules (the
API's own, never a copy of them). The SDK alone: nothing here imports the server.
"""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from modelgates.models.base import Money
from modelgates.models.problems import describe, problems

M = TypeVar("M", bound=BaseModel)
_MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)


class CommandError(Exception):
    """A failure to report in one line, without a traceback."""


def usd(text: str) -> Decimal:
    """An amount as typed (``2.5``, ``1e3``). Only the form is read here: which amounts are
    allowed is the ``Money`` type's rule, checked with the rest of the request."""
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def from_flags(model: type[M], flags: dict[str, tuple[str, Any]]) -> M:
    """``model`` from the flags given (``field: (flag, value)``), or its refusal in one line
    naming each flag: the API's rules, not a copy of them."""
    try:
        return model.model_validate(
            {field: value for field, (_, value) in flags.items() if value is not None}
        )
    except ValidationError as error:
        named = {field: flag for field, (flag, _) in flags.items()}
        raise CommandError(
            "; ".join(f"{named.get(field, field)}: {what}" for field, what in problems(error))
        ) from None


def money(flag: str, amount: Decimal | None) -> Decimal | None:
    """``amount`` if the API takes it as an amount of USD, else a one-line refusal."""
    if amount is None:
        return None
    try:
        return _MONEY.validate_python(amount)
    except ValidationError as error:
        raise CommandError(f"{flag}: {describe(error.errors()[0])}") from None
