"""The JSON API's routes, derived from the endpoint table (``modelgates.models.endpoints``).

Each endpoint's handler is registered with :func:`handles`. Before it runs, the caller the
table names is authenticated here (so no handler can forget to), and the query and path are
read with the table's models. A handler registered with ``looks_up_key=True`` gets the key's
:class:`~.keys.Credential` instead of its row (a missing or malformed key is refused here all
the same) and looks it up in the one transaction its service runs anyway: the gateway's hold,
which would otherwise read the key twice in two transactions. The handler reads its body on
demand, with the table's model too, and returns the answer's model, which is sent with the
table's status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelgates.models.base import FROM_URL
from modelgates.models.endpoints import ENDPOINTS, Endpoint
from modelgates.server.api.bodies import invalid_body, read_model
from modelgates.server.api.context import AppContext, context_of
from modelgates.server.api.responses import ModelResponse
from modelgates.server.services import codes, keys, usage
from modelgates.server.services.errors import NotFound
from modelgates.server.store import KeyRow

__all__ = ["HANDLERS", "ApiCall", "Handler", "api_routes", "handles"]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ApiCall:
    """One request to an endpoint of the table, as its handler sees it."""

    request: Request
    ctx: AppContext
    endpoint: Endpoint[Any]
    #: When the request arrived (one clock reading for the whole request).
    now: datetime
    #: The caller's key, for endpoints whose callers are keys.
    caller_key: KeyRow | None
    _query: BaseModel | None
    _path: BaseModel | None
    #: The caller's key not looked up yet, for a handler that looks it up itself.
    _credential: keys.Credential | None = None

    @property
    def caller(self) -> KeyRow:
        if self.caller_key is None:
            raise RuntimeError(f"{self.endpoint.operation_id} is not called with a looked-up key")
        return self.caller_key

    @property
    def credential(self) -> keys.Credential:
        if self._credential is None:
            raise RuntimeError(f"{self.endpoint.operation_id} does not look up its key itself")
        return self._credential

    async def body(self, model: type[M]) -> M:
        """The JSON body, read with the table's model (``model`` names it for the type checker)."""
        _check(model, self.endpoint.request, "request")
        return await read_model(self.request, model, self.ctx.settings.max_body_bytes)

    def query(self, model: type[M]) -> M:
        _check(model, self.endpoint.query, "query")
        return cast(M, self._query)  # read with that model before the handler ran

    def path(self, model: type[M]) -> M:
        _check(model, self.endpoint.path_params, "path_params")
        return cast(M, self._path)

    def header(self, name: str) -> str | None:
        """A header as text: clients (the SDK among them) send non-ASCII titles as UTF-8, which
        Starlette hands over decoded as Latin-1."""
        value = self.request.headers.get(name)
        if value is None:
            return None
        try:
            return value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            return value


Handler = Callable[[ApiCall], Awaitable[BaseModel | Response]]

#: Each endpoint's handler, by operation id (filled by :func:`handles`).
HANDLERS: dict[str, Handler] = {}
#: The handlers that look up their caller's key themselves.
_LOOKS_UP_KEY: set[Handler] = set()


def handles(endpoint: Endpoint[Any], *, looks_up_key: bool = False) -> Callable[[Handler], Handler]:
    """Register the decorated function as ``endpoint``'s handler; with ``looks_up_key`` (for
    an endpoint called with a key) it gets the key's credential, to look up itself."""
    if looks_up_key and endpoint.auth != "key":
        raise RuntimeError(f"{endpoint.operation_id} is not called with a plain key")

    def register(handler: Handler) -> Handler:
        if endpoint.operation_id in HANDLERS:
            raise RuntimeError(f"{endpoint.operation_id} has a handler already")
        HANDLERS[endpoint.operation_id] = handler
        if looks_up_key:
            _LOOKS_UP_KEY.add(handler)
        return handler

    return register


def api_routes(
    endpoints: Iterable[Endpoint[Any]] = ENDPOINTS, handlers: Mapping[str, Handler] | None = None
) -> list[Route]:
    """A route for each endpoint; an endpoint without a handler is a start-up error."""
    if handlers is None:
        # The modules whose @handles fill HANDLERS.
        from modelgates.server.api import gateway as _gateway  # noqa: F401
        from modelgates.server.api import keys as _keys  # noqa: F401
        from modelgates.server.api import oauth as _oauth  # noqa: F401
        from modelgates.server.api import openapi as _openapi  # noqa: F401
        from modelgates.server.api import usage as _usage  # noqa: F401

        handlers = HANDLERS
    routes = []
    for endpoint in endpoints:
        handler = handlers.get(endpoint.operation_id)
        if handler is None:
            raise RuntimeError(f"no handler for {endpoint.operation_id}")
        routes.append(
            Route(endpoint.full_path, _route(endpoint, handler), methods=[endpoint.method])
        )
    return routes


def _route(endpoint: Endpoint[Any], handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    looks_up_key = handler in _LOOKS_UP_KEY

    async def route(request: Request) -> Response:
        ctx = context_of(request)
        now = ctx.now()
        caller = credential = None
        if looks_up_key:
            credential = keys.credential_of(request.headers.get("authorization"))
        else:
            caller = await _authenticate(endpoint, ctx, request, now)
        path = None
        if endpoint.path_params is not None:
            try:
                path = endpoint.path_params.model_validate(request.path_params)
            except ValidationError:
                raise NotFound("Not found.") from None  # a malformed id names nothing
        query = None
        if endpoint.query is not None:
            try:
                query = endpoint.query.model_validate(dict(request.query_params), context=FROM_URL)
            except ValidationError as error:
                raise invalid_body(error) from None
        answer = await handler(
            ApiCall(request, ctx, endpoint, now, caller, query, path, credential)
        )
        if isinstance(answer, Response):
            return answer
        return ModelResponse(answer, status_code=endpoint.status)

    route.__name__ = endpoint.operation_id
    return route


async def _authenticate(
    endpoint: Endpoint[Any], ctx: AppContext, request: Request, now: datetime
) -> KeyRow | None:
    if endpoint.auth == "none":
        # An Authorization header, valid or not, is ignored.
        return None
    authorization = request.headers.get("authorization")
    if endpoint.auth == "service":
        await usage.authenticate_service(ctx.store, authorization)
        return None
    caller = await keys.authenticate(ctx.store, keys.credential_of(authorization), now)
    if endpoint.auth == "code_creator":
        codes.require_code_creator(caller)
    elif endpoint.auth == "management":
        keys.require_management(caller)
    return caller


def _check(given: type[BaseModel], declared: type[BaseModel] | None, what: str) -> None:
    if given is not declared:
        raise RuntimeError(f"the endpoint's {what} model is {declared}, not {given}")
