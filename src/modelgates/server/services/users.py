"""Users and their passwords (argon2id through argon2-cffi)."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email

from modelgates.server.services import lookalikes, secrets
from modelgates.server.services.errors import Conflict, InvalidInput
from modelgates.server.store import DuplicateError, Store, UserRow

MIN_PASSWORD_LENGTH = 8
#: RFC 5321 §4.5.3.1: a local part of 64 octets, a path of 256 (254 without its brackets).
_MAX_LOCAL_PART_OCTETS = 64
_MAX_ADDRESS_OCTETS = 254
_hasher = PasswordHasher()


def normalize_email(email: str) -> str:
    """The one spelling of an address that accounts are kept under: checked by email-validator
    (RFC 5321/5322 syntax, internationalised domains, no invisible or control characters; no
    quoted local parts, no deliverability lookup), NFC-normalised and lower-cased. An address
    whose local part or domain mixes Latin with lookalike letters of another script is refused:
    it exists to be read as another address. The message never repeats the address."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError:
        checked = None
    if (
        checked is None
        or len(checked.local_part.encode()) > _MAX_LOCAL_PART_OCTETS
        or len(checked.normalized.encode()) > _MAX_ADDRESS_OCTETS
        or any(
            lookalikes.mixes_lookalike_scripts(part)
            for part in (checked.local_part, *checked.domain.split("."))
        )
    ):
        raise InvalidInput("email", "is not an e-mail address")
    return checked.normalized.lower()


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
