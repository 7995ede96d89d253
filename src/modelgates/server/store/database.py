"""Every query the services need, as the methods of a :class:`Transaction` (run by
:meth:`.Store.run`).

The hot statements are built once, at import, with bound parameters: SQLAlchemy then finds
their compiled form in its cache without building and hashing a new statement each time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import (
    Row,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from modelgates.server.store.errors import DuplicateError
from modelgates.server.store.rows import (
    AppRow,
    AuditRow,
    ChargeRow,
    CodeRow,
    IdempotencyRow,
    KeyRow,
    ServiceTokenRow,
    UserRow,
)
from modelgates.server.store.tables import (
    api_keys,
    apps,
    audit_events,
    auth_codes,
    idempotency_records,
    metadata,
    service_tokens,
    sessions,
    usage_charges,
    users,
)

_R = TypeVar("_R")


def _columns(table: Table, row_type: type[Any]) -> list[Any]:
    """The columns of ``table`` that ``row_type`` has, in its field order: rows are built by
    position."""
    return [table.c[field.name] for field in fields(row_type)]


def _utc(value: datetime) -> datetime:
    """A datetime as the database gives it back."""
    return value.astimezone(timezone.utc)


def _to(row_type: type[_R], row: Row[Any] | None) -> _R | None:
    """A row selected with :func:`_columns` of ``row_type``, as one."""
    return None if row is None else row_type(*row)  # type: ignore[call-arg]


_USER = _columns(users, UserRow)
_APP = _columns(apps, AppRow)
_KEY = _columns(api_keys, KeyRow)
_CODE = _columns(auth_codes, CodeRow)
_CHARGE = _columns(usage_charges, ChargeRow)
_SERVICE_TOKEN = _columns(service_tokens, ServiceTokenRow)
_IDEMPOTENCY = _columns(idempotency_records, IdempotencyRow)
_AUDIT = _columns(audit_events, AuditRow)

# The statements of an exchange and of authenticating a key, built once.
_CODE_BY_HASH = select(*_CODE).where(auth_codes.c.code_hash == bindparam("code_hash"))
_CLAIM_CODE = (
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
)
_APP_BY_ID = select(*_APP).where(apps.c.id == bindparam("app_id"))
_INSERT_KEY = insert(api_keys).returning(api_keys.c.id)
_KEY_BY_HASH = select(*_KEY).where(api_keys.c.hash == bindparam("key_hash"))
_KEY_BY_ID = select(*_KEY).where(api_keys.c.id == bindparam("key_id"))
_INSERT_AUDIT = insert(audit_events)


class Transaction:
    """The queries, run inside one transaction."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    @property
    def connection(self) -> Connection:
        """The transaction's connection, for the statements that are not queries of the store's
        (migration checks, tests)."""
        return self._c

    @property
    def dialect(self) -> str:
        return self._c.dialect.name

    def _insert_unique(self, statement: Any, duplicate: str) -> Row[Any] | None:
        """Run an INSERT in a savepoint: DuplicateError(``duplicate``) when it breaks a unique
        constraint, and the transaction goes on; else its RETURNING row, if it has one."""
        try:
            with self._c.begin_nested():
                result = self._c.execute(statement)
                # Read before the savepoint is released, which sqlite3 refuses mid-result.
                return result.first() if result.returns_rows else None
        except IntegrityError:
            raise DuplicateError(duplicate) from None

    # users

    def insert_user(self, row: UserRow) -> None:
        self._insert_unique(insert(users).values(**_values(row)), "email")

    def user_by_email(self, email: str) -> UserRow | None:
        result = self._c.execute(select(*_USER).where(users.c.email == email))
        return _to(UserRow, result.first())

    def user_by_id(self, user_id: str) -> UserRow | None:
        result = self._c.execute(select(*_USER).where(users.c.id == user_id))
        return _to(UserRow, result.first())

    # apps

    def upsert_app(
        self,
        origin: str,
        title: str | None,
        default_title: str,
        categories: str | None,
        now: datetime,
    ) -> AppRow:
        """The app, created if new; a given title or categories replace the recorded ones."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(apps).values(
            origin=origin,
            title=title or default_title,
            categories=categories or "",
            created_at=now,
        )
        changes: dict[str, Any] = {"origin": statement.excluded.origin}
        if title:
            changes["title"] = statement.excluded.title
        if categories is not None:
            changes["categories"] = statement.excluded.categories
        statement = statement.on_conflict_do_update(index_elements=["origin"], set_=changes)
        row = _to(AppRow, self._c.execute(statement.returning(*_APP)).first())
        assert row is not None
        return row

    def app_by_id(self, app_id: int) -> AppRow | None:
        result = self._c.execute(_APP_BY_ID, {"app_id": app_id})
        return _to(AppRow, result.first())

    # keys

    def insert_key(self, **values: Any) -> KeyRow:
        """Insert a key given every column but its id: only the id comes back (building a result
        of 19 columns cost more than the rest of the statement on PostgreSQL)."""
        key_id = self._c.execute(_INSERT_KEY, values).scalar_one()
        as_stored: dict[str, Any] = {
            k: _utc(v) if isinstance(v, datetime) else v for k, v in values.items()
        }
        return KeyRow(id=key_id, **as_stored)

    def key_by_hash(self, key_hash: str) -> KeyRow | None:
        result = self._c.execute(_KEY_BY_HASH, {"key_hash": key_hash})
        return _to(KeyRow, result.first())

    def key_by_id(self, key_id: int) -> KeyRow | None:
        result = self._c.execute(_KEY_BY_ID, {"key_id": key_id})
        return _to(KeyRow, result.first())

    def keys_of_user(self, user_id: str) -> Sequence[KeyRow]:
        result = self._c.execute(
            select(*_KEY).where(api_keys.c.user_id == user_id).order_by(api_keys.c.id)
        )
        return [row for r in result.all() if (row := _to(KeyRow, r)) is not None]

    def user_keys_page(
        self, user_id: str, *, offset: int, limit: int, include_disabled: bool
    ) -> Sequence[KeyRow]:
        """A user's keys that are not revoked (deleted), oldest first."""
        query = select(*_KEY).where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
        if not include_disabled:
            query = query.where(api_keys.c.disabled.is_(False))
        result = self._c.execute(query.order_by(api_keys.c.id).offset(offset).limit(limit))
        return [row for r in result.all() if (row := _to(KeyRow, r)) is not None]

    def update_key(self, key_id: int, **values: Any) -> KeyRow | None:
        """Change a key that is not revoked; its new row, or None."""
        result = self._c.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(**values)
            .returning(*_KEY)
        )
        return _to(KeyRow, result.first())

    def delete_key(self, key_id: int) -> None:
        self._c.execute(delete(api_keys).where(api_keys.c.id == key_id))

    def revoke_key(self, key_id: int, now: datetime) -> bool:
        """Revoke a key that is not revoked yet; whether this call did it."""
        result = self._c.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return result.rowcount == 1

    # codes

    def insert_code(self, **values: Any) -> CodeRow:
        """Insert a code; DuplicateError when its challenge is already pending for the user."""
        statement = insert(auth_codes).values(**values).returning(*_CODE)
        row = _to(CodeRow, self._insert_unique(statement, "code_challenge"))
        assert row is not None
        return row

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

    def code_by_hash(self, code_hash: str) -> CodeRow | None:
        result = self._c.execute(_CODE_BY_HASH, {"code_hash": code_hash})
        return _to(CodeRow, result.first())

    def claim_code(
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
        return self._c.execute(_CLAIM_CODE, params).rowcount == 1

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

    # sessions (the consent and account pages)

    def insert_session(
        self, *, token_hash: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        self._c.execute(
            insert(sessions).values(
                token_hash=token_hash,
                user_id=user_id,
                created_at=created_at,
                expires_at=expires_at,
            )
        )

    def user_of_session(self, token_hash: str, now: datetime) -> UserRow | None:
        """The user signed in by the session with this hash, while it has not expired."""
        result = self._c.execute(
            select(*_USER)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
        )
        return _to(UserRow, result.first())

    def delete_session(self, token_hash: str) -> None:
        self._c.execute(delete(sessions).where(sessions.c.token_hash == token_hash))

    def delete_expired_sessions(self, user_id: str, now: datetime) -> None:
        self._c.execute(
            delete(sessions).where(sessions.c.user_id == user_id, sessions.c.expires_at <= now)
        )

    def app_by_origin(self, origin: str) -> AppRow | None:
        result = self._c.execute(select(*_APP).where(apps.c.origin == origin))
        return _to(AppRow, result.first())

    def apps_by_ids(self, app_ids: Sequence[int]) -> dict[int, AppRow]:
        if not app_ids:
            return {}
        result = self._c.execute(select(*_APP).where(apps.c.id.in_(set(app_ids))))
        return {row.id: row for r in result.all() if (row := _to(AppRow, r)) is not None}

    def revoke_app_keys(self, user_id: str, app_id: int, now: datetime) -> int:
        """Revoke every unrevoked key of ``user_id`` held by ``app_id``; how many."""
        result = self._c.execute(
            update(api_keys)
            .where(
                api_keys.c.user_id == user_id,
                api_keys.c.app_id == app_id,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return int(result.rowcount)

    # usage and service tokens (metering)

    def insert_charge(self, **values: Any) -> ChargeRow:
        """Record a charge; DuplicateError when its request_id was charged already."""
        statement = insert(usage_charges).values(**values).returning(*_CHARGE)
        row = _to(ChargeRow, self._insert_unique(statement, "request_id"))
        assert row is not None
        return row

    def settle_charge(
        self, request_id: str, *, usage_after_micros: int, remaining_after_micros: int | None
    ) -> ChargeRow:
        """Record what the charge's answer said, for answering a repeat of it."""
        result = self._c.execute(
            update(usage_charges)
            .where(usage_charges.c.request_id == request_id)
            .values(
                usage_after_micros=usage_after_micros,
                remaining_after_micros=remaining_after_micros,
            )
            .returning(*_CHARGE)
        )
        row = _to(ChargeRow, result.first())
        assert row is not None
        return row

    def charge_by_request_id(self, request_id: str) -> ChargeRow | None:
        result = self._c.execute(select(*_CHARGE).where(usage_charges.c.request_id == request_id))
        return _to(ChargeRow, result.first())

    def charge_key(
        self, key_id: int, amount: int, now: datetime, day: int, week: int, month: int
    ) -> KeyRow | None:
        """Add ``amount`` to a live key's usage if it fits the limit of its window, atomically.

        One UPDATE rolls each window counter over when its period has passed, checks the limit
        against the window the key's ``limit_reset`` names (the total without one) and adds the
        amount; concurrent charges queue on the row, so none is lost and none overdraws. The new
        row, or None when the key is not live or the charge does not fit.
        """
        k = api_keys.c
        daily = case((k.day_index == day, k.day_micros), else_=0)
        weekly = case((k.week_index == week, k.week_micros), else_=0)
        monthly = case((k.month_index == month, k.month_micros), else_=0)
        window = case(
            (k.limit_reset == "daily", daily),
            (k.limit_reset == "weekly", weekly),
            (k.limit_reset == "monthly", monthly),
            else_=k.usage_micros,
        )
        result = self._c.execute(
            update(api_keys)
            .where(
                k.id == key_id,
                k.disabled.is_(False),
                k.revoked_at.is_(None),
                k.expires_at.is_(None) | (k.expires_at > now),
                k.limit_micros.is_(None) | (window + amount <= k.limit_micros),
            )
            .values(
                usage_micros=k.usage_micros + amount,
                day_index=day,
                day_micros=daily + amount,
                week_index=week,
                week_micros=weekly + amount,
                month_index=month,
                month_micros=monthly + amount,
            )
            .returning(*_KEY)
        )
        return _to(KeyRow, result.first())

    def insert_service_token(self, **values: Any) -> ServiceTokenRow:
        result = self._c.execute(insert(service_tokens).values(**values).returning(*_SERVICE_TOKEN))
        row = _to(ServiceTokenRow, result.first())
        assert row is not None
        return row

    def service_token_by_hash(self, token_hash: str) -> ServiceTokenRow | None:
        result = self._c.execute(
            select(*_SERVICE_TOKEN).where(service_tokens.c.token_hash == token_hash)
        )
        return _to(ServiceTokenRow, result.first())

    # idempotent answers (code creation)

    def claim_idempotency_key(
        self, user_id: str, key_hash: str, fingerprint: str, now: datetime, expires_at: datetime
    ) -> IdempotencyRow | None:
        """Claim ``key_hash`` for a new request: None when claimed, else the live record that
        holds it (a concurrent claimant waits on the unique index, then sees that record). An
        expired record is taken over."""
        values = {
            "user_id": user_id,
            "key_hash": key_hash,
            "fingerprint": fingerprint,
            "sealed_response": None,
            "created_at": now,
            "expires_at": expires_at,
        }
        try:
            self._insert_unique(insert(idempotency_records).values(**values), "key_hash")
            return None
        except DuplicateError:
            pass
        r = idempotency_records.c
        taken_over = self._c.execute(
            update(idempotency_records)
            .where(r.user_id == user_id, r.key_hash == key_hash, r.expires_at <= now)
            .values(**values)
        )
        if taken_over.rowcount == 1:
            return None
        result = self._c.execute(
            select(*_IDEMPOTENCY).where(r.user_id == user_id, r.key_hash == key_hash)
        )
        return _to(IdempotencyRow, result.first())

    def settle_idempotency_key(self, user_id: str, key_hash: str, sealed_response: bytes) -> None:
        r = idempotency_records.c
        self._c.execute(
            update(idempotency_records)
            .where(r.user_id == user_id, r.key_hash == key_hash)
            .values(sealed_response=sealed_response)
        )

    def forget_expired_idempotency(self, now: datetime) -> int:
        result = self._c.execute(
            delete(idempotency_records).where(idempotency_records.c.expires_at <= now)
        )
        return int(result.rowcount)

    # audit trail

    def audit(self, event: str, now: datetime, **fields: Any) -> None:
        """Record a security event in this transaction, so it is as durable as the action."""
        self._c.execute(_INSERT_AUDIT, {"event": event, "created_at": now, **fields})

    def audit_tail(self, limit: int, after_id: int = 0) -> Sequence[AuditRow]:
        """The newest ``limit`` events after ``after_id``, oldest first."""
        result = self._c.execute(
            select(*_AUDIT)
            .where(audit_events.c.id > after_id)
            .order_by(audit_events.c.id.desc())
            .limit(limit)
        )
        rows = [row for r in result.all() if (row := _to(AuditRow, r)) is not None]
        return rows[::-1]

    def count(self, table_name: str) -> int:
        """Rows in a table (for the CLI's status and for tests that check nothing was written)."""
        table = metadata.tables[table_name]
        result = self._c.execute(select(func.count()).select_from(table))
        return int(result.scalar_one())


def _values(row: object) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in fields(row)}  # type: ignore[arg-type]
