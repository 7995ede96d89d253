"""A wire model's refusal in the words a person reads: ``must be ≥ 0``, not pydantic's phrasing.

The rules stay the models' own; this only words what they refused, for the places a person reads
it (the consent page, the CLI). The API answers pydantic's messages as they are.

Neither ever repeats what was submitted. pydantic's own messages name the rule, not the value,
and the models' validators word theirs so; but a library a validator calls may put the value in
its ``ValueError`` (``urlsplit``: "'secret' does not appear to be an IPv4 or IPv6 address"), so
a validator's message is passed on only when our code raised it, and a field's name only when it
reads as one (an unknown field's name is the client's text too).
"""

from __future__ import annotations

import re
import types
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
#: What a refusal whose words are not ours says instead.
NOT_VALID = "is not valid"
#: A name shown as it was sent: the shape of the models' field names (and of HTTP headers').
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
#: How an unknown field or parameter with any other name is shown.
UNKNOWN_NAME = "(unknown name)"


def describe(item: ErrorDetails) -> str:
    """What is wrong, as ``must …``: a bound as ``must be ≤ 1000000000``."""
    bound = _BOUNDS.get(item["type"])
    context = item.get("ctx") or {}
    if bound is not None and bound[0] in context:
        return f"must be {bound[1]} {_number(context[bound[0]])}"
    return _SUBJECT.sub("must ", _message(item), count=1)


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
        (_field(item, whole), _message(item))
        for item in error.errors(include_input=False, include_url=False)
    ]


def shown_name(name: str) -> str:
    """A field's or parameter's name as a message may show it: as sent when it reads as a name,
    else :data:`UNKNOWN_NAME`."""
    return name if _NAME.fullmatch(name) else UNKNOWN_NAME


def _field(item: ErrorDetails, whole: str) -> str:
    parts = [part if isinstance(part, int) else shown_name(part) for part in item["loc"]]
    return ".".join(str(part) for part in parts) or whole


def _message(item: ErrorDetails) -> str:
    if item["type"] in ("value_error", "assertion_error"):
        raised = (item.get("ctx") or {}).get("error")
        if not isinstance(raised, BaseException) or not _raised_by_us(raised.__traceback__):
            return NOT_VALID
    return item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _raised_by_us(trace: types.TracebackType | None) -> bool:
    """Whether the innermost frame of ``trace`` (where the error was raised) is our code."""
    if trace is None:
        return False
    while trace.tb_next is not None:
        trace = trace.tb_next
    return str(trace.tb_frame.f_globals.get("__name__", "")).startswith("modelgates.")


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
