"""What bad input and bad luck get from the gateway, and what each costs (docs/gateway.md):
against the scripted provider (tests/gateway/upstream.py, the one stand-in: no model provider
is reachable here)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.gateway.conftest import Gateway, usd
from tests.gateway.upstream import INPUT_PRICE, MAX_OUTPUT, OUTPUT_PRICE
from tests.server.test_api_oauth import assert_error


def post(gateway: Gateway, key: str, content: bytes) -> httpx.Response:
    return gateway.client.post(
        "/chat/completions",
        content=content,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"[1, 2]", "body"),
        (b"not json", "body"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": 7, "messages": []}', "model"),
        (b'{"model": "nobody/serves-this", "messages": [{"role": "user"}]}', "model"),
        (b'{"model": "script/echo"}', "messages"),
        (b'{"model": "script/echo", "messages": []}', "messages"),
        (b'{"model": "script/echo", "messages": [{"content": "no role"}]}', "messages"),
        (b'{"model": "script/echo", "messages": [{"role": "user", "content": 5}]}', "messages"),
        (b'{"model": "script/echo", "messages": [{"role": "user", "content": [1]}]}', "messages"),
        (b'{"model": "script/echo", "messages": ["hi"]}', "messages"),
        (b'{"model": "script/echo", "messages": [{"role": "u"}], "stream": "yes"}', "stream"),
        (b'{"model": "script/echo", "messages": [{"role": "u"}], "max_tokens": 0}', "max_tokens"),
        (b'{"model": "script/echo", "messages": [{"role": "u"}], "max_tokens": 1.5}', "max_tokens"),
        (
            b'{"model": "script/echo", "messages": [{"role": "u"}], "max_completion_tokens": true}',
            "max_completion_tokens",
        ),
        (
            b'{"model": "script/echo", "messages": [{"role": "u"}], "stream_options": 1}',
            "stream_options",
        ),
    ],
)
def test_bad_bodies_are_400_naming_the_field_and_cost_nothing(
    gateway: Gateway, body: bytes, field: str
) -> None:
    account = gateway.key(limit=1)
    sent = len(gateway.upstream.requests)
    error = assert_error(post(gateway, account.key, body), 400, field)
    assert "nobody/serves-this" not in error["message"]  # the value is not echoed
    assert len(gateway.upstream.requests) == sent
    assert gateway.generations_of(account.key_hash) == []


def test_without_a_live_key_it_is_401(gateway: Gateway) -> None:
    assert_error(gateway.chat("sk-mg-v1-" + "0" * 64, model="script/echo"), 401)
    assert_error(gateway.client.post("/chat/completions", json={"model": "script/echo"}), 401)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"model": "nobody/serves-this", "messages": []}', "application/json"),
        (b"not json", "application/json"),
        (b'{"model": "script/echo"}', "text/plain"),
        (b"", "application/json"),
    ],
)
def test_a_refused_key_is_said_before_anything_about_the_request(
    gateway: Gateway, body: bytes, content_type: str
) -> None:
    """The key is looked up in the hold's transaction, after the body is read; a body that is
    refused first must not tell a caller without a live key anything but 401."""
    unknown = "sk-mg-v1-" + "0" * 64
    answer = gateway.client.post(
        "/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {unknown}", "Content-Type": content_type},
    )
    assert_error(answer, 401)


def test_a_limit_too_small_for_one_token_is_402_before_anything_is_sent(
    gateway: Gateway,
) -> None:
    # 1 micro-dollar: not even the prompt fits.
    account = gateway.key(limit=0.000001)
    sent = len(gateway.upstream.requests)
    error = assert_error(gateway.chat(account.key, model="script/echo"), 402)
    assert error["metadata"] == {"reason": "limit_exceeded", "limit_remaining": 0.000001}
    assert len(gateway.upstream.requests) == sent
    assert gateway.key_row(account.key_hash).held_micros == 0


def test_a_request_gets_the_most_output_that_what_remains_can_buy(gateway: Gateway) -> None:
    body = {"model": "script/echo", "messages": [{"role": "user", "content": "Hello"}]}
    prompt_hold = len(json.dumps(body).encode()) * INPUT_PRICE  # bytes bound the prompt tokens
    # Enough for the prompt's hold and 10 output tokens, not 11.
    account = gateway.key(limit=usd(prompt_hold + 10 * OUTPUT_PRICE + 500))
    response = gateway.client.post(
        "/chat/completions",
        content=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {account.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert gateway.upstream.received("echo")[-1]["max_tokens"] == 10
    assert response.json()["usage"]["completion_tokens"] == 10


def test_an_explicit_cap_that_does_not_fit_is_402(gateway: Gateway) -> None:
    account = gateway.key(limit=usd(2000 * INPUT_PRICE + 5 * OUTPUT_PRICE))
    assert_error(gateway.chat(account.key, model="script/echo", max_tokens=50), 402)
    assert gateway.chat(account.key, model="script/echo", max_tokens=2).status_code == 200


def test_a_cap_above_the_models_maximum_is_lowered_and_said_so(gateway: Gateway) -> None:
    account = gateway.key()
    response = gateway.chat(account.key, model="script/echo", max_completion_tokens=10_000)
    assert response.status_code == 200, response.text
    assert response.headers["x-modelgates-max-tokens-capped"] == str(MAX_OUTPUT)
    sent = gateway.upstream.received("echo")[-1]
    assert sent["max_completion_tokens"] == MAX_OUTPUT and "max_tokens" not in sent


def test_a_key_without_a_limit_is_metered_and_its_cap_left_alone(gateway: Gateway) -> None:
    account = gateway.key()
    response = gateway.chat(account.key, model="script/echo")
    assert response.status_code == 200
    assert "max_tokens" not in gateway.upstream.received("echo")[-1]
    assert gateway.key_row(account.key_hash).usage_micros == 7 * INPUT_PRICE + 16 * OUTPUT_PRICE


@pytest.mark.parametrize(
    ("model", "status"),
    [
        ("script/fail", 500),
        ("script/refuse", 400),
        ("down/any", 502),
        ("script/hang", 504),
        ("script/garbage", 502),
    ],
)
def test_provider_failures_answer_in_our_shape_and_charge_nothing(
    gateway: Gateway, model: str, status: int
) -> None:
    account = gateway.key(limit=1)
    started = time.monotonic()
    error = assert_error(gateway.chat(account.key, model=model, max_tokens=5), status)
    if model == "script/hang":
        assert time.monotonic() - started < 20  # the provider's timeout (2 s), not forever
    if status in (500, 400):
        assert error["metadata"]["provider_error"] in ("upstream exploded", "bad parameter")
    key = gateway.key_row(account.key_hash)
    assert key.usage_micros == 0 and key.held_micros == 0
    (generation,) = gateway.generations_of(account.key_hash)
    assert generation.status == "provider_error" and generation.charged_micros == 0


def test_a_providers_error_never_shows_the_operators_key(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    response = gateway.chat(account.key, model="script/leak")
    error = assert_error(response, 401)
    assert error["metadata"]["provider_error"] == "Incorrect API key provided: [redacted]"
    assert UPSTREAM_KEY not in response.text


def test_a_stream_the_provider_refuses_gets_its_status_not_a_broken_stream(
    gateway: Gateway,
) -> None:
    account = gateway.key(limit=1)
    error = assert_error(
        gateway.chat(account.key, model="script/fail", stream=True, max_tokens=5), 500
    )
    assert error["metadata"]["provider_error"] == "upstream exploded"
    assert gateway.key_row(account.key_hash).held_micros == 0


def test_an_answer_without_usage_is_charged_an_estimate_never_zero(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    response = gateway.chat(account.key, model="script/nousage", max_tokens=8)
    assert response.status_code == 200
    usage = response.json()["usage"]
    # One token per four bytes: of the request's body, and of the answer's text.
    assert usage["completion_tokens"] == 8  # "tok tok …" is 31 bytes
    assert usage["cost"] > 0
    (generation,) = gateway.generations_of(account.key_hash)
    assert generation.usage_estimated and generation.charged_micros == round(usage["cost"] * 1e6)
    assert gateway.key_row(account.key_hash).usage_micros == generation.charged_micros


def test_a_stream_that_breaks_off_ends_with_an_error_event_and_charges_what_was_relayed(
    gateway: Gateway,
) -> None:
    account = gateway.key(limit=1)
    with gateway.stream(
        account.key,
        model="script/break",
        messages=[{"role": "user", "content": "x"}],
        max_tokens=10,
    ) as response:
        events = [line for line in response.iter_lines() if line.startswith("data:")]
    assert "data: [DONE]" not in events
    assert json.loads(events[-1][5:])["error"]["code"] == 502
    (generation,) = gateway.generations_of(account.key_hash)
    assert generation.status == "provider_error" and generation.usage_estimated
    assert generation.tokens_completion == 3  # three chunks of "tok " (4 bytes each)
    assert gateway.key_row(account.key_hash).usage_micros == generation.charged_micros > 0


def test_an_event_too_long_to_read_ends_the_stream_with_an_error_event(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    with gateway.stream(account.key, model="script/huge", max_tokens=10) as response:
        events = [line for line in response.iter_lines() if line.startswith("data:")]
    assert len(events) == 4  # three chunks, then the error: the long event is not relayed
    error = json.loads(events[-1][5:])["error"]
    assert error["code"] == 502 and "too long" in error["message"]
    (generation,) = gateway.generations_of(account.key_hash)
    assert generation.status == "provider_error" and generation.tokens_completion == 3
    assert gateway.key_row(account.key_hash).held_micros == 0


def test_a_client_leaving_mid_stream_cancels_the_provider_and_pays_for_what_it_got(
    gateway: Gateway,
) -> None:
    account = gateway.key(limit=1)
    cancelled = gateway.upstream.cancelled
    with (
        httpx.Client(base_url=gateway.api_url, timeout=10) as client,
        client.stream(
            "POST",
            "/chat/completions",
            json={
                "model": "script/slow",
                "messages": [{"role": "user", "content": "x"}],
                "stream": True,
            },
            headers={"Authorization": f"Bearer {account.key}"},
        ) as response,
    ):
        received = 0
        for line in response.iter_lines():
            if line.startswith("data:"):
                received += 1
                if received == 3:
                    break
    # The connection is closed: the gateway notices, closes the provider's stream, settles.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        generations = gateway.generations_of(account.key_hash)
        if generations and generations[0].status != "in_progress":
            break
        time.sleep(0.05)
    (generation,) = gateway.generations_of(account.key_hash)
    assert generation.status == "cancelled"
    # What was relayed: at least what the client read, far less than the 40 the provider had.
    assert 3 <= generation.tokens_completion < 40
    assert gateway.upstream.cancelled == cancelled + 1
    key = gateway.key_row(account.key_hash)
    assert key.held_micros == 0 and key.usage_micros == generation.charged_micros > 0


def test_a_key_revoked_mid_stream_finishes_its_stream_then_gets_401(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    with gateway.stream(
        account.key, model="script/slow", messages=[{"role": "user", "content": "x"}]
    ) as response:
        lines = response.iter_lines()
        next(line for line in lines if line.startswith("data:"))
        revoked = gateway.client.delete("/key", headers={"Authorization": f"Bearer {account.key}"})
        assert revoked.status_code == 200
        rest = [line for line in lines if line.startswith("data:")]
    assert rest[-1] == "data: [DONE]"
    assert_error(gateway.chat(account.key, model="script/echo"), 401)
    (generation,) = gateway.generations_of(account.key_hash)
    assert generation.status == "completed" and generation.tokens_completion == 40
    assert gateway.key_row(account.key_hash).usage_micros == generation.charged_micros


def test_an_overlong_or_odd_referer_is_not_recorded_and_no_error(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    long_referer = "https://" + "a" * 3000 + ".example/"
    response = gateway.client.post(
        "/chat/completions",
        json={
            "model": "script/echo",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 1,
        },
        headers={"Authorization": f"Bearer {account.key}", "HTTP-Referer": long_referer},
    )
    assert response.status_code == 200, response.text
    (generation,) = gateway.generations_of(account.key_hash)
    assert generation.referer_origin is None
    assert_error(
        gateway.client.get(
            "/generation",
            params={"id": "gen-\x00"},
            headers={"Authorization": f"Bearer {account.key}"},
        ),
        400,
    )
