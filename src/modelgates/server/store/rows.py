"""What the store hands to the services: plain, immutable rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class UserRow:
    id: str
    email: str
    password_hash: str
    created_at: datetime


@dataclass(frozen=True)
class AppRow:
    id: int
    origin: str
    #: The name the operator gave the app, which every user sees; None until they do.
    operator_title: str | None
    categories: str
    created_at: datetime


@dataclass(frozen=True)
class KeyRow:
    id: int
    hash: str
    user_id: str
    app_id: int | None
    label: str
    is_management: bool
    limit_micros: int | None
    limit_reset: str | None
    usage_micros: int
    day_index: int
    day_micros: int
    week_index: int
    week_micros: int
    month_index: int
    month_micros: int
    expires_at: datetime | None
    created_at: datetime
    disabled: bool
    revoked_at: datetime | None
    held_micros: int

    def is_live(self, now: datetime) -> bool:
        """Not disabled, not revoked and not expired at ``now``."""
        return (
            not self.disabled
            and self.revoked_at is None
            and (self.expires_at is None or self.expires_at > now)
        )


@dataclass(frozen=True)
class CodeRow:
    id: int
    code_hash: str
    user_id: str
    app_id: int
    callback_url: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    limit_micros: int | None
    usage_limit_type: str | None
    key_label: str | None
    key_expires_at: datetime | None
    created_at: datetime
    expires_at: datetime
    failed_attempts: int
    spent_at: datetime | None
    key_id: int | None
    sealed_key: bytes | None


@dataclass(frozen=True)
class ChargeRow:
    id: int
    request_id: str
    key_id: int
    amount_micros: int
    usage_after_micros: int
    remaining_after_micros: int | None
    created_at: datetime


@dataclass(frozen=True)
class GenerationRow:
    id: str
    key_id: int
    user_id: str
    app_id: int | None
    referer_origin: str | None
    model: str
    streamed: bool
    held_micros: int
    held_prompt_micros: int
    created_at: datetime
    settled_at: datetime | None
    status: str
    tokens_prompt: int
    tokens_completion: int
    cost_micros: int
    charged_micros: int
    usage_estimated: bool
    provider_status: int | None


@dataclass(frozen=True)
class DailyChargeRow:
    """What one key's completions of one UTC day were charged."""

    day: date
    key_id: int
    app_id: int | None
    charged_micros: int
    completions: int


@dataclass(frozen=True)
class ServiceTokenRow:
    id: int
    token_hash: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IdempotencyRow:
    id: int
    user_id: str
    key_hash: str
    fingerprint: str
    sealed_response: bytes | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AuditRow:
    id: int
    created_at: datetime
    event: str
    user_id: str | None
    key_hash: str | None
    app_id: int | None
    code_id: int | None
    client_address: str | None
    detail: str | None
