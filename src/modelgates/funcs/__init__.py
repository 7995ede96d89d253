"""Standalone operations, ``(core, ...) -> Result``: the class methods of ``ModelGates`` wrap these.

They never raise for API, network or validation errors; the error is in ``Result.error``.
"""

from modelgates.funcs._common import RequestOptions
from modelgates.funcs.api_keys import (
    CreateKeyParams,
    ListKeysParams,
    UpdateKeyParams,
    api_keys_create,
    api_keys_create_async,
    api_keys_delete,
    api_keys_delete_async,
    api_keys_get,
    api_keys_get_async,
    api_keys_get_current_key,
    api_keys_get_current_key_async,
    api_keys_list,
    api_keys_list_async,
    api_keys_revoke_current_key,
    api_keys_revoke_current_key_async,
    api_keys_update,
    api_keys_update_async,
)
from modelgates.funcs.chat import chat_send, chat_send_async
from modelgates.funcs.generations import (
    GenerationParams,
    generations_get,
    generations_get_async,
)
from modelgates.funcs.models import models_list, models_list_async
from modelgates.funcs.o_auth import (
    CreateAuthCodeParams,
    ExchangeAuthCodeParams,
    o_auth_create_auth_code,
    o_auth_create_auth_code_async,
    o_auth_exchange_auth_code_for_api_key,
    o_auth_exchange_auth_code_for_api_key_async,
)
from modelgates.funcs.usage import RecordUsageParams, usage_record, usage_record_async

__all__ = [
    "CreateAuthCodeParams",
    "CreateKeyParams",
    "ExchangeAuthCodeParams",
    "GenerationParams",
    "ListKeysParams",
    "RecordUsageParams",
    "RequestOptions",
    "UpdateKeyParams",
    "api_keys_create",
    "api_keys_create_async",
    "api_keys_delete",
    "api_keys_delete_async",
    "api_keys_get",
    "api_keys_get_async",
    "api_keys_get_current_key",
    "api_keys_get_current_key_async",
    "api_keys_list",
    "api_keys_list_async",
    "api_keys_revoke_current_key",
    "api_keys_revoke_current_key_async",
    "api_keys_update",
    "api_keys_update_async",
    "chat_send",
    "chat_send_async",
    "generations_get",
    "generations_get_async",
    "models_list",
    "models_list_async",
    "o_auth_create_auth_code",
    "o_auth_create_auth_code_async",
    "o_auth_exchange_auth_code_for_api_key",
    "o_auth_exchange_auth_code_for_api_key_async",
    "usage_record",
    "usage_record_async",
]
