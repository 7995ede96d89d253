"""Standalone operations, ``(core, ...) -> Result``: the class methods of ``ModelGates`` wrap these.

They never raise for API, network or validation errors; the error is in ``Result.error``.
"""

from modelgates.funcs.o_auth import (
    CreateAuthCodeParams,
    ExchangeAuthCodeParams,
    RequestOptions,
    o_auth_create_auth_code,
    o_auth_create_auth_code_async,
    o_auth_exchange_auth_code_for_api_key,
    o_auth_exchange_auth_code_for_api_key_async,
)

__all__ = [
    "CreateAuthCodeParams",
    "ExchangeAuthCodeParams",
    "RequestOptions",
    "o_auth_create_auth_code",
    "o_auth_create_auth_code_async",
    "o_auth_exchange_auth_code_for_api_key",
    "o_auth_exchange_auth_code_for_api_key_async",
]
