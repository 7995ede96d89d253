"""The gateway through a client we did not write: the ``openai`` package, pointed at a real
server whose provider is the scripted one (tests/gateway/upstream.py: the one stand-in, since no
model provider is reachable here)."""

from __future__ import annotations

import openai
import pytest

from tests.gateway.conftest import Gateway, usd
from tests.gateway.upstream import INPUT_PRICE, OUTPUT_PRICE

HELLO = [{"role": "user", "content": "Hello"}]


def openai_client(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.api_url, api_key=key, max_retries=0)


def test_a_completion(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    with openai_client(gateway, account.key) as client:
        answer = client.chat.completions.create(
            model="script/echo",
            messages=HELLO,
            max_tokens=2,
        )
    assert answer.model == "script/echo"
    assert answer.choices[0].message.content == "tok tok"
    assert answer.usage is not None and answer.usage.completion_tokens == 2
    assert answer.usage.model_extra is not None
    assert answer.usage.model_extra["cost"] == usd(7 * INPUT_PRICE + 2 * OUTPUT_PRICE)
    assert gateway.key_row(account.key_hash).usage_micros == 7 * INPUT_PRICE + 2 * OUTPUT_PRICE


def test_a_stream_with_usage(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    with openai_client(gateway, account.key) as client:
        stream = client.chat.completions.create(
            model="script/echo",
            messages=HELLO,
            max_tokens=3,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "tok " * 3
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == 3
    assert last.usage.model_extra is not None
    assert last.usage.model_extra["cost"] == usd(7 * INPUT_PRICE + 3 * OUTPUT_PRICE)
    assert {chunk.id for chunk in chunks} == {chunks[0].id}
    assert chunks[0].id.startswith("gen-")


def test_models_and_errors(gateway: Gateway) -> None:
    account = gateway.key(limit=0.0005)
    with openai_client(gateway, account.key) as client:
        ids = {model.id for model in client.models.list()}
        assert {"script/echo", "down/any"} <= ids
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(model="script/echo", messages=HELLO)
        assert refused.value.status_code == 402
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="script/nope", messages=HELLO)
    with openai_client(gateway, "sk-mg-v1-" + "0" * 64) as client:
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="script/echo", messages=HELLO)
