"""Authorization codes: inserted on approval, spent at most once by :meth:`Codes.claim`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import (
    Prepared,
    columns,
    insert_unique,
    returned,
    to,
)
from modelgates.server.store.rows import CodeRow
from modelgates.server.store.tables import auth_codes

_CODE = columns(auth_codes, CodeRow)
_INSERT = insert(auth_codes).returning(*_CODE)
_BY_HASH = Prepared(select(*_CODE).where(auth_codes.c.code_hash == bindparam("code_hash")))
_CLAIM = Prepared(
    update(auth_codes)
    .where(
        auth_codes.c.id == bindparam("code_id"),
        auth_codes.c.spent_at.is_(None),
        auth_codes.c.expires_at > bindparam("now"),
        auth_codes.c.failed_attempts < bindparam("max_failures"),
    )
    .values(
        spent_at=bindparam("now"),
        pending_challenge=None,
        key_id=bindparam("key_id"),
        sealed_key=bindparam("sealed_key"),
    )
    .returning(auth_codes.c.id)
)


class Codes:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(
        self,
        *,
        code_hash: str,
        user_id: str,
        app_id: int,
        callback_url: str | None,
        code_challenge: str | None,
        code_challenge_method: str | None,
        limit_micros: int | None,
        usage_limit_type: str | None,
        key_label: str | None,
        key_expires_at: datetime | None,
        created_at: datetime,
        expires_at: datetime,
    ) -> CodeRow:
        """Insert an unspent code. Its challenge is pending (unique for the user) until the code
        is spent or burnt: DuplicateError when the user has it pending already."""
        params = {
            "code_hash": code_hash,
            "user_id": user_id,
            "app_id": app_id,
            "callback_url": callback_url,
            "code_challenge": code_challenge,
            "code_challenge_method": code_challenge_method,
            "pending_challenge": code_challenge,
            "limit_micros": limit_micros,
            "usage_limit_type": usage_limit_type,
            "key_label": key_label,
            "key_expires_at": key_expires_at,
            "created_at": created_at,
            "expires_at": expires_at,
            "failed_attempts": 0,
        }
        return returned(CodeRow, insert_unique(self._c, _INSERT, params, "code_challenge"))

    def release_stale_challenge(
        self, user_id: str, challenge: str, now: datetime, max_failures: int
    ) -> None:
        """Let a challenge be used again once its pending code has expired or burnt."""
        self._c.execute(
            update(auth_codes)
            .where(
                auth_codes.c.user_id == user_id,
                auth_codes.c.pending_challenge == challenge,
                (auth_codes.c.expires_at <= now) | (auth_codes.c.failed_attempts >= max_failures),
            )
            .values(pending_challenge=None)
        )

    def by_hash(self, code_hash: str) -> CodeRow | None:
        return to(CodeRow, _BY_HASH.first(self._c, {"code_hash": code_hash}))

    def claim(
        self,
        code_id: int,
        now: datetime,
        max_failures: int,
        *,
        key_id: int,
        sealed_key: bytes | None,
    ) -> bool:
        """Mark the code spent for ``key_id`` if it still can be: the one statement that makes
        spending atomic.

        However many transactions race here, one sees a row updated; the others see none.
        """
        params = {
            "code_id": code_id,
            "now": now,
            "max_failures": max_failures,
            "key_id": key_id,
            "sealed_key": sealed_key,
        }
        return _CLAIM.first(self._c, params) is not None

    def count_failed_attempt(self, code_id: int, max_failures: int) -> None:
        """One more wrong verifier; the code stops being pending once it has had too many."""
        self._c.execute(
            update(auth_codes)
            .where(auth_codes.c.id == code_id, auth_codes.c.spent_at.is_(None))
            .values(failed_attempts=auth_codes.c.failed_attempts + 1)
        )
        self._c.execute(
            update(auth_codes)
            .where(auth_codes.c.id == code_id, auth_codes.c.failed_attempts >= max_failures)
            .values(pending_challenge=None)
        )

    def forget_expired_secrets(self, now: datetime) -> int:
        """Drop the sealed keys and pending challenges of codes past their lifetime."""
        result = self._c.execute(
            update(auth_codes)
            .where(
                auth_codes.c.expires_at <= now,
                auth_codes.c.sealed_key.is_not(None) | auth_codes.c.pending_challenge.is_not(None),
            )
            .values(sealed_key=None, pending_challenge=None)
        )
        return int(result.rowcount)
