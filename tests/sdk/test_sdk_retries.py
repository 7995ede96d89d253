"""The retry loop over a real socket, and the policy it shares between sync and async."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from modelgates import BackoffStrategy, ModelGates, RetryConfig, errors
from modelgates.retries import Backoff, is_retryable_status, parse_retry_after
from tests.sdk.data import CREATED, EXCHANGED, ISSUED_KEY, NO_RETRIES
from tests.sdk.fake_time import FakeTime
from tests.sdk.scripted_server import ScriptedServer
from tests.sdk.test_sdk_transport import refused_url


def strategy(**ms: float) -> RetryConfig:
    return RetryConfig(backoff=BackoffStrategy(**ms))


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retries_a_transient_status_then_succeeds(
    server: ScriptedServer, mg: ModelGates, status: int
) -> None:
    server.error(status, "try again")
    server.error(status, "try again")
    server.answer(200, EXCHANGED)
    assert mg.o_auth.exchange_auth_code_for_api_key(code="abc").key == ISSUED_KEY
    assert len(server.received) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_does_not_retry_a_final_status(server: ScriptedServer, mg: ModelGates, status: int) -> None:
    server.error(status)
    server.answer(200, EXCHANGED)
    with pytest.raises(errors.APIError):
        mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    assert len(server.received) == 1


def test_strategy_none_sends_once(server: ScriptedServer, mg: ModelGates) -> None:
    server.error(503)
    server.answer(200, EXCHANGED)
    with pytest.raises(errors.ModelGatesDefaultError):
        mg.o_auth.exchange_auth_code_for_api_key(code="abc", retries=NO_RETRIES)
    assert len(server.received) == 1


def test_the_clients_retry_config_applies_when_the_call_has_none(server: ScriptedServer) -> None:
    server.error(503)
    with ModelGates(server_url=server.url, retry_config=NO_RETRIES) as mg:
        with pytest.raises(errors.ModelGatesDefaultError):
            mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    assert len(server.received) == 1


def test_the_last_answer_is_raised_when_the_budget_is_spent(
    server: ScriptedServer, mg: ModelGates
) -> None:
    fake = FakeTime().install(mg)
    for _ in range(20):
        server.error(503, "still down")
    retries = strategy(initial_interval=100, max_interval=1000, exponent=2, max_elapsed_time=1000)
    with pytest.raises(errors.ModelGatesDefaultError, match="still down"):
        mg.o_auth.exchange_auth_code_for_api_key(code="abc", retries=retries)
    # 100, 200, 400 ms, then what is left of the second: never a sleep past the budget.
    assert fake.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.3])
    assert len(server.received) == 5


def test_waits_grow_by_the_exponent_up_to_max_interval(
    server: ScriptedServer, mg: ModelGates
) -> None:
    fake = FakeTime().install(mg)
    for _ in range(6):
        server.error(500)
    server.answer(200, EXCHANGED)
    retries = strategy(
        initial_interval=500, max_interval=2000, exponent=1.5, max_elapsed_time=60_000
    )
    mg.o_auth.exchange_auth_code_for_api_key(code="abc", retries=retries)
    assert fake.sleeps == pytest.approx([0.5, 0.75, 1.125, 1.6875, 2.0, 2.0])


def test_retry_after_ms_is_honoured(server: ScriptedServer, mg: ModelGates) -> None:
    fake = FakeTime().install(mg)
    server.answer(
        429, {"error": {"code": 429, "message": "slow down"}}, headers={"retry-after-ms": "15"}
    )
    server.answer(200, EXCHANGED)
    mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    assert fake.sleeps == pytest.approx([0.015])


def test_retry_after_seconds_is_honoured(server: ScriptedServer, mg: ModelGates) -> None:
    fake = FakeTime().install(mg)
    server.answer(503, body="", headers={"Retry-After": "7"})
    server.answer(200, EXCHANGED)
    mg.o_auth.exchange_auth_code_for_api_key(code="abc", retries=strategy())
    assert fake.sleeps == [7.0]


def test_retry_after_as_an_http_date(server: ScriptedServer, mg: ModelGates) -> None:
    fake = FakeTime().install(mg)
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    server.answer(503, body="", headers={"Retry-After": format_datetime(when, usegmt=True)})
    server.answer(200, EXCHANGED)
    mg.o_auth.exchange_auth_code_for_api_key(code="abc", retries=strategy())
    (slept,) = fake.sleeps
    assert 28 <= slept <= 30.5


def test_retry_after_is_capped_by_max_interval(server: ScriptedServer, mg: ModelGates) -> None:
    # The fixture's schedule caps a wait at 20 ms; the server asks for an hour. Really sleeps.
    server.answer(503, body="", headers={"Retry-After": "3600"})
    server.answer(200, EXCHANGED)
    started = time.monotonic()
    mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    assert time.monotonic() - started < 10  # an hour was asked for; a loaded machine is slow
    assert len(server.received) == 2


def test_retry_after_is_capped_by_the_budget(server: ScriptedServer, mg: ModelGates) -> None:
    fake = FakeTime().install(mg)
    server.answer(503, body="", headers={"Retry-After": "50"})
    server.answer(503, body="", headers={"Retry-After": "50"})
    server.answer(200, EXCHANGED)
    retries = strategy(max_interval=60_000, max_elapsed_time=2_000)
    with pytest.raises(errors.ModelGatesDefaultError):
        mg.o_auth.exchange_auth_code_for_api_key(code="abc", retries=retries)
    assert fake.sleeps == [2.0]
    assert len(server.received) == 2


def test_the_budget_counts_from_the_first_attempt(server: ScriptedServer) -> None:
    # The schedule is made only when a first retry is due; the time the first attempt took must
    # still count against the budget.
    fake = FakeTime()
    slow = httpx.Client(event_hooks={"response": [lambda _: fake.sleep(1.5)]})
    server.answer(503, body="", headers={"Retry-After": "50"})
    server.answer(200, EXCHANGED)
    retries = strategy(max_interval=60_000, max_elapsed_time=2_000)
    with slow, ModelGates(server_url=server.url, client=slow) as mg:
        fake.install(mg)
        mg.o_auth.exchange_auth_code_for_api_key(code="abc", retries=retries)
    assert fake.sleeps == [1.5, 0.5, 1.5]  # the hook's, the wait for the rest of 2 s, the hook's


def test_backoff_may_start_before_it_is_made() -> None:
    config = strategy(initial_interval=2_000, max_elapsed_time=3_000)
    backoff = Backoff(config, clock=lambda: 10.0, rand=lambda: 0.0, started=8.0)
    assert backoff.next_delay() == 1.0


def test_idempotency_key_is_reused_across_retries_only(
    server: ScriptedServer, mg: ModelGates
) -> None:
    server.error(503)
    server.error(429)
    server.answer(200, CREATED)
    server.answer(200, CREATED)
    mg.o_auth.create_auth_code(callback_url="https://myapp.example/cb")
    mg.o_auth.create_auth_code(callback_url="https://myapp.example/cb")
    keys = [r.headers["idempotency-key"] for r in server.received]
    assert keys[0] == keys[1] == keys[2]
    assert keys[3] != keys[0]


def test_a_dropped_connection_is_retried(server: ScriptedServer, mg: ModelGates) -> None:
    server.drop()
    server.answer(200, EXCHANGED)
    assert mg.o_auth.exchange_auth_code_for_api_key(code="abc").key == ISSUED_KEY
    assert len(server.received) == 2


def test_on_retry_hears_what_failed_and_how_long_each_wait_is() -> None:
    url = refused_url()
    heard: list[tuple[str, float]] = []
    with ModelGates(server_url=url) as mg:
        mg.core.on_retry = lambda what, delay: heard.append((what, delay))
        fake = FakeTime().install(mg)
        with pytest.raises(errors.ConnectionError):
            mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    assert [delay for _, delay in heard] == fake.sleeps and len(heard) > 3
    assert heard[0][0].startswith(f"POST {url}/auth/keys: ConnectError: ")


def test_connection_errors_are_not_retried_when_disabled(
    server: ScriptedServer, mg: ModelGates
) -> None:
    server.drop()
    server.answer(200, EXCHANGED)
    retries = RetryConfig(
        backoff=BackoffStrategy(initial_interval=1), retry_connection_errors=False
    )
    with pytest.raises(errors.ConnectionError):
        mg.o_auth.exchange_auth_code_for_api_key(code="abc", retries=retries)
    assert len(server.received) == 1


# -- the policy on its own ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (200, False),
        (400, False),
        (404, False),
        (408, True),
        (429, True),
        (499, False),
        (500, True),
        (599, True),
        (600, False),
    ],
)
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the finer one wins
        ({"retry-after-ms": "-1", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "nan", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "soon"}, None),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": " 12 "}, 12.0),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "1.5"}, None),  # RFC 9110: delay-seconds are whole
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past
        ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"retry-after": "tomorrow"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, tzinfo=timezone.utc).timestamp()
    assert parse_retry_after(headers, now) == expected


def test_jitter_only_shortens_by_at_most_a_quarter() -> None:
    config = strategy(initial_interval=1000, max_interval=1000)
    assert Backoff(config, clock=lambda: 0.0, rand=lambda: 0.0).next_delay() == 1.0
    shortest = Backoff(config, clock=lambda: 0.0, rand=lambda: 0.999999).next_delay()
    assert shortest is not None and 0.75 <= shortest < 0.7501


def test_the_contract_defaults() -> None:
    config = RetryConfig()
    assert config.strategy == "backoff" and config.retry_connection_errors
    assert config.backoff == BackoffStrategy(500, 60_000, 1.5, 60_000)


def test_strategy_none_never_waits() -> None:
    assert Backoff(RetryConfig("none")).next_delay() is None
    assert Backoff(RetryConfig("none")).next_delay(requested=1.0) is None


def test_a_zero_budget_never_retries() -> None:
    assert Backoff(strategy(max_elapsed_time=0), clock=lambda: 5.0).next_delay() is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: BackoffStrategy(initial_interval=0),
        lambda: BackoffStrategy(max_interval=0),
        lambda: BackoffStrategy(exponent=0.5),
        lambda: BackoffStrategy(max_elapsed_time=-1),
        lambda: BackoffStrategy(max_elapsed_time=float("inf")),
        lambda: RetryConfig("sometimes"),  # type: ignore[arg-type]
    ],
)
def test_nonsense_configs_are_refused(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]
