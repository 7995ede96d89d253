"""The one table of endpoints: what each one is, from which the SDK's operations, the server's
routes and the OpenAPI document are all derived.

An entry says everything both sides must agree on: the method and path (under ``/api/v1``), the
wire models of its path, query, body and answer, who may call it, whether a browser page may
(CORS), and whether a client may retry it. Adding an endpoint means an entry here, a handler in
``modelgates.server.api`` and the rule it calls in ``modelgates.server.services``;
``tests/server/test_endpoint_table.py`` shows that nothing else has to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, RootModel

from modelgates.core import API_PATH
from modelgates.models.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    GenerationQuery,
    GenerationResponse,
    ModelList,
)
from modelgates.models.keys import (
    CreateKeyRequest,
    CreateKeyResponse,
    DeleteKeyResponse,
    KeyListResponse,
    KeyPath,
    KeyRecordResponse,
    KeyResponse,
    ListKeysQuery,
    UpdateKeyRequest,
)
from modelgates.models.oauth import (
    CreateAuthCodeRequest,
    CreateAuthCodeResponse,
    ExchangeAuthCodeRequest,
    ExchangeAuthCodeResponse,
)
from modelgates.models.usage import RecordUsageRequest, RecordUsageResponse

__all__ = ["API_PREFIX", "ENDPOINTS", "Auth", "Endpoint", "OpenApiDocument", "Retry"]

#: Where the API lives on a server's site: the SDK's own rule for server URLs, shared.
API_PREFIX = API_PATH

ResponseT = TypeVar("ResponseT", bound=BaseModel)

#: Who may call an endpoint: anyone; any live key; a key that may create codes (one not issued
#: through OAuth); a management key; the operator's service token.
Auth = Literal["none", "key", "code_creator", "management", "service"]
#: Whether a client may send it again after a failure: ``safe`` (repeating it does nothing
#: twice), ``idempotency_key`` (safe because each call carries a fresh ``Idempotency-Key``, the
#: same on its retries), ``unsent_only`` (only when it surely never reached the server, and on
#: 429 and 503).
Retry = Literal["safe", "idempotency_key", "unsent_only"]


@dataclass(frozen=True, eq=False)
class Endpoint(Generic[ResponseT]):
    operation_id: str
    method: Literal["GET", "POST", "PATCH", "DELETE"]
    #: Under ``API_PREFIX``; ``{name}`` marks a parameter of ``path_params``.
    path: str
    #: The success body's model.
    response: type[ResponseT]
    auth: Auth
    tag: str
    summary: str
    description: str = ""
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    status: int = 200
    retry: Retry = "safe"
    #: The body holds exactly the fields the caller set, ``null`` included (a PATCH: ``"limit":
    #: null`` removes the limit), rather than leaving out every ``None``.
    partial_body: bool = False
    #: Callable from a browser page on any origin (``Access-Control-Allow-Origin: *``, without
    #: credentials).
    cors: bool = False
    #: The app attribution headers identify the app (besides being sent on every call).
    identifies_app: bool = False
    #: Error statuses beyond those its auth, body, query and path imply.
    errors: tuple[int, ...] = ()
    #: It reads or writes the database (and so may answer 503 while that is away).
    uses_store: bool = True
    #: With ``"stream": true`` it answers server-sent events, each ``data:`` one of these.
    event_stream: type[BaseModel] | None = None

    @property
    def full_path(self) -> str:
        return API_PREFIX + self.path

    @property
    def idempotency_key(self) -> bool:
        return self.retry == "idempotency_key"

    @property
    def safe_to_retry(self) -> bool:
        return self.retry != "unsent_only"

    @property
    def error_statuses(self) -> frozenset[int]:
        """Every error status it can answer."""
        statuses = {500, *self.errors}
        if self.uses_store:
            statuses.add(503)
        if self.auth != "none":
            statuses.add(401)
        if self.auth in ("code_creator", "management"):
            statuses.add(403)
        if self.request is not None:
            statuses.update((400, 413, 415))
        if self.query is not None:
            statuses.add(400)
        if self.path_params is not None:
            statuses.add(404)
        return frozenset(statuses)


EXCHANGE_AUTH_CODE = Endpoint(
    "exchangeAuthCodeForApiKey",
    "POST",
    "/auth/keys",
    ExchangeAuthCodeResponse,
    auth="none",
    tag="OAuth",
    summary="Exchange an authorization code (and its PKCE verifier) for an API key",
    description="No authentication: an `Authorization` header is ignored. 403 for every reason "
    "the code cannot be spent, with one message. 429: too many exchanges from this address.",
    request=ExchangeAuthCodeRequest,
    cors=True,
    errors=(403, 429),
)
CREATE_AUTH_CODE = Endpoint(
    "createAuthCode",
    "POST",
    "/auth/keys/code",
    CreateAuthCodeResponse,
    auth="code_creator",
    tag="OAuth",
    summary="Create an authorization code for the caller's user",
    description="Only a key that was not itself issued through OAuth may create codes (403 "
    "otherwise). 409: an unspent code with the same `code_challenge` exists, or the "
    "`Idempotency-Key` was used with another body. 429: too many codes from this key.",
    request=CreateAuthCodeRequest,
    retry="idempotency_key",
    identifies_app=True,
    errors=(409, 429),
)
GET_CURRENT_KEY = Endpoint(
    "getCurrentKey",
    "GET",
    "/key",
    KeyRecordResponse,
    auth="key",
    tag="Keys",
    summary="The calling key's own record",
    # A browser app shows its user the credit left from the page, and signs out (below).
    cors=True,
)
REVOKE_CURRENT_KEY = Endpoint(
    "revokeCurrentKey",
    "DELETE",
    "/key",
    DeleteKeyResponse,
    auth="key",
    tag="Keys",
    summary="The calling key revokes itself",
    cors=True,
)
GET_CURRENT_KEY_LEGACY = Endpoint(
    "getCurrentKeyLegacy",
    "GET",
    "/auth/key",
    KeyRecordResponse,
    auth="key",
    tag="Keys",
    summary="The calling key's own record (the older path of GET /key)",
    cors=True,
)
LIST_KEYS = Endpoint(
    "listKeys",
    "GET",
    "/keys",
    KeyListResponse,
    auth="management",
    tag="Keys",
    summary="List the user's keys (management key)",
    query=ListKeysQuery,
)
CREATE_KEY = Endpoint(
    "createKey",
    "POST",
    "/keys",
    CreateKeyResponse,
    auth="management",
    tag="Keys",
    summary="Create a key for the user (management key); the key is shown this once",
    request=CreateKeyRequest,
    status=201,
    # The server cannot tell a retried create from a second one.
    retry="unsent_only",
    errors=(429,),
)
GET_KEY = Endpoint(
    "getKey",
    "GET",
    "/keys/{hash}",
    KeyResponse,
    auth="management",
    tag="Keys",
    summary="Read one of the user's keys (management key)",
    path_params=KeyPath,
)
UPDATE_KEY = Endpoint(
    "updateKey",
    "PATCH",
    "/keys/{hash}",
    KeyResponse,
    auth="management",
    tag="Keys",
    summary="Change a key's name, disabled flag, limit or reset interval (management key)",
    description="Only the fields present change; `limit` and `limit_reset` may be null to "
    "remove them, `name` and `disabled` may not (400).",
    request=UpdateKeyRequest,
    path_params=KeyPath,
    partial_body=True,
)
DELETE_KEY = Endpoint(
    "deleteKey",
    "DELETE",
    "/keys/{hash}",
    DeleteKeyResponse,
    auth="management",
    tag="Keys",
    summary="Delete (revoke) one of the user's keys (management key)",
    path_params=KeyPath,
)


class OpenApiDocument(RootModel[dict[str, Any]]):
    """An OpenAPI 3.1 document (a JSON object)."""


GET_OPENAPI_DOCUMENT = Endpoint(
    "getOpenApiDocument",
    "GET",
    "/openapi.json",
    OpenApiDocument,
    auth="none",
    tag="Meta",
    summary="This document",
    uses_store=False,
)
RECORD_USAGE = Endpoint(
    "recordUsage",
    "POST",
    "/usage",
    RecordUsageResponse,
    auth="service",
    tag="Metering",
    summary="Charge a key, once per request_id (service token)",
    description="404: no key with that hash. 409: the request_id was used for another charge; "
    "a repeat of the same charge answers as the first did.",
    request=RecordUsageRequest,
    errors=(402, 404, 409),
)
CHAT_COMPLETIONS = Endpoint(
    "createChatCompletion",
    "POST",
    "/chat/completions",
    ChatCompletion,
    auth="key",
    tag="Gateway",
    summary="A chat completion from one of the operator's models, charged to the key",
    description='OpenAI\'s Chat Completions format; with `"stream": true` server-sent events '
    "ending with `data: [DONE]`. The request's worst case is held against the key's limit "
    "before it is forwarded and settled to its actual cost (`usage.cost`) after. 402: not "
    "even the smallest answer fits what the limit leaves (`metadata.limit_remaining`). "
    "502: the provider is unreachable; 504: it did not answer in time; its own 4XX/5XX are "
    "passed on with its status (`metadata.provider_error`). 503: no providers configured.",
    request=ChatCompletionRequest,
    # A repeat is a second completion, charged again.
    retry="unsent_only",
    cors=True,
    errors=(402, 502, 504),
    event_stream=ChatCompletionChunk,
)
LIST_MODELS = Endpoint(
    "listModels",
    "GET",
    "/models",
    ModelList,
    auth="none",
    tag="Gateway",
    summary="The models the operator's providers serve, with their prices",
    cors=True,
    uses_store=False,
)
GET_GENERATION = Endpoint(
    "getGeneration",
    "GET",
    "/generation",
    GenerationResponse,
    auth="key",
    tag="Gateway",
    summary="The calling key's record of one of its completions",
    description="`id` is the completion's `id`. 404 for an unknown id or another key's.",
    query=GenerationQuery,
    cors=True,
    errors=(404,),
)

#: Every endpoint of the JSON API.
ENDPOINTS: tuple[Endpoint[Any], ...] = (
    CREATE_AUTH_CODE,
    EXCHANGE_AUTH_CODE,
    GET_CURRENT_KEY,
    REVOKE_CURRENT_KEY,
    GET_CURRENT_KEY_LEGACY,
    LIST_KEYS,
    CREATE_KEY,
    GET_KEY,
    UPDATE_KEY,
    DELETE_KEY,
    RECORD_USAGE,
    CHAT_COMPLETIONS,
    LIST_MODELS,
    GET_GENERATION,
    GET_OPENAPI_DOCUMENT,
)
