"""``GET /api/v1/openapi.json``: the JSON API described in OpenAPI 3.1, built from the endpoint
table (``modelgates.models.endpoints``) and the wire models.

The bodies' and parameters' schemas are the wire models' own (pydantic's ``model_json_schema``:
validation mode for what a client sends, serialization mode for what the server answers), and
the paths, callers and statuses are the table's, so the document cannot drift from what the
routes parse and send. What this module adds is prose: what each status and header means.
``tests/server/test_schema_fuzz.py`` holds the server to it with schemathesis, and
``tests/server/test_openapi.py`` fails when a route under ``/api/v1`` is missing from it.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.responses import Response

from modelgates.models.endpoints import (
    API_PREFIX,
    ENDPOINTS,
    GET_OPENAPI_DOCUMENT,
    Auth,
    Endpoint,
)
from modelgates.models.errors import ErrorResponse
from modelgates.server.api.routing import ApiCall, handles

__all__ = ["API_PREFIX", "OPENAPI_VERSION", "REF", "openapi_document", "openapi_json"]

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
#: The security scheme that authenticates each kind of caller (None: anyone).
_SECURITY: dict[Auth, str | None] = {
    "none": None,
    "key": "apiKey",
    "code_creator": "apiKey",
    "management": "apiKey",
    "service": "serviceToken",
}

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
    502: "The model's provider could not be reached, or its answer was unusable.",
    503: "The database (or Redis) is unavailable right now, or (gateway) no providers are "
    "configured; retry after `Retry-After` seconds.",
    504: "The model's provider did not answer in time.",
}
#: Statuses that carry ``Retry-After``.
RETRY_AFTER_STATUSES = frozenset({429, 503})

#: Every answer under /api/ carries this, the 500 of an unexpected error too (``outer.OuterLayer``).
_NO_STORE_HEADER = {"$ref": "#/components/headers/CacheControl"}

_ATTRIBUTION_HEADERS: tuple[dict[str, Any], ...] = (
    {
        "name": "HTTP-Referer",
        "in": "header",
        "required": False,
        "description": "The app's URL, accepted for attribution; the app is the callback "
        "URL's origin, whatever this says.",
        "schema": {"type": "string"},
    },
    {
        "name": "X-ModelGates-Title",
        "in": "header",
        "required": False,
        "description": "The app's display name (printable characters, at most 100 kept), "
        "shown only to the user whose key sent it; 400 when it reads as ModelGates or mixes "
        "Latin with lookalike letters of another script.",
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


def _parameters(endpoint: Endpoint[Any]) -> list[dict[str, Any]]:
    """The path, query and header parameters, from the endpoint's models and flags."""
    parameters: list[dict[str, Any]] = []
    for where, model in (("path", endpoint.path_params), ("query", endpoint.query)):
        if model is None:
            continue
        schema = model.model_json_schema(mode="validation")
        required = set(schema.get("required", ()))
        for name, field in schema["properties"].items():
            description = field.pop("description", "")
            field.pop("title", None)
            parameters.append(
                {
                    "name": name,
                    "in": where,
                    "required": where == "path" or name in required,
                    "description": description,
                    "schema": field,
                }
            )
    if endpoint.idempotency_key:
        parameters.append(_IDEMPOTENCY_KEY)
    if endpoint.identifies_app:
        parameters.extend(_ATTRIBUTION_HEADERS)
    return parameters


@functools.cache
def openapi_document(endpoints: tuple[Endpoint[Any], ...] = ENDPOINTS) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the JSON API (built once)."""
    validation: JsonSchemaMode = "validation"
    serialization: JsonSchemaMode = "serialization"
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((op.request, validation) for op in endpoints if op.request is not None),
        *((op.response, serialization) for op in endpoints),
        *((op.event_stream, serialization) for op in endpoints if op.event_stream is not None),
        (ErrorResponse, serialization),
    ]
    refs, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF)
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    error_ref = refs[(ErrorResponse, "serialization")]["$ref"]
    statuses = sorted({status for op in endpoints for status in op.error_statuses})
    for status in statuses:
        schemas[f"Error{status}"] = _error_schema(error_ref, status)

    paths: dict[str, dict[str, Any]] = {}
    for op in endpoints:
        paths.setdefault(op.full_path, {})[op.method.lower()] = _operation(op, refs)
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


def _event_schema(model: type[BaseModel], refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    """One server-sent event: its ``data`` a chunk (or, a stream that broke off, an error) as
    JSON, or the ``[DONE]`` that ends the stream."""
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "event": {"type": "string"},
            "data": {
                "anyOf": [
                    {"const": "[DONE]"},
                    {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {
                            "anyOf": [
                                refs[(model, "serialization")],
                                refs[(ErrorResponse, "serialization")],
                            ]
                        },
                    },
                ]
            },
        },
    }


def _operation(op: Endpoint[Any], refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(op.status): {
            "description": "Success.",
            "headers": {"Cache-Control": _NO_STORE_HEADER},
            "content": {
                "application/json": {"schema": refs[(op.response, "serialization")]},
                **(
                    {}
                    if op.event_stream is None
                    else {
                        # Before OpenAPI 3.2, `schema` describes each event of a stream.
                        "text/event-stream": {"schema": _event_schema(op.event_stream, refs)}
                    }
                ),
            },
        }
    }
    for status in sorted(op.error_statuses):
        headers: dict[str, Any] = {}
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
    security = _SECURITY[op.auth]
    operation: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "summary": op.summary,
        "security": [] if security is None else [{security: []}],
        "responses": responses,
    }
    description = " ".join(
        part for part in (op.description, "CORS-enabled." if op.cors else "") if part
    )
    if description:
        operation["description"] = description
    parameters = _parameters(op)
    if parameters:
        operation["parameters"] = parameters
    if op.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": refs[(op.request, "validation")]},
            },
        }
    return operation


@functools.cache
def _document_bytes(endpoints: tuple[Endpoint[Any], ...]) -> bytes:
    return json.dumps(openapi_document(endpoints), separators=(",", ":")).encode("utf-8")


@handles(GET_OPENAPI_DOCUMENT)
async def openapi_json(call: ApiCall) -> Response:
    return Response(_document_bytes(call.ctx.endpoints), media_type="application/json")
