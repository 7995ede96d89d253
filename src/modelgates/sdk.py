"""``ModelGates``: the client most applications use, with its API grouped in namespaces.

Namespaces are thin: each method calls the standalone function of the same name in
``modelgates.funcs`` and raises the error of its ``Result``. They are built on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from modelgates.core import Closing, ModelGatesCore, site_root
from modelgates.errors import RequestValidationError
from modelgates.retries import RetryConfig

# The operations, the models (with httpx and pydantic) and pkce are imported by each method on its
# first call: making a client and reaching a namespace must not pay for them.
if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    import httpx
    from typing_extensions import Unpack

    from modelgates.funcs._common import RequestOptions
    from modelgates.funcs.api_keys import CreateKeyParams, ListKeysParams, UpdateKeyParams
    from modelgates.funcs.o_auth import CreateAuthCodeParams, ExchangeAuthCodeParams
    from modelgates.funcs.usage import RecordUsageParams
    from modelgates.models import (
        CreateAuthCodeResponse,
        CreateKeyResponse,
        DeleteKeyResponse,
        ExchangeAuthCodeResponse,
        KeyListResponse,
        KeyRecordResponse,
        KeyResponse,
        RecordUsageResponse,
    )

__all__ = ["ApiKeys", "CodeChallenge", "ModelGates", "OAuth", "Usage"]


@dataclass(frozen=True)
class CodeChallenge:
    """A PKCE pair: send ``code_challenge`` with the authorization request, keep ``code_verifier``
    secret until the exchange."""

    code_challenge: str
    code_verifier: str = field(repr=False)


class OAuth:
    """The PKCE flow: build the consent URL, exchange its code for a key, or create a code."""

    def __init__(self, core: ModelGatesCore) -> None:
        self._core = core

    def exchange_auth_code_for_api_key(
        self, **params: Unpack[ExchangeAuthCodeParams]
    ) -> ExchangeAuthCodeResponse:
        """``POST /auth/keys``: exchange an authorization code for the user's new API key.

        Pass ``request_body={"code": ..., "code_verifier": ..., "code_challenge_method": ...}``
        or the same fields as keywords. Returns ``.key`` and ``.user_id``.
        """
        from modelgates.funcs.o_auth import o_auth_exchange_auth_code_for_api_key

        return o_auth_exchange_auth_code_for_api_key(self._core, **params).unwrap()

    async def exchange_auth_code_for_api_key_async(
        self, **params: Unpack[ExchangeAuthCodeParams]
    ) -> ExchangeAuthCodeResponse:
        """The async twin of ``exchange_auth_code_for_api_key``."""
        from modelgates.funcs.o_auth import o_auth_exchange_auth_code_for_api_key_async

        result = await o_auth_exchange_auth_code_for_api_key_async(self._core, **params)
        return result.unwrap()

    def create_auth_code(self, **params: Unpack[CreateAuthCodeParams]) -> CreateAuthCodeResponse:
        """``POST /auth/keys/code``: create a code with the user's own key, skipping the browser.

        Pass ``request_body={"callback_url": ..., "code_challenge": ..., ...}`` or the same
        fields as keywords. Returns ``.data.id`` (the code), ``.data.app_id``, ``.data.created_at``.
        """
        from modelgates.funcs.o_auth import o_auth_create_auth_code

        return o_auth_create_auth_code(self._core, **params).unwrap()

    async def create_auth_code_async(
        self, **params: Unpack[CreateAuthCodeParams]
    ) -> CreateAuthCodeResponse:
        """The async twin of ``create_auth_code``."""
        from modelgates.funcs.o_auth import o_auth_create_auth_code_async

        return (await o_auth_create_auth_code_async(self._core, **params)).unwrap()

    def create_authorization_url(
        self,
        callback_url: str,
        code_challenge: str | None = None,
        code_challenge_method: Literal["S256", "plain"] | None = None,
        limit: float | Decimal | None = None,
        state: str | None = None,
        key_label: str | None = None,
        expires_at: datetime | str | None = None,
        usage_limit_type: Literal["daily", "weekly", "monthly"] | None = None,
    ) -> str:
        """The consent page to send the user to: ``/auth`` on the configured server's site.

        The parameters obey the rules of ``create_auth_code`` and are checked here, so that a bad
        callback URL fails at once rather than on the server's error page. ``state`` is echoed
        back to the callback. A ``server_url`` ending in ``/api/v1`` has the page beside it (a
        server under a path prefix keeps the prefix); any other ``server_url`` uses its origin.
        """
        from pydantic import ValidationError

        from modelgates.models import CreateAuthCodeRequest

        fields: dict[str, Any] = {
            "callback_url": callback_url,
            "code_challenge": code_challenge,
            "code_challenge_method": code_challenge_method,
            "limit": limit,
            "key_label": key_label,
            "expires_at": expires_at,
            "usage_limit_type": usage_limit_type,
        }
        try:
            request = CreateAuthCodeRequest.model_validate(
                {name: value for name, value in fields.items() if value is not None}
            )
        except ValidationError as exc:
            raise RequestValidationError.from_pydantic(exc, "authorization request") from exc
        dumped = request.model_dump(mode="json", exclude_none=True)
        query = {name: dumped[name] for name in fields if name in dumped}  # in the order above
        if request.limit is not None:
            # The JSON form of a limit is a float ("100.0"); a URL reads better with "100".
            query["limit"] = format(request.limit.normalize(), "f")
        if state is not None:
            query["state"] = state
        return f"{site_root(self._core.server_url)}/auth?{urlencode(query)}"

    @staticmethod
    def create_sha256_code_challenge(code_verifier: str | None = None) -> CodeChallenge:
        """A PKCE pair with method S256. Without ``code_verifier``, a fresh random one is made.

        A given verifier must follow RFC 7636 §4.1 (43 to 128 characters of
        ``[A-Za-z0-9-._~]``), else ``RequestValidationError``, a ``ValueError``.
        """
        from modelgates import pkce

        if code_verifier is None:
            code_verifier = pkce.create_verifier()
        elif not pkce.is_valid_verifier(code_verifier):
            raise RequestValidationError.single(
                "code_verifier", "must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636)"
            )
        return CodeChallenge(pkce.s256_challenge(code_verifier), code_verifier)


class ApiKeys:
    """API keys: the calling key's own record and self-revocation, and the management API over
    the user's keys (for a management key). A key is named by its ``hash``, its public id.

    Reading, updating and deleting are retried as the client's retry policy says. ``create`` is
    retried only when the request surely did not reach the server (a failure to connect) and on
    429 and 503, since a retry after a lost answer could make a second key.
    """

    def __init__(self, core: ModelGatesCore) -> None:
        self._core = core

    def get_current_key(self, **options: Unpack[RequestOptions]) -> KeyRecordResponse:
        """``GET /key``: the calling key's record: ``.data.label``, ``.data.limit``,
        ``.data.limit_remaining``, ``.data.usage``, ``.data.expires_at``, ..."""
        from modelgates.funcs.api_keys import api_keys_get_current_key

        return api_keys_get_current_key(self._core, **options).unwrap()

    async def get_current_key_async(self, **options: Unpack[RequestOptions]) -> KeyRecordResponse:
        """The async twin of ``get_current_key``."""
        from modelgates.funcs.api_keys import api_keys_get_current_key_async

        return (await api_keys_get_current_key_async(self._core, **options)).unwrap()

    def revoke_current_key(self, **options: Unpack[RequestOptions]) -> DeleteKeyResponse:
        """``DELETE /key``: the calling key revokes itself (signing out); ``.deleted`` is true."""
        from modelgates.funcs.api_keys import api_keys_revoke_current_key

        return api_keys_revoke_current_key(self._core, **options).unwrap()

    async def revoke_current_key_async(
        self, **options: Unpack[RequestOptions]
    ) -> DeleteKeyResponse:
        """The async twin of ``revoke_current_key``."""
        from modelgates.funcs.api_keys import api_keys_revoke_current_key_async

        return (await api_keys_revoke_current_key_async(self._core, **options)).unwrap()

    def list(self, **params: Unpack[ListKeysParams]) -> KeyListResponse:
        """``GET /keys``: a page (100) of the user's keys in ``.data``, from ``offset``;
        disabled keys only with ``include_disabled=True``."""
        from modelgates.funcs.api_keys import api_keys_list

        return api_keys_list(self._core, **params).unwrap()

    async def list_async(self, **params: Unpack[ListKeysParams]) -> KeyListResponse:
        """The async twin of ``list``."""
        from modelgates.funcs.api_keys import api_keys_list_async

        return (await api_keys_list_async(self._core, **params)).unwrap()

    def create(self, **params: Unpack[CreateKeyParams]) -> CreateKeyResponse:
        """``POST /keys``: a new key. Pass ``request_body={"name": ..., "limit": ...,
        "limit_reset": ..., "expires_at": ...}`` or the same fields as keywords.

        Returns ``.key`` (the key, shown this once; keep it) and ``.data`` (its record, with
        ``.data.hash``). Not retried after the request may have reached the server: on a
        connection lost mid-call, ``list()`` the keys to see whether it was made.
        """
        from modelgates.funcs.api_keys import api_keys_create

        return api_keys_create(self._core, **params).unwrap()

    async def create_async(self, **params: Unpack[CreateKeyParams]) -> CreateKeyResponse:
        """The async twin of ``create``."""
        from modelgates.funcs.api_keys import api_keys_create_async

        return (await api_keys_create_async(self._core, **params)).unwrap()

    def get(self, *, hash: str, **options: Unpack[RequestOptions]) -> KeyResponse:
        """``GET /keys/{hash}``: one of the user's keys, in ``.data``."""
        from modelgates.funcs.api_keys import api_keys_get

        return api_keys_get(self._core, hash=hash, **options).unwrap()

    async def get_async(self, *, hash: str, **options: Unpack[RequestOptions]) -> KeyResponse:
        """The async twin of ``get``."""
        from modelgates.funcs.api_keys import api_keys_get_async

        return (await api_keys_get_async(self._core, hash=hash, **options)).unwrap()

    def update(self, *, hash: str, **params: Unpack[UpdateKeyParams]) -> KeyResponse:
        """``PATCH /keys/{hash}``: change ``name``, ``disabled``, ``limit`` or ``limit_reset``
        (keywords, or ``request_body=``). Only what is given is sent: ``limit=None`` removes the
        limit, leaving ``limit`` out keeps it."""
        from modelgates.funcs.api_keys import api_keys_update

        return api_keys_update(self._core, hash=hash, **params).unwrap()

    async def update_async(self, *, hash: str, **params: Unpack[UpdateKeyParams]) -> KeyResponse:
        """The async twin of ``update``."""
        from modelgates.funcs.api_keys import api_keys_update_async

        return (await api_keys_update_async(self._core, hash=hash, **params)).unwrap()

    def delete(self, *, hash: str, **options: Unpack[RequestOptions]) -> DeleteKeyResponse:
        """``DELETE /keys/{hash}``: delete one of the user's keys; ``.deleted`` is true."""
        from modelgates.funcs.api_keys import api_keys_delete

        return api_keys_delete(self._core, hash=hash, **options).unwrap()

    async def delete_async(
        self, *, hash: str, **options: Unpack[RequestOptions]
    ) -> DeleteKeyResponse:
        """The async twin of ``delete``."""
        from modelgates.funcs.api_keys import api_keys_delete_async

        return (await api_keys_delete_async(self._core, hash=hash, **options)).unwrap()


class Usage:
    """Metering, for a model gateway whose client ``api_key`` is its service token."""

    def __init__(self, core: ModelGatesCore) -> None:
        self._core = core

    def record(self, **params: Unpack[RecordUsageParams]) -> RecordUsageResponse:
        """``POST /usage``: charge ``amount`` USD (a ``Decimal`` keeps it exact) to the key with
        ``key_hash``, once per ``request_id``. Pass the fields as keywords or ``request_body=``.

        Returns ``.data`` (the key's ``usage`` and ``limit_remaining`` after the charge). A charge
        the key cannot take raises ``PaymentRequiredResponseError`` (402; an unknown key
        ``NotFoundResponseError``). Retrying is safe: the same ``request_id`` is charged once.
        """
        from modelgates.funcs.usage import usage_record

        return usage_record(self._core, **params).unwrap()

    async def record_async(self, **params: Unpack[RecordUsageParams]) -> RecordUsageResponse:
        """The async twin of ``record``."""
        from modelgates.funcs.usage import usage_record_async

        return (await usage_record_async(self._core, **params)).unwrap()


class ModelGates(Closing):
    """The ModelGates API client. Takes the options of ``ModelGatesCore``; its ``core`` is
    shared with the standalone functions of ``modelgates.funcs``.

    Use it as a context manager (``with`` or ``async with``) to close the HTTP clients it made.
    """

    def __init__(
        self,
        api_key: str = "",
        *,
        http_referer: str | None = None,
        app_title: str | None = None,
        app_categories: str | Sequence[str] | None = None,
        server_url: str | None = None,
        retry_config: RetryConfig | None = None,
        timeout_ms: float | None = None,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        debug: bool | None = None,
        debug_logger: logging.Logger | None = None,
    ) -> None:
        self.core = ModelGatesCore(
            api_key,
            http_referer=http_referer,
            app_title=app_title,
            app_categories=app_categories,
            server_url=server_url,
            retry_config=retry_config,
            timeout_ms=timeout_ms,
            client=client,
            async_client=async_client,
            debug=debug,
            debug_logger=debug_logger,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(server_url={self.core.server_url!r})"

    @cached_property
    def o_auth(self) -> OAuth:
        return OAuth(self.core)

    @cached_property
    def api_keys(self) -> ApiKeys:
        return ApiKeys(self.core)

    @cached_property
    def usage(self) -> Usage:
        return Usage(self.core)

    def close(self) -> None:
        self.core.close()

    async def aclose(self) -> None:
        await self.core.aclose()
