"""Users and their passwords (argon2id through argon2-cffi)."""

from __future__ import annotations

import re
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from modelgates.server.services import secrets
from modelgates.server.services.errors import Conflict, InvalidInput
from modelgates.server.store import DuplicateError, Store, UserRow

MIN_PASSWORD_LENGTH = 8
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]+")
_hasher = PasswordHasher()


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    if len(normalized) > 320 or _EMAIL.fullmatch(normalized) is None:
        raise InvalidInput("email", "is not an e-mail address")
    return normalized


async def create_user(store: Store, email: str, password: str, now: datetime) -> UserRow:
    email = normalize_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    user = UserRow(
        id=secrets.new_user_id(),
        email=email,
        password_hash=_hasher.hash(password),
        created_at=now,
    )
    try:
        await store.run(lambda tx: tx.users.insert(user))
    except DuplicateError:
        raise Conflict(f"a user with e-mail {email} exists already") from None
    return user


async def find_user(store: Store, email: str) -> UserRow | None:
    normalized = normalize_email(email)
    return await store.run(lambda tx: tx.users.by_email(normalized))


def password_matches(user: UserRow, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
