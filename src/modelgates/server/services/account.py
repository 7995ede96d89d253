"""The account page's rules: a user sees, revokes and creates only their own keys.

Someone else's key, or a key already revoked, is NotFound: never a refusal that would confirm
that the key exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import TypeAdapter, ValidationError

from modelgates.models.base import MAX_KEY_LABEL_LENGTH, KeyLabel
from modelgates.models.keys import KeyRecord
from modelgates.server.services import apps, keys, secrets, sessions
from modelgates.server.services.errors import InvalidInput, NotFound
from modelgates.server.store import KeyRow, Store, Transaction

_KEY_LABEL: TypeAdapter[str] = TypeAdapter(KeyLabel)


@dataclass(frozen=True)
class KeyView:
    #: The key's public id (the SHA-256 of the key), never the key.
    hash: str
    record: KeyRecord
    #: The app holding the key (as this user is shown it), or None for the user's own keys.
    app: apps.NamedApp | None
    #: "active", "disabled" or "expired".
    status: str


@dataclass(frozen=True)
class AppAccess:
    app: apps.NamedApp
    #: How many of the user's unrevoked keys the app holds.
    keys: int


#: How far back the account page reports sign-ups attempted with the user's address.
SIGN_UP_ATTEMPTS_SHOWN = timedelta(days=30)


@dataclass(frozen=True)
class Overview:
    keys: list[KeyView]
    apps: list[AppAccess]
    #: When someone tried to sign up with this user's address (within SIGN_UP_ATTEMPTS_SHOWN),
    #: newest first: sign-up answers alike either way, so the owner is told here.
    sign_up_attempts: list[datetime] = field(default_factory=list)


async def overview(store: Store, user_id: str, now: datetime) -> Overview:
    """The user's unrevoked keys, newest first, and the apps that hold any of them."""

    def read(tx: Transaction) -> tuple[list[KeyRow], dict[int, apps.NamedApp], list[datetime]]:
        rows = [row for row in tx.keys.of_user(user_id) if row.revoked_at is None]
        app_ids = [row.app_id for row in rows if row.app_id is not None]
        claimed = tx.apps.claimed_titles(user_id, app_ids)
        found = tx.apps.by_ids(app_ids)
        held_by = {app_id: apps.named(app, claimed.get(app_id)) for app_id, app in found.items()}
        attempts = tx.audit.times_of(
            user_id, sessions.SIGN_UP_FOR_EXISTING_ACCOUNT, now - SIGN_UP_ATTEMPTS_SHOWN
        )
        return rows, held_by, attempts

    rows, held_by, attempts = await store.run(read)
    views = [
        KeyView(
            hash=row.hash,
            record=keys.record_of(row, now),
            app=held_by.get(row.app_id) if row.app_id is not None else None,
            status=_status(row, now),
        )
        for row in reversed(rows)
    ]
    counts: dict[int, int] = {}
    for row in rows:
        if row.app_id is not None:
            counts[row.app_id] = counts.get(row.app_id, 0) + 1
    access = [AppAccess(app=held_by[app_id], keys=n) for app_id, n in counts.items()]
    access.sort(key=lambda item: item.app.name.lower())
    return Overview(keys=views, apps=access, sign_up_attempts=attempts)


async def key_view(store: Store, user_id: str, key_hash: str, now: datetime) -> KeyView:
    """One of the user's unrevoked keys, as the account page lists it."""
    for view in (await overview(store, user_id, now)).keys:
        if view.hash == key_hash:
            return view
    raise NotFound("No such key.")


@dataclass(frozen=True)
class AppKeys:
    app: apps.NamedApp
    #: The user's unrevoked keys that the app holds, newest first.
    keys: list[KeyView]


async def app_keys(store: Store, user_id: str, app_id: int, now: datetime) -> AppKeys:
    """An app that holds keys of the user's, and those keys."""
    views = [
        view
        for view in (await overview(store, user_id, now)).keys
        if view.app is not None and view.app.id == app_id
    ]
    if not views:
        raise NotFound("No app of yours with that id holds a key.")
    app = views[0].app
    if app is None:  # the query keeps the keys an app holds
        raise RuntimeError("a key held by an app without its app")
    return AppKeys(app=app, keys=views)


def _status(row: KeyRow, now: datetime) -> str:
    if row.disabled:
        return "disabled"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


async def revoke_key(store: Store, user_id: str, key_hash: str, now: datetime) -> KeyRow:
    """Revoke one of the user's keys by its public id."""

    def revoke(tx: Transaction) -> KeyRow:
        row = tx.keys.by_hash(key_hash)
        if row is None or row.user_id != user_id or not tx.keys.revoke(row.id, now):
            raise NotFound("No such key.")
        tx.audit.record("key_deleted", now, user_id=user_id, key_hash=row.hash, detail="account")
        return row

    return await store.run(revoke)


async def revoke_app(store: Store, user_id: str, app_id: int, now: datetime) -> int:
    """Revoke every key of the user's that the app holds; how many."""

    def revoke(tx: Transaction) -> int:
        hashes = tx.keys.revoke_held_by_app(user_id, app_id, now)
        for revoked in hashes:
            tx.audit.record(
                "key_deleted",
                now,
                user_id=user_id,
                key_hash=revoked,
                app_id=app_id,
                detail="account",
            )
        return len(hashes)

    revoked = await store.run(revoke)
    if revoked == 0:
        raise NotFound("No app of yours with that id holds a key.")
    return revoked


async def create_management_key(
    store: Store, user_id: str, name: str, now: datetime
) -> keys.IssuedKey:
    """A management key of the user's own (shown once by the caller, then only its hash)."""
    name = name.strip()
    try:
        _KEY_LABEL.validate_python(name)  # the API's rule for a key's name
        valid = name.isprintable()  # and the page's own: what it lists must be readable
    except ValidationError:
        valid = False
    if not valid:
        raise InvalidInput("name", f"must be 1 to {MAX_KEY_LABEL_LENGTH} printable characters")
    key = secrets.new_api_key()
    return await store.run(
        lambda tx: keys.insert_new_key(
            tx, key=key, user_id=user_id, label=name, now=now, is_management=True
        )
    )
