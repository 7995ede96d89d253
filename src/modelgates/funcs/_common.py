"""What the standalone functions share: each is an endpoint of the table, and calling it is the
same for all of them, written here once for sync and once for async.

A standalone function is its typed signature, its docstring and a call of :func:`call` (its
async twin, of :func:`call_async`) with its endpoint. That turns the keyword arguments into the
call's options and the endpoint's validated body, path parameters and query, sends them through
the core, and returns a ``Result``. Input problems become
``RequestValidationError``; a keyword that no form of the call knows is a ``TypeError``, as it
would be with a spelt-out signature.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from pydantic import BaseModel, ValidationError

from modelgates.core import CallOptions, ModelGatesCore
from modelgates.errors import ModelGatesError, RequestValidationError
from modelgates.models.endpoints import Endpoint
from modelgates.result import Err, Ok, Result
from modelgates.retries import RetryConfig

__all__ = [
    "OPTION_NAMES",
    "RequestOptions",
    "call",
    "call_async",
    "parse_body",
    "parse_options",
]

BodyT = TypeVar("BodyT", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


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


def parse_body(model: type[BodyT], params: Mapping[str, Any], *, partial: bool = False) -> BodyT:
    """The validated body from keyword arguments.

    The body is ``request_body`` (a dict or the model) or the model's fields as keywords, not
    both. A keyword set to ``None`` is left out, unless ``partial``: then every keyword given is
    part of the body, ``None`` included, so that a PATCH can say ``"limit": null``.
    """
    fields = _fields(model)
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
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError.from_pydantic(exc, "request body") from exc


@dataclass(frozen=True)
class Prepared:
    """A call's validated parts, ready for ``ModelGatesCore.send``."""

    body: BaseModel | None
    options: CallOptions
    path_params: dict[str, str] | None
    query: dict[str, str] | None


def prepare(endpoint: Endpoint[Any], params: Mapping[str, Any]) -> Prepared:
    """Split a call's keyword arguments into its options and the endpoint's validated parts."""
    options = parse_options(params, _keywords(endpoint))
    body = None
    if endpoint.request is not None:
        body = parse_body(endpoint.request, params, partial=endpoint.partial_body)
    return Prepared(
        body,
        options,
        _parameters(endpoint.path_params, params, "path"),
        _parameters(endpoint.query, params, "query"),
    )


def call(core: ModelGatesCore, endpoint: Endpoint[R], params: Mapping[str, Any]) -> Result[R]:
    """Call ``endpoint`` with a standalone function's keyword arguments; never raise."""
    try:
        ready = prepare(endpoint, params)
        answer = core.send(
            endpoint, ready.body, ready.options, path_params=ready.path_params, query=ready.query
        )
    except ModelGatesError as error:
        return Err(error)
    return Ok(answer)


async def call_async(
    core: ModelGatesCore, endpoint: Endpoint[R], params: Mapping[str, Any]
) -> Result[R]:
    """The async twin of :func:`call`."""
    try:
        ready = prepare(endpoint, params)
        answer = await core.send_async(
            endpoint, ready.body, ready.options, path_params=ready.path_params, query=ready.query
        )
    except ModelGatesError as error:
        return Err(error)
    return Ok(answer)


def _parameters(
    model: type[BaseModel] | None, params: Mapping[str, Any], where: str
) -> dict[str, str] | None:
    """The path or query parameters the caller gave, validated, as text for the URL."""
    if model is None:
        return None
    if where == "path":
        missing = _fields(model) - params.keys()
        if missing:
            raise TypeError(f"missing keyword argument(s): {', '.join(sorted(missing))}")
        given = {name: params[name] for name in _fields(model)}
    else:
        given = {name: params[name] for name in _fields(model) if params.get(name) is not None}
    try:
        validated = model.model_validate(given)
    except ValidationError as exc:
        raise RequestValidationError.from_pydantic(exc, where) from exc
    return {name: str(value) for name, value in validated.model_dump(exclude_unset=True).items()}


@functools.cache
def _fields(model: type[BaseModel]) -> frozenset[str]:
    # Once per model: ``model_fields`` is a computed class property.
    return frozenset(model.model_fields)


@functools.cache
def _keywords(endpoint: Endpoint[Any]) -> frozenset[str]:
    """The keywords an endpoint's call takes besides the options."""
    names: set[str] = set()
    if endpoint.request is not None:
        names |= _fields(endpoint.request) | {"request_body"}
    for model in (endpoint.path_params, endpoint.query):
        if model is not None:
            names |= _fields(model)
    return frozenset(names)
