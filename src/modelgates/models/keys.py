"""API keys: the record ``GET /api/v1/key`` shows, and the management API's bodies."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StrictBool, WithJsonSchema

from modelgates.models.base import (
    KeyLabel,
    Money,
    PathModel,
    QueryFlag,
    QueryModel,
    QueryNumber,
    RequestModel,
    ResponseModel,
    Timestamp,
    UsageLimitType,
    Usd,
)

_KEY_HASH = re.compile(r"[0-9a-f]{64}")


def check_key_hash(value: str) -> str:
    if _KEY_HASH.fullmatch(value) is None:
        raise ValueError("must be the key's hash: 64 lowercase hexadecimal characters")
    return value


#: A key's public id: the SHA-256 hex of the key.
KeyHash = Annotated[
    str,
    AfterValidator(check_key_hash),
    WithJsonSchema({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
]


class KeyPath(PathModel):
    """``/keys/{hash}``: a key is named by its hash, its public id."""

    hash: KeyHash = Field(description="The key's public id: the SHA-256 hex of the key.")


class ListKeysQuery(QueryModel):
    """The query of ``GET /api/v1/keys``."""

    offset: QueryNumber = Field(
        0, description="How many keys to skip (pages hold 100 keys, oldest first)."
    )
    include_disabled: QueryFlag = Field(False, description="Whether disabled keys are listed too.")


class KeyRecord(ResponseModel):
    """A key as its holder sees it (``GET /api/v1/key``).

    ``limit_remaining`` is what is left in the current reset window (``null`` without a limit);
    the ``usage_*`` figures are the current UTC day, ISO week (from Monday) and month.
    """

    label: str
    limit: Usd | None
    limit_remaining: Usd | None
    limit_reset: UsageLimitType | None
    usage: Usd
    usage_daily: Usd
    usage_weekly: Usd
    usage_monthly: Usd
    expires_at: Timestamp | None
    created_at: Timestamp
    is_management_key: bool
    app_id: int | None
    creator_user_id: str


class KeyRecordResponse(ResponseModel):
    data: KeyRecord


class ManagedKey(KeyRecord):
    """A key as its user's management key sees it (``/api/v1/keys``)."""

    hash: str
    name: str
    disabled: bool


class KeyListResponse(ResponseModel):
    data: list[ManagedKey]


class KeyResponse(ResponseModel):
    data: ManagedKey


class CreateKeyRequest(RequestModel):
    """Body of ``POST /api/v1/keys``."""

    name: KeyLabel
    limit: Money | None = None
    limit_reset: UsageLimitType | None = None
    expires_at: Timestamp | None = None


class CreateKeyResponse(ResponseModel):
    data: ManagedKey
    # The new key, shown this once; kept out of repr so that printing the response hides it.
    key: str = Field(repr=False)


class UpdateKeyRequest(RequestModel):
    """Body of ``PATCH /api/v1/keys/{hash}``: only the fields present change; ``limit`` and
    ``limit_reset`` may be ``null`` to remove them."""

    name: KeyLabel | None = None
    disabled: StrictBool | None = None
    limit: Money | None = None
    limit_reset: UsageLimitType | None = None


class DeleteKeyResponse(ResponseModel):
    deleted: bool
