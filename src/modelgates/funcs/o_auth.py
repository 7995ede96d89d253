"""The OAuth operations as standalone functions: ``(core, ...) -> Result``, never raising.

Each accepts the seed's request-object form, ``request_body=`` (a dict or the model), or the flat
form, the body's fields as keywords; mixing the two is a ``RequestValidationError``. Both take the
per-call options of ``RequestOptions``. Bodies are checked with the same models the server
validates with, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from modelgates.core import ModelGatesCore
from modelgates.funcs._common import RequestOptions, call, call_async
from modelgates.models import (
    CreateAuthCodeRequest,
    CreateAuthCodeResponse,
    ExchangeAuthCodeRequest,
    ExchangeAuthCodeResponse,
)
from modelgates.models.endpoints import CREATE_AUTH_CODE, EXCHANGE_AUTH_CODE
from modelgates.result import Result

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "CreateAuthCodeParams",
    "ExchangeAuthCodeParams",
    "RequestOptions",
    "o_auth_create_auth_code",
    "o_auth_create_auth_code_async",
    "o_auth_exchange_auth_code_for_api_key",
    "o_auth_exchange_auth_code_for_api_key_async",
]

ChallengeMethod = Literal["S256", "plain"]


class ExchangeAuthCodeParams(RequestOptions, total=False):
    request_body: ExchangeAuthCodeRequest | Mapping[str, Any] | None
    code: str | None
    code_verifier: str | None
    code_challenge_method: ChallengeMethod | None


class CreateAuthCodeParams(RequestOptions, total=False):
    request_body: CreateAuthCodeRequest | Mapping[str, Any] | None
    callback_url: str | None
    code_challenge: str | None
    code_challenge_method: ChallengeMethod | None
    limit: float | Decimal | None
    expires_at: datetime | str | None
    key_label: str | None
    usage_limit_type: Literal["daily", "weekly", "monthly"] | None


def o_auth_exchange_auth_code_for_api_key(
    core: ModelGatesCore, **params: Unpack[ExchangeAuthCodeParams]
) -> Result[ExchangeAuthCodeResponse]:
    """``POST /auth/keys``: exchange a code (and its PKCE verifier) for the user's new API key."""
    return call(core, EXCHANGE_AUTH_CODE, params)


async def o_auth_exchange_auth_code_for_api_key_async(
    core: ModelGatesCore, **params: Unpack[ExchangeAuthCodeParams]
) -> Result[ExchangeAuthCodeResponse]:
    """The async twin of ``o_auth_exchange_auth_code_for_api_key``."""
    return await call_async(core, EXCHANGE_AUTH_CODE, params)


def o_auth_create_auth_code(
    core: ModelGatesCore, **params: Unpack[CreateAuthCodeParams]
) -> Result[CreateAuthCodeResponse]:
    """``POST /auth/keys/code``: create a code directly with the user's own key (no browser).
    Each call sends a fresh ``Idempotency-Key``, the same on its retries, so that a retried
    create returns the first code rather than a second one."""
    return call(core, CREATE_AUTH_CODE, params)


async def o_auth_create_auth_code_async(
    core: ModelGatesCore, **params: Unpack[CreateAuthCodeParams]
) -> Result[CreateAuthCodeResponse]:
    """The async twin of ``o_auth_create_auth_code``."""
    return await call_async(core, CREATE_AUTH_CODE, params)
