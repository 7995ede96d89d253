"""How the SDK reads a stream of server-sent events, and retries (or not) a chat completion,
against a scripted server: the cases a real gateway does not produce on demand (a stream cut
short without ``[DONE]``, an event that is not a chunk, comments and multi-line data)."""

from __future__ import annotations

import gc
import json
from typing import Any

import anyio
import pytest

from modelgates import ModelGates, errors
from tests.sdk.scripted_server import ScriptedServer

HELLO = [{"role": "user", "content": "Hi"}]
SSE = {"Content-Type": "text/event-stream"}


def chunk(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "model": "p/m",
        "choices": [{"index": 0, "delta": {"content": text}}],
        **extra,
    }


def events(*items: str) -> str:
    return "".join(f"{item}\n\n" for item in items)


def test_events_are_read_as_the_format_says(server: ScriptedServer, mg: ModelGates) -> None:
    first = json.dumps(chunk("a"))
    body = (
        ": a comment, ignored\n\n"
        f"event: message\ndata: {first}\n\n"
        # One event's data over two lines (joined with a newline, which JSON allows).
        'data: {"id": "gen-1", "model": "p/m",\ndata: "choices": [{"delta": {"content": "b"}}]}'
        "\r\n\r\n"
        "data: [DONE]\n\n"
        f"data: {json.dumps(chunk('after the end'))}\n\n"
    )
    server.answer(200, body=body, headers=SSE)
    stream = mg.chat.send(model="p/m", messages=HELLO, stream=True)
    assert [c.choices[0].delta.content for c in stream] == ["a", "b"]
    assert stream.closed
    (sent,) = server.received
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.json() == {"model": "p/m", "messages": HELLO, "stream": True}


def test_a_stream_cut_short_is_a_connection_error(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, body=events(f"data: {json.dumps(chunk('a'))}"), headers=SSE)
    stream = mg.chat.send(model="p/m", messages=HELLO, stream=True)
    got = []
    with pytest.raises(errors.ConnectionError, match=r"before its end \(\[DONE\]\) after 1 "):
        for item in stream:
            got.append(item)
    assert len(got) == 1 and stream.response.is_closed


def test_an_event_that_is_not_a_chunk(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, body=events('data: {"choices": []}', "data: [DONE]"), headers=SSE)
    with pytest.raises(errors.ResponseValidationError, match="ChatCompletionChunk"):
        list(mg.chat.send(model="p/m", messages=HELLO, stream=True))


def test_an_error_event_raises_the_error_of_its_status(
    server: ScriptedServer, mg: ModelGates
) -> None:
    broke = {"error": {"code": 504, "message": "too slow", "metadata": None}}
    server.answer(
        200, body=events(f"data: {json.dumps(chunk('a'))}", f"data: {json.dumps(broke)}"),
        headers=SSE,
    )  # fmt: skip
    stream = mg.chat.send(model="p/m", messages=HELLO, stream=True)
    with pytest.raises(errors.ModelGatesDefaultError, match="too slow") as raised:
        list(stream)
    assert raised.value.status_code == 504


def test_a_completion_is_retried_only_when_it_surely_was_not_acted_on(
    server: ScriptedServer, mg: ModelGates
) -> None:
    server.error(503, "busy")
    server.answer(200, body=events(f"data: {json.dumps(chunk('a'))}", "data: [DONE]"), headers=SSE)
    assert len(list(mg.chat.send(model="p/m", messages=HELLO, stream=True))) == 1
    assert len(server.received) == 2  # 503 says it was not acted on: retried

    server.error(502, "provider down")
    with pytest.raises(errors.ModelGatesDefaultError):
        mg.chat.send(model="p/m", messages=HELLO, stream=True)
    server.drop()  # sent, then the connection lost: it may have been charged
    with pytest.raises(errors.ConnectionError):
        mg.chat.send(model="p/m", messages=HELLO)
    assert len(server.received) == 4  # neither was retried


def test_the_body_passes_through_and_options_stay_out(
    server: ScriptedServer, mg: ModelGates
) -> None:
    answer = {
        "id": "gen-2",
        "model": "p/m",
        "choices": [{"message": {"role": "assistant", "content": "x"}, "logprobs": None}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "cost": 0.5},
        "provider": "scripted",
    }
    server.answer(200, answer)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"default": None}}}]
    got = mg.chat.send(
        model="p/m",
        messages=HELLO,
        tools=tools,
        temperature=0,
        stop=None,
        timeout_ms=5000,
        http_headers={"X-Trace": "1"},
    )
    (sent,) = server.received
    assert sent.json() == {"model": "p/m", "messages": HELLO, "tools": tools, "temperature": 0}
    assert sent.headers["x-trace"] == "1"
    assert got.model_extra == {"provider": "scripted"} and str(got.usage.cost) == "0.5"  # type: ignore[union-attr]


def test_a_payment_required_error_without_metadata(server: ScriptedServer, mg: ModelGates) -> None:
    server.error(402, "no credit")
    with pytest.raises(errors.PaymentRequiredResponseError) as refused:
        mg.chat.send(model="p/m", messages=HELLO)
    assert refused.value.limit_remaining is None and refused.value.reason is None


@pytest.mark.anyio
async def test_an_async_stream_dropped_unread_is_closed_on_the_loop(
    server: ScriptedServer,
) -> None:
    server.answer(200, body=events(f"data: {json.dumps(chunk('a'))}", "data: [DONE]"), headers=SSE)
    async with ModelGates(server_url=server.url) as amg:
        stream = await amg.chat.send_async(model="p/m", messages=HELLO, stream=True)
        response = stream.response
        del stream
        gc.collect()
        for _ in range(100):
            if response.is_closed:
                break
            await anyio.sleep(0.01)
        assert response.is_closed
