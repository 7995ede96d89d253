"""Metering: the model gateway charges a key, through a service token.

A charge is applied at most once per ``request_id`` (the gateway may retry safely) and only if
the key is live and the amount fits what its limit leaves in the current window; the check and
the addition are one UPDATE (``tx.usage.charge_key``), so concurrent charges can neither
overdraw a key nor lose an addition.
"""

from __future__ import annotations

from datetime import datetime

from modelgates.models.usage import RecordUsageRequest, UsageCharge
from modelgates.server.services import money, secrets, windows
from modelgates.server.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PaymentRequired,
    Unauthenticated,
)
from modelgates.server.store import ChargeRow, DuplicateError, ServiceTokenRow, Store, Transaction


async def create_service_token(store: Store, name: str, now: datetime) -> str:
    """A new operator credential for ``POST /api/v1/usage``; only its hash is stored."""
    if not 1 <= len(name) <= 100:
        raise InvalidInput("name", "must be 1 to 100 characters")
    token = secrets.new_service_token()
    token_hash = secrets.sha256_hex(token)
    await store.run(
        lambda tx: tx.service_tokens.insert(token_hash=token_hash, name=name, created_at=now)
    )
    return token


async def authenticate_service(store: Store, authorization: str | None) -> ServiceTokenRow:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not secrets.looks_like_service_token(token):
        raise Unauthenticated("Metering needs a service token: 'Authorization: Bearer mg-svc-…'.")
    token_hash = secrets.sha256_hex(token)
    row = await store.run(lambda tx: tx.service_tokens.by_hash(token_hash))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("The service token is unknown or revoked.")
    return row


async def record(store: Store, request: RecordUsageRequest, now: datetime) -> UsageCharge:
    """Charge a key once per request_id; PaymentRequired when it is not live or the charge does
    not fit, NotFound for an unknown key, Conflict when the request_id was used for another
    charge."""
    amount = money.to_micros(request.amount)
    periods = windows.periods_at(now)

    def charge(tx: Transaction) -> UsageCharge:
        key = tx.keys.by_hash(request.key_hash)
        if key is None:
            raise NotFound("No key with that hash.")
        try:
            # The request_id is claimed first: a concurrent duplicate waits here and then finds
            # the first charge, instead of charging the key twice.
            tx.usage.insert_charge(
                request_id=request.request_id,
                key_id=key.id,
                amount_micros=amount,
                created_at=now,
            )
        except DuplicateError:
            first = tx.usage.charge_by_request_id(request.request_id)
            if first is None:  # the unique violation said it is there, in this transaction
                raise RuntimeError("a duplicate request_id without its charge") from None
            if first.key_id != key.id or first.amount_micros != amount:
                raise Conflict(
                    "This request_id was already used for a different charge.",
                    {"field": "request_id"},
                ) from None
            return _answer(first, request.key_hash)
        charged = tx.usage.charge_key(key.id, amount, now, periods.day, periods.week, periods.month)
        if charged is None:
            # Raising rolls the transaction back, and the request_id's claim with it.
            usage = windows.usage_of(key, now)
            live = key.is_live(now)
            raise PaymentRequired(
                "The charge exceeds what the key's limit allows."
                if live
                else "The key is disabled, revoked or expired.",
                {
                    "reason": "limit_exceeded" if live else "key_inactive",
                    # Metadata is plain JSON: a number, as in the answers' models.
                    "limit_remaining": None
                    if usage.remaining is None
                    else float(money.to_usd(usage.remaining)),
                },
            )
        after = windows.usage_of(charged, now)
        recorded = tx.usage.settle_charge(
            request.request_id,
            usage_after_micros=after.total,
            remaining_after_micros=after.remaining,
        )
        return _answer(recorded, request.key_hash)

    return await store.run(charge)


def _answer(charge: ChargeRow, key_hash: str) -> UsageCharge:
    return UsageCharge(
        request_id=charge.request_id,
        key_hash=key_hash,
        amount=money.to_usd(charge.amount_micros),
        usage=money.to_usd(charge.usage_after_micros),
        limit_remaining=None
        if charge.remaining_after_micros is None
        else money.to_usd(charge.remaining_after_micros),
        created_at=charge.created_at,
    )
