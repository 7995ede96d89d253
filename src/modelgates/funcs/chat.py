"""Chat completions through the gateway as standalone functions: ``(core, ...) -> Result``,
never raising.

``chat_send(core, model=..., messages=..., **options)`` takes OpenAI's Chat Completions body as
keywords: ``model`` (an id from ``models_list``), ``messages``, and any other field the
provider accepts (``temperature``, ``tools``, ``max_tokens``, ``stream_options``, ...), which
pass through as given; the per-call options of ``RequestOptions`` (``retries``, ``timeout_ms``,
...) are taken out first. With ``stream=True`` the value is a :class:`~modelgates.streams.Stream`
of ``ChatCompletionChunk`` (an ``AsyncStream`` from ``chat_send_async``), open until it is left.

A completion is never retried once it may have reached the server (a repeat would be a second
completion, charged again): only on a failure to connect and on 429 and 503. The server
answers 402 (``PaymentRequiredResponseError``, with ``limit_remaining``) when not even the
smallest answer fits what the key's limit leaves, 502 when the provider cannot be reached and
504 when it is too slow (``ModelGatesDefaultError``), and passes on the provider's own 4XX/5XX
with its status (``metadata.provider_error``). A stream the provider breaks off mid-way raises
the same error where it broke.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from modelgates.core import CallOptions, ModelGatesCore
from modelgates.errors import ModelGatesError, RequestValidationError
from modelgates.funcs._common import OPTION_NAMES, parse_options
from modelgates.models.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from modelgates.models.endpoints import CHAT_COMPLETIONS
from modelgates.result import Err, Ok, Result

if TYPE_CHECKING:
    from modelgates.models.chat import ChatMessage
    from modelgates.streams import AsyncStream, Stream

__all__ = ["chat_send", "chat_send_async"]


def _prepare(
    model: str, messages: Sequence[Any], stream: bool | None, params: Mapping[str, Any]
) -> tuple[ChatCompletionRequest, CallOptions]:
    from pydantic import ValidationError

    options = parse_options({k: v for k, v in params.items() if k in OPTION_NAMES})
    fields = {k: v for k, v in params.items() if k not in OPTION_NAMES}
    fields["model"] = model
    fields["messages"] = [_plain(message) for message in messages]
    if stream is not None:
        fields["stream"] = stream
    try:
        return ChatCompletionRequest.model_validate(fields), options
    except ValidationError as exc:
        raise RequestValidationError.from_pydantic(exc, "chat completion request") from exc


def _plain(message: Any) -> Any:
    # A message model (ChatMessage, or one of the answer's own) as the dict it stands for, its
    # extra fields (tool_calls, name) included: validated again like any other body.
    from pydantic import BaseModel

    return message.model_dump(exclude_unset=True) if isinstance(message, BaseModel) else message


@overload
def chat_send(
    core: ModelGatesCore,
    *,
    model: str,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    stream: Literal[True],
    **params: Any,
) -> Result[Stream[ChatCompletionChunk]]: ...
@overload
def chat_send(
    core: ModelGatesCore,
    *,
    model: str,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    stream: Literal[False] | None = None,
    **params: Any,
) -> Result[ChatCompletion]: ...
@overload
def chat_send(
    core: ModelGatesCore,
    *,
    model: str,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    stream: bool | None = None,
    **params: Any,
) -> Result[ChatCompletion] | Result[Stream[ChatCompletionChunk]]: ...
def chat_send(
    core: ModelGatesCore,
    *,
    model: str,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    stream: bool | None = None,
    **params: Any,
) -> Result[ChatCompletion] | Result[Stream[ChatCompletionChunk]]:
    """``POST /chat/completions``: a completion from ``model``, charged to the calling key;
    with ``stream=True``, its chunks as they come. See the module's docstring."""
    try:
        body, options = _prepare(model, messages, stream, params)
        if body.stream:
            return Ok(core.stream(CHAT_COMPLETIONS, ChatCompletionChunk, body, options))
        return Ok(core.send(CHAT_COMPLETIONS, body, options))
    except ModelGatesError as error:
        return Err(error)


@overload
async def chat_send_async(
    core: ModelGatesCore,
    *,
    model: str,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    stream: Literal[True],
    **params: Any,
) -> Result[AsyncStream[ChatCompletionChunk]]: ...
@overload
async def chat_send_async(
    core: ModelGatesCore,
    *,
    model: str,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    stream: Literal[False] | None = None,
    **params: Any,
) -> Result[ChatCompletion]: ...
@overload
async def chat_send_async(
    core: ModelGatesCore,
    *,
    model: str,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    stream: bool | None = None,
    **params: Any,
) -> Result[ChatCompletion] | Result[AsyncStream[ChatCompletionChunk]]: ...
async def chat_send_async(
    core: ModelGatesCore,
    *,
    model: str,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    stream: bool | None = None,
    **params: Any,
) -> Result[ChatCompletion] | Result[AsyncStream[ChatCompletionChunk]]:
    """The async twin of ``chat_send``."""
    try:
        body, options = _prepare(model, messages, stream, params)
        if body.stream:
            return Ok(await core.stream_async(CHAT_COMPLETIONS, ChatCompletionChunk, body, options))
        return Ok(await core.send_async(CHAT_COMPLETIONS, body, options))
    except ModelGatesError as error:
        return Err(error)
