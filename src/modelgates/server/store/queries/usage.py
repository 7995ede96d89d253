"""Metering: each charge recorded once by its request id, and the one UPDATE that adds it to a
key's usage within its limit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import columns, insert_unique, returned, to
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
        return to(KeyRow, result.first())
