"""The record of an API key, as ``GET /api/v1/key`` shows it."""

from __future__ import annotations

from modelgates.models.base import ResponseModel, Timestamp, UsageLimitType


class KeyRecord(ResponseModel):
    label: str
    limit: float | None
    limit_remaining: float | None
    limit_reset: UsageLimitType | None
    usage: float
    usage_daily: float
    usage_weekly: float
    usage_monthly: float
    expires_at: Timestamp | None
    created_at: Timestamp
    is_management_key: bool
    app_id: int | None
    creator_user_id: str


class KeyRecordResponse(ResponseModel):
    data: KeyRecord
