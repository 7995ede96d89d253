"""Metering: the model gateway charging a key (``POST /api/v1/usage``)."""

from __future__ import annotations

from typing import Annotated

from modelgates.models.base import PositiveMoney, RequestModel, ResponseModel, Text, Timestamp, Usd
from modelgates.models.keys import KeyHash


class RecordUsageRequest(RequestModel):
    """Charge ``amount`` USD to the key with ``key_hash``, once per ``request_id``."""

    key_hash: KeyHash
    amount: PositiveMoney
    request_id: Annotated[str, Text(200)]


class UsageCharge(ResponseModel):
    request_id: str
    key_hash: str
    amount: Usd
    #: The key's total usage, and what was left in its window, right after this charge.
    usage: Usd
    limit_remaining: Usd | None
    created_at: Timestamp


class RecordUsageResponse(ResponseModel):
    data: UsageCharge
