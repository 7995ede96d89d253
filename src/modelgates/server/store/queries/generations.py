"""The gateway's completions: inserted with their hold, settled once with their cost."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Date, bindparam, func, select, update
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import Prepared, bound_insert, columns, to
from modelgates.server.store.rows import DailyChargeRow, GenerationRow
from modelgates.server.store.tables import generations

_G = columns(generations, GenerationRow)
_INSERT = Prepared(bound_insert(generations, generated=()))
_BY_ID = select(*_G).where(generations.c.id == bindparam("generation_id"))
_SETTLE = Prepared(
    update(generations)
    .where(generations.c.id == bindparam("generation_id"), generations.c.settled_at.is_(None))
    .values(
        settled_at=bindparam("now"),
        status=bindparam("status"),
        tokens_prompt=bindparam("tokens_prompt"),
        tokens_completion=bindparam("tokens_completion"),
        cost_micros=bindparam("cost_micros"),
        charged_micros=bindparam("charged_micros"),
        usage_estimated=bindparam("usage_estimated"),
        provider_status=bindparam("provider_status"),
    )
    .returning(generations.c.id)
)


class Generations:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(
        self,
        *,
        generation_id: str,
        key_id: int,
        user_id: str,
        app_id: int | None,
        referer_origin: str | None,
        model: str,
        streamed: bool,
        held_micros: int,
        held_prompt_micros: int,
        created_at: datetime,
    ) -> None:
        _INSERT.rows(
            self._c,
            {
                "id": generation_id,
                "key_id": key_id,
                "user_id": user_id,
                "app_id": app_id,
                "referer_origin": referer_origin,
                "model": model,
                "streamed": streamed,
                "held_micros": held_micros,
                "held_prompt_micros": held_prompt_micros,
                "created_at": created_at,
                "settled_at": None,
                "status": "in_progress",
                "tokens_prompt": 0,
                "tokens_completion": 0,
                "cost_micros": 0,
                "charged_micros": 0,
                "usage_estimated": False,
                "provider_status": None,
            },
        )

    def settle(
        self,
        generation_id: str,
        *,
        now: datetime,
        status: str,
        tokens_prompt: int,
        tokens_completion: int,
        cost_micros: int,
        charged_micros: int,
        usage_estimated: bool,
        provider_status: int | None,
    ) -> bool:
        """Record how it ended, if nothing has yet: False when it was settled already (by the
        sweeper, say), so that no completion is charged twice."""
        params = {
            "generation_id": generation_id,
            "now": now,
            "status": status,
            "tokens_prompt": tokens_prompt,
            "tokens_completion": tokens_completion,
            "cost_micros": cost_micros,
            "charged_micros": charged_micros,
            "usage_estimated": usage_estimated,
            "provider_status": provider_status,
        }
        return _SETTLE.first(self._c, params) is not None

    def by_id(self, generation_id: str) -> GenerationRow | None:
        return to(GenerationRow, self._c.execute(_BY_ID, {"generation_id": generation_id}).first())

    def unsettled_before(self, before: datetime, limit: int) -> Sequence[GenerationRow]:
        """Holds taken before ``before`` and never settled, oldest first."""
        g = generations.c
        result = self._c.execute(
            select(*_G)
            .where(g.settled_at.is_(None), g.created_at < before)
            .order_by(g.created_at)
            .limit(limit)
        )
        return [row for r in result.all() if (row := to(GenerationRow, r)) is not None]

    def recent_of_user(self, user_id: str, limit: int) -> Sequence[GenerationRow]:
        g = generations.c
        result = self._c.execute(
            select(*_G).where(g.user_id == user_id).order_by(g.created_at.desc(), g.id).limit(limit)
        )
        return [row for r in result.all() if (row := to(GenerationRow, r)) is not None]

    def daily_charges_of_user(self, user_id: str, since: datetime) -> Sequence[DailyChargeRow]:
        """What the user's completions created since ``since`` were charged, summed by UTC day
        (timestamps are stored as naive UTC, so the database's ``date()`` is the UTC day on
        both SQLite and PostgreSQL), key and app; days without a charge are absent."""
        g = generations.c
        day = func.date(g.created_at, type_=Date).label("day")
        result = self._c.execute(
            select(
                day,
                g.key_id,
                g.app_id,
                func.sum(g.charged_micros),
                func.count(),
            )
            .where(g.user_id == user_id, g.created_at >= since, g.charged_micros > 0)
            .group_by(day, g.key_id, g.app_id)
            .order_by(day, g.key_id)
        )
        # PostgreSQL's sum() of a bigint is a numeric: back to a whole number of micro-dollars.
        return [
            DailyChargeRow(day=d, key_id=k, app_id=a, charged_micros=int(m), completions=int(n))
            for d, k, a, m, n in result.all()
        ]
