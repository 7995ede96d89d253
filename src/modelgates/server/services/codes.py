"""Authorization codes: creating them, and spending each at most once for one API key.

The rules, in the order :func:`exchange` applies them:

* A code is spent by one conditional UPDATE (:meth:`Transaction.claim_code`) inside the
  transaction that inserts the key, so however many requests or processes race, one key is issued.
* Exactly-once delivery: a retry with the same code and the right S256 verifier, while the code
  would still be alive, gets the same key again. The key is kept sealed under the verifier
  (:mod:`.sealing`), never in the clear, and forgotten when the code's lifetime ends.
* A code survives ``MAX_FAILED_ATTEMPTS`` wrong verifiers (or method mismatches); after that it is
  burnt and even the right verifier is refused.
* Any other presentation of a spent code is refused. If the code carried no challenge or a
  ``plain`` one, the presentation also revokes the key it issued (RFC 9700 §4.2.1): whoever
  replays it may have stolen it. A wrong verifier against an S256 code revokes nothing, or a
  code thief could destroy the user's key.
* Every refusal is the same :class:`CodeRejected`, which does not say why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from modelgates import pkce
from modelgates.models.oauth import CreateAuthCodeRequest, ExchangeAuthCodeRequest
from modelgates.server.services import apps, keys, money, sealing, secrets
from modelgates.server.services.errors import (
    CodeRejected,
    Conflict,
    InvalidInput,
    NotPermitted,
)
from modelgates.server.store import CodeRow, KeyRow, Store, Transaction
from modelgates.server.store.database import DuplicateError

MAX_FAILED_ATTEMPTS = 5


@dataclass(frozen=True)
class CreatedCode:
    #: The code itself, to be handed to the app once.
    code: str
    app_id: int
    created_at: datetime


@dataclass(frozen=True)
class Exchanged:
    key: str
    user_id: str


async def create_code(
    store: Store,
    *,
    user_id: str,
    request: CreateAuthCodeRequest,
    app: apps.AppIdentity,
    now: datetime,
    ttl: timedelta,
    headless: bool = False,
) -> CreatedCode:
    """A new code for ``user_id``'s approval of ``request``.

    ``headless`` codes (shown on the consent page for pasting) carry no callback URL.
    """
    if request.expires_at is not None and request.expires_at <= now:
        raise InvalidInput("expires_at", "must be in the future")
    code = secrets.new_code()
    async with store.begin() as tx:
        app_id = await tx.upsert_app(app.origin, app.title, app.default_title, app.categories, now)
        if request.code_challenge is not None:
            await tx.release_stale_challenge(
                user_id, request.code_challenge, now, MAX_FAILED_ATTEMPTS
            )
        try:
            row = await tx.insert_code(
                code_hash=secrets.sha256_hex(code),
                user_id=user_id,
                app_id=app_id,
                callback_url=None if headless else request.callback_url,
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
                pending_challenge=request.code_challenge,
                limit_micros=None if request.limit is None else money.to_micros(request.limit),
                usage_limit_type=request.usage_limit_type,
                key_label=request.key_label,
                key_expires_at=request.expires_at,
                created_at=now,
                expires_at=now + ttl,
                failed_attempts=0,
            )
        except DuplicateError:
            raise Conflict(
                "An unspent authorization code with this code_challenge exists already; "
                "make a new code verifier for each authorization.",
                {"field": "code_challenge"},
            ) from None
    return CreatedCode(code=code, app_id=app_id, created_at=row.created_at)


def require_code_creator(key: KeyRow) -> None:
    """Only a user's own key creates codes: a key an app got through OAuth must not mint keys
    for other apps."""
    if key.app_id is not None:
        raise NotPermitted(
            "This key was issued to an app through OAuth and cannot create authorization codes."
        )


async def exchange(store: Store, request: ExchangeAuthCodeRequest, now: datetime) -> Exchanged:
    """Spend a code for an API key, or raise :class:`CodeRejected`."""
    async with store.begin() as tx:
        exchanged = await _spend(tx, secrets.sha256_hex(request.code), request, now)
    # Refusals commit too: a counted wrong verifier or a key revoked on replay must stick.
    if exchanged is None:
        raise CodeRejected()
    return exchanged


async def _spend(
    tx: Transaction, code_hash: str, request: ExchangeAuthCodeRequest, now: datetime
) -> Exchanged | None:
    code = await tx.code_by_hash(code_hash)
    if code is None:
        return None
    if code.spent_at is None:
        if not _can_still_be_spent(code, now):
            return None
        if not _presentation_matches(code, request):
            await tx.count_failed_attempt(code.id, MAX_FAILED_ATTEMPTS)
            return None
        if await tx.claim_code(code.id, now, MAX_FAILED_ATTEMPTS):
            return await _issue(tx, code, request, now)
        # Something changed it between our read and our claim: most often another request spent
        # it, and this one is answered as a retry of that.
        code = await tx.code_by_hash(code_hash)
        if code is None or code.spent_at is None:
            return None
    return await _answer_spent(tx, code, request, now)


def _can_still_be_spent(code: CodeRow, now: datetime) -> bool:
    return code.expires_at > now and code.failed_attempts < MAX_FAILED_ATTEMPTS


def _presentation_matches(code: CodeRow, request: ExchangeAuthCodeRequest) -> bool:
    """The method (when given) is the code's, and the verifier answers the code's challenge."""
    method = code.code_challenge_method
    if request.code_challenge_method is not None and request.code_challenge_method != method:
        return False
    if code.code_challenge is None:
        return True
    if request.code_verifier is None or method not in ("S256", "plain"):
        return False
    return pkce.verify(request.code_verifier, code.code_challenge, method)  # type: ignore[arg-type]


async def _issue(
    tx: Transaction, code: CodeRow, request: ExchangeAuthCodeRequest, now: datetime
) -> Exchanged:
    app = await tx.app_by_id(code.app_id)
    assert app is not None
    issued = await keys.insert_new_key(
        tx,
        user_id=code.user_id,
        app_id=code.app_id,
        label=code.key_label or app.title,
        now=now,
        limit_micros=code.limit_micros,
        limit_reset=code.usage_limit_type,
        expires_at=code.key_expires_at,
    )
    sealed = None
    if code.code_challenge_method == "S256" and request.code_verifier is not None:
        sealed = sealing.seal(issued.key, request.code_verifier, code.code_hash)
    await tx.attach_key(code.id, issued.row.id, sealed)
    return Exchanged(key=issued.key, user_id=code.user_id)


async def _answer_spent(
    tx: Transaction, code: CodeRow, request: ExchangeAuthCodeRequest, now: datetime
) -> Exchanged | None:
    """The same key for a true S256 retry; None (refuse) for anything else, revoking on replay."""
    if code.code_challenge_method == "S256":
        if (
            code.sealed_key is None
            or code.expires_at <= now
            or code.key_id is None
            or not _presentation_matches(code, request)
            or request.code_verifier is None
        ):
            return None
        key = sealing.unseal(code.sealed_key, request.code_verifier, code.code_hash)
        row = await tx.key_by_id(code.key_id)
        if key is None or row is None or not row.is_live(now):
            return None
        return Exchanged(key=key, user_id=code.user_id)
    if code.key_id is not None:
        await tx.revoke_key(code.key_id, now)
    return None


async def forget_expired_secrets(store: Store, now: datetime) -> int:
    """Drop what expired codes no longer need (sealed keys, pending challenges)."""
    async with store.begin() as tx:
        return await tx.forget_expired_secrets(now)
