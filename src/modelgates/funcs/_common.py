"""What the standalone functions share: the per-call options, and turning keyword arguments into
a validated body, path parameters and query before anything is sent.

Input problems become ``RequestValidationError``; a keyword that no form of the call knows is a
``TypeError``, as it would be with a spelt-out signature.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, TypedDict, TypeVar

from pydantic import BaseModel, ValidationError

from modelgates.core import CallOptions
from modelgates.errors import RequestValidationError
from modelgates.models.keys import check_key_hash
from modelgates.retries import RetryConfig

__all__ = ["OPTION_NAMES", "RequestOptions", "key_path", "parse_body", "parse_options"]

BodyT = TypeVar("BodyT", bound=BaseModel)


class RequestOptions(TypedDict, total=False):
    """Per-call options: attribution headers (overriding the client's), retries, timeout, extra
    headers and the server. ``None`` means "as configured on the client"."""

    http_referer: str | None
    app_title: str | None
    app_categories: str | Sequence[str] | None
    retries: RetryConfig | None
    timeout_ms: float | None
    http_headers: Mapping[str, str] | None
    server_url: str | None


OPTION_NAMES = frozenset(RequestOptions.__optional_keys__)
# Most calls set no option: they share one (frozen) instance rather than each making their own.
_NO_OPTIONS = CallOptions()


def parse_options(
    params: Mapping[str, Any], allowed: AbstractSet[str] = frozenset()
) -> CallOptions:
    """The call's options; ``allowed`` names the operation's other keywords (its query)."""
    unknown = params.keys() - OPTION_NAMES - allowed
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    given = OPTION_NAMES & params.keys()
    if not given:
        return _NO_OPTIONS
    return CallOptions(**{name: params[name] for name in given})


def parse_body(
    model: type[BodyT], params: Mapping[str, Any], *, partial: bool = False
) -> tuple[BodyT, CallOptions]:
    """Split keyword arguments into a validated body and the call's options.

    The body is ``request_body`` (a dict or the model) or the model's fields as keywords, not
    both. A keyword set to ``None`` is left out, unless ``partial``: then every keyword given is
    part of the body, ``None`` included, so that a PATCH can say ``"limit": null``.
    """
    fields, keywords = _body_keywords(model)
    options = parse_options(params, keywords)
    given = {name: value for name, value in params.items() if name in fields}
    flat = given if partial else {name: value for name, value in given.items() if value is not None}
    request_body = params.get("request_body")
    if request_body is not None and flat:
        raise RequestValidationError.single(
            "request_body", f"pass request_body or its fields ({', '.join(flat)}), not both"
        )
    data: Any = flat if request_body is None else request_body
    if isinstance(data, BaseModel):
        # Validated again: a model may have been built with model_construct() or changed since.
        # A partial body keeps to the fields that were set, so that unset ones are not sent.
        data = data.model_dump(exclude_unset=partial)
    try:
        return model.model_validate(data), options
    except ValidationError as exc:
        raise RequestValidationError.from_pydantic(exc, "request body") from exc


def key_path(key_hash: object) -> dict[str, str]:
    """The path parameters of ``/keys/{hash}``, once ``hash`` is known to be a key's hash."""
    if not isinstance(key_hash, str):
        raise RequestValidationError.single("hash", "must be a string")
    try:
        check_key_hash(key_hash)
    except ValueError as exc:
        raise RequestValidationError.single("hash", str(exc)) from None
    return {"hash": key_hash}


@functools.cache
def _body_keywords(model: type[BaseModel]) -> tuple[frozenset[str], frozenset[str]]:
    """A body model's fields, and the keywords its call takes besides the options."""
    # Once per model: ``model_fields`` is a computed class property, and these sets are the same
    # on every call.
    fields = frozenset(model.model_fields)
    return fields, fields | {"request_body"}
