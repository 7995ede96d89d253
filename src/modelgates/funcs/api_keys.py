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

from modelgates.core import ModelGatesCore, Operation
from modelgates.errors import ModelGatesError, RequestValidationError
from modelgates.funcs._common import RequestOptions, key_path, parse_body, parse_options
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
from modelgates.result import Err, Ok, Result

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "CREATE_KEY",
    "DELETE_KEY",
    "GET_CURRENT_KEY",
    "GET_KEY",
    "LIST_KEYS",
    "REVOKE_CURRENT_KEY",
    "UPDATE_KEY",
    "CreateKeyParams",
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

GET_CURRENT_KEY = Operation("getCurrentKey", "GET", "/key", KeyRecordResponse)
REVOKE_CURRENT_KEY = Operation("revokeCurrentKey", "DELETE", "/key", DeleteKeyResponse)
LIST_KEYS = Operation("listKeys", "GET", "/keys", KeyListResponse)
# Not safe to retry: the server cannot tell a retried create from a second one.
CREATE_KEY = Operation("createKey", "POST", "/keys", CreateKeyResponse, safe_to_retry=False)
GET_KEY = Operation("getKey", "GET", "/keys/{hash}", KeyResponse)
UPDATE_KEY = Operation("updateKey", "PATCH", "/keys/{hash}", KeyResponse, partial_body=True)
DELETE_KEY = Operation("deleteKey", "DELETE", "/keys/{hash}", DeleteKeyResponse)


class ListKeysParams(RequestOptions, total=False):
    #: Skip this many keys (the server answers 100 a page).
    offset: int | None
    #: Include disabled keys (the server leaves them out by default).
    include_disabled: bool | None


class CreateKeyParams(RequestOptions, total=False):
    request_body: CreateKeyRequest | Mapping[str, Any] | None
    name: str | None
    limit: float | Decimal | None
    limit_reset: UsageLimitType | None
    expires_at: datetime | str | None


class UpdateKeyParams(RequestOptions, total=False):
    """Only the fields given are sent: ``limit=None`` (or ``limit_reset=None``) removes it, while
    leaving ``limit`` out keeps the key's limit as it is."""

    request_body: UpdateKeyRequest | Mapping[str, Any] | None
    name: str
    disabled: bool
    limit: float | Decimal | None
    limit_reset: UsageLimitType | None


_LIST_QUERY = frozenset(ListKeysParams.__optional_keys__) - frozenset(
    RequestOptions.__optional_keys__
)


def api_keys_get_current_key(
    core: ModelGatesCore, **params: Unpack[RequestOptions]
) -> Result[KeyRecordResponse]:
    """``GET /key``: the calling key's own record (label, limit, usage, expiry, ...)."""
    try:
        options = parse_options(params)
        return Ok(core.send(GET_CURRENT_KEY, None, options))
    except ModelGatesError as error:
        return Err(error)


async def api_keys_get_current_key_async(
    core: ModelGatesCore, **params: Unpack[RequestOptions]
) -> Result[KeyRecordResponse]:
    """The async twin of ``api_keys_get_current_key``."""
    try:
        options = parse_options(params)
        return Ok(await core.send_async(GET_CURRENT_KEY, None, options))
    except ModelGatesError as error:
        return Err(error)


def api_keys_revoke_current_key(
    core: ModelGatesCore, **params: Unpack[RequestOptions]
) -> Result[DeleteKeyResponse]:
    """``DELETE /key``: the calling key revokes itself (an app signing out); every later call
    with it gets 401."""
    try:
        options = parse_options(params)
        return Ok(core.send(REVOKE_CURRENT_KEY, None, options))
    except ModelGatesError as error:
        return Err(error)


async def api_keys_revoke_current_key_async(
    core: ModelGatesCore, **params: Unpack[RequestOptions]
) -> Result[DeleteKeyResponse]:
    """The async twin of ``api_keys_revoke_current_key``."""
    try:
        options = parse_options(params)
        return Ok(await core.send_async(REVOKE_CURRENT_KEY, None, options))
    except ModelGatesError as error:
        return Err(error)


def api_keys_list(
    core: ModelGatesCore, **params: Unpack[ListKeysParams]
) -> Result[KeyListResponse]:
    """``GET /keys``: a page of the user's keys, from ``offset``; disabled ones only with
    ``include_disabled=True``."""
    try:
        options = parse_options(params, _LIST_QUERY)
        return Ok(core.send(LIST_KEYS, None, options, query=_list_query(params)))
    except ModelGatesError as error:
        return Err(error)


async def api_keys_list_async(
    core: ModelGatesCore, **params: Unpack[ListKeysParams]
) -> Result[KeyListResponse]:
    """The async twin of ``api_keys_list``."""
    try:
        options = parse_options(params, _LIST_QUERY)
        query = _list_query(params)
        return Ok(await core.send_async(LIST_KEYS, None, options, query=query))
    except ModelGatesError as error:
        return Err(error)


def api_keys_create(
    core: ModelGatesCore, **params: Unpack[CreateKeyParams]
) -> Result[CreateKeyResponse]:
    """``POST /keys``: a new key for the user. ``.key`` is the key, shown this once; ``.data``
    its record, with its ``hash``.

    Retried only when the request surely did not reach the server (connection refused, connect
    timeout) and on 429 and 503: after a lost answer, a retry could make a second key. On any
    other failure, list the keys to see whether it was made.
    """
    try:
        body, options = parse_body(CreateKeyRequest, params)
        return Ok(core.send(CREATE_KEY, body, options))
    except ModelGatesError as error:
        return Err(error)


async def api_keys_create_async(
    core: ModelGatesCore, **params: Unpack[CreateKeyParams]
) -> Result[CreateKeyResponse]:
    """The async twin of ``api_keys_create``."""
    try:
        body, options = parse_body(CreateKeyRequest, params)
        return Ok(await core.send_async(CREATE_KEY, body, options))
    except ModelGatesError as error:
        return Err(error)


def api_keys_get(
    core: ModelGatesCore, *, hash: str, **params: Unpack[RequestOptions]
) -> Result[KeyResponse]:
    """``GET /keys/{hash}``: one of the user's keys. Another user's key is not found (404)."""
    try:
        path, options = key_path(hash), parse_options(params)
        return Ok(core.send(GET_KEY, None, options, path_params=path))
    except ModelGatesError as error:
        return Err(error)


async def api_keys_get_async(
    core: ModelGatesCore, *, hash: str, **params: Unpack[RequestOptions]
) -> Result[KeyResponse]:
    """The async twin of ``api_keys_get``."""
    try:
        path, options = key_path(hash), parse_options(params)
        return Ok(await core.send_async(GET_KEY, None, options, path_params=path))
    except ModelGatesError as error:
        return Err(error)


def api_keys_update(
    core: ModelGatesCore, *, hash: str, **params: Unpack[UpdateKeyParams]
) -> Result[KeyResponse]:
    """``PATCH /keys/{hash}``: change a key's ``name``, ``disabled``, ``limit``, ``limit_reset``.

    Only the fields given are sent; ``limit=None`` removes the limit. A limit below the key's
    usage is allowed: the key then has nothing left.
    """
    try:
        path = key_path(hash)
        body, options = parse_body(UpdateKeyRequest, params, partial=True)
        return Ok(core.send(UPDATE_KEY, body, options, path_params=path))
    except ModelGatesError as error:
        return Err(error)


async def api_keys_update_async(
    core: ModelGatesCore, *, hash: str, **params: Unpack[UpdateKeyParams]
) -> Result[KeyResponse]:
    """The async twin of ``api_keys_update``."""
    try:
        path = key_path(hash)
        body, options = parse_body(UpdateKeyRequest, params, partial=True)
        return Ok(await core.send_async(UPDATE_KEY, body, options, path_params=path))
    except ModelGatesError as error:
        return Err(error)


def api_keys_delete(
    core: ModelGatesCore, *, hash: str, **params: Unpack[RequestOptions]
) -> Result[DeleteKeyResponse]:
    """``DELETE /keys/{hash}``: delete one of the user's keys; it gets 401 from then on."""
    try:
        path, options = key_path(hash), parse_options(params)
        return Ok(core.send(DELETE_KEY, None, options, path_params=path))
    except ModelGatesError as error:
        return Err(error)


async def api_keys_delete_async(
    core: ModelGatesCore, *, hash: str, **params: Unpack[RequestOptions]
) -> Result[DeleteKeyResponse]:
    """The async twin of ``api_keys_delete``."""
    try:
        path, options = key_path(hash), parse_options(params)
        return Ok(await core.send_async(DELETE_KEY, None, options, path_params=path))
    except ModelGatesError as error:
        return Err(error)


def _list_query(params: Mapping[str, Any]) -> dict[str, str]:
    query: dict[str, str] = {}
    offset = params.get("offset")
    if offset is not None:
        # bool is an int to Python, never an offset to a caller.
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise RequestValidationError.single("offset", "must be a whole number, at least 0")
        query["offset"] = str(offset)
    include_disabled = params.get("include_disabled")
    if include_disabled is not None:
        if not isinstance(include_disabled, bool):
            raise RequestValidationError.single("include_disabled", "must be True or False")
        query["include_disabled"] = "true" if include_disabled else "false"
    return query
