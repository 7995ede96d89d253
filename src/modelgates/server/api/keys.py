"""Keys: ``/api/v1/key`` (the calling key itself) and ``/api/v1/keys`` (management)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelgates.models.keys import (
    CreateKeyRequest,
    CreateKeyResponse,
    DeleteKeyResponse,
    KeyListResponse,
    KeyRecordResponse,
    KeyResponse,
    UpdateKeyRequest,
)
from modelgates.server.api.bodies import BodyRejected, invalid_fields, read_model
from modelgates.server.api.context import AppContext, context_of
from modelgates.server.api.responses import ModelResponse
from modelgates.server.services import keys
from modelgates.server.store import KeyRow


async def _caller(request: Request) -> tuple[AppContext, KeyRow]:
    ctx = context_of(request)
    row = await keys.authenticate(ctx.store, request.headers.get("authorization"), ctx.now())
    return ctx, row


async def current_key(request: Request) -> Response:
    ctx, row = await _caller(request)
    return ModelResponse(KeyRecordResponse(data=keys.record_of(row, ctx.now())))


async def revoke_current_key(request: Request) -> Response:
    ctx, row = await _caller(request)
    await keys.revoke_self(ctx.store, row, ctx.now())
    return ModelResponse(DeleteKeyResponse(deleted=True))


async def _manager(request: Request) -> tuple[AppContext, KeyRow]:
    ctx, row = await _caller(request)
    keys.require_management(row)
    return ctx, row


async def list_keys(request: Request) -> Response:
    ctx, caller = await _manager(request)
    offset = _offset(request.query_params.get("offset"))
    include_disabled = _flag(request.query_params.get("include_disabled"), "include_disabled")
    data = await keys.list_managed(
        ctx.store, caller, offset=offset, include_disabled=include_disabled, now=ctx.now()
    )
    return ModelResponse(KeyListResponse(data=data))


async def create_key(request: Request) -> Response:
    ctx, caller = await _manager(request)
    body = await read_model(request, CreateKeyRequest, ctx.settings.max_body_bytes)
    secret, record = await keys.create_managed(ctx.store, caller, body, ctx.now())
    return ModelResponse(CreateKeyResponse(data=record, key=secret), status_code=201)


async def get_key(request: Request) -> Response:
    ctx, caller = await _manager(request)
    record = await keys.get_managed(ctx.store, caller, request.path_params["hash"], ctx.now())
    return ModelResponse(KeyResponse(data=record))


async def update_key(request: Request) -> Response:
    ctx, caller = await _manager(request)
    body = await read_model(request, UpdateKeyRequest, ctx.settings.max_body_bytes)
    record = await keys.update_managed(
        ctx.store, caller, request.path_params["hash"], body, ctx.now()
    )
    return ModelResponse(KeyResponse(data=record))


async def delete_key(request: Request) -> Response:
    ctx, caller = await _manager(request)
    await keys.delete_managed(ctx.store, caller, request.path_params["hash"], ctx.now())
    return ModelResponse(DeleteKeyResponse(deleted=True))


def _offset(raw: str | None) -> int:
    if raw is None:
        return 0
    # isascii(): str.isdigit() also admits "²" (which int() refuses) and other scripts' digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise _bad_query("offset", "must be a whole number ≥ 0")
    return int(raw)


def _flag(raw: str | None, name: str) -> bool:
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise _bad_query(name, "must be true or false")
    return raw.lower() == "true"


def _bad_query(field: str, message: str) -> BodyRejected:
    return invalid_fields([{"field": field, "message": message}])
