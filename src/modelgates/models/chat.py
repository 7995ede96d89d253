"""The gateway: OpenAI's Chat Completions format, the model catalogue and generation records.

The request and answer models are deliberately open (``extra="allow"``): the gateway relays what
a provider accepts and answers, and a field this module does not name (``tools``, ``logprobs``,
a provider's own extension) passes through both ways.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from modelgates.models.base import QueryModel, ResponseModel, Text, Timestamp, Usd

#: A model's id in the catalogue: ``provider/model``.
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)


class ChatMessage(_Open):
    role: str
    #: Text, or a list of content parts (text, images), as OpenAI's format has it.
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(_Open):
    """``POST /api/v1/chat/completions``: OpenAI's body; fields not named here pass through."""

    model: ModelId
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    stream: bool | None = None
    max_tokens: Annotated[int, Field(ge=1, le=10**9)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=10**9)] | None = None


class ChatUsage(_Open):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    #: What the call was charged, USD (added by ModelGates).
    cost: Usd | None = None


class AssistantMessage(_Open):
    role: str = "assistant"
    content: str | None = None


class ChatChoice(_Open):
    index: int = 0
    message: AssistantMessage
    finish_reason: str | None = None


class ChatCompletion(_Open):
    """A whole answer (``"stream"`` not set)."""

    id: str
    object: str = "chat.completion"
    created: int = 0
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage | None = None


class ChunkDelta(_Open):
    role: str | None = None
    content: str | None = None


class ChunkChoice(_Open):
    index: int = 0
    delta: ChunkDelta
    finish_reason: str | None = None


class ChatCompletionChunk(_Open):
    """One server-sent event of a streamed answer; the last before ``[DONE]`` may carry only
    ``usage`` (when the client asked for it with ``stream_options.include_usage``)."""

    id: str
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str
    choices: list[ChunkChoice] = []
    usage: ChatUsage | None = None


class Pricing(ResponseModel):
    #: USD per prompt token, as a decimal string ("0.00000015").
    prompt: str
    #: USD per completion token.
    completion: str


class ModelInfo(ResponseModel):
    id: str
    name: str
    context_length: int | None = None
    max_output_tokens: int | None = None
    pricing: Pricing


class ModelList(ResponseModel):
    """``GET /api/v1/models``: what the operator's providers serve."""

    data: list[ModelInfo]


#: A generation's id, as the answer's ``id`` gave it.
GenerationId = Annotated[str, Text(100)]


class GenerationQuery(QueryModel):
    id: GenerationId


class Generation(ResponseModel):
    id: str
    model: str
    created_at: Timestamp
    tokens_prompt: int
    tokens_completion: int
    #: What the key was charged for it, USD.
    total_cost: Usd
    streamed: bool
    #: The client left before the answer ended (it is charged for what was relayed).
    cancelled: bool
    #: The tokens were estimated because the provider reported no usage.
    usage_estimated: bool
    #: How it ended: ``completed``, ``cancelled``, ``provider_error``, ``abandoned`` (its
    #: server process died), or ``in_progress``.
    status: Literal["in_progress", "completed", "cancelled", "provider_error", "abandoned"]
    app_id: int | None


class GenerationResponse(ResponseModel):
    data: Generation
