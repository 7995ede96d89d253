"""The sign-in limits docs/decisions.md states, through HTTP: 10 attempts per account and 100 per
client address, counted by the clock's quarter hours (the ``limits`` library's sliding-window
counter over 15 minutes), so that once a quarter hour's attempts are used up, ``Retry-After``
runs to the end of that quarter hour.

Each test has a server of its own, so its in-memory counters start empty.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterator

import pytest

from modelgates.server.settings import Settings
from tests.conftest import free_port, new_account, start_server
from tests.server.pages import PageClient, fast_password_hashing

QUARTER_HOUR = 15 * 60
#: Time the attempts of one test may take; they must all fall in one quarter hour of the clock,
#: or the previous quarter's weight would blur the numbers pinned here.
ATTEMPTS_SECONDS = 30  # ten argon2 checks on a loaded 2-core machine, with room


@pytest.fixture(scope="module", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture
def site(new_database: Callable[[str], str]) -> Iterator[tuple[str, str]]:
    """A server of this test's own: its base URL and its database."""
    database_url = new_database("sqlite")
    port = free_port()
    server, thread = start_server(
        Settings(database_url=database_url, host="127.0.0.1", port=port, secret_key="k" * 32)
    )
    try:
        yield f"http://127.0.0.1:{port}", database_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def browser(site: tuple[str, str]) -> Iterator[PageClient]:
    client = PageClient(site[0])
    yield client
    client.close()


def start_of_a_quarter_hour_with_room() -> None:
    """Wait, if need be, until the attempts cannot straddle the end of a quarter hour."""
    left = QUARTER_HOUR - time.time() % QUARTER_HOUR
    if left < ATTEMPTS_SECONDS:
        time.sleep(left + 0.5)


def seconds_to_the_quarter_hours_end() -> float:
    return QUARTER_HOUR - time.time() % QUARTER_HOUR


def test_ten_attempts_per_account_then_locked_to_the_quarter_hours_end(
    site: tuple[str, str], browser: PageClient
) -> None:
    user = new_account(site[1])
    other = new_account(site[1])
    start_of_a_quarter_hour_with_room()
    for _ in range(10):
        assert browser.sign_in(user.email, "wrong password").status_code == 400
    limited = browser.sign_in(user.email)  # the right password, now refused too
    expected = seconds_to_the_quarter_hours_end()
    assert limited.status_code == 429, limited.text
    retry_after = int(limited.headers["retry-after"])
    assert abs(retry_after - expected) <= 2, (retry_after, expected)
    minutes = math.ceil(retry_after / 60)
    unit = "minute" if minutes == 1 else "minutes"
    assert f"Too many sign-in attempts. Try again in {minutes} {unit}." in limited.text
    # The lock is the account's: from the same address, another account signs in.
    assert browser.sign_in(other.email).status_code == 303


def test_a_hundred_attempts_per_address_then_every_account_is_refused_there(
    site: tuple[str, str], browser: PageClient
) -> None:
    user = new_account(site[1])
    start_of_a_quarter_hour_with_room()
    for _ in range(100):
        guess = f"guess-{secrets.token_hex(4)}@example.com"  # never 10 tries of one account
        assert browser.sign_in(guess, "wrong password").status_code == 400
    limited = browser.sign_in(user.email)
    expected = seconds_to_the_quarter_hours_end()
    assert limited.status_code == 429, limited.text
    assert abs(int(limited.headers["retry-after"]) - expected) <= 2


def test_a_stranger_cannot_lock_the_owners_browser_out(site: tuple[str, str]) -> None:
    user = new_account(site[1])
    owners = PageClient(site[0])
    stranger = PageClient(site[0])
    start_of_a_quarter_hour_with_room()
    assert owners.sign_in(user.email).status_code == 303  # a past sign-in in this browser
    assert owners.http.cookies.get("mg_device")
    owners.http.cookies.delete("mg_session")  # that session is long over; the browser remains
    for _ in range(10):
        assert stranger.sign_in(user.email, "wrong password").status_code == 400
    assert stranger.sign_in(user.email).status_code == 429  # strangers are held back...
    # ...and the owner's browser is not: it signed in here before.
    assert owners.sign_in(user.email).status_code == 303
    # The stranger's own device cookie (from their own account) is no pass to this one.
    own = new_account(site[1])
    assert stranger.sign_in(own.email).status_code == 303
    stranger.http.cookies.delete("mg_session")
    assert stranger.sign_in(user.email).status_code == 429
    owners.close()
    stranger.close()
