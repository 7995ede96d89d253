"""The schema. Alembic's migrations create it; a test checks that the two agree."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database.

    SQLite has no time zones; storing naive UTC everywhere makes comparisons in SQL mean the same
    thing on both databases.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a timestamp column gave a {type(value).__name__}")
        return value.replace(tzinfo=timezone.utc)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

apps = Table(
    "apps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # scheme://host[:port], lower-cased, default port omitted: the app's identity.
    Column("origin", String(2048), nullable=False, unique=True),
    # The name every user is shown, set by the operator only (`modelgates apps title`); NULL
    # until then. A title an app claims through a key is in app_titles, for that key's owner.
    Column("operator_title", String(100), nullable=True),
    Column("categories", String(500), nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
)

app_titles = Table(
    "app_titles",
    metadata,
    # What an app called itself (X-ModelGates-Title) in calls made with a key of this user's:
    # shown to this user alone, so no one names an app for anyone else.
    Column("app_id", Integer, ForeignKey("apps.id"), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id"), primary_key=True),
    Column("title", String(100), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # SHA-256 hex of the key: its public id. The key itself is never stored.
    Column("hash", String(64), nullable=False, unique=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False, index=True),
    # Set exactly when the key was issued to an app through OAuth.
    Column("app_id", Integer, ForeignKey("apps.id"), nullable=True),
    Column("label", String(100), nullable=False),
    Column("is_management", Boolean, nullable=False, default=False),
    # Money in integer micro-dollars, so that sums are exact.
    Column("limit_micros", BigInteger, nullable=True),
    Column("limit_reset", String(10), nullable=True),
    Column("usage_micros", BigInteger, nullable=False, default=0),
    # Usage in the current UTC day, ISO week and month; *_index names the period the counter
    # belongs to (days since 1970-01-01, Monday-based weeks since then, months since year 0), so
    # one UPDATE can roll a window over and charge it atomically.
    Column("day_index", Integer, nullable=False, default=0),
    Column("day_micros", BigInteger, nullable=False, default=0),
    Column("week_index", Integer, nullable=False, default=0),
    Column("week_micros", BigInteger, nullable=False, default=0),
    Column("month_index", Integer, nullable=False, default=0),
    Column("month_micros", BigInteger, nullable=False, default=0),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    # The sum of the gateway's open holds on this key: what its requests in flight may still
    # cost. The limit bounds the window's usage plus this, so no race can overdraw it.
    Column("held_micros", BigInteger, nullable=False, default=0),
)

auth_codes = Table(
    "auth_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # SHA-256 hex of the code; the code itself is never stored.
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False),
    Column("app_id", Integer, ForeignKey("apps.id"), nullable=False),
    Column("callback_url", String(2048), nullable=True),
    Column("code_challenge", String(128), nullable=True),
    Column("code_challenge_method", String(5), nullable=True),
    # The challenge while the code can still be spent, else NULL: its uniqueness per user is what
    # answers 409 to a second pending code with the same challenge, race-free on any database.
    Column("pending_challenge", String(128), nullable=True),
    Column("limit_micros", BigInteger, nullable=True),
    Column("usage_limit_type", String(10), nullable=True),
    Column("key_label", String(100), nullable=True),
    Column("key_expires_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("spent_at", UTCDateTime(), nullable=True),
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=True),
    # The issued key, AES-GCM encrypted under a secret derived from the S256 verifier, kept only
    # while the code would be alive so that a retried exchange gets the same key.
    Column("sealed_key", LargeBinary, nullable=True),
    UniqueConstraint("user_id", "pending_challenge", name="uq_auth_codes_pending_challenge"),
)

# The codes the sweeper has to visit: those still holding a sealed key or a pending challenge.
_holding_secrets = auth_codes.c.sealed_key.is_not(None) | auth_codes.c.pending_challenge.is_not(
    None
)
Index(
    "ix_auth_codes_holding_secrets",
    auth_codes.c.expires_at,
    sqlite_where=_holding_secrets,
    postgresql_where=_holding_secrets,
)

usage_charges = Table(
    "usage_charges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The gateway's id for the charged request: a second charge with it is answered, not applied.
    Column("request_id", String(200), nullable=False, unique=True),
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=False, index=True),
    Column("amount_micros", BigInteger, nullable=False),
    # What the first answer said, so that a repeated request_id is answered the same way.
    Column("usage_after_micros", BigInteger, nullable=False),
    Column("remaining_after_micros", BigInteger, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

generations = Table(
    "generations",
    metadata,
    # The id the gateway gave the answer (``gen-…``), which GET /api/v1/generation takes.
    Column("id", String(40), primary_key=True),
    Column("key_id", Integer, ForeignKey("api_keys.id"), nullable=False, index=True),
    Column("user_id", String(40), nullable=False),
    Column("app_id", Integer, nullable=True),
    # The origin of the caller's HTTP-Referer, when it sent a usable one.
    Column("referer_origin", String(2048), nullable=True),
    Column("model", String(200), nullable=False),
    Column("streamed", Boolean, nullable=False),
    # What was held before forwarding, and the part of it for the prompt (what a hold whose
    # process died is charged).
    Column("held_micros", BigInteger, nullable=False),
    Column("held_prompt_micros", BigInteger, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # Set once, by whichever settles it first: the process that served it, or the sweeper.
    Column("settled_at", UTCDateTime(), nullable=True),
    Column("status", String(20), nullable=False),
    Column("tokens_prompt", Integer, nullable=False, default=0),
    Column("tokens_completion", Integer, nullable=False, default=0),
    # The tokens at the model's prices, and what the key was charged (never more than held).
    Column("cost_micros", BigInteger, nullable=False, default=0),
    Column("charged_micros", BigInteger, nullable=False, default=0),
    Column("usage_estimated", Boolean, nullable=False, default=False),
    Column("provider_status", Integer, nullable=True),
)
Index("ix_generations_user_id_created_at", generations.c.user_id, generations.c.created_at)
# The holds the sweeper looks at: those not settled yet.
_unsettled = generations.c.settled_at.is_(None)
Index(
    "ix_generations_unsettled",
    generations.c.created_at,
    sqlite_where=_unsettled,
    postgresql_where=_unsettled,
)

service_tokens = Table(
    "service_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # SHA-256 hex of the session cookie's value; the value itself is never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False),
    # SHA-256 hex of the client's Idempotency-Key, and of the request it came with.
    Column("key_hash", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    # The answer, AES-GCM encrypted under the server's secret (it holds a code).
    Column("sealed_response", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    UniqueConstraint("user_id", "key_hash", name="uq_idempotency_records_user_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Column("event", String(40), nullable=False),
    Column("user_id", String(40), nullable=True),
    # Public ids only: a key's hash, an app's id, a code's row id. Never a secret.
    Column("key_hash", String(64), nullable=True),
    Column("app_id", Integer, nullable=True),
    Column("code_id", Integer, nullable=True),
    Column("client_address", String(64), nullable=True),
    Column("detail", String(500), nullable=True),
)
