"""``/api/v1/chat/completions``, ``/models`` and ``/generation`` over HTTP, against the scripted
provider (tests/gateway/upstream.py, the one stand-in: no model provider is reachable here)."""

from __future__ import annotations

import json

from tests.conftest import UPSTREAM_KEY
from tests.gateway.conftest import Gateway, usd
from tests.gateway.upstream import INPUT_PRICE, MAX_OUTPUT, OUTPUT_PRICE
from tests.server.test_api_oauth import assert_error


def test_models_lists_the_catalogue_with_prices_per_token(gateway: Gateway) -> None:
    response = gateway.client.get("/models", headers={"Origin": "https://app.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    models = {m["id"]: m for m in response.json()["data"]}
    assert models["script/echo"]["pricing"] == {"prompt": "0.00001", "completion": "0.001"}
    assert models["script/echo"]["max_output_tokens"] == MAX_OUTPUT
    assert models["down/any"]["pricing"] == {"prompt": "0.000001", "completion": "0.000002"}
    assert UPSTREAM_KEY not in response.text


def test_a_completion_is_charged_its_cost_and_recorded(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    response = gateway.chat(account.key, model="script/echo", max_tokens=5)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == "script/echo"
    assert answer["id"].startswith("gen-")
    assert answer["system_fingerprint"] == "fp_scripted"  # the provider's fields pass through
    prompt, completion = 7, 5
    cost = prompt * INPUT_PRICE + completion * OUTPUT_PRICE  # micro-dollars
    assert answer["usage"]["prompt_tokens"] == prompt
    assert answer["usage"]["completion_tokens"] == completion
    assert answer["usage"]["cost"] == usd(cost)
    key = gateway.key_row(account.key_hash)
    assert key.usage_micros == cost and key.held_micros == 0
    sent = gateway.upstream.received("echo")[-1]
    assert sent["max_tokens"] == 5 and sent["_authorization"] == f"Bearer {UPSTREAM_KEY}"

    record = gateway.client.get(
        "/generation",
        params={"id": answer["id"]},
        headers={"Authorization": f"Bearer {account.key}"},
    )
    assert record.status_code == 200, record.text
    data = record.json()["data"]
    assert data["total_cost"] == usd(cost) and data["tokens_completion"] == completion
    assert data["status"] == "completed" and not data["streamed"] and not data["cancelled"]

    other = gateway.key()
    assert_error(
        gateway.client.get(
            "/generation",
            params={"id": answer["id"]},
            headers={"Authorization": f"Bearer {other.key}"},
        ),
        404,
    )
    spent = gateway.client.get("/key", headers={"Authorization": f"Bearer {account.key}"})
    assert spent.json()["data"]["usage"] == usd(cost)


def test_a_stream_is_relayed_with_the_cost_in_its_last_chunk(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    with gateway.stream(
        account.key,
        model="script/echo",
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=4,
        stream_options={"include_usage": True},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("data:")]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(event[5:]) for event in events[:-1]]
    assert all(chunk["model"] == "script/echo" for chunk in chunks)
    assert len({chunk["id"] for chunk in chunks}) == 1
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "tok " * 4
    cost = 7 * INPUT_PRICE + 4 * OUTPUT_PRICE
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["cost"] == usd(cost)
    assert gateway.key_row(account.key_hash).usage_micros == cost


def test_a_finished_stream_leaves_its_provider_connection_for_the_next_request(
    gateway: Gateway,
) -> None:
    """A stream read to its end after ``[DONE]`` returns its connection to the pool: the next
    request does not open a new one (which cost every stream a TCP handshake)."""
    account = gateway.key(limit=1)
    for _ in range(2):
        answer = gateway.chat(account.key, model="script/echo", stream=True, max_tokens=2)
        assert answer.status_code == 200 and answer.text.endswith("data: [DONE]\n\n")
    assert gateway.upstream.ports[-1] in gateway.upstream.ports[:-1]


def test_a_stream_without_include_usage_has_no_usage_chunk_but_is_charged(
    gateway: Gateway,
) -> None:
    account = gateway.key(limit=1)
    with gateway.stream(
        account.key, model="script/echo", messages=[{"role": "user", "content": "Hi"}], max_tokens=3
    ) as response:
        events = [line for line in response.iter_lines() if line.startswith("data:")]
    chunks = [json.loads(event[5:]) for event in events[:-1]]
    assert all("usage" not in chunk for chunk in chunks)
    sent = gateway.upstream.received("echo")[-1]
    assert sent["stream_options"] == {"include_usage": True}  # the gateway asked for it
    assert gateway.key_row(account.key_hash).usage_micros == 7 * INPUT_PRICE + 3 * OUTPUT_PRICE


def test_a_browser_page_may_call_the_gateway_with_its_key(gateway: Gateway) -> None:
    for method, path in (("POST", "/chat/completions"), ("GET", "/generation"), ("GET", "/models")):
        preflight = gateway.client.options(
            path,
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code in (200, 204), (path, preflight.text)
        assert preflight.headers["access-control-allow-origin"] == "*"
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert (
            "authorization" in allowed
            and "access-control-allow-credentials" not in preflight.headers
        )
    account = gateway.key(limit=1)
    answer = gateway.client.post(
        "/chat/completions",
        json={
            "model": "script/echo",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 1,
        },
        headers={"Authorization": f"Bearer {account.key}", "Origin": "https://app.example"},
    )
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"
