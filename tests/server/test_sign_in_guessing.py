"""What a password guesser gets per hour, measured: a simulated hour of attempts against the
sign-in service, on its real limits (10 per account, 100 per address, 10 per device cookie,
each a quarter hour), the real in-memory counters and a real database; only the clock is
simulated (the ``limits`` library reads ``time.time``), so an hour takes seconds.

    .venv/bin/python -m pytest tests/server/test_sign_in_guessing.py -s -q

prints the figures docs/security.md quotes; the assertions hold them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timezone

import pytest

from modelgates.server.ratelimit import RateLimiter
from modelgates.server.services import sessions
from modelgates.server.store import Store
from tests.conftest import create_account
from tests.server.pages import PASSWORD, attempt_sign_in, fast_password_hashing

pytestmark = pytest.mark.anyio

HOUR = 3600
#: A guesser's pace: an attempt every this many seconds (faster gains nothing: a refused
#: attempt is not counted, so the counters admit the same attempts either way).
EVERY = 2
START = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc).timestamp() + 7 * 60  # mid-quarter


@pytest.fixture(scope="module", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture
async def store(new_database: Callable[[str], str]) -> AsyncIterator[Store]:
    """SQLite only: the counters are under test, not the database."""
    database_url = new_database("sqlite")
    store = Store.open(database_url, pool_size=2)
    yield store
    await store.close()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def time(self) -> float:
        return self.now

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now, timezone.utc)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "time", clock.time)
    return clock


async def sign_in(
    store: Store,
    limiter: RateLimiter,
    clock: Clock,
    email: str,
    password: str,
    address: str,
    device: str | None = None,
) -> sessions.Session:
    return await attempt_sign_in(store, limiter, email, password, address, clock.at(), device)


async def an_hour_of(clock: Clock, attempt: Callable[[int], Awaitable[None]]) -> tuple[int, int]:
    """Run ``attempt(n)`` every EVERY seconds for an hour: (password checks, refusals by limit)."""
    checked = limited = 0
    for n in range(HOUR // EVERY):
        clock.now = START + n * EVERY
        try:
            await attempt(n)
        except sessions.SignInRefused:
            checked += 1
        except sessions.TooManyAttempts:
            limited += 1
    return checked, limited


async def test_a_guesser_gets_about_forty_guesses_an_hour_at_an_account_from_anywhere(
    store: Store, clock: Clock
) -> None:
    victim = await create_account(store)
    limiter = RateLimiter()
    owner = await sign_in(store, limiter, clock, victim.email, PASSWORD, "192.0.2.1")
    owner_refused = 0

    async def guess(n: int) -> None:
        nonlocal owner_refused
        if n % 150 == 0:  # every five minutes the owner signs in from their browser
            try:
                await sign_in(
                    store, limiter, clock, victim.email, PASSWORD, "192.0.2.1", owner.device_cookie
                )
            except sessions.TooManyAttempts:
                owner_refused += 1
        address = f"203.0.{n // 256 % 256}.{n % 256}"  # a new address every time
        await sign_in(store, limiter, clock, victim.email, f"guess {n}", address)

    checked, limited = await an_hour_of(clock, guess)
    print(
        f"\none account, {HOUR // EVERY} attempts from as many addresses in an hour: "
        f"{checked} password checks, {limited} refused by the limit; "
        f"the owner's browser refused {owner_refused} times of 12"
    )
    assert 40 <= checked <= 50
    assert owner_refused == 0


async def test_one_address_spraying_many_accounts_gets_about_four_hundred_an_hour(
    store: Store, clock: Clock
) -> None:
    limiter = RateLimiter()

    async def spray(n: int) -> None:
        # Never the same account twice.
        await sign_in(
            store, limiter, clock, f"someone-{n}@example.com", "Password1", "198.51.100.7"
        )

    checked, limited = await an_hour_of(clock, spray)
    print(
        f"\none address, {HOUR // EVERY} accounts in an hour: "
        f"{checked} password checks, {limited} refused by the limit"
    )
    assert 400 <= checked <= 500


async def test_a_stolen_device_cookie_buys_about_forty_guesses_an_hour(
    store: Store, clock: Clock
) -> None:
    victim = await create_account(store)
    limiter = RateLimiter()
    stolen = (
        await sign_in(store, limiter, clock, victim.email, PASSWORD, "192.0.2.1")
    ).device_cookie

    async def guess(n: int) -> None:
        await sign_in(store, limiter, clock, victim.email, f"guess {n}", "203.0.113.66", stolen)

    checked, limited = await an_hour_of(clock, guess)
    print(
        f"\none stolen device cookie, {HOUR // EVERY} attempts in an hour: "
        f"{checked} password checks, {limited} refused by the limit"
    )
    assert 40 <= checked <= 50
