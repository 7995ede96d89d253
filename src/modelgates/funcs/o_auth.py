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

from modelgates.core import ModelGatesCore, Operation
from modelgates.errors import ModelGatesError
from modelgates.funcs._common import RequestOptions, parse_body
from modelgates.models import (
    CreateAuthCodeRequest,
    CreateAuthCodeResponse,
    ExchangeAuthCodeRequest,
    ExchangeAuthCodeResponse,
)
from modelgates.result import Err, Ok, Result

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "CREATE_AUTH_CODE",
    "EXCHANGE_AUTH_CODE_FOR_API_KEY",
    "CreateAuthCodeParams",
    "ExchangeAuthCodeParams",
    "RequestOptions",
    "o_auth_create_auth_code",
    "o_auth_create_auth_code_async",
    "o_auth_exchange_auth_code_for_api_key",
    "o_auth_exchange_auth_code_for_api_key_async",
]

EXCHANGE_AUTH_CODE_FOR_API_KEY = Operation(
    "exchangeAuthCodeForAPIKey", "POST", "/auth/keys", ExchangeAuthCodeResponse
)
# The Idempotency-Key makes a retried create return the first code rather than a second one.
CREATE_AUTH_CODE = Operation(
    "createAuthCode", "POST", "/auth/keys/code", CreateAuthCodeResponse, idempotency_key=True
)

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
    try:
        body, options = parse_body(ExchangeAuthCodeRequest, params)
        return Ok(core.send(EXCHANGE_AUTH_CODE_FOR_API_KEY, body, options))
    except ModelGatesError as error:
        return Err(error)


async def o_auth_exchange_auth_code_for_api_key_async(
    core: ModelGatesCore, **params: Unpack[ExchangeAuthCodeParams]
) -> Result[ExchangeAuthCodeResponse]:
    """The async twin of ``o_auth_exchange_auth_code_for_api_key``."""
    try:
        body, options = parse_body(ExchangeAuthCodeRequest, params)
        return Ok(await core.send_async(EXCHANGE_AUTH_CODE_FOR_API_KEY, body, options))
    except ModelGatesError as error:
        return Err(error)


def o_auth_create_auth_code(
    core: ModelGatesCore, **params: Unpack[CreateAuthCodeParams]
) -> Result[CreateAuthCodeResponse]:
    """``POST /auth/keys/code``: create a code directly with the user's own key (no browser)."""
    try:
        body, options = parse_body(CreateAuthCodeRequest, params)
        return Ok(core.send(CREATE_AUTH_CODE, body, options))
    except ModelGatesError as error:
        return Err(error)


async def o_auth_create_auth_code_async(
    core: ModelGatesCore, **params: Unpack[CreateAuthCodeParams]
) -> Result[CreateAuthCodeResponse]:
    """The async twin of ``o_auth_create_auth_code``."""
    try:
        body, options = parse_body(CreateAuthCodeRequest, params)
        return Ok(await core.send_async(CREATE_AUTH_CODE, body, options))
    except ModelGatesError as error:
        return Err(error)
