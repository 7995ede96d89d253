"""A chat completion through the gateway: read what matters of the body, hold, forward, relay,
settle.

Only ``model``, ``messages``' presence, ``stream``, ``stream_options`` and the output caps are
read; the rest of the body goes to the provider as the client sent it. A streamed answer is
relayed event by event as the provider sends it, and the next event is read from the provider
only once the last was handed to the client's connection (whose ``send`` waits while the client
reads slowly), so a slow client never makes the server buffer an answer.

Providers are called with aiohttp: one session per provider, for the life of the process. Its
client costs ~80 µs of CPU a completion where httpx's cost ~1.2 ms (docs/performance.md), and a
gateway's own cost is mostly its provider calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import anyio
from yarl import URL

from modelgates.server.gateway.providers import Catalogue, ModelEntry, Provider
from modelgates.server.services import ceiling, keys, money
from modelgates.server.services.ceiling import Hold, Outcome
from modelgates.server.services.errors import InvalidInput, ServiceError
from modelgates.server.store import Store

logger = logging.getLogger("modelgates.server.gateway")

__all__ = ["Answer", "Gateway", "GatewayUnavailable", "Meter", "ProviderFailed", "StreamedAnswer"]

#: Told of each completion this process settled, once: its model, how it ended, its settlement.
Meter = Callable[[str, Outcome, ceiling.Settlement], None]

#: How much of a provider's error body is read, and passed on in ``metadata.provider_error``.
_MAX_PROVIDER_ERROR_BYTES = 64 * 1024
_MAX_PROVIDER_MESSAGE = 500
#: The longest server-sent event line read from a provider (a tool call's arguments in one).
_MAX_EVENT_BYTES = 2 * 1024 * 1024
#: How long a stream's end is waited for after its ``[DONE]``, to keep the connection.
_DRAIN_SECONDS = 0.5
#: The header that says the request's output cap was lowered, and to what.
CAPPED_HEADER = "X-ModelGates-Max-Tokens-Capped"


class GatewayUnavailable(ServiceError):
    status = 503


class ProviderFailed(ServiceError):
    """The provider could not be reached (502), was too slow (504), or answered an error of its
    own (its status)."""

    def __init__(self, status: int, message: str, provider_error: str | None = None) -> None:
        super().__init__(
            message, None if provider_error is None else {"provider_error": provider_error}
        )
        self.status = status


@dataclass(frozen=True)
class ChatRequest:
    """What the gateway reads of a body."""

    body: dict[str, Any]
    #: The size of the body as the client sent it.
    body_bytes: int
    model: ModelEntry
    stream: bool
    #: The client asked for the usage chunk at the end of a stream.
    include_usage: bool
    #: ``max_completion_tokens``, else ``max_tokens``, if the client set one.
    requested_max_tokens: int | None
    #: The field the gateway writes its own cap into.
    cap_field: str


def read_request(raw: bytes, catalogue: Catalogue) -> ChatRequest:
    """The body, checked as far as the gateway relies on it; InvalidInput naming the field
    (never echoing the value) otherwise."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput("body", "is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise InvalidInput("model", "is required: a model id from GET /api/v1/models")
    model = catalogue.models.get(model_id)
    if model is None:
        raise InvalidInput("model", "is not a model this server serves (GET /api/v1/models)")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("messages", "is required: a non-empty list of messages")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidInput("messages", "must hold message objects, each with a role")
        content = message.get("content")
        if not (
            content is None
            or isinstance(content, str)
            or (isinstance(content, list) and all(isinstance(part, dict) for part in content))
        ):
            raise InvalidInput("messages", "content must be text or a list of content parts")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidInput("stream", "must be true or false")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidInput("stream_options", "must be an object")
    requested = None
    cap_field = "max_tokens"
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10**9:
            raise InvalidInput(name, "must be a whole number from 1")
        if requested is None:
            requested, cap_field = value, name
    return ChatRequest(
        body=body,
        body_bytes=len(raw),
        model=model,
        stream=stream,
        include_usage=bool(options and options.get("include_usage") is True),
        requested_max_tokens=requested,
        cap_field=cap_field,
    )


@dataclass
class Answer:
    """A whole answer, ready to send."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StreamedAnswer:
    """Server-sent events, to be sent as they come. :meth:`aclose` must be called however the
    sending ends: it settles a stream left before its end, whether its events were being read
    or not one was (the client left before the first)."""

    events: AsyncGenerator[bytes, None]
    _abandon_unread: Callable[[], Awaitable[None]]
    headers: dict[str, str] = field(default_factory=dict)

    async def aclose(self) -> None:
        await self.events.aclose()  # a stream being read settles as it closes
        await self._abandon_unread()


class Gateway:
    """The catalogue and one pooled HTTP session per provider, for the life of the process."""

    def __init__(self, catalogue: Catalogue, meter: Meter | None = None) -> None:
        self.catalogue = catalogue
        self._meter = meter
        self._urls = {
            provider.name: URL(provider.base_url.rstrip("/") + "/chat/completions")
            for provider in catalogue.providers
        }
        # Made on first use: a session belongs to the event loop it was made in.
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    @property
    def configured(self) -> bool:
        return bool(self.catalogue.models)

    @property
    def longest_request_seconds(self) -> float:
        """How long a request can take at most: its provider's whole deadline, with a margin
        for relaying what the provider had sent by then to a client that reads slowly."""
        return max((p.timeout_seconds * 2 for p in self.catalogue.providers), default=0.0)

    async def aclose(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    def _session(self, provider: Provider) -> aiohttp.ClientSession:
        session = self._sessions.get(provider.name)
        if session is None:
            session = self._sessions[provider.name] = _session_for(provider)
        return session

    def read(self, raw: bytes) -> ChatRequest:
        """The request as far as the gateway relies on it: GatewayUnavailable when no model is
        configured, InvalidInput naming the field (never echoing the value) when it is wrong."""
        if not self.configured:
            raise GatewayUnavailable(
                "No models are configured: the operator sets MODELGATES_PROVIDERS_FILE "
                "(or serve --providers FILE)."
            )
        return read_request(raw, self.catalogue)

    async def complete(
        self,
        store: Store,
        credential: keys.Credential,
        request: ChatRequest,
        *,
        now: datetime,
        clock: Callable[[], datetime],
        referer_origin: str | None,
    ) -> Answer | StreamedAnswer:
        """Hold (looking up the caller's key in the hold's transaction), forward, and answer."""
        held = await ceiling.hold(
            store,
            credential,
            model=request.model.id,
            price=request.model.price,
            body_bytes=request.body_bytes,
            requested_max_tokens=request.requested_max_tokens,
            streamed=request.stream,
            referer_origin=referer_origin,
            now=now,
        )
        provider = request.model.provider
        session = self._session(provider)
        call = _Call(store, request, held, clock, session, self._urls[provider.name], self._meter)
        headers = {CAPPED_HEADER: str(held.max_tokens)} if held.capped else {}
        if request.stream:
            await call.open_stream()
            return StreamedAnswer(call.relay(), call.abandon_unread, headers)
        status, body = await call.whole()
        return Answer(status, body, headers)


def _session_for(provider: Provider) -> aiohttp.ClientSession:
    headers = {"Content-Type": "application/json"}
    if provider.api_key:
        headers["Authorization"] = f"Bearer {provider.api_key}"
    return aiohttp.ClientSession(
        headers=headers,
        # The whole request, a stream's every event included, within the provider's deadline.
        timeout=aiohttp.ClientTimeout(
            total=provider.timeout_seconds, connect=provider.connect_timeout_seconds
        ),
        connector=aiohttp.TCPConnector(limit=0),
        # A provider's cookies are not kept: they would go with every user's requests.
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class _Call:
    """One completion's trip to its provider and back, and its settlement."""

    def __init__(
        self,
        store: Store,
        request: ChatRequest,
        held: Hold,
        clock: Callable[[], datetime],
        session: aiohttp.ClientSession,
        url: URL,
        meter: Meter | None,
    ) -> None:
        self.store = store
        self.request = request
        self.held = held
        self.clock = clock
        self.session = session
        self.url = url
        self.provider = request.model.provider
        self._response: aiohttp.ClientResponse | None = None
        self._relaying = False
        self.meter = meter

    def _upstream_body(self) -> bytes:
        body = dict(self.request.body)
        body["model"] = self.request.model.upstream_id
        if self.held.max_tokens is not None:
            body[self.request.cap_field] = self.held.max_tokens
        if self.request.stream:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return json.dumps(body, ensure_ascii=False).encode()

    async def _post(self) -> aiohttp.ClientResponse:
        """The provider's response, its body not read yet; ProviderFailed (settled) when the
        provider cannot be reached or does not answer in time."""
        try:
            return await self.session.post(
                self.url,
                data=self._upstream_body(),
                # Provider redirects are not followed: a completion is a POST with a body.
                allow_redirects=False,
            )
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise await self._fail(error) from None

    async def _settle(
        self,
        outcome: Outcome,
        *,
        usage: Any = None,
        completion_bytes: int = 0,
        provider_status: int | None,
        answered: bool,
    ) -> ceiling.Settlement:
        """Settle the hold: from the provider's ``usage`` when it gave one, else estimated from
        what was sent and relayed when anything was answered, else nothing."""
        tokens = _tokens_of(usage)
        estimated = False
        if tokens is None:
            if answered:
                tokens = (
                    ceiling.estimate_tokens(self.held.prompt_bytes),
                    ceiling.estimate_tokens(completion_bytes) if completion_bytes else 0,
                )
                estimated = True
            else:
                tokens = (0, 0)
        with anyio.CancelScope(shield=True):  # a client that left must not stop the charge
            settlement = await ceiling.settle(
                self.store,
                self.held,
                self.request.model.price,
                outcome=outcome,
                tokens_prompt=tokens[0],
                tokens_completion=tokens[1],
                usage_estimated=estimated,
                provider_status=provider_status,
                now=self.clock(),
            )
        if settlement.applied and self.meter is not None:
            self.meter(self.request.model.id, outcome, settlement)
        return settlement

    async def _fail(self, error: Exception) -> ProviderFailed:
        """Settle a request that got no answer (nothing charged) and say why."""
        await self._settle("provider_error", provider_status=None, answered=False)
        if isinstance(error, asyncio.TimeoutError):
            return ProviderFailed(504, f"The provider {self.provider.name} did not answer in time.")
        logger.warning("provider %s unreachable: %s", self.provider.name, type(error).__name__)
        return ProviderFailed(502, f"The provider {self.provider.name} could not be reached.")

    async def _refused(self, response: aiohttp.ClientResponse) -> ProviderFailed:
        try:
            body = await _read_some(response, _MAX_PROVIDER_ERROR_BYTES)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            body = b""
        finally:
            response.close()
        await self._settle("provider_error", provider_status=response.status, answered=False)
        return ProviderFailed(
            response.status,
            f"The provider {self.provider.name} answered {response.status}.",
            _provider_message(body, self.provider.api_key),
        )

    async def whole(self) -> tuple[int, bytes]:
        response = await self._post()
        if response.status >= 400:
            raise await self._refused(response)
        try:
            raw = await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise await self._fail(error) from None
        finally:
            response.release()
        try:
            answer = json.loads(raw)
            if not isinstance(answer, dict):
                raise ValueError("not an object")
        except ValueError:
            raise await self._refused_unusable() from None
        settlement = await self._settle(
            "completed",
            usage=answer.get("usage"),
            completion_bytes=_text_bytes(answer.get("choices"), "message"),
            provider_status=response.status,
            answered=True,
        )
        answer["id"] = self.held.generation_id
        answer["model"] = self.request.model.id
        answer["usage"] = self._usage_out(answer.get("usage"), settlement)
        return 200, json.dumps(answer, ensure_ascii=False).encode()

    async def _refused_unusable(self) -> ProviderFailed:
        await self._settle("provider_error", provider_status=None, answered=False)
        return ProviderFailed(502, f"The provider {self.provider.name} sent an unusable answer.")

    @staticmethod
    def _usage_out(usage: Any, settlement: ceiling.Settlement) -> dict[str, Any]:
        """The provider's usage (or, without one, the estimate charged) with the cost."""
        out = dict(usage) if isinstance(usage, dict) else {}
        out.setdefault("prompt_tokens", settlement.tokens_prompt)
        out.setdefault("completion_tokens", settlement.tokens_completion)
        out.setdefault("total_tokens", settlement.tokens_prompt + settlement.tokens_completion)
        out["cost"] = float(money.to_usd(settlement.charged))
        return out

    async def open_stream(self) -> None:
        """Send the request and read the provider's status, before answering the client: a
        provider that fails now gets its proper status, not a broken stream."""
        response = await self._post()
        if response.status >= 400:
            raise await self._refused(response)
        self._response = response

    async def abandon_unread(self) -> None:
        """Close and settle a stream whose events were never read (its client left before the
        first): cancelled, nothing relayed, the prompt estimated as in any answer without
        usage."""
        response = self._response
        if self._relaying or response is None:
            return
        self._response = None
        response.close()
        await self._settle("cancelled", provider_status=response.status, answered=True)

    async def relay(self) -> AsyncGenerator[bytes, None]:
        """The provider's events as the client gets them: ``id`` and ``model`` as the gateway
        names them, the provider's usage chunk replaced by one with the cost (sent only when the
        client asked for it), and ``[DONE]``."""
        self._relaying = True
        response = self._response
        if response is None:
            raise RuntimeError("open_stream() first")
        outcome: Outcome = "cancelled"
        usage: Any = None
        relayed = 0
        first: dict[str, Any] = {}
        failure: str | None = None
        ended = False
        try:
            pending = b""
            done = False
            while not done:
                # Whatever the provider has sent by now, relayed in one write: a burst of events
                # costs one send, and nothing waits for more to arrive.
                data = await response.content.readany()
                lines = (pending + data).split(b"\n")
                pending = b"" if not data else lines.pop()
                if len(pending) > _MAX_EVENT_BYTES:
                    raise ValueError("an event line too long")
                events = []
                for line in lines:
                    if not line.startswith(b"data:"):
                        continue  # blank lines between events, comments, event names
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(payload)
                    except ValueError:
                        continue
                    if not isinstance(chunk, dict):
                        continue
                    # Usage is held back (OpenAI sends "usage": null on every chunk when asked),
                    # and its own chunk replaced by ours, with the cost, at the end.
                    chunk_usage = chunk.pop("usage", None)
                    if chunk_usage is not None:
                        usage = chunk_usage
                        if not chunk.get("choices"):
                            continue
                    if not first:
                        first = {"created": chunk.get("created", 0)}
                    chunk["id"] = self.held.generation_id
                    chunk["model"] = self.request.model.id
                    relayed += _text_bytes(chunk.get("choices"), "delta")
                    events.append(b"data: " + json.dumps(chunk, ensure_ascii=False).encode())
                if events:
                    yield b"\n\n".join(events) + b"\n\n"
                if not data:
                    break  # the provider's stream ended without [DONE]
            if done:
                ended = await _drain(response)
            outcome = "completed"
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            outcome = "provider_error"
            if isinstance(error, asyncio.TimeoutError):
                failure = "did not finish in time"
            elif isinstance(error, ValueError):
                failure = f"sent an event too long (over {_MAX_EVENT_BYTES // 2**20} MiB)"
            else:
                failure = "broke off"
        finally:
            # A stream read to its end keeps its connection for the next one; any other is
            # closed, which is how the provider learns that its answer is no longer wanted.
            if ended:
                response.release()
            else:
                response.close()
            with anyio.CancelScope(shield=True):
                settlement = await self._settle(
                    outcome,
                    usage=usage,
                    completion_bytes=relayed,
                    provider_status=response.status,
                    answered=True,
                )
        if failure is not None:
            broke = {"code": 502, "message": f"The provider's stream {failure}.", "metadata": None}
            yield b"data: " + json.dumps({"error": broke}).encode() + b"\n\n"
            return
        if self.request.include_usage:
            last = {
                "id": self.held.generation_id,
                "object": "chat.completion.chunk",
                "created": first.get("created", 0),
                "model": self.request.model.id,
                "choices": [],
                "usage": self._usage_out(usage, settlement),
            }
            yield b"data: " + json.dumps(last).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"


def _tokens_of(usage: Any) -> tuple[int, int] | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (prompt, completion)
    ):
        return None
    return prompt, completion  # type: ignore[return-value]


def _text_bytes(choices: Any, part: str) -> int:
    """UTF-8 bytes of the text in the choices' ``message`` or ``delta`` (content, reasoning,
    tool-call arguments): what an estimate of completion tokens counts."""
    if not isinstance(choices, list):
        return 0
    total = 0
    for choice in choices:
        if isinstance(choice, dict):
            total += _strings_bytes(choice.get(part), skip="role")
    return total


def _strings_bytes(value: Any, skip: str) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, dict):
        return sum(_strings_bytes(v, skip) for k, v in value.items() if k != skip)
    if isinstance(value, list):
        return sum(_strings_bytes(v, skip) for v in value)
    return 0


async def _drain(response: aiohttp.ClientResponse) -> bool:
    """Read a stream's end after its ``[DONE]`` (the chunked body's last bytes), briefly, and
    whether it was reached: a response closed before its end loses its connection, and every
    stream would then open a new one to the provider."""
    with anyio.move_on_after(_DRAIN_SECONDS) as waited:
        try:
            while await response.content.readany():
                pass
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False  # the answer was whole; only the connection is lost
    return not waited.cancelled_caught


async def _read_some(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    while len(body) < limit:
        chunk = await response.content.readany()
        if not chunk:
            break
        body += chunk
    return bytes(body[:limit])


def _provider_message(body: bytes, api_key: str | None) -> str:
    """The provider's own error message (OpenAI's ``{"error": {"message"}}``), else its text;
    never the operator's key, should the provider repeat it."""
    text = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(error, str):
            text = error
    if api_key:
        text = text.replace(api_key, "[redacted]")
    printable = "".join(ch for ch in text if ch.isprintable()).strip()
    return printable[:_MAX_PROVIDER_MESSAGE] or "(no message)"
