"""``GET /api/v1/openapi.json``: the JSON API described in OpenAPI 3.1, built from the wire models.

The bodies' schemas are the wire models' own (pydantic's ``model_json_schema``: validation mode
for what a client sends, serialization mode for what the server answers), so the document cannot
drift from what the routes parse and send. What this module adds by hand is what the models do
not know: the paths, who may call them, their parameters and every status each one can answer.
``tests/server/test_schema_fuzz.py`` holds the server to it with schemathesis, and
``tests/server/test_openapi.py`` fails when a route under ``/api/v1`` is missing from it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import Response

from modelgates.models.errors import ErrorResponse
from modelgates.models.keys import (
    CreateKeyRequest,
    CreateKeyResponse,
    DeleteKeyResponse,
    KeyListResponse,
    KeyRecordResponse,
    KeyResponse,
    UpdateKeyRequest,
)
from modelgates.models.oauth import (
    CreateAuthCodeRequest,
    CreateAuthCodeResponse,
    ExchangeAuthCodeRequest,
    ExchangeAuthCodeResponse,
)
from modelgates.models.usage import RecordUsageRequest, RecordUsageResponse

OPENAPI_VERSION = "3.1.0"
API_PREFIX = "/api/v1"
REF = "#/components/schemas/{model}"

#: What each error status means, whichever operation answers it.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body or the query is invalid; `metadata.field` names the first offending field.",
    401: "The bearer credential is missing, malformed, unknown, revoked, disabled or expired.",
    402: "The key cannot take the charge: `metadata.reason` is `key_inactive` or "
    "`limit_exceeded` (with `metadata.limit_remaining`).",
    403: "The caller may not do this.",
    404: "No such resource (or not the caller's).",
    409: "Conflicts with an earlier request.",
    413: "The body is larger than the server's limit (64 KiB by default).",
    415: "The body was not sent with `Content-Type: application/json`.",
    429: "Too many requests; retry after `Retry-After` seconds.",
    500: "Internal server error.",
    503: "The database (or Redis) is unavailable right now; retry after `Retry-After` seconds.",
}
#: Statuses that carry ``Retry-After``.
RETRY_AFTER_STATUSES = frozenset({429, 503})

#: Every answer under /api/ carries this (added by ``ApiHeaders``); 500s come from Starlette's
#: outermost middleware, past ``ApiHeaders``, so they are not promised it.
_NO_STORE_HEADER = {"$ref": "#/components/headers/CacheControl"}

_ATTRIBUTION_HEADERS: tuple[dict[str, Any], ...] = (
    {
        "name": "HTTP-Referer",
        "in": "header",
        "required": False,
        "description": "The app's URL: its identity (its origin), else the callback URL's.",
        "schema": {"type": "string"},
    },
    {
        "name": "X-ModelGates-Title",
        "in": "header",
        "required": False,
        "description": "The app's display name (printable characters, at most 100 kept).",
        "schema": {"type": "string"},
    },
    {
        "name": "X-Title",
        "in": "header",
        "required": False,
        "description": "Legacy alias of `X-ModelGates-Title`.",
        "schema": {"type": "string"},
    },
    {
        "name": "X-ModelGates-Categories",
        "in": "header",
        "required": False,
        "description": "Comma-separated, lowercase-hyphenated categories; malformed ones are "
        "dropped.",
        "schema": {"type": "string"},
    },
)
_IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes retries safe: the same key and body within the code's lifetime get the "
    "same answer; the same key with another body gets 409.",
    "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
}
_HASH_PARAMETER: dict[str, Any] = {
    "name": "hash",
    "in": "path",
    "required": True,
    "description": "The key's public id: the SHA-256 hex of the key. Anything else is 404.",
    "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
}
_LIST_PARAMETERS: tuple[dict[str, Any], ...] = (
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "How many keys to skip (pages hold 100 keys, oldest first).",
        "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999, "default": 0},
    },
    {
        "name": "include_disabled",
        "in": "query",
        "required": False,
        "description": "Whether disabled keys are listed too.",
        "schema": {"type": "boolean", "default": False},
    },
)


@dataclass(frozen=True)
class Operation:
    """One documented route: ``method`` on ``API_PREFIX + path``."""

    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    #: The security scheme that authenticates it (``None``: anyone may call it).
    security: str | None
    status: int
    #: The success body's model, or ``None`` for this document itself (any JSON object).
    response: type[BaseModel] | None
    errors: tuple[int, ...]
    request: type[BaseModel] | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    description: str = ""


# Errors every authenticated route can answer, in the order the route checks them.
_KEY_AUTH = (401, 500, 503)
_MANAGER = (401, 403, 500, 503)
_BODY = (400, 413, 415)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post",
        "/auth/keys/code",
        "createAuthCode",
        "OAuth",
        "Create an authorization code for the caller's user",
        security="apiKey",
        status=200,
        response=CreateAuthCodeResponse,
        request=CreateAuthCodeRequest,
        errors=(*_BODY, 401, 403, 409, 429, 500, 503),
        parameters=(_IDEMPOTENCY_KEY, *_ATTRIBUTION_HEADERS),
        description="Only a key that was not itself issued through OAuth may create codes "
        "(403 otherwise). 409: an unspent code with the same `code_challenge` exists, or the "
        "`Idempotency-Key` was used with another body. 429: too many codes from this key.",
    ),
    Operation(
        "post",
        "/auth/keys",
        "exchangeAuthCodeForApiKey",
        "OAuth",
        "Exchange an authorization code (and its PKCE verifier) for an API key",
        security=None,
        status=200,
        response=ExchangeAuthCodeResponse,
        request=ExchangeAuthCodeRequest,
        errors=(*_BODY, 403, 429, 500, 503),
        description="No authentication: an `Authorization` header is ignored. 403 for every "
        "reason the code cannot be spent, with one message. 429: too many exchanges from this "
        "address. CORS-enabled.",
    ),
    Operation(
        "get",
        "/key",
        "getCurrentKey",
        "Keys",
        "The calling key's own record",
        security="apiKey",
        status=200,
        response=KeyRecordResponse,
        errors=_KEY_AUTH,
    ),
    Operation(
        "delete",
        "/key",
        "revokeCurrentKey",
        "Keys",
        "The calling key revokes itself",
        security="apiKey",
        status=200,
        response=DeleteKeyResponse,
        errors=_KEY_AUTH,
    ),
    Operation(
        "get",
        "/auth/key",
        "getCurrentKeyLegacy",
        "Keys",
        "The calling key's own record (the older path of GET /key)",
        security="apiKey",
        status=200,
        response=KeyRecordResponse,
        errors=_KEY_AUTH,
    ),
    Operation(
        "get",
        "/keys",
        "listKeys",
        "Keys",
        "List the user's keys (management key)",
        security="apiKey",
        status=200,
        response=KeyListResponse,
        errors=(400, *_MANAGER),
        parameters=_LIST_PARAMETERS,
    ),
    Operation(
        "post",
        "/keys",
        "createKey",
        "Keys",
        "Create a key for the user (management key); the key is shown this once",
        security="apiKey",
        status=201,
        response=CreateKeyResponse,
        request=CreateKeyRequest,
        errors=(*_BODY, *_MANAGER),
    ),
    Operation(
        "get",
        "/keys/{hash}",
        "getKey",
        "Keys",
        "Read one of the user's keys (management key)",
        security="apiKey",
        status=200,
        response=KeyResponse,
        errors=(404, *_MANAGER),
        parameters=(_HASH_PARAMETER,),
    ),
    Operation(
        "patch",
        "/keys/{hash}",
        "updateKey",
        "Keys",
        "Change a key's name, disabled flag, limit or reset interval (management key)",
        security="apiKey",
        status=200,
        response=KeyResponse,
        request=UpdateKeyRequest,
        errors=(*_BODY, 404, *_MANAGER),
        parameters=(_HASH_PARAMETER,),
        description="Only the fields present change; `limit` and `limit_reset` may be null to "
        "remove them, `name` and `disabled` may not (400).",
    ),
    Operation(
        "delete",
        "/keys/{hash}",
        "deleteKey",
        "Keys",
        "Delete (revoke) one of the user's keys (management key)",
        security="apiKey",
        status=200,
        response=DeleteKeyResponse,
        errors=(404, *_MANAGER),
        parameters=(_HASH_PARAMETER,),
    ),
    Operation(
        "post",
        "/usage",
        "recordUsage",
        "Metering",
        "Charge a key, once per request_id (service token)",
        security="serviceToken",
        status=200,
        response=RecordUsageResponse,
        request=RecordUsageRequest,
        errors=(*_BODY, 401, 402, 404, 409, 500, 503),
        description="404: no key with that hash. 409: the request_id was used for another "
        "charge; a repeat of the same charge answers as the first did.",
    ),
    Operation(
        "get",
        "/openapi.json",
        "getOpenApiDocument",
        "Meta",
        "This document",
        security=None,
        status=200,
        response=None,
        errors=(500,),
    ),
)


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON API (built once)."""
    validation: JsonSchemaMode = "validation"
    serialization: JsonSchemaMode = "serialization"
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((op.request, validation) for op in OPERATIONS if op.request is not None),
        *((op.response, serialization) for op in OPERATIONS if op.response is not None),
        (ErrorResponse, serialization),
    ]
    refs, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF)
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    error_ref = refs[(ErrorResponse, "serialization")]["$ref"]
    statuses = sorted({status for op in OPERATIONS for status in op.errors})
    for status in statuses:
        schemas[f"Error{status}"] = _error_schema(error_ref, status)

    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(API_PREFIX + op.path, {})[op.method] = _operation(op, refs)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "ModelGates API",
            "version": "1",
            "description": "Sign in with ModelGates: user-controlled, credit-limited API keys "
            "through OAuth PKCE. Every error has one shape: "
            '`{"error": {"code": <status>, "message": "...", "metadata": {...} | null}}`.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A user's API key: `sk-mg-v1-` and 64 lowercase hex digits.",
                },
                "serviceToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An operator's service token for metering: `mg-svc-v1-` and "
                    "64 lowercase hex digits (`modelgates` CLI).",
                },
            },
            "headers": {
                "CacheControl": {
                    "description": "Answers of the API are never cached.",
                    "required": True,
                    "schema": {"type": "string", "const": "no-store"},
                },
                "RetryAfter": {
                    "description": "Whole seconds to wait before retrying.",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                },
                "WWWAuthenticate": {
                    "description": "The scheme to authenticate with.",
                    "required": True,
                    "schema": {"type": "string", "const": "Bearer"},
                },
            },
        },
    }


def _error_schema(error_ref: str, status: int) -> dict[str, Any]:
    """The error shape, with ``error.code`` pinned to the HTTP status it comes with."""
    return {
        "allOf": [
            {"$ref": error_ref},
            {
                "type": "object",
                "properties": {
                    "error": {"type": "object", "properties": {"code": {"const": status}}}
                },
            },
        ]
    }


def _operation(op: Operation, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    success_schema = (
        {"type": "object"} if op.response is None else refs[(op.response, "serialization")]
    )
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "Success.",
            "headers": {"Cache-Control": _NO_STORE_HEADER},
            "content": {"application/json": {"schema": success_schema}},
        }
    }
    for status in sorted(op.errors):
        headers: dict[str, Any] = {}
        if status != 500:
            headers["Cache-Control"] = _NO_STORE_HEADER
        if status in RETRY_AFTER_STATUSES:
            headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
        if status == 401:
            headers["WWW-Authenticate"] = {"$ref": "#/components/headers/WWWAuthenticate"}
        responses[str(status)] = {
            "description": ERROR_DESCRIPTIONS[status],
            **({"headers": headers} if headers else {}),
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=f"Error{status}")}}
            },
        }
    operation: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "summary": op.summary,
        "security": [] if op.security is None else [{op.security: []}],
        "responses": responses,
    }
    if op.description:
        operation["description"] = op.description
    if op.parameters:
        operation["parameters"] = list(op.parameters)
    if op.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": refs[(op.request, "validation")]},
            },
        }
    return operation


@functools.cache
def _document_bytes() -> bytes:
    return json.dumps(openapi_document(), separators=(",", ":")).encode("utf-8")


async def openapi_json(_request: Request) -> Response:
    return Response(_document_bytes(), media_type="application/json")
