"""API keys: issuing (the secret shown once, its hash stored), authenticating, revoking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelgates.models.keys import (
    CreateKeyRequest,
    KeyRecord,
    ManagedKey,
    UpdateKeyRequest,
)
from modelgates.server.services import money, secrets, windows
from modelgates.server.services.errors import (
    InvalidInput,
    NotFound,
    NotPermitted,
    Unauthenticated,
)
from modelgates.server.store import KeyChanges, KeyRow, Store, Transaction


@dataclass(frozen=True)
class IssuedKey:
    #: The secret, to be shown exactly once.
    key: str
    row: KeyRow


def insert_new_key(
    tx: Transaction,
    *,
    key: str,
    user_id: str,
    label: str,
    now: datetime,
    app_id: int | None = None,
    is_management: bool = False,
    limit_micros: int | None = None,
    limit_reset: str | None = None,
    expires_at: datetime | None = None,
) -> IssuedKey:
    """Insert ``key``, a new secret (:func:`.secrets.new_api_key`) made before the transaction,
    which may run twice (:meth:`.Store.run`)."""
    row = tx.keys.insert(
        key_hash=secrets.sha256_hex(key),
        user_id=user_id,
        app_id=app_id,
        label=label,
        is_management=is_management,
        limit_micros=limit_micros,
        limit_reset=limit_reset,
        expires_at=expires_at,
        created_at=now,
    )
    return IssuedKey(key=key, row=row)


async def create_key_for_user(
    store: Store,
    *,
    email: str,
    request: CreateKeyRequest,
    now: datetime,
    is_management: bool = False,
) -> IssuedKey:
    """A key an operator makes for a user (the CLI's ``keys create``): the management API's
    request, so the API's rules (the wire model's) hold for it too."""
    _check_future(request.expires_at, now)
    key = secrets.new_api_key()

    def create(tx: Transaction) -> IssuedKey:
        user = tx.users.by_email(email.strip().lower())
        if user is None:
            raise NotFound(f"no user with e-mail {email}")
        return insert_new_key(
            tx,
            key=key,
            user_id=user.id,
            label=request.name,
            now=now,
            is_management=is_management,
            limit_micros=None if request.limit is None else money.to_micros(request.limit),
            limit_reset=request.limit_reset,
            expires_at=request.expires_at,
        )

    return await store.run(create)


@dataclass(frozen=True)
class Credential:
    """A well-formed ``Authorization: Bearer`` key, not looked up yet: by its hash."""

    key_hash: str


def credential_of(authorization: str | None) -> Credential:
    """The key an ``Authorization`` header names, else Unauthenticated (missing, malformed)."""
    if not authorization:
        raise Unauthenticated("Missing Authorization header: send 'Authorization: Bearer <key>'.")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not secrets.looks_like_api_key(token):
        raise Unauthenticated("The API key is missing or malformed.")
    return Credential(secrets.sha256_hex(token))


def live_key(tx: Transaction, credential: Credential, now: datetime) -> KeyRow:
    """The live key of ``credential``, read in ``tx``; else Unauthenticated."""
    row = tx.keys.by_hash(credential.key_hash)
    if row is None or not row.is_live(now):
        raise Unauthenticated("The API key is unknown, revoked, disabled or expired.")
    return row


async def authenticate(store: Store, credential: Credential, now: datetime) -> KeyRow:
    """The live key of ``credential``, in a transaction of its own; else Unauthenticated."""
    return await store.run(lambda tx: live_key(tx, credential, now))


def record_of(row: KeyRow, now: datetime) -> KeyRecord:
    """The key as its holder sees it (``GET /api/v1/key``)."""
    return KeyRecord(**_record_fields(row, now))


def managed_of(row: KeyRow, now: datetime) -> ManagedKey:
    """The key as its user's management key sees it (``/api/v1/keys``)."""
    return ManagedKey(
        **_record_fields(row, now), hash=row.hash, name=row.label, disabled=row.disabled
    )


def _record_fields(row: KeyRow, now: datetime) -> dict[str, Any]:
    usage = windows.usage_of(row, now)
    return {
        "label": row.label,
        "limit": None if row.limit_micros is None else money.to_usd(row.limit_micros),
        "limit_remaining": None if usage.remaining is None else money.to_usd(usage.remaining),
        "limit_reset": row.limit_reset,
        "usage": money.to_usd(usage.total),
        "usage_daily": money.to_usd(usage.daily),
        "usage_weekly": money.to_usd(usage.weekly),
        "usage_monthly": money.to_usd(usage.monthly),
        "expires_at": row.expires_at,
        "created_at": row.created_at,
        "is_management_key": row.is_management,
        "app_id": row.app_id,
        "creator_user_id": row.user_id,
    }


async def revoke_self(store: Store, row: KeyRow, now: datetime) -> None:
    """A key revokes itself (an app signing out)."""

    def revoke(tx: Transaction) -> None:
        if tx.keys.revoke(row.id, now):
            tx.audit.record(
                "key_deleted", now, user_id=row.user_id, key_hash=row.hash, detail="self"
            )

    await store.run(revoke)


# --- the management API: a user's management key over that user's keys ----------------------

PAGE_SIZE = 100


def require_management(caller: KeyRow) -> None:
    if not caller.is_management:
        raise NotPermitted("Only a management key may manage keys.")


async def list_managed(
    store: Store, caller: KeyRow, *, offset: int, include_disabled: bool, now: datetime
) -> list[ManagedKey]:
    rows = await store.run(
        lambda tx: tx.keys.page_of_user(
            caller.user_id, offset=offset, limit=PAGE_SIZE, include_disabled=include_disabled
        )
    )
    return [managed_of(row, now) for row in rows]


async def create_managed(
    store: Store, caller: KeyRow, request: CreateKeyRequest, now: datetime
) -> tuple[str, ManagedKey]:
    """A new key for the caller's user: the secret (shown once) and its record."""
    _check_future(request.expires_at, now)
    key = secrets.new_api_key()
    issued = await store.run(
        lambda tx: insert_new_key(
            tx,
            key=key,
            user_id=caller.user_id,
            label=request.name,
            now=now,
            limit_micros=None if request.limit is None else money.to_micros(request.limit),
            limit_reset=request.limit_reset,
            expires_at=request.expires_at,
        )
    )
    return issued.key, managed_of(issued.row, now)


async def get_managed(store: Store, caller: KeyRow, key_hash: str, now: datetime) -> ManagedKey:
    row = await store.run(lambda tx: _owned(tx, caller, key_hash))
    return managed_of(row, now)


async def update_managed(
    store: Store, caller: KeyRow, key_hash: str, request: UpdateKeyRequest, now: datetime
) -> ManagedKey:
    """Change what the request names. A limit below the usage already made is allowed: the key
    simply has nothing left until its window resets."""
    changes: KeyChanges = {}
    given = request.model_fields_set
    if "name" in given:
        if request.name is None:
            raise InvalidInput("name", "cannot be null")
        changes["label"] = request.name
    if "disabled" in given:
        if request.disabled is None:
            raise InvalidInput("disabled", "cannot be null")
        changes["disabled"] = request.disabled
    if "limit" in given:
        changes["limit_micros"] = None if request.limit is None else money.to_micros(request.limit)
    if "limit_reset" in given:
        changes["limit_reset"] = request.limit_reset

    def update(tx: Transaction) -> KeyRow:
        row = _owned(tx, caller, key_hash)
        if not changes:
            return row
        updated = tx.keys.update(row.id, **changes)
        if updated is None:  # _owned found it unrevoked in this transaction
            raise RuntimeError("a key vanished inside its transaction")
        return updated

    return managed_of(await store.run(update), now)


async def delete_managed(store: Store, caller: KeyRow, key_hash: str, now: datetime) -> None:
    """Delete (revoke) one of the caller's user's keys. Deleting it again answers the same, so a
    client whose first answer was lost may retry; another user's key is NotFound either way."""

    def delete(tx: Transaction) -> None:
        row = tx.keys.by_hash(key_hash)
        if row is None or row.user_id != caller.user_id:
            raise NotFound("No such key.")
        if tx.keys.revoke(row.id, now):
            tx.audit.record(
                "key_deleted", now, user_id=row.user_id, key_hash=row.hash, detail="management"
            )

    await store.run(delete)


def _owned(tx: Transaction, caller: KeyRow, key_hash: str) -> KeyRow:
    """The caller's user's unrevoked key with this hash. Anything else, including another user's
    key, is NotFound: never 403, which would confirm that the key exists."""
    row = tx.keys.by_hash(key_hash)
    if row is None or row.user_id != caller.user_id or row.revoked_at is not None:
        raise NotFound("No such key.")
    return row


def _check_future(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at", "must be in the future")


async def list_keys(store: Store, email: str) -> list[KeyRow]:

    def find(tx: Transaction) -> list[KeyRow]:
        user = tx.users.by_email(email.strip().lower())
        if user is None:
            raise NotFound(f"no user with e-mail {email}")
        return list(tx.keys.of_user(user.id))

    return await store.run(find)


async def set_disabled(store: Store, key_hash: str, disabled: bool) -> None:
    """Disable or enable a key by its public id (the CLI's ``keys disable|enable``)."""

    def change(tx: Transaction) -> None:
        row = tx.keys.by_hash(key_hash.strip().lower())
        if row is None or row.revoked_at is not None:
            raise NotFound("no such key (or it was revoked)")
        tx.keys.update(row.id, disabled=disabled)

    await store.run(change)


async def revoke_by_hash(store: Store, key_hash: str, now: datetime) -> bool:
    """Revoke a key by its public id; False when it was already revoked."""

    def revoke(tx: Transaction) -> bool:
        row = tx.keys.by_hash(key_hash.strip().lower())
        if row is None:
            raise NotFound("no key with that hash")
        revoked = tx.keys.revoke(row.id, now)
        if revoked:
            tx.audit.record(
                "key_deleted", now, user_id=row.user_id, key_hash=row.hash, detail="operator"
            )
        return revoked

    return await store.run(revoke)


async def owner_of(store: Store, key_hash: str) -> tuple[KeyRow, str]:
    """A key by its public id, with its owner's e-mail: how the CLI names the key it changed
    (an operator knows users by e-mail, not by their internal id)."""

    def find(tx: Transaction) -> tuple[KeyRow, str]:
        row = tx.keys.by_hash(key_hash.strip().lower())
        if row is None:
            raise NotFound("no key with that hash")
        user = tx.users.by_id(row.user_id)
        if user is None:  # the foreign key forbids it
            raise NotFound("the key's owner is missing")
        return row, user.email

    return await store.run(find)
