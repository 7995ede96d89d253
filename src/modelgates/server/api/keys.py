"""Keys: ``/api/v1/key`` (the calling key itself) and ``/api/v1/keys`` (management)."""

from __future__ import annotations

from modelgates.models import endpoints
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
from modelgates.server.api.context import limit_rate
from modelgates.server.api.routing import ApiCall, handles
from modelgates.server.services import keys


@handles(endpoints.GET_CURRENT_KEY)
@handles(endpoints.GET_CURRENT_KEY_LEGACY)
async def current_key(call: ApiCall) -> KeyRecordResponse:
    return KeyRecordResponse(data=keys.record_of(call.caller, call.now))


@handles(endpoints.REVOKE_CURRENT_KEY)
async def revoke_current_key(call: ApiCall) -> DeleteKeyResponse:
    await keys.revoke_self(call.ctx.store, call.caller, call.now)
    return DeleteKeyResponse(deleted=True)


@handles(endpoints.LIST_KEYS)
async def list_keys(call: ApiCall) -> KeyListResponse:
    query = call.query(ListKeysQuery)
    data = await keys.list_managed(
        call.ctx.store,
        call.caller,
        offset=query.offset,
        include_disabled=query.include_disabled,
        now=call.now,
    )
    return KeyListResponse(data=data)


@handles(endpoints.CREATE_KEY)
async def create_key(call: ApiCall) -> CreateKeyResponse:
    ctx = call.ctx
    await limit_rate(ctx, ctx.settings.rate_limit_create_key, "create-key", call.caller.user_id)
    body = await call.body(CreateKeyRequest)
    secret, record = await keys.create_managed(call.ctx.store, call.caller, body, call.now)
    return CreateKeyResponse(data=record, key=secret)


@handles(endpoints.GET_KEY)
async def get_key(call: ApiCall) -> KeyResponse:
    key_hash = call.path(KeyPath).hash
    return KeyResponse(data=await keys.get_managed(call.ctx.store, call.caller, key_hash, call.now))


@handles(endpoints.UPDATE_KEY)
async def update_key(call: ApiCall) -> KeyResponse:
    body = await call.body(UpdateKeyRequest)
    key_hash = call.path(KeyPath).hash
    record = await keys.update_managed(call.ctx.store, call.caller, key_hash, body, call.now)
    return KeyResponse(data=record)


@handles(endpoints.DELETE_KEY)
async def delete_key(call: ApiCall) -> DeleteKeyResponse:
    key_hash = call.path(KeyPath).hash
    await keys.delete_managed(call.ctx.store, call.caller, key_hash, call.now)
    return DeleteKeyResponse(deleted=True)
