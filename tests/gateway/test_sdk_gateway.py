"""The SDK's gateway calls (``mg.chat``, ``mg.models``, ``mg.generations``) against a real
server, whose provider is the scripted one (tests/gateway/upstream.py: the one stand-in, since
no model provider is reachable here)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from decimal import Decimal

import anyio
import pytest

from modelgates import ModelGates, errors
from modelgates.funcs import chat_send, generations_get, models_list
from modelgates.models.chat import ChatCompletion, ChatCompletionChunk
from modelgates.retries import RetryConfig
from modelgates.streams import AsyncStream, Stream
from tests.gateway.conftest import Gateway, usd
from tests.gateway.upstream import INPUT_PRICE, OUTPUT_PRICE

HELLO = [{"role": "user", "content": "Hello"}]
NO_RETRIES = RetryConfig(strategy="none")


def client(gateway: Gateway, key: str = "") -> ModelGates:
    return ModelGates(api_key=key, server_url=gateway.api_url, retry_config=NO_RETRIES)


def cost(prompt: int, completion: int) -> float:
    return usd(prompt * INPUT_PRICE + completion * OUTPUT_PRICE)


def eventually(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.02)


def test_send_returns_the_completion_with_its_cost(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    with client(gateway, account.key) as mg:
        answer = mg.chat.send(
            model="script/echo", messages=HELLO, max_tokens=3, temperature=0.2, seed=7
        )
        assert isinstance(answer, ChatCompletion)
        assert answer.model == "script/echo" and answer.id.startswith("gen-")
        assert answer.choices[0].message.content == "tok tok tok"
        assert answer.usage is not None and answer.usage.completion_tokens == 3
        assert answer.usage.cost == Decimal(str(cost(7, 3)))
        assert answer.model_extra is not None
        assert answer.model_extra["system_fingerprint"] == "fp_scripted"  # the provider's own
        record = mg.generations.get(id=answer.id).data
    sent = gateway.upstream.received("echo")[-1]
    assert sent["temperature"] == 0.2 and sent["seed"] == 7  # options pass through
    assert record.model == "script/echo" and record.tokens_completion == 3
    assert float(record.total_cost) == cost(7, 3) and not record.streamed


def test_a_stream_yields_chunk_models_and_the_usage_chunk(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    with client(gateway, account.key) as mg:
        stream = mg.chat.send(
            model="script/echo",
            messages=HELLO,
            stream=True,
            max_tokens=4,
            stream_options={"include_usage": True},
        )
        assert isinstance(stream, Stream)
        chunks = list(stream)
        assert stream.closed and stream.response.is_closed
        generation = mg.generations.get(id=chunks[0].id).data
    assert all(isinstance(chunk, ChatCompletionChunk) for chunk in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "tok " * 4
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert float(chunks[-1].usage.cost or 0) == cost(7, 4)
    assert generation.streamed and generation.status == "completed"


def test_leaving_a_stream_early_closes_it_and_the_provider_request(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    upstream = gateway.upstream
    with client(gateway, account.key) as mg:
        # break out of the loop
        before = upstream.cancelled
        stream = mg.chat.send(model="script/slow", messages=HELLO, stream=True)
        for index, chunk in enumerate(stream):
            if index == 1:
                left_id = chunk.id
                break
        assert stream.closed and stream.response.is_closed
        eventually(lambda: upstream.cancelled == before + 1)
        left = mg.generations.get(id=left_id).data
        assert left.cancelled and left.status == "cancelled"

        # a with block
        with mg.chat.send(model="script/slow", messages=HELLO, stream=True) as stream:
            next(iter(stream))
        assert stream.response.is_closed
        eventually(lambda: upstream.cancelled == before + 2)

        # garbage, never iterated
        dropped = mg.chat.send(model="script/slow", messages=HELLO, stream=True)
        response = dropped.response
        del dropped
        gc.collect()
        assert response.is_closed
        eventually(lambda: upstream.cancelled == before + 3)


def test_402_is_payment_required_with_what_the_limit_leaves(gateway: Gateway) -> None:
    # Not even one output token (0.001 USD) fits 0.0005 USD.
    account = gateway.key(limit=0.0005)
    sent = len(gateway.upstream.requests)
    with client(gateway, account.key) as mg:
        for stream in (False, True):
            with pytest.raises(errors.PaymentRequiredResponseError) as refused:
                mg.chat.send(model="script/echo", messages=HELLO, stream=stream)
            assert refused.value.status_code == 402
            assert refused.value.limit_remaining == Decimal("0.0005")
            assert refused.value.reason == "limit_exceeded"
        result = chat_send(mg, model="script/echo", messages=HELLO)
    assert not result.ok and isinstance(result.error, errors.PaymentRequiredResponseError)
    assert len(gateway.upstream.requests) == sent  # refused before anything went upstream


def test_a_stream_the_provider_breaks_off_raises_the_servers_error(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    with client(gateway, account.key) as mg:
        stream = mg.chat.send(model="script/break", messages=HELLO, stream=True)
        got = []
        with pytest.raises(errors.ModelGatesDefaultError) as broke:
            for chunk in stream:
                got.append(chunk)
        assert len(got) == 3  # what was relayed before it broke
        assert broke.value.status_code == 502 and broke.value.data is not None
        assert stream.response.is_closed


def test_provider_failures_map_to_the_sdks_errors(gateway: Gateway) -> None:
    account = gateway.key(limit=1)
    with client(gateway, account.key) as mg:
        with pytest.raises(errors.ModelGatesDefaultError) as down:
            mg.chat.send(model="down/any", messages=HELLO)
        assert down.value.status_code == 502
        with pytest.raises(errors.BadRequestResponseError) as refused:
            mg.chat.send(model="script/refuse", messages=HELLO, stream=True)
        assert refused.value.data is not None and refused.value.data.metadata is not None
        assert refused.value.data.metadata["provider_error"] == "bad parameter"
        with pytest.raises(errors.BadRequestResponseError) as unknown:
            mg.chat.send(model="script/nope", messages=HELLO)
        assert unknown.value.data is not None and unknown.value.data.metadata is not None
        assert unknown.value.data.metadata["field"] == "model"
        with pytest.raises(errors.RequestValidationError):
            mg.chat.send(model="script/echo", messages=[])  # checked before anything is sent


def test_models_list_is_the_catalogue_without_a_key(gateway: Gateway) -> None:
    with client(gateway) as mg:
        models = {m.id: m for m in mg.models.list().data}
        result = models_list(mg)
    assert models["script/echo"].pricing.prompt == "0.00001"
    assert models["script/echo"].pricing.completion == "0.001"
    assert result.ok and {m.id for m in result.value.data} == set(models)


def test_another_keys_generation_is_not_found(gateway: Gateway) -> None:
    account, other = gateway.key(limit=1), gateway.key()
    with client(gateway, account.key) as mg:
        answer = mg.chat.send(model="script/echo", messages=HELLO, max_tokens=1)
    with client(gateway, other.key) as mg:
        result = generations_get(mg, id=answer.id)
    assert not result.ok and isinstance(result.error, errors.NotFoundResponseError)


def test_the_async_twins(gateway: Gateway) -> None:
    # Keys are made (with asyncio.run) before the test's own event loop runs.
    account, poor = gateway.key(limit=1), gateway.key(limit=0.0005)

    async def main() -> None:
        async with client(gateway, account.key) as mg:
            answer = await mg.chat.send_async(model="script/echo", messages=HELLO, max_tokens=2)
            assert answer.usage is not None and float(answer.usage.cost or 0) == cost(7, 2)
            stream = await mg.chat.send_async(
                model="script/echo",
                messages=HELLO,
                stream=True,
                max_tokens=2,
                stream_options={"include_usage": True},
            )
            assert isinstance(stream, AsyncStream)
            chunks = [chunk async for chunk in stream]
            assert stream.response.is_closed
            assert chunks[-1].usage is not None and float(chunks[-1].usage.cost or 0) == cost(7, 2)
            record = (await mg.generations.get_async(id=chunks[0].id)).data
            assert record.streamed and record.status == "completed"
            assert {m.id for m in (await mg.models.list_async()).data} >= {"script/echo"}

            before = gateway.upstream.cancelled
            stream = await mg.chat.send_async(model="script/slow", messages=HELLO, stream=True)
            async for _ in stream:
                break  # asyncio finalizes the loop's generator, which closes the response
            with anyio.fail_after(10):
                while not stream.response.is_closed:
                    await anyio.sleep(0.01)
            async with await mg.chat.send_async(
                model="script/slow", messages=HELLO, stream=True
            ) as stream:
                async for _ in stream:
                    break
            assert stream.response.is_closed
            with anyio.fail_after(10):
                while gateway.upstream.cancelled < before + 2:
                    await anyio.sleep(0.02)

        async with client(gateway, poor.key) as broke:
            with pytest.raises(errors.PaymentRequiredResponseError):
                await broke.chat.send_async(model="script/echo", messages=HELLO, stream=True)

    anyio.run(main)


def test_debug_logs_say_what_happened_without_the_conversation(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    account = gateway.key(limit=1)
    private = [{"role": "user", "content": "the plan is purple"}]
    with ModelGates(api_key=account.key, server_url=gateway.api_url, debug=True) as mg:
        mg.chat.send(model="script/echo", messages=private, max_tokens=2)
        list(mg.chat.send(model="script/echo", messages=private, max_tokens=2, stream=True))
    text = caplog.text
    assert "purple" not in text
    assert "tok tok" not in text  # nor the answer
    assert account.key not in text
    assert "[18 characters]" in text  # the prompt's length: enough to debug with
    assert "body=(streamed)" in text
    assert "closed at its end after 3 events" in text  # two tokens and the finish
