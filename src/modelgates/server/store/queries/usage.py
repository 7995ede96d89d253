"""Metering: each charge recorded once by its request id, and the conditional UPDATEs that keep a
key's usage within its limit: a charge (``charge_key``), the gateway's hold before a request
(``hold``) and its settlement after (``settle``).

The invariant all three keep: the usage in the key's limit window plus its open holds never
exceeds its limit. A hold or a charge is admitted only by an UPDATE whose WHERE clause checks
that, so concurrent requests queue on the key's row and none can pass a stale check; a
settlement moves at most the amount held from ``held`` to usage, which cannot break it; and a
window rolling over only lowers the usage counted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, insert, select, update
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import (
    Prepared,
    columns,
    insert_unique,
    returned,
    to,
)
from modelgates.server.store.rows import ChargeRow, KeyRow
from modelgates.server.store.tables import api_keys, usage_charges

_CHARGE = columns(usage_charges, ChargeRow)
_KEY = columns(api_keys, KeyRow)
_INSERT = insert(usage_charges).returning(*_CHARGE)
_BY_REQUEST_ID = select(*_CHARGE).where(usage_charges.c.request_id == bindparam("request_id"))


class Usage:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert_charge(
        self, *, request_id: str, key_id: int, amount_micros: int, created_at: datetime
    ) -> ChargeRow:
        """Record a charge, its answer not known yet (:meth:`settle_charge` records it);
        DuplicateError when its request_id was charged already."""
        params = {
            "request_id": request_id,
            "key_id": key_id,
            "amount_micros": amount_micros,
            "usage_after_micros": 0,
            "remaining_after_micros": None,
            "created_at": created_at,
        }
        return returned(ChargeRow, insert_unique(self._c, _INSERT, params, "request_id"))

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
        return returned(ChargeRow, result.first())

    def charge_by_request_id(self, request_id: str) -> ChargeRow | None:
        result = self._c.execute(_BY_REQUEST_ID, {"request_id": request_id})
        return to(ChargeRow, result.first())

    def charge_key(
        self, key_id: int, amount: int, now: datetime, day: int, week: int, month: int
    ) -> KeyRow | None:
        """Add ``amount`` to a live key's usage if it fits the limit of its window (beside the
        key's open holds), atomically: the new row, or None when the key is not live or the
        charge does not fit."""
        params = _params(key_id, now, day, week, month, amount=amount)
        return to(KeyRow, self._c.execute(_CHARGE_KEY, params).first())

    def hold(
        self, key_id: int, amount: int, now: datetime, day: int, week: int, month: int
    ) -> bool:
        """Hold ``amount`` on a live key if its window's usage, its open holds and ``amount``
        together fit its limit, atomically: whether it was held."""
        params = _params(key_id, now, day, week, month, amount=amount)
        return _HOLD.first(self._c, params) is not None

    def settle(
        self, key_id: int, *, held: int, charge: int, day: int, week: int, month: int
    ) -> None:
        """Release a hold of ``held`` and charge ``charge`` in its place, whatever the key's
        state now: the hold admitted it. For a key with a limit the caller charges at most what
        was held (which keeps the invariant); one without may cost more. Windows roll over as in
        a charge."""
        if charge < 0 or held < 0:
            raise ValueError("a settlement neither releases nor charges less than nothing")
        params = {"key_id": key_id, "day": day, "week": week, "month": month}
        _SETTLE.rows(self._c, {**params, "amount": charge, "held": held})


def _params(
    key_id: int, now: datetime, day: int, week: int, month: int, amount: int
) -> dict[str, Any]:
    return {
        "key_id": key_id,
        "now": now,
        "day": day,
        "week": week,
        "month": month,
        "amount": amount,
    }


# The statements are built once, with bound parameters: building them per call was a fifth of a
# gateway request's CPU (docs/performance.md).
_k = api_keys.c
_AMOUNT = bindparam("amount", type_=BigInteger)
_DAILY = case((_k.day_index == bindparam("day"), _k.day_micros), else_=0)
_WEEKLY = case((_k.week_index == bindparam("week"), _k.week_micros), else_=0)
_MONTHLY = case((_k.month_index == bindparam("month"), _k.month_micros), else_=0)
#: The usage the key's limit applies to: its ``limit_reset`` window, else all of it.
_LIMITED = case(
    (_k.limit_reset == "daily", _DAILY),
    (_k.limit_reset == "weekly", _WEEKLY),
    (_k.limit_reset == "monthly", _MONTHLY),
    else_=_k.usage_micros,
)
#: The SET clause adding ``amount`` to the usage, each window rolled over as needed.
_ADD = {
    "usage_micros": _k.usage_micros + _AMOUNT,
    "day_index": bindparam("day"),
    "day_micros": _DAILY + _AMOUNT,
    "week_index": bindparam("week"),
    "week_micros": _WEEKLY + _AMOUNT,
    "month_index": bindparam("month"),
    "month_micros": _MONTHLY + _AMOUNT,
}
#: The WHERE clause of a key that is live and can take ``amount`` more.
_ADMITS = (
    _k.id == bindparam("key_id"),
    _k.disabled.is_(False),
    _k.revoked_at.is_(None),
    _k.expires_at.is_(None) | (_k.expires_at > bindparam("now")),
    _k.limit_micros.is_(None) | (_LIMITED + _k.held_micros + _AMOUNT <= _k.limit_micros),
)
_CHARGE_KEY = update(api_keys).where(*_ADMITS).values(**_ADD).returning(*_KEY)
_HOLD = Prepared(
    update(api_keys).where(*_ADMITS).values(held_micros=_k.held_micros + _AMOUNT).returning(_k.id)
)
_SETTLE = Prepared(
    update(api_keys)
    .where(_k.id == bindparam("key_id"))
    .values(held_micros=_k.held_micros - bindparam("held", type_=BigInteger), **_ADD)
)
