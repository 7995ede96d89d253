"""Shared building blocks of the wire models."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

# --- text the server stores -------------------------------------------------------------------
# Every string the server keeps passes one of these, so that what one database stores the other
# stores too: PostgreSQL refuses NUL in text (SQLite keeps it), and both columns have lengths.


def _printable(value: str) -> str:
    # str.isprintable() is False for control characters (NUL among them), line breaks, format
    # characters (bidi overrides, zero-width spaces), surrogates, private-use and unassigned code
    # points: whatever would not read as what it is where a person sees it.
    if not value.isprintable():
        raise ValueError("must be printable characters: no control characters or line breaks")
    return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _no_controls(value: str) -> str:
    if _CONTROL.search(value) is not None:
        raise ValueError("must not contain control characters")
    return value


@dataclass(frozen=True)
class _Constrained:
    max_length: int
    min_length: int = 1

    def _check(self, value: str) -> str:
        raise NotImplementedError

    #: What the JSON Schema says of the characters (a subset of the rule: the C0 and C1
    #: controls; :meth:`_check` has the whole of it).
    _PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            self._check,
            core_schema.str_schema(min_length=self.min_length, max_length=self.max_length),
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self._PATTERN
        return json_schema


@dataclass(frozen=True)
class Label(_Constrained):
    """Text a person reads (a name, a title, a label): ``min_length`` to ``max_length``
    printable characters (no control characters, line breaks or invisible formatting), e.g.
    ``name: Annotated[str, Label(100)]``."""

    def _check(self, value: str) -> str:
        return _printable(value)


@dataclass(frozen=True)
class Text(_Constrained):
    """Opaque text a client chooses and the server keeps (an id, a reference):
    ``min_length`` to ``max_length`` characters without control characters (NUL among them),
    e.g. ``request_id: Annotated[str, Text(200)]``."""

    def _check(self, value: str) -> str:
        return _no_controls(value)


UsageLimitType = Literal["daily", "weekly", "monthly"]
#: The longest key label (a key's name) accepted: the ``api_keys.label`` column's length.
MAX_KEY_LABEL_LENGTH = 100
#: A key's label (its name): 1 to 100 printable characters.
KeyLabel = Annotated[str, Label(MAX_KEY_LABEL_LENGTH)]

#: The largest row id (an app's id, say): PostgreSQL's ``integer``. A larger number names no row.
MAX_ROW_ID = 2**31 - 1
#: A row's id, as an app's id in a path: a whole number from 1 to :data:`MAX_ROW_ID`.
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]

#: The largest credit limit accepted, in USD: far above any real budget, far below float trouble.
MAX_MONEY = Decimal(1_000_000_000)


class RequestModel(BaseModel):
    """A request body: unknown fields are an error."""

    # Inputs may be secrets (verifiers, codes): a validation error must not carry them.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class QueryModel(BaseModel):
    """A query string: each field a parameter. Values arrive as text from a URL (or as Python
    values from the SDK); unknown parameters are ignored, as servers commonly do."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class PathModel(BaseModel):
    """The parameters of a path such as ``/keys/{hash}``."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class ResponseModel(BaseModel):
    """A response body: unknown fields are ignored, for forward compatibility."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


def _reject_non_numbers(value: Any) -> Any:
    # JSON has no decimal type; a string "10" or a boolean is a client bug worth a clear 400.
    if isinstance(value, (str, bool)):
        raise ValueError("must be a JSON number")
    return value


_MONEY_DOC = {"description": "USD, a JSON number with at most 6 decimal places"}

#: An amount of USD in a request: a finite, non-negative number with at most 6 decimal places.
Money = Annotated[
    Decimal,
    BeforeValidator(_reject_non_numbers),
    Field(ge=0, le=MAX_MONEY, decimal_places=6, allow_inf_nan=False),
    PlainSerializer(float, return_type=float, when_used="json"),
    # What a client may send (pydantic's own schema would admit strings, which Money refuses).
    WithJsonSchema(
        {"type": "number", "minimum": 0, "maximum": int(MAX_MONEY), **_MONEY_DOC}, "validation"
    ),
]


def _as_json_number(value: Decimal) -> float:
    # A float's shortest form is the decimal's own text for up to 15 significant digits, which
    # covers every amount to the micro-dollar up to $999,999,999.999999.
    return float(value)


#: An amount of USD in an answer: a ``Decimal`` in Python, a JSON number on the wire. The server
#: keeps integer micro-dollars, so the number has at most 6 decimal places, and it is exact up to
#: $999,999,999.999999 (15 significant digits); past that the JSON number keeps 15.
Usd = Annotated[
    Decimal,
    PlainSerializer(_as_json_number, return_type=float, when_used="json"),
    WithJsonSchema({"type": "number", **_MONEY_DOC}),
]

#: A charge in USD: like Money, but more than zero.
PositiveMoney = Annotated[
    Money,
    Field(gt=0),
    WithJsonSchema(
        {"type": "number", "exclusiveMinimum": 0, "maximum": int(MAX_MONEY), **_MONEY_DOC},
        "validation",
    ),
]


def _reject_numbers(value: Any) -> Any:
    # pydantic would read a JSON number as a Unix time; the contract's times are date-time strings.
    if isinstance(value, (int, float)):
        raise ValueError("must be a date-time string, e.g. 2030-01-01T00:00:00Z")
    return value


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone, e.g. 2030-01-01T00:00:00Z")
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past the last datetime in UTC
        raise ValueError("is out of range") from None


def _iso_z(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


#: A point in time: ISO 8601 with a zone on the way in, UTC with a ``Z`` on the way out.
Timestamp = Annotated[
    datetime,
    BeforeValidator(_reject_numbers),
    AfterValidator(_to_utc),
    PlainSerializer(_iso_z, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, "serialization"),
]


#: The validation context under which a query model reads a URL's text (the server's case); the
#: SDK validates the caller's Python values, where "10" is no number and "true" no flag.
FROM_URL = {"from_url": True}


def _from_url(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("from_url"))


def _whole_number(value: Any, info: ValidationInfo) -> Any:
    # isascii(): str.isdigit() also admits "²" (which int() refuses) and other scripts' digits.
    if isinstance(value, str) and _from_url(info):
        if value.isascii() and value.isdigit() and len(value) <= 9:
            return int(value)
    # bool is an int to Python, never an offset to a caller.
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    raise ValueError("must be a whole number ≥ 0")


def _true_or_false(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and _from_url(info) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError("must be true or false")


def _query_text(value: bool | int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: A whole number in a query: ``offset=20``.
QueryNumber = Annotated[
    int,
    BeforeValidator(_whole_number),
    PlainSerializer(_query_text, return_type=str),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 999_999_999}),
]
#: A flag in a query: ``include_disabled=true`` (or ``false``, in any case).
QueryFlag = Annotated[
    bool,
    BeforeValidator(_true_or_false),
    PlainSerializer(_query_text, return_type=str),
    WithJsonSchema({"type": "boolean"}),
]
