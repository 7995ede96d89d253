"""A wire model's refusal in the words a person reads: ``must be ≥ 0``, not pydantic's phrasing.

The rules stay the models' own; this only words what they refused, for the places a person reads
it (the consent page, the CLI). The API answers pydantic's messages as they are.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

_BOUNDS = {
    "greater_than_equal": ("ge", "≥"),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "≤"),
    "less_than": ("lt", "<"),
}
# "Input should be …", "String should have …", "Decimal input should have …"
_SUBJECT = re.compile(r"^(?:Value error, )?(?:[A-Z][a-z]* )?(?:[Ii]nput |[Vv]alue )?should ")
_DECIMAL_REPR = re.compile(r"Decimal\('(.*)'\)")


def describe(item: ErrorDetails) -> str:
    """What is wrong, as ``must …``: a bound as ``must be ≤ 1000000000``."""
    bound = _BOUNDS.get(item["type"])
    context = item.get("ctx") or {}
    if bound is not None and bound[0] in context:
        return f"must be {bound[1]} {_number(context[bound[0]])}"
    message = item["msg"].removeprefix("Value error, ")
    return _SUBJECT.sub("must ", message, count=1)


def problems(error: ValidationError) -> list[tuple[str, str]]:
    """Each ``(field, what is wrong)`` the model found, never the offending value."""
    return [
        (_field(item, ""), describe(item))
        for item in error.errors(include_input=False, include_url=False)
    ]


def as_reported(error: ValidationError, whole: str) -> list[tuple[str, str]]:
    """Each ``(field, message)`` in pydantic's own words (as the API answers them), never the
    offending value; ``whole`` names a problem of the whole input."""
    return [
        (_field(item, whole), item["msg"].removeprefix("Value error, "))
        for item in error.errors(include_input=False, include_url=False)
    ]


def _field(item: ErrorDetails, whole: str) -> str:
    return ".".join(str(part) for part in item["loc"]) or whole


def _number(value: Any) -> str:
    # pydantic reports a Decimal bound by its repr ("Decimal('1000000000')").
    text = str(value)
    found = _DECIMAL_REPR.fullmatch(text)
    if found is not None:
        text = found.group(1)
    try:
        return f"{Decimal(text):f}"
    except InvalidOperation:
        return text
