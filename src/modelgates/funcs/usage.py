"""Usage metering as standalone functions: ``(core, ...) -> Result``, never raising.

For a model gateway charging the keys it serves: the client's ``api_key`` is then the gateway's
service token, not a user's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from modelgates.core import ModelGatesCore
from modelgates.funcs._common import RequestOptions, call, call_async
from modelgates.models.endpoints import RECORD_USAGE
from modelgates.models.usage import RecordUsageRequest, RecordUsageResponse
from modelgates.result import Result

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["RecordUsageParams", "usage_record", "usage_record_async"]


class RecordUsageParams(RequestOptions, total=False):
    request_body: RecordUsageRequest | Mapping[str, Any] | None
    #: The hash of the key to charge (its public id, 64 lowercase hex characters).
    key_hash: str | None
    #: USD, more than 0, at most 6 decimal places; a ``Decimal`` keeps it exact.
    amount: Decimal | float | None
    #: The gateway's id for the request being charged: the same id is charged once.
    request_id: str | None


def usage_record(
    core: ModelGatesCore, **params: Unpack[RecordUsageParams]
) -> Result[RecordUsageResponse]:
    """``POST /usage``: charge ``amount`` USD to the key with ``key_hash``, once per
    ``request_id``.

    A charge the key cannot take (it does not fit what is left of the limit, or the key is
    disabled, revoked or expired) is ``PaymentRequiredResponseError`` (402), whose
    ``data.metadata`` holds ``reason`` and ``limit_remaining``; an unknown ``key_hash`` is
    ``NotFoundResponseError`` (404); a ``request_id`` already used for a different charge is
    ``ConflictResponseError`` (409). Retrying is safe: the same ``request_id`` is charged once,
    and a repeat gets the first answer.
    """
    return call(core, RECORD_USAGE, params)


async def usage_record_async(
    core: ModelGatesCore, **params: Unpack[RecordUsageParams]
) -> Result[RecordUsageResponse]:
    """The async twin of ``usage_record``."""
    return await call_async(core, RECORD_USAGE, params)
