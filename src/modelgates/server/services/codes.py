"""Authorization codes: creating them, and spending each at most once for one API key.

The rules, in the order :func:`exchange` applies them:

* A code is spent by one conditional UPDATE (``tx.codes.claim``) inside the
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

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from modelgates import pkce
from modelgates.models.base import MAX_KEY_LABEL_LENGTH
from modelgates.models.oauth import CreateAuthCodeRequest, ExchangeAuthCodeRequest
from modelgates.server.services import apps, keys, money, sealing, secrets
from modelgates.server.services.errors import (
    CodeRejected,
    Conflict,
    InvalidInput,
    NotPermitted,
)
from modelgates.server.store import CodeRow, DuplicateError, KeyRow, Store, Transaction

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


@dataclass(frozen=True)
class Idempotency:
    """A client's ``Idempotency-Key`` and the server secret its stored answer is sealed with."""

    key: str
    secret: bytes


async def create_code(
    store: Store,
    *,
    user_id: str,
    request: CreateAuthCodeRequest,
    app: apps.AppIdentity,
    now: datetime,
    ttl: timedelta,
    headless: bool = False,
    idempotency: Idempotency | None = None,
    client_address: str | None = None,
) -> CreatedCode:
    """A new code for ``user_id``'s approval of ``request``.

    ``headless`` codes (shown on the consent page for pasting) carry no callback URL. With an
    ``idempotency`` key, the same key and request within the code's lifetime get the same answer
    (the first one, kept sealed under the server's secret), and the same key with another
    request is a Conflict.
    """
    if request.expires_at is not None and request.expires_at <= now:
        raise InvalidInput("expires_at", "must be in the future")
    code = secrets.new_code()

    def create(tx: Transaction) -> CreatedCode:
        if idempotency is not None:
            replay = _claim(tx, idempotency, user_id, _fingerprint(request, app), now, ttl)
            if replay is not None:
                return replay
        recorded = tx.apps.upsert(app.origin, app.categories, now)
        app_id = recorded.id
        if app.title is not None:
            tx.apps.claim_title(app_id, user_id, app.title, now)
        claimed = app.title or tx.apps.claimed_titles(user_id, [app_id]).get(app_id)
        name = apps.named(recorded, claimed).name
        if request.code_challenge is not None:
            tx.codes.release_stale_challenge(
                user_id, request.code_challenge, now, MAX_FAILED_ATTEMPTS
            )
        try:
            row = tx.codes.insert(
                code_hash=secrets.sha256_hex(code),
                user_id=user_id,
                app_id=app_id,
                callback_url=None if headless else request.callback_url,
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
                limit_micros=None if request.limit is None else money.to_micros(request.limit),
                usage_limit_type=request.usage_limit_type,
                # The app's name as this user is shown it, unless the app chose a label; a
                # name made from a long host name is cut to a label's length.
                key_label=request.key_label or name[:MAX_KEY_LABEL_LENGTH],
                key_expires_at=request.expires_at,
                created_at=now,
                expires_at=now + ttl,
            )
        except DuplicateError:
            raise Conflict(
                "An unspent authorization code with this code_challenge exists already; "
                "make a new code verifier for each authorization.",
                {"field": "code_challenge"},
            ) from None
        created = CreatedCode(code=code, app_id=app_id, created_at=row.created_at)
        if idempotency is not None:
            key_hash = secrets.sha256_hex(idempotency.key)
            sealed = sealing.seal_with_secret(
                _encode(created), idempotency.secret, f"{user_id}:{key_hash}"
            )
            tx.idempotency.settle(user_id, key_hash, sealed)
        tx.audit.record(
            "code_created",
            now,
            user_id=user_id,
            app_id=app_id,
            code_id=row.id,
            client_address=client_address,
        )
        return created

    return await store.run(create)


def _claim(
    tx: Transaction,
    idempotency: Idempotency,
    user_id: str,
    fingerprint: str,
    now: datetime,
    ttl: timedelta,
) -> CreatedCode | None:
    """None when this request may go ahead; the first answer when it repeats one."""
    key_hash = secrets.sha256_hex(idempotency.key)
    held = tx.idempotency.claim(user_id, key_hash, fingerprint, now, now + ttl)
    if held is None:
        return None
    if held.fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was used with a different request.",
            {"field": "Idempotency-Key"},
        )
    opened = (
        None
        if held.sealed_response is None
        else sealing.unseal_with_secret(
            held.sealed_response, idempotency.secret, f"{user_id}:{key_hash}"
        )
    )
    if opened is None:
        # Sealed under another secret (replicas disagree, or the secret changed).
        raise Conflict(
            "This Idempotency-Key's first answer cannot be recovered; use a new key.",
            {"field": "Idempotency-Key"},
        )
    return _decode(opened)


def _fingerprint(request: CreateAuthCodeRequest, app: apps.AppIdentity) -> str:
    """The same request, however its JSON was spelt, has the same fingerprint."""
    identity = json.dumps([app.origin, app.title, app.categories])
    return secrets.sha256_hex(request.model_dump_json() + identity)


def _encode(created: CreatedCode) -> bytes:
    return json.dumps(
        {"code": created.code, "app_id": created.app_id, "at": created.created_at.isoformat()}
    ).encode("utf-8")


def _decode(raw: bytes) -> CreatedCode:
    data = json.loads(raw)
    return CreatedCode(
        code=data["code"], app_id=data["app_id"], created_at=datetime.fromisoformat(data["at"])
    )


def require_code_creator(key: KeyRow) -> None:
    """Only a user's own key creates codes: a key an app got through OAuth must not mint keys
    for other apps."""
    if key.app_id is not None:
        raise NotPermitted(
            "This key was issued to an app through OAuth and cannot create authorization codes."
        )


async def exchange(
    store: Store,
    request: ExchangeAuthCodeRequest,
    now: datetime,
    client_address: str | None = None,
) -> Exchanged:
    """Spend a code for an API key, or raise :class:`CodeRejected`."""
    code_hash = secrets.sha256_hex(request.code)
    # The key this exchange would issue, and its sealed copy, are made before the transaction:
    # CPU work kept out of the time the database (on SQLite, every process) waits on it.
    key = secrets.new_api_key()
    sealed = None
    if request.code_verifier is not None:
        sealed = sealing.seal(key, request.code_verifier, code_hash)
    prepared = _PreparedKey(key, sealed)
    exchanged = await store.run(
        lambda tx: _spend(tx, _Audit(tx, now, client_address), code_hash, request, now, prepared)
    )
    # Refusals commit too: a counted wrong verifier, a key revoked on replay and the audit
    # events that say so must stick.
    if exchanged is None:
        raise CodeRejected()
    return exchanged


@dataclass(frozen=True)
class _PreparedKey:
    key: str
    #: The key sealed under the request's verifier (kept only for an S256 code); None without one.
    sealed: bytes | None


class _Audit:
    """Security events of one exchange, written in its transaction."""

    def __init__(self, tx: Transaction, now: datetime, client_address: str | None) -> None:
        self._tx, self._now, self._client = tx, now, client_address

    def __call__(
        self,
        event: str,
        code: CodeRow | None,
        *,
        key_hash: str | None = None,
        detail: str | None = None,
    ) -> None:
        self._tx.audit.record(
            event,
            self._now,
            user_id=None if code is None else code.user_id,
            app_id=None if code is None else code.app_id,
            code_id=None if code is None else code.id,
            key_hash=key_hash,
            client_address=self._client,
            detail=detail,
        )


def _spend(
    tx: Transaction,
    audit: _Audit,
    code_hash: str,
    request: ExchangeAuthCodeRequest,
    now: datetime,
    prepared: _PreparedKey,
) -> Exchanged | None:
    code = tx.codes.by_hash(code_hash)
    if code is None:
        audit("code_rejected", None, detail="unknown code")
        return None
    if code.spent_at is None:
        if not _can_still_be_spent(code, now):
            expired = code.expires_at <= now
            audit("code_rejected", code, detail="expired" if expired else "burnt")
            return None
        if not _presentation_matches(code, request):
            tx.codes.count_failed_attempt(code.id, MAX_FAILED_ATTEMPTS)
            attempts = code.failed_attempts + 1
            burnt = attempts >= MAX_FAILED_ATTEMPTS
            audit(
                "code_burnt" if burnt else "verifier_rejected", code, detail=f"attempt {attempts}"
            )
            return None
        # The key is inserted first so that one UPDATE both spends the code and records its key.
        issued = _insert_key(tx, code, prepared.key, now)
        sealed = prepared.sealed if code.code_challenge_method == "S256" else None
        claimed = tx.codes.claim(
            code.id, now, MAX_FAILED_ATTEMPTS, key_id=issued.row.id, sealed_key=sealed
        )
        if claimed:
            audit("key_issued", code, key_hash=issued.row.hash)
            return Exchanged(key=issued.key, user_id=code.user_id)
        tx.keys.delete(issued.row.id)  # never handed out
        # Something changed it between our read and our claim: most often another request spent
        # it, and this one is answered as a retry of that.
        code = tx.codes.by_hash(code_hash)
        if code is None or code.spent_at is None:
            audit("code_rejected", code, detail="lost a race to a refusal")
            return None
    return _answer_spent(tx, audit, code, request, now)


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


def _insert_key(tx: Transaction, code: CodeRow, key: str, now: datetime) -> keys.IssuedKey:
    """The code's key, with the code's limits and label."""
    label = code.key_label
    if label is None:  # a code made before labels were settled at approval
        app = tx.apps.by_id(code.app_id)
        if app is None:  # the foreign key forbids it
            raise RuntimeError("a code without its app")
        claimed = tx.apps.claimed_titles(code.user_id, [app.id]).get(app.id)
        label = apps.named(app, claimed).name[:MAX_KEY_LABEL_LENGTH]
    return keys.insert_new_key(
        tx,
        user_id=code.user_id,
        app_id=code.app_id,
        label=label,
        now=now,
        limit_micros=code.limit_micros,
        limit_reset=code.usage_limit_type,
        expires_at=code.key_expires_at,
        key=key,
    )


def _answer_spent(
    tx: Transaction,
    audit: _Audit,
    code: CodeRow,
    request: ExchangeAuthCodeRequest,
    now: datetime,
) -> Exchanged | None:
    """The same key for a true S256 retry; None (refuse) for anything else, revoking on replay."""
    if code.code_challenge_method == "S256":
        key = None
        row = None
        if (
            code.sealed_key is not None
            and code.expires_at > now
            and code.key_id is not None
            and request.code_verifier is not None
            and _presentation_matches(code, request)
        ):
            key = sealing.unseal(code.sealed_key, request.code_verifier, code.code_hash)
            row = tx.keys.by_id(code.key_id)
        if key is None or row is None or not row.is_live(now):
            audit("replay_refused", code)
            return None
        audit("exchange_retried", code, key_hash=row.hash)
        return Exchanged(key=key, user_id=code.user_id)
    if code.key_id is not None:
        revoked = tx.keys.by_id(code.key_id)
        if tx.keys.revoke(code.key_id, now):
            audit("key_revoked_by_replay", code, key_hash=revoked.hash if revoked else None)
            return None
    audit("replay_refused", code)
    return None


async def forget_expired_secrets(store: Store, now: datetime) -> int:
    """Drop what expired codes no longer need: sealed keys, pending challenges and the stored
    idempotent answers that hold them."""
    return await store.run(
        lambda tx: tx.codes.forget_expired_secrets(now) + tx.idempotency.forget_expired(now)
    )
