"""What the account page shows of a user's gateway spend (services/spending.py), on SQLite and
PostgreSQL: sums by UTC day, key and app made by the database, exact to the micro-dollar."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from modelgates.server.services import ceiling, keys, spending
from modelgates.server.services.ceiling import Outcome
from modelgates.server.services.secrets import new_api_key
from modelgates.server.store import KeyRow, Store, Transaction
from tests.conftest import Account, create_account
from tests.server.pages import fast_password_hashing

pytestmark = pytest.mark.anyio

NOW = datetime(2030, 3, 10, 15, 30, tzinfo=timezone.utc)
TODAY = NOW.date()


@pytest.fixture(scope="module", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = Store.open(database_url, pool_size=2)
    yield opened
    await opened.close()


#: One micro-dollar a prompt token, nothing for output: a completion of N prompt tokens costs N.
PRICE = ceiling.Price(
    input_per_million=Decimal(1), output_per_million=Decimal(0), output_cap=10, context_length=None
)


async def app_key(store: Store, user: Account, title: str) -> KeyRow:
    """A key of ``user``'s, without a limit, held by a new app titled ``title``."""

    origin, key = f"https://{secrets.token_hex(4)}.example", new_api_key()

    def make(tx: Transaction) -> KeyRow:
        app = tx.apps.upsert(origin, None, NOW)
        tx.apps.claim_title(app.id, user.user_id, title, NOW)
        issued = keys.insert_new_key(
            tx, key=key, user_id=user.user_id, label=f"{title} key", now=NOW, app_id=app.id
        )
        return issued.row

    return await store.run(make)


async def own_key(store: Store, user: Account) -> KeyRow:
    row = await store.run(lambda tx: tx.keys.by_hash(user.key_hash))
    assert row is not None
    return row


async def completion(
    store: Store,
    key: KeyRow,
    at: datetime,
    charged: int,
    *,
    status: Outcome | None = "completed",
) -> str:
    """A completion held at ``at`` and settled (unless ``status`` is None) at ``charged``
    micro-dollars, through the ceiling as the gateway does it."""
    held = await ceiling.hold(
        store,
        keys.Credential(key.hash),
        model="script/echo",
        price=PRICE,
        body_bytes=100,
        requested_max_tokens=None,
        streamed=False,
        referer_origin=None,
        now=at,
    )
    if status is not None:
        await ceiling.settle(
            store,
            held,
            PRICE,
            outcome=status,
            tokens_prompt=charged,
            tokens_completion=3,
            usage_estimated=False,
            provider_status=200,
            now=at + timedelta(seconds=1),
        )
    return held.generation_id


def day(offset: int) -> date:
    return TODAY - timedelta(days=offset)


async def test_spend_is_summed_by_utc_day_key_and_app(store: Store) -> None:
    user = await create_account(store)
    other = await create_account(store)
    own = await own_key(store, user)
    notes = await app_key(store, user, "Notes")
    mail = await app_key(store, user, "Mail")
    midnight = datetime.combine(TODAY, datetime.min.time(), timezone.utc)
    # The last instant of yesterday and the first of today are different UTC days.
    await completion(store, notes, midnight - timedelta(microseconds=1), 1_000)
    await completion(store, notes, midnight, 234_567)
    await completion(store, notes, midnight + timedelta(hours=9), 1)
    await completion(store, mail, midnight + timedelta(hours=2), 500_000)
    await completion(store, own, midnight - timedelta(days=29), 7)  # first day
    await completion(store, own, midnight - timedelta(days=29, seconds=1), 99)  # out
    await completion(store, own, midnight, 0, status="provider_error")
    # Another user's spend is theirs alone.
    await completion(store, await own_key(store, other), midnight, 5_000_000)

    spent = await spending.spending(store, user.user_id, NOW)

    assert (spent.since, spent.until) == (day(29), TODAY)
    assert [d.day for d in spent.days] == [day(n) for n in range(29, -1, -1)]
    assert spent.micros == 1_000 + 234_567 + 1 + 500_000 + 7
    assert spent.completions == 5
    assert [(s.label, s.micros) for s in spent.series] == [
        ("Mail", 500_000),
        ("Notes", 235_568),
        (spending.OWN_KEYS, 7),
    ]
    by_day = {d.day: d.parts for d in spent.days if d.parts}
    assert by_day == {
        day(29): ((2, 7),),
        day(1): ((1, 1_000),),
        TODAY: ((0, 500_000), (1, 234_568)),
    }
    assert [(k.label, k.app, k.series, k.micros, k.completions) for k in spent.keys] == [
        ("Mail key", "Mail", 0, 500_000, 1),
        ("Notes key", "Notes", 1, 235_568, 3),
        ("own key", spending.OWN_KEYS, 2, 7, 1),
    ]
    assert not spent.empty


async def test_recent_completions_are_newest_first_with_every_status(store: Store) -> None:
    user = await create_account(store)
    key = await app_key(store, user, "Notes")
    times = [NOW - timedelta(minutes=m) for m in (50, 40, 30)]
    first = await completion(store, key, times[0], 1_234)
    failed = await completion(store, key, times[1], 0, status="provider_error")
    held = await completion(store, key, times[2], 0, status=None)
    # Older than the window: not in the chart, still among the latest completions.
    old = await completion(store, key, NOW - timedelta(days=90), 5)

    spent = await spending.spending(store, user.user_id, NOW)

    assert [c.id for c in spent.recent] == [held, failed, first, old]
    assert [c.status for c in spent.recent] == [
        "in_progress",
        "provider_error",
        "completed",
        "completed",
    ]
    newest_done = spent.recent[2]
    assert (newest_done.model, newest_done.app, newest_done.key) == (
        "script/echo",
        "Notes",
        "Notes key",
    )
    assert (newest_done.tokens_prompt, newest_done.tokens_completion) == (1_234, 3)
    assert newest_done.micros == 1_234 and newest_done.created_at == times[0]
    assert spent.micros == 1_234


async def test_many_apps_share_the_last_colour(store: Store) -> None:
    user = await create_account(store)
    for n in range(10):
        key = await app_key(store, user, f"App {n:02}")
        await completion(store, key, NOW - timedelta(days=n), 1_000 * (n + 1))

    spent = await spending.spending(store, user.user_id, NOW)

    assert len(spent.series) == spending.PALETTE
    assert [s.label for s in spent.series[:7]] == [f"App {n:02}" for n in range(9, 2, -1)]
    assert spent.series[7].label == "3 other apps"
    assert spent.series[7].micros == 1_000 + 2_000 + 3_000
    assert sum(s.micros for s in spent.series) == spent.micros == 55_000
    assert {k.series for k in spent.keys if k.app in ("App 00", "App 01", "App 02")} == {7}
    # The three smallest apps spent on the last three days: drawn in the shared colour.
    assert {d.day: d.parts for d in spent.days if d.day > day(3)} == {
        day(n): ((7, 1_000 * (n + 1)),) for n in range(3)
    }
    assert spent.days[-4].parts == ((6, 4_000),)


async def test_no_spend_is_an_empty_month(store: Store) -> None:
    user = await create_account(store)
    spent = await spending.spending(store, user.user_id, NOW)
    assert spent.empty and spent.micros == 0 and spent.completions == 0
    assert len(spent.days) == spending.DAYS and all(not d.parts for d in spent.days)
    assert spent.series == () and spent.keys == () and spent.recent == ()
