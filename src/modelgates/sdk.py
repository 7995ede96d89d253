"""``ModelGates``: the client most applications use, with its API grouped in namespaces.

Namespaces are thin: each method calls the standalone function of the same name in
``modelgates.funcs`` and raises the error of its ``Result``. They are built on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload
from urllib.parse import urlencode

from modelgates.core import ModelGatesCore, site_root
from modelgates.errors import RequestValidationError

# The standalone functions (and with them the models, httpx and pydantic) are imported on the
# first call of a method: making a client and reaching a namespace must not pay for them.
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from decimal import Decimal

    from pydantic import BaseModel

    from modelgates.funcs import api_keys as _api_keys
    from modelgates.funcs import chat as _chat
    from modelgates.funcs import generations as _generations
    from modelgates.funcs import models as _models
    from modelgates.funcs import o_auth as _o_auth
    from modelgates.funcs import usage as _usage
    from modelgates.models.chat import ChatCompletion, ChatCompletionChunk, ChatMessage
    from modelgates.result import Result
    from modelgates.streams import AsyncStream, Stream

    R = TypeVar("R", bound=BaseModel)
else:
    R = TypeVar("R")

__all__ = [
    "ApiKeys",
    "Chat",
    "CodeChallenge",
    "Generations",
    "ModelGates",
    "Models",
    "OAuth",
    "Usage",
]

P = ParamSpec("P")


@dataclass(frozen=True)
class CodeChallenge:
    """A PKCE pair: send ``code_challenge`` with the authorization request, keep ``code_verifier``
    secret until the exchange."""

    code_challenge: str
    code_verifier: str = field(repr=False)


class _Lazy(ModuleType):
    """A module imported on first attribute access. What it finds is kept, so that a later
    access is an ordinary attribute (``__getattr__`` runs only for missing ones)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(importlib.import_module(self.__name__), attribute)
        setattr(self, attribute, value)
        return value


if not TYPE_CHECKING:
    _api_keys = _Lazy("modelgates.funcs.api_keys")
    _o_auth = _Lazy("modelgates.funcs.o_auth")
    _usage = _Lazy("modelgates.funcs.usage")
    _chat = _Lazy("modelgates.funcs.chat")
    _models = _Lazy("modelgates.funcs.models")
    _generations = _Lazy("modelgates.funcs.generations")


class _Namespace:
    def __init__(self, core: ModelGatesCore) -> None:
        self._core = core


class _Method(Generic[P, R]):
    """A namespace's method: the standalone function of the same operation, called with the
    client's core, raising the error of its ``Result``. ``load`` finds the function on first
    use."""

    def __init__(self, load: Callable[[], Callable[Concatenate[ModelGatesCore, P], Result[R]]]):
        self._load = load

    @overload
    def __get__(self, namespace: None, owner: type[Any]) -> _Method[P, R]: ...
    @overload
    def __get__(self, namespace: _Namespace, owner: type[Any]) -> Callable[P, R]: ...
    def __get__(
        self, namespace: _Namespace | None, owner: type[Any]
    ) -> _Method[P, R] | Callable[P, R]:
        if namespace is None:
            return self
        function, core = self._load(), namespace._core

        def method(*args: P.args, **params: P.kwargs) -> R:
            return function(core, *args, **params).unwrap()

        return method


class _AsyncMethod(Generic[P, R]):
    """The async twin of :class:`_Method`."""

    def __init__(
        self,
        load: Callable[
            [], Callable[Concatenate[ModelGatesCore, P], Coroutine[Any, Any, Result[R]]]
        ],
    ):
        self._load = load

    @overload
    def __get__(self, namespace: None, owner: type[Any]) -> _AsyncMethod[P, R]: ...
    @overload
    def __get__(
        self, namespace: _Namespace, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(
        self, namespace: _Namespace | None, owner: type[Any]
    ) -> _AsyncMethod[P, R] | Callable[P, Coroutine[Any, Any, R]]:
        if namespace is None:
            return self
        function, core = self._load(), namespace._core

        async def method(*args: P.args, **params: P.kwargs) -> R:
            return (await function(core, *args, **params)).unwrap()

        return method


class OAuth(_Namespace):
    """The PKCE flow: build the consent URL, exchange its code for a key, or create a code.

    ``exchange_auth_code_for_api_key(request_body={"code": ..., "code_verifier": ...,
    "code_challenge_method": ...})`` (or the same fields as keywords) returns ``.key`` and
    ``.user_id``; ``create_auth_code(request_body={"callback_url": ..., "code_challenge": ...,
    ...})`` returns ``.data.id`` (the code), ``.data.app_id`` and ``.data.created_at``. Each has
    an ``_async`` twin.
    """

    exchange_auth_code_for_api_key = _Method(lambda: _o_auth.o_auth_exchange_auth_code_for_api_key)
    exchange_auth_code_for_api_key_async = _AsyncMethod(
        lambda: _o_auth.o_auth_exchange_auth_code_for_api_key_async
    )
    create_auth_code = _Method(lambda: _o_auth.o_auth_create_auth_code)
    create_auth_code_async = _AsyncMethod(lambda: _o_auth.o_auth_create_auth_code_async)

    def create_authorization_url(
        self,
        callback_url: str,
        code_challenge: str | None = None,
        code_challenge_method: Literal["S256", "plain"] | None = None,
        limit: float | Decimal | None = None,
        state: str | None = None,
        key_label: str | None = None,
        expires_at: datetime | str | None = None,
        usage_limit_type: Literal["daily", "weekly", "monthly"] | None = None,
    ) -> str:
        """The consent page to send the user to: ``/auth`` on the configured server's site.

        The parameters obey the rules of ``create_auth_code`` and are checked here, so that a bad
        callback URL fails at once rather than on the server's error page. ``state`` is echoed
        back to the callback. A ``server_url`` ending in ``/api/v1`` has the page beside it (a
        server under a path prefix keeps the prefix); any other ``server_url`` uses its origin.
        """
        from pydantic import ValidationError

        from modelgates.models import CreateAuthCodeRequest

        fields: dict[str, Any] = {
            "callback_url": callback_url,
            "code_challenge": code_challenge,
            "code_challenge_method": code_challenge_method,
            "limit": limit,
            "key_label": key_label,
            "expires_at": expires_at,
            "usage_limit_type": usage_limit_type,
        }
        try:
            request = CreateAuthCodeRequest.model_validate(
                {name: value for name, value in fields.items() if value is not None}
            )
        except ValidationError as exc:
            raise RequestValidationError.from_pydantic(exc, "authorization request") from exc
        dumped = request.model_dump(mode="json", exclude_none=True)
        query = {name: dumped[name] for name in fields if name in dumped}  # in the order above
        if request.limit is not None:
            # The JSON form of a limit is a float ("100.0"); a URL reads better with "100".
            query["limit"] = format(request.limit.normalize(), "f")
        if state is not None:
            query["state"] = state
        return f"{site_root(self._core.server_url)}/auth?{urlencode(query)}"

    @staticmethod
    def create_sha256_code_challenge(code_verifier: str | None = None) -> CodeChallenge:
        """A PKCE pair with method S256. Without ``code_verifier``, a fresh random one is made.

        A given verifier must follow RFC 7636 §4.1 (43 to 128 characters of
        ``[A-Za-z0-9-._~]``), else ``RequestValidationError``, a ``ValueError``.
        """
        from modelgates import pkce

        if code_verifier is None:
            code_verifier = pkce.create_verifier()
        elif not pkce.is_valid_verifier(code_verifier):
            raise RequestValidationError.single(
                "code_verifier", "must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636)"
            )
        return CodeChallenge(pkce.s256_challenge(code_verifier), code_verifier)


class ApiKeys(_Namespace):
    """API keys: the calling key's own record and self-revocation (``get_current_key``,
    ``revoke_current_key``), and the management API over the user's keys, for a management key
    (``list``, ``create``, ``get``, ``update``, ``delete``). A key is named by its ``hash``, its
    public id. Each method has an ``_async`` twin, and takes what its standalone function in
    ``modelgates.funcs.api_keys`` takes.

    Reading, updating and deleting are retried as the client's retry policy says. ``create`` is
    retried only when the request surely did not reach the server (a failure to connect) and on
    429 and 503, since a retry after a lost answer could make a second key: on a connection lost
    mid-call, ``list()`` the keys to see whether it was made.
    """

    get_current_key = _Method(lambda: _api_keys.api_keys_get_current_key)
    get_current_key_async = _AsyncMethod(lambda: _api_keys.api_keys_get_current_key_async)
    revoke_current_key = _Method(lambda: _api_keys.api_keys_revoke_current_key)
    revoke_current_key_async = _AsyncMethod(lambda: _api_keys.api_keys_revoke_current_key_async)
    list = _Method(lambda: _api_keys.api_keys_list)
    list_async = _AsyncMethod(lambda: _api_keys.api_keys_list_async)
    create = _Method(lambda: _api_keys.api_keys_create)
    create_async = _AsyncMethod(lambda: _api_keys.api_keys_create_async)
    get = _Method(lambda: _api_keys.api_keys_get)
    get_async = _AsyncMethod(lambda: _api_keys.api_keys_get_async)
    update = _Method(lambda: _api_keys.api_keys_update)
    update_async = _AsyncMethod(lambda: _api_keys.api_keys_update_async)
    delete = _Method(lambda: _api_keys.api_keys_delete)
    delete_async = _AsyncMethod(lambda: _api_keys.api_keys_delete_async)


class Usage(_Namespace):
    """Metering, for a model gateway whose client ``api_key`` is its service token:
    ``record(key_hash=..., amount=..., request_id=...)`` charges ``amount`` USD once per
    ``request_id`` (see ``modelgates.funcs.usage.usage_record``)."""

    record = _Method(lambda: _usage.usage_record)
    record_async = _AsyncMethod(lambda: _usage.usage_record_async)


class Chat(_Namespace):
    """Chat completions through the gateway, charged to the client's key.

    ``send(model=..., messages=..., **options)`` takes OpenAI's body as keywords (any field the
    provider accepts passes through) and the per-call options, and returns a ``ChatCompletion``;
    with ``stream=True`` a ``Stream`` of ``ChatCompletionChunk`` to iterate, which closes its
    response when left (the loop's end, ``break``, an error, ``with``, or garbage).
    ``send_async`` is the twin (an ``AsyncStream`` for ``async for``). See
    ``modelgates.funcs.chat`` for retries and errors.
    """

    @overload
    def send(
        self,
        *,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        stream: Literal[True],
        **options: Any,
    ) -> Stream[ChatCompletionChunk]: ...
    @overload
    def send(
        self,
        *,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        stream: Literal[False] | None = None,
        **options: Any,
    ) -> ChatCompletion: ...
    @overload
    def send(
        self,
        *,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        stream: bool | None = None,
        **options: Any,
    ) -> ChatCompletion | Stream[ChatCompletionChunk]: ...
    def send(
        self,
        *,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        stream: bool | None = None,
        **options: Any,
    ) -> ChatCompletion | Stream[ChatCompletionChunk]:
        return _chat.chat_send(
            self._core, model=model, messages=messages, stream=stream, **options
        ).unwrap()

    @overload
    async def send_async(
        self,
        *,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        stream: Literal[True],
        **options: Any,
    ) -> AsyncStream[ChatCompletionChunk]: ...
    @overload
    async def send_async(
        self,
        *,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        stream: Literal[False] | None = None,
        **options: Any,
    ) -> ChatCompletion: ...
    @overload
    async def send_async(
        self,
        *,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        stream: bool | None = None,
        **options: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]: ...
    async def send_async(
        self,
        *,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        stream: bool | None = None,
        **options: Any,
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        result = await _chat.chat_send_async(
            self._core, model=model, messages=messages, stream=stream, **options
        )
        return result.unwrap()


class Models(_Namespace):
    """The gateway's catalogue: ``list()`` the models the server serves, with their prices
    (public: no key needed)."""

    list = _Method(lambda: _models.models_list)
    list_async = _AsyncMethod(lambda: _models.models_list_async)


class Generations(_Namespace):
    """The calling key's records of its completions: ``get(id=...)`` with a completion's
    ``id`` (``NotFoundResponseError`` for another key's)."""

    get = _Method(lambda: _generations.generations_get)
    get_async = _AsyncMethod(lambda: _generations.generations_get_async)


class ModelGates(ModelGatesCore):
    """The ModelGates API client: a ``ModelGatesCore`` (same options) with its API grouped in
    namespaces, built on first use. The standalone functions of ``modelgates.funcs`` take it,
    or its ``core``, as their core.

    Use it as a context manager (``with`` or ``async with``) to close the HTTP clients it made.
    """

    @property
    def core(self) -> ModelGatesCore:
        return self

    @cached_property
    def o_auth(self) -> OAuth:
        return OAuth(self)

    @cached_property
    def api_keys(self) -> ApiKeys:
        return ApiKeys(self)

    @cached_property
    def usage(self) -> Usage:
        return Usage(self)

    @cached_property
    def chat(self) -> Chat:
        return Chat(self)

    @cached_property
    def models(self) -> Models:
        return Models(self)

    @cached_property
    def generations(self) -> Generations:
        return Generations(self)
