"""What a user's keys spent through the gateway, as the account page shows it: each UTC day of
the last 30 by app, the totals by app and by key, and the recent completions.

Amounts stay whole micro-dollars, summed by the database; only the page turns them into USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from modelgates.server.services import apps
from modelgates.server.store import (
    DailyChargeRow,
    GenerationRow,
    KeyRow,
    Store,
    Transaction,
)

__all__ = ["DAYS", "RECENT", "Spending", "spending"]

#: The days the page looks back over (today, in UTC, and the 29 before it).
DAYS = 30
#: How many of the latest completions the page lists.
RECENT = 20
#: The chart's colours (``.s0`` to ``.s7`` in the stylesheet).
PALETTE = 8
#: The name the page gives the keys no app holds (the user's own).
OWN_KEYS = "Your own keys"


@dataclass(frozen=True)
class Series:
    """An app (or the user's own keys, or the apps beyond :data:`DRAWN_APPS`) as the chart
    draws it: ``index`` picks its colour."""

    index: int
    label: str
    micros: int


@dataclass(frozen=True)
class Day:
    day: date
    #: ``(series index, micro-dollars)``, in the series' order, only those that spent.
    parts: tuple[tuple[int, int], ...]

    @property
    def micros(self) -> int:
        return sum(micros for _series, micros in self.parts)


@dataclass(frozen=True)
class KeySpend:
    label: str
    app: str
    series: int
    micros: int
    completions: int
    revoked: bool


@dataclass(frozen=True)
class Completion:
    """One of the recent completions, as the page lists it."""

    id: str
    model: str
    tokens_prompt: int
    tokens_completion: int
    #: What the key was charged (in progress: nothing yet).
    micros: int
    app: str
    key: str
    created_at: datetime
    #: "completed", "cancelled", "provider_error", "abandoned" or "in_progress".
    status: str
    usage_estimated: bool


@dataclass(frozen=True)
class Spending:
    since: date
    until: date
    micros: int
    completions: int
    #: Largest first; the chart's colours follow this order.
    series: tuple[Series, ...]
    #: Every day from ``since`` to ``until``, oldest first, those without spend too.
    days: tuple[Day, ...]
    #: Largest first.
    keys: tuple[KeySpend, ...]
    #: Newest first, whatever their age.
    recent: tuple[Completion, ...]

    @property
    def empty(self) -> bool:
        return self.micros == 0 and not self.recent


async def spending(store: Store, user_id: str, now: datetime) -> Spending:
    until = now.astimezone(timezone.utc).date()
    since = until - timedelta(days=DAYS - 1)
    start = datetime.combine(since, time(), timezone.utc)

    def read(
        tx: Transaction,
    ) -> tuple[list[DailyChargeRow], list[GenerationRow], list[KeyRow], dict[int, apps.NamedApp]]:
        charges = list(tx.generations.daily_charges_of_user(user_id, start))
        recent = list(tx.generations.recent_of_user(user_id, RECENT))
        keys = list(tx.keys.of_user(user_id))
        app_ids = {row.app_id for row in charges} | {row.app_id for row in recent}
        known = sorted(app_id for app_id in app_ids if app_id is not None)
        # Each app by the name this user is shown it, as the account page's other lists do.
        claimed = tx.apps.claimed_titles(user_id, known)
        named = {i: apps.named(app, claimed.get(i)) for i, app in tx.apps.by_ids(known).items()}
        return charges, recent, keys, named

    charges, recent, keys, names = await store.run(read)

    def app_name(app_id: int | None) -> str:
        if app_id is None:
            return OWN_KEYS
        app = names.get(app_id)
        return app.name if app is not None else "An app no longer known"

    by_app: dict[int | None, int] = {}
    for row in charges:
        by_app[row.app_id] = by_app.get(row.app_id, 0) + row.charged_micros
    ranked = sorted(by_app, key=lambda app_id: (-by_app[app_id], app_name(app_id).lower()))
    # Eight colours: one an app while there are no more, else seven and one for the rest.
    drawn = ranked if len(ranked) <= PALETTE else ranked[: PALETTE - 1]
    series = [Series(n, app_name(app_id), by_app[app_id]) for n, app_id in enumerate(drawn)]
    series_of = {app_id: min(n, PALETTE - 1) for n, app_id in enumerate(ranked)}
    if len(ranked) > len(drawn):
        rest = ranked[len(drawn) :]
        label = f"{len(rest)} other apps"
        series.append(Series(PALETTE - 1, label, sum(by_app[app_id] for app_id in rest)))

    per_day: dict[date, dict[int, int]] = {}
    for row in charges:
        parts = per_day.setdefault(row.day, {})
        index = series_of[row.app_id]
        parts[index] = parts.get(index, 0) + row.charged_micros
    days = tuple(
        Day(day, tuple(sorted(per_day.get(day, {}).items())))
        for day in (since + timedelta(days=n) for n in range(DAYS))
    )

    key_rows = {row.id: row for row in keys}
    per_key: dict[int, tuple[int, int, int | None]] = {}
    for row in charges:
        micros, count, _app = per_key.get(row.key_id, (0, 0, row.app_id))
        per_key[row.key_id] = (micros + row.charged_micros, count + row.completions, row.app_id)
    key_spend = sorted(
        (
            KeySpend(
                label=_key_label(key_rows.get(key_id)),
                app=app_name(app_id),
                series=series_of[app_id],
                micros=micros,
                completions=count,
                revoked=_revoked(key_rows.get(key_id)),
            )
            for key_id, (micros, count, app_id) in per_key.items()
        ),
        key=lambda spend: (-spend.micros, spend.label.lower()),
    )

    completions = tuple(
        Completion(
            id=row.id,
            model=row.model,
            tokens_prompt=row.tokens_prompt,
            tokens_completion=row.tokens_completion,
            micros=row.charged_micros,
            app=app_name(row.app_id),
            key=_key_label(key_rows.get(row.key_id)),
            created_at=row.created_at,
            status=row.status,
            usage_estimated=row.usage_estimated,
        )
        for row in recent
    )
    return Spending(
        since=since,
        until=until,
        micros=sum(by_app.values()),
        completions=sum(row.completions for row in charges),
        series=tuple(series),
        days=days,
        keys=tuple(key_spend),
        recent=completions,
    )


def _key_label(row: KeyRow | None) -> str:
    return row.label if row is not None else "A deleted key"


def _revoked(row: KeyRow | None) -> bool:
    return row is None or row.revoked_at is not None
