"""Browser sessions and forms: signing in and out, and the CSRF tokens of the pages' forms.

* A session is a random token in an ``HttpOnly`` cookie; the database keeps its SHA-256 only, so
  a copy of the database signs nobody in. Sessions last :data:`SESSION_TTL` from sign-in (no
  sliding renewal), and signing in always makes a new one (no session fixation).
* Sign-in attempts are rate limited per account and per client address (:class:`LoginLimits`),
  counted before the password is checked, so the limits also bound the argon2 work an attacker
  can cause. A successful sign-in clears its account's count, not its address's.
* The account's limit holds back strangers, not the account's owner (OWASP's device cookies): a
  successful sign-in gives the browser a *device cookie*, an HMAC under the server's secret of
  the account and a random nonce. An attempt that presents the account's device cookie is
  counted against that cookie alone (:attr:`LoginLimits.per_device`), never against the account
  or the address, so ten wrong guesses from anywhere else leave the owner's browser able to sign
  in; someone who stole the cookie gets that cookie's few guesses and no more.
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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher

from modelgates.server.ratelimit import RateLimiter
from modelgates.server.services import secrets, users
from modelgates.server.services.errors import (
    Conflict,
    InvalidInput,
    ServiceError,
    TooManyRequests,
)
from modelgates.server.store import Store, Transaction, UserRow

SESSION_TTL = timedelta(days=7)
#: How long a browser stays known to an account after a successful sign-in there.
DEVICE_TTL = timedelta(days=180)
_CSRF_CONTEXT = b"modelgates csrf v1"
_DEVICE_CONTEXT = b"modelgates device v1\x00"
_DEVICE_NONCE_LENGTH = 22  # 128 bits of base64url


@dataclass(frozen=True)
class LoginLimits:
    """Sign-in attempts allowed, in the ``limits`` library's notation."""

    #: Attempts on one account from browsers without its device cookie, from any address.
    per_account: str = "10/15 minutes"
    #: Generous, because many people may share one address (an office, a carrier's NAT).
    per_address: str = "100/15 minutes"
    #: Attempts with one device cookie (the browser signed in to the account before).
    per_device: str = "10/15 minutes"


LOGIN_LIMITS = LoginLimits()
#: Sign-ups allowed per client address, where the operator allows sign-up at all.
SIGNUP_LIMIT = "10/hour"
#: The audit event of a sign-up with an address that has an account already.
SIGN_UP_FOR_EXISTING_ACCOUNT = "sign_up_for_existing_account"


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
    #: The device cookie to keep in the browser (a sign-in's; None otherwise).
    device_cookie: str | None = field(default=None, repr=False)


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


def new_device_cookie(server_secret: bytes, account: str) -> str:
    """``nonce.mac``: the mark of a browser that signed in to ``account`` (nothing stored)."""
    nonce = secrets.new_code()[:_DEVICE_NONCE_LENGTH]
    return f"{nonce}.{_device_mac(server_secret, account, nonce)}"


def device_nonce(server_secret: bytes, account: str, cookie: str | None) -> str | None:
    """The nonce of ``cookie`` when it is a device cookie this server gave ``account``."""
    if not cookie or len(cookie) > 200 or cookie.count(".") != 1:
        return None
    nonce, mac = cookie.split(".")
    if len(nonce) != _DEVICE_NONCE_LENGTH:
        return None
    return nonce if hmac.compare_digest(_device_mac(server_secret, account, nonce), mac) else None


def _device_mac(server_secret: bytes, account: str, nonce: str) -> str:
    message = _DEVICE_CONTEXT + f"{account}\x00{nonce}".encode()
    return hmac.new(server_secret, message, hashlib.sha256).hexdigest()


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
    server_secret: bytes = b"",
    device_cookie: str | None = None,
) -> Session:
    """A new session for the account (with a device cookie for the browser), or
    SignInRefused / TooManyAttempts. ``device_cookie`` is what the browser kept from an earlier
    sign-in; without ``server_secret`` no device is ever known."""
    account = _account_key(email)
    nonce = device_nonce(server_secret, account, device_cookie) if server_secret else None
    if nonce is not None:
        decision = await limiter.hit(limits.per_device, "login-device", nonce)
    else:
        decision = await limiter.hit(limits.per_address, "login-address", client_address)
        if decision.allowed:
            decision = await limiter.hit(limits.per_account, "login-account", account)
    if not decision.allowed:
        await _audit_failure(store, now, client_address, "rate limited")
        raise TooManyAttempts(decision.retry_after)

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
    if nonce is not None:
        # Not the account's count: that would let a stranger start guessing afresh.
        await limiter.clear(limits.per_device, "login-device", nonce)
        cookie = device_cookie
    else:
        await limiter.clear(limits.per_account, "login-account", account)
        cookie = new_device_cookie(server_secret, account) if server_secret else None
    session = await start_session(store, user, now)
    return replace(session, device_cookie=cookie)


def _account_key(email: str) -> str:
    """What attempts on an account are counted under: its address as accounts are kept, so
    ``Alice@Example.com`` and ``alice@example.com`` share one count."""
    try:
        return users.normalize_email(email)
    except InvalidInput:
        return email.strip().lower()


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
    server_secret: bytes = b"",
    device_cookie: str | None = None,
) -> None:
    """A new account, unless the address has one. The answer is the same either way (so
    sign-up tells no one which addresses have accounts) and signs no one in: the new owner signs
    in next, like everyone. An attempt on a taken address is recorded for its owner
    (``sign_up_for_existing_account``), whom the account page tells. Whether sign-up is offered
    is the caller's call; ``server_secret`` and ``device_cookie`` are sign-in's, unused here."""
    decision = await limiter.hit(SIGNUP_LIMIT, "signup-address", client_address)
    if not decision.allowed:
        raise TooManyAttempts(decision.retry_after, "sign-ups from your network")
    try:
        # argon2 runs before the insert either way, so both answers take as long.
        await users.create_user(store, email, password, now)
    except Conflict:
        existing = await users.find_user(store, email)
        await store.run(
            lambda tx: tx.audit.record(
                SIGN_UP_FOR_EXISTING_ACCOUNT,
                now,
                user_id=existing.id if existing else None,
                client_address=client_address,
            )
        )


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
