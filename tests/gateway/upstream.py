"""A scripted OpenAI-compatible provider on a real socket: the one stand-in of the gateway tests,
since no model provider is reachable from here.

What it does is chosen by the model it is asked for (its id as the providers file names it):

- ``echo`` (and any model not named below): answers at once; ``usage.prompt_tokens`` is 7
  per message, one completion token a
  word of "tok", as many as ``max_tokens`` allows (16 at most);
- ``slow``: the same, streamed with 0.03 s between chunks (40 of them);
- ``nousage``: answers without ``usage``;
- ``fail``: 500 with OpenAI's error shape; ``refuse``: 400;
- ``leak``: 401 whose message repeats the API key it was sent;
- ``hang``: never answers;
- ``break``: streams three chunks, then drops the connection;
- ``huge``: streams three chunks, then one event of 3 MiB;
- ``garbage``: 200 with a body that is not JSON.

Every request it received is kept in :attr:`Upstream.requests` (and the client port it came
from in :attr:`Upstream.ports`); a stream the gateway closed before its end is counted in
:attr:`Upstream.cancelled`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import free_port


class Upstream:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.ports: list[int] = []
        self.cancelled = 0
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1
        )
        self._server = _Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> Upstream:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the scripted upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def received(self, model: str) -> list[dict[str, Any]]:
        return [body for body in self.requests if body.get("model") == model]

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        body["_authorization"] = request.headers.get("authorization")
        self.requests.append(body)
        self.ports.append(request.client.port if request.client else 0)
        model = body["model"]
        if model == "hang":
            await asyncio.sleep(3600)
        if model == "fail":
            return JSONResponse({"error": {"message": "upstream exploded"}}, status_code=500)
        if model == "refuse":
            return JSONResponse({"error": {"message": "bad parameter"}}, status_code=400)
        if model == "leak":  # a provider that repeats the operator's key in its error
            message = f"Incorrect API key provided: {body['_authorization'][7:]}"
            return JSONResponse({"error": {"message": message}}, status_code=401)
        if model == "garbage":
            return Response(b"<html>oops</html>", media_type="text/html")
        words = min(body.get("max_tokens") or body.get("max_completion_tokens") or 16, 16)
        if model == "slow":
            words = 40
        usage = {
            "prompt_tokens": 7 * len(body["messages"]),
            "completion_tokens": words,
            "total_tokens": 7 * len(body["messages"]) + words,
        }
        if not body.get("stream"):
            answer: dict[str, Any] = {
                "id": "chatcmpl-upstream",
                "object": "chat.completion",
                "created": 1700000000,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": " ".join(["tok"] * words)},
                        "finish_reason": "stop",
                    }
                ],
                "system_fingerprint": "fp_scripted",
            }
            if model != "nousage":
                answer["usage"] = usage
            return JSONResponse(answer)
        return StreamingResponse(
            self._stream(model, words, usage, body), media_type="text/event-stream"
        )

    async def _stream(
        self, model: str, words: int, usage: dict[str, int], body: dict[str, Any]
    ) -> AsyncIterator[bytes]:
        include_usage = (body.get("stream_options") or {}).get("include_usage") is True
        finished = False
        try:
            yield b": scripted upstream\n\n"
            for index in range(words):
                if model == "break" and index == 3:
                    raise ConnectionResetError("the scripted upstream drops the stream")
                if model == "huge" and index == 3:
                    yield b"data: " + b"x" * (3 * 1024 * 1024) + b"\n\n"
                chunk = {
                    "id": "chatcmpl-upstream",
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": "tok "}, "finish_reason": None}],
                    **({"usage": None} if include_usage else {}),
                }
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                if model == "slow":
                    await asyncio.sleep(0.03)
            end = {
                "id": "chatcmpl-upstream",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            yield f"data: {json.dumps(end)}\n\n".encode()
            if include_usage and model != "nousage":
                last = {"id": "chatcmpl-upstream", "choices": [], "usage": usage, "model": model}
                yield f"data: {json.dumps(last)}\n\n".encode()
            yield b"data: [DONE]\n\n"
            finished = True
        finally:
            if not finished and model != "break":
                self.cancelled += 1


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        pass


PROVIDERS_TOML = """
[providers.script]
base_url = "{base_url}"
api_key_env = "MODELGATES_TEST_UPSTREAM_KEY"
timeout_seconds = {timeout}

{models}

[providers.down]
base_url = "http://127.0.0.1:{closed_port}/v1"
timeout_seconds = 5

[[providers.down.models]]
id = "any"
input_per_million = 1
output_per_million = 2
"""

MODEL_TOML = """
[[providers.script.models]]
id = "{id}"
input_per_million = {input}
output_per_million = {output}
max_output_tokens = {max_output}
"""

#: Prices of the scripted models, USD per million tokens (micro-dollars per token).
INPUT_PRICE = 10
OUTPUT_PRICE = 1000
MAX_OUTPUT = 64
SCRIPTED = (
    "echo",
    "slow",
    "nousage",
    "fail",
    "refuse",
    "leak",
    "hang",
    "break",
    "huge",
    "garbage",
)


def providers_toml(upstream: Upstream, timeout: float = 2.0) -> str:
    models = "".join(
        MODEL_TOML.format(id=m, input=INPUT_PRICE, output=OUTPUT_PRICE, max_output=MAX_OUTPUT)
        for m in SCRIPTED
    )
    return PROVIDERS_TOML.format(
        base_url=upstream.base_url, timeout=timeout, models=models, closed_port=free_port()
    )
