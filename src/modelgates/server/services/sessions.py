"""Browser sessions and forms: signing in and out, and the CSRF tokens of the pages' forms.

* A session is a random token in an ``HttpOnly`` cookie; the database keeps its SHA-256 only, so
  a copy of the database signs nobody in. Sessions last :data:`SESSION_TTL` from sign-in (no
  sliding renewal), and signing in always makes a new one (no session fixation).
* Sign-in attempts are rate limited per account and per client address (:class:`LoginLimits`),
  counted before the password is checked, so the limits also bound the argon2 work an attacker
  can cause. A successful sign-in clears its account's count, not its address's.
* A wrong e-mail and a wrong password get the same answer, after the same argon2 work.
* CSRF: each form carries ``csrf_token(secret)``, an HMAC keyed with a secret only the browser's
  cookie holds: the session token once signed in, else a per-browser random value
  (:func:`new_browser_secret`). Another site can neither read the cookie nor compute the token.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from argon2 import PasswordHasher

from modelgates.server.ratelimit import RateLimiter
from modelgates.server.services import secrets, users
from modelgates.server.services.errors import InvalidInput, ServiceError, TooManyRequests
from modelgates.server.store import Store, Transaction, UserRow

SESSION_TTL = timedelta(days=7)
_CSRF_CONTEXT = b"modelgates csrf v1"


@dataclass(frozen=True)
class LoginLimits:
    """Sign-in attempts allowed, in the ``limits`` library's notation."""

    per_account: str = "10/15 minutes"
    #: Generous, because many people may share one address (an office, a carrier's NAT).
    per_address: str = "100/15 minutes"


LOGIN_LIMITS = LoginLimits()
#: Sign-ups allowed per client address, where the operator allows sign-up at all.
SIGNUP_LIMIT = "10/hour"


class SignInRefused(ServiceError):
    """Wrong e-mail or password; deliberately not saying which."""

    status = 400

    def __init__(self) -> None:
        super().__init__("The email or password is not right.")


class TooManyAttempts(TooManyRequests):
    """A rate limit of the pages, said in minutes for a person."""

    def __init__(self, retry_after: int, what: str = "sign-in attempts") -> None:
        minutes = max(1, -(-retry_after // 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(retry_after, f"Too many {what}. Try again in {minutes} {unit}.")


@dataclass(frozen=True)
class Session:
    #: The cookie's value, handed to the browser once; only its hash is stored.
    token: str = field(repr=False)
    user: UserRow
    expires_at: datetime


def new_session_token() -> str:
    return secrets.new_code()  # 32 random bytes, base64url


def new_browser_secret() -> str:
    """The per-browser value that keys the CSRF token of forms shown before sign-in."""
    return secrets.new_code()


def csrf_token(secret: str) -> str:
    """The token a form carries, derived from the cookie secret it is checked against."""
    return hmac.new(secret.encode("utf-8"), _CSRF_CONTEXT, hashlib.sha256).hexdigest()


def csrf_valid(secret: str | None, presented: str | None) -> bool:
    if not secret or not presented:
        return False
    return hmac.compare_digest(csrf_token(secret), presented)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the e-mail is unknown, so that the answer takes as long
    (made with the same default parameters as users' passwords, on first need)."""
    return PasswordHasher().hash("an unknown account")


async def sign_in(
    store: Store,
    limiter: RateLimiter,
    *,
    email: str,
    password: str,
    client_address: str,
    now: datetime,
    limits: LoginLimits = LOGIN_LIMITS,
) -> Session:
    """A new session for the account, or SignInRefused / TooManyAttempts."""
    account = email.strip().lower()
    by_address = await limiter.hit(limits.per_address, "login-address", client_address)
    by_account = (
        await limiter.hit(limits.per_account, "login-account", account)
        if by_address.allowed
        else by_address
    )
    if not by_account.allowed:
        await _audit_failure(store, now, client_address, "rate limited")
        raise TooManyAttempts(by_account.retry_after)

    try:
        user = await users.find_user(store, account)
    except InvalidInput:  # not an e-mail address at all
        user = None
    # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    matches = await asyncio.to_thread(_verify, user, password)
    if user is None or not matches:
        await _audit_failure(
            store, now, client_address, "wrong password" if user else "unknown e-mail", user
        )
        raise SignInRefused()
    await limiter.clear(limits.per_account, "login-account", account)
    return await start_session(store, user, now)


async def _audit_failure(
    store: Store, now: datetime, client_address: str, reason: str, user: UserRow | None = None
) -> None:
    # The e-mail typed is not recorded: it may be a password typed in the wrong field.
    await store.run(
        lambda tx: tx.audit.record(
            "sign_in_failed",
            now,
            user_id=user.id if user else None,
            client_address=client_address,
            detail=reason,
        )
    )


def _verify(user: UserRow | None, password: str) -> bool:
    if user is None:
        users.password_matches(
            UserRow(id="", email="", password_hash=_dummy_hash(), created_at=datetime.min),
            password,
        )
        return False
    return users.password_matches(user, password)


async def sign_up(
    store: Store,
    limiter: RateLimiter,
    *,
    email: str,
    password: str,
    client_address: str,
    now: datetime,
) -> Session:
    """A new account and its first session. Whether sign-up is offered is the caller's call."""
    decision = await limiter.hit(SIGNUP_LIMIT, "signup-address", client_address)
    if not decision.allowed:
        raise TooManyAttempts(decision.retry_after, "sign-ups from your network")
    user = await users.create_user(store, email, password, now)
    return await start_session(store, user, now)


async def start_session(store: Store, user: UserRow, now: datetime) -> Session:
    token = new_session_token()
    expires_at = now + SESSION_TTL

    def start(tx: Transaction) -> None:
        tx.sessions.delete_expired(user.id, now)
        tx.sessions.insert(
            token_hash=secrets.sha256_hex(token),
            user_id=user.id,
            created_at=now,
            expires_at=expires_at,
        )

    await store.run(start)
    return Session(token=token, user=user, expires_at=expires_at)


async def user_of(store: Store, token: str | None, now: datetime) -> UserRow | None:
    """The user a session cookie signs in, or None (no cookie, unknown or expired session)."""
    if not token or len(token) > 100:
        return None
    token_hash = secrets.sha256_hex(token)
    return await store.run(lambda tx: tx.sessions.user_of(token_hash, now))


async def sign_out(store: Store, token: str | None) -> None:
    """End the session (server-side: the cookie stops working even if it was copied)."""
    if not token or len(token) > 100:
        return
    token_hash = secrets.sha256_hex(token)
    await store.run(lambda tx: tx.sessions.delete(token_hash))
