"""The API key operations as standalone functions: ``(core, ...) -> Result``, never raising.

``get_current_key`` and ``revoke_current_key`` act on the calling key itself; the others are the
management API, for a management key, over its user's keys. A key is named by its ``hash`` (the
SHA-256 hex of the key, its public id), which is checked before anything is sent. ``create`` and
``update`` take ``request_body=`` (a dict or the model) or the body's fields as keywords, not
both; every function takes the per-call options of ``RequestOptions``.

Retries: reading, updating and deleting are safe to repeat and are retried by the client's policy.
``create`` is not (a retry after a lost answer could make a second key): it is retried only when
the request surely did not reach the server (a failure to connect) and on 429 and 503.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from modelgates.core import ModelGatesCore
from modelgates.funcs._common import RequestOptions, call, call_async
from modelgates.models import endpoints
from modelgates.models.base import UsageLimitType
from modelgates.models.keys import (
    CreateKeyRequest,
    CreateKeyResponse,
    DeleteKeyResponse,
    KeyListResponse,
    KeyRecordResponse,
    KeyResponse,
    UpdateKeyRequest,
)
from modelgates.result import Result

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "CreateKeyParams",
    "KeyParams",
    "ListKeysParams",
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
]


class ListKeysParams(RequestOptions, total=False):
    #: Skip this many keys (the server answers 100 a page).
    offset: int | None
    #: Include disabled keys (the server leaves them out by default).
    include_disabled: bool | None


class KeyParams(RequestOptions, total=True):
    #: The key's hash: the SHA-256 hex of the key, its public id.
    hash: str


class CreateKeyParams(RequestOptions, total=False):
    request_body: CreateKeyRequest | Mapping[str, Any] | None
    name: str | None
    limit: float | Decimal | None
    limit_reset: UsageLimitType | None
    expires_at: datetime | str | None


class UpdateKeyParams(KeyParams, total=False):
    """Only the fields given are sent: ``limit=None`` (or ``limit_reset=None``) removes it, while
    leaving ``limit`` out keeps the key's limit as it is."""

    request_body: UpdateKeyRequest | Mapping[str, Any] | None
    name: str
    disabled: bool
    limit: float | Decimal | None
    limit_reset: UsageLimitType | None


def api_keys_get_current_key(
    core: ModelGatesCore, **params: Unpack[RequestOptions]
) -> Result[KeyRecordResponse]:
    """``GET /key``: the calling key's own record (label, limit, usage, expiry, ...)."""
    return call(core, endpoints.GET_CURRENT_KEY, params)


async def api_keys_get_current_key_async(
    core: ModelGatesCore, **params: Unpack[RequestOptions]
) -> Result[KeyRecordResponse]:
    """The async twin of ``api_keys_get_current_key``."""
    return await call_async(core, endpoints.GET_CURRENT_KEY, params)


def api_keys_revoke_current_key(
    core: ModelGatesCore, **params: Unpack[RequestOptions]
) -> Result[DeleteKeyResponse]:
    """``DELETE /key``: the calling key revokes itself (an app signing out); every later call
    with it gets 401."""
    return call(core, endpoints.REVOKE_CURRENT_KEY, params)


async def api_keys_revoke_current_key_async(
    core: ModelGatesCore, **params: Unpack[RequestOptions]
) -> Result[DeleteKeyResponse]:
    """The async twin of ``api_keys_revoke_current_key``."""
    return await call_async(core, endpoints.REVOKE_CURRENT_KEY, params)


def api_keys_list(
    core: ModelGatesCore, **params: Unpack[ListKeysParams]
) -> Result[KeyListResponse]:
    """``GET /keys``: a page of the user's keys, from ``offset``; disabled ones only with
    ``include_disabled=True``."""
    return call(core, endpoints.LIST_KEYS, params)


async def api_keys_list_async(
    core: ModelGatesCore, **params: Unpack[ListKeysParams]
) -> Result[KeyListResponse]:
    """The async twin of ``api_keys_list``."""
    return await call_async(core, endpoints.LIST_KEYS, params)


def api_keys_create(
    core: ModelGatesCore, **params: Unpack[CreateKeyParams]
) -> Result[CreateKeyResponse]:
    """``POST /keys``: a new key for the user. ``.key`` is the key, shown this once; ``.data``
    its record, with its ``hash``.

    Retried only when the request surely did not reach the server (connection refused, connect
    timeout) and on 429 and 503: after a lost answer, a retry could make a second key. On any
    other failure, list the keys to see whether it was made.
    """
    return call(core, endpoints.CREATE_KEY, params)


async def api_keys_create_async(
    core: ModelGatesCore, **params: Unpack[CreateKeyParams]
) -> Result[CreateKeyResponse]:
    """The async twin of ``api_keys_create``."""
    return await call_async(core, endpoints.CREATE_KEY, params)


def api_keys_get(core: ModelGatesCore, **params: Unpack[KeyParams]) -> Result[KeyResponse]:
    """``GET /keys/{hash}``: one of the user's keys. Another user's key is not found (404)."""
    return call(core, endpoints.GET_KEY, params)


async def api_keys_get_async(
    core: ModelGatesCore, **params: Unpack[KeyParams]
) -> Result[KeyResponse]:
    """The async twin of ``api_keys_get``."""
    return await call_async(core, endpoints.GET_KEY, params)


def api_keys_update(core: ModelGatesCore, **params: Unpack[UpdateKeyParams]) -> Result[KeyResponse]:
    """``PATCH /keys/{hash}``: change a key's ``name``, ``disabled``, ``limit``, ``limit_reset``.

    Only the fields given are sent; ``limit=None`` removes the limit. A limit below the key's
    usage is allowed: the key then has nothing left.
    """
    return call(core, endpoints.UPDATE_KEY, params)


async def api_keys_update_async(
    core: ModelGatesCore, **params: Unpack[UpdateKeyParams]
) -> Result[KeyResponse]:
    """The async twin of ``api_keys_update``."""
    return await call_async(core, endpoints.UPDATE_KEY, params)


def api_keys_delete(core: ModelGatesCore, **params: Unpack[KeyParams]) -> Result[DeleteKeyResponse]:
    """``DELETE /keys/{hash}``: delete one of the user's keys; it gets 401 from then on."""
    return call(core, endpoints.DELETE_KEY, params)


async def api_keys_delete_async(
    core: ModelGatesCore, **params: Unpack[KeyParams]
) -> Result[DeleteKeyResponse]:
    """The async twin of ``api_keys_delete``."""
    return await call_async(core, endpoints.DELETE_KEY, params)
