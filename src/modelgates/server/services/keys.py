"""API keys: issuing (the secret shown once, its hash stored), authenticating, revoking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from modelgates.models.keys import KeyRecord
from modelgates.server.services import money, secrets
from modelgates.server.services.errors import InvalidInput, NotFound, Unauthenticated
from modelgates.server.store import KeyRow, Store, Transaction


@dataclass(frozen=True)
class IssuedKey:
    #: The secret, to be shown exactly once.
    key: str
    row: KeyRow


async def insert_new_key(
    tx: Transaction,
    *,
    user_id: str,
    label: str,
    now: datetime,
    app_id: int | None = None,
    is_management: bool = False,
    limit_micros: int | None = None,
    limit_reset: str | None = None,
    expires_at: datetime | None = None,
) -> IssuedKey:
    key = secrets.new_api_key()
    row = await tx.insert_key(
        hash=secrets.sha256_hex(key),
        user_id=user_id,
        app_id=app_id,
        label=label,
        is_management=is_management,
        limit_micros=limit_micros,
        limit_reset=limit_reset,
        usage_micros=0,
        day_index=0,
        day_micros=0,
        week_index=0,
        week_micros=0,
        month_index=0,
        month_micros=0,
        expires_at=expires_at,
        created_at=now,
        disabled=False,
        revoked_at=None,
    )
    return IssuedKey(key=key, row=row)


async def create_key_for_user(
    store: Store,
    *,
    email: str,
    name: str,
    now: datetime,
    is_management: bool = False,
    limit: Decimal | None = None,
) -> IssuedKey:
    """A key an operator makes for a user (the CLI's ``keys create``)."""
    if not 1 <= len(name) <= 100:
        raise InvalidInput("name", "must be 1 to 100 characters")
    if limit is not None and not (limit.is_finite() and limit >= 0):
        raise InvalidInput("limit", "must be a number ≥ 0")
    async with store.begin() as tx:
        user = await tx.user_by_email(email.strip().lower())
        if user is None:
            raise NotFound(f"no user with e-mail {email}")
        return await insert_new_key(
            tx,
            user_id=user.id,
            label=name,
            now=now,
            is_management=is_management,
            limit_micros=None if limit is None else money.to_micros(limit),
        )


async def authenticate(store: Store, authorization: str | None, now: datetime) -> KeyRow:
    """The live key named by an ``Authorization: Bearer`` header, else Unauthenticated."""
    if not authorization:
        raise Unauthenticated("Missing Authorization header: send 'Authorization: Bearer <key>'.")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not secrets.looks_like_api_key(token):
        raise Unauthenticated("The API key is missing or malformed.")
    async with store.begin() as tx:
        row = await tx.key_by_hash(secrets.sha256_hex(token))
    if row is None or not row.is_live(now):
        raise Unauthenticated("The API key is unknown, revoked, disabled or expired.")
    return row


def record_of(row: KeyRow) -> KeyRecord:
    """The key as ``GET /api/v1/key`` shows it.

    Usage is what the key has been charged; windowed usage arrives with metering, and until then
    nothing charges a key, so every window equals the total (zero).
    """
    usage = money.to_usd(row.usage_micros)
    limit = None if row.limit_micros is None else money.to_usd(row.limit_micros)
    remaining = (
        None
        if row.limit_micros is None
        else money.to_usd(max(row.limit_micros - row.usage_micros, 0))
    )
    return KeyRecord(
        label=row.label,
        limit=limit,
        limit_remaining=remaining,
        limit_reset=row.limit_reset,
        usage=usage,
        usage_daily=usage,
        usage_weekly=usage,
        usage_monthly=usage,
        expires_at=row.expires_at,
        created_at=row.created_at,
        is_management_key=row.is_management,
        app_id=row.app_id,
        creator_user_id=row.user_id,
    )


async def list_keys(store: Store, email: str) -> list[KeyRow]:
    async with store.begin() as tx:
        user = await tx.user_by_email(email.strip().lower())
        if user is None:
            raise NotFound(f"no user with e-mail {email}")
        return list(await tx.keys_of_user(user.id))


async def revoke_by_hash(store: Store, key_hash: str, now: datetime) -> bool:
    """Revoke a key by its public id; False when it was already revoked."""
    async with store.begin() as tx:
        row = await tx.key_by_hash(key_hash.strip().lower())
        if row is None:
            raise NotFound("no key with that hash")
        return await tx.revoke_key(row.id, now)
