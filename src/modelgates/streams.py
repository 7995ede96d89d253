"""``Stream`` and ``AsyncStream``: a streamed answer's server-sent events as models, read from the
open HTTP response one event at a time.

The response is closed when the stream is left, however it is left: at its end, on an error,
by ``close()`` / ``aclose()`` or the ``with`` block, by breaking out of the loop (the loop's
generator is then finalized: at once in CPython for ``for``; for ``async for``, by the event
loop's async-generator hook, soon after), or when the stream is garbage. A stream that is left
early makes the server cancel the provider's request; the key is charged for what was relayed.

The decoding (``_Decoder``) is written once; the sync and async classes only read lines.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from modelgates import _logging, errors
from modelgates._call import transport_error

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["AsyncStream", "Stream"]

EventT = TypeVar("EventT", bound=BaseModel)

#: The event that ends a stream (OpenAI's format).
DONE = "[DONE]"


class _Decoder(Generic[EventT]):
    """Server-sent events (the WHATWG format: ``data:`` lines joined by a blank line; comments
    and other fields ignored) to models, ``[DONE]`` to the end, and an ``{"error": ...}`` event
    (what the server sends when the provider breaks off mid-stream) to the SDK's error."""

    def __init__(self, model: type[EventT], response: httpx.Response, operation: str) -> None:
        self.model = model
        self.response = response
        self.operation = operation
        self.data: list[str] = []
        self.done = False
        self.events = 0

    def line(self, line: str) -> EventT | None:
        """Feed one line; the event it completes, if any. Sets ``done`` at ``[DONE]``."""
        if line:
            field, _, value = line.partition(":")
            if field == "data":
                self.data.append(value[1:] if value.startswith(" ") else value)
            return None
        if not self.data:
            return None
        data, self.data = "\n".join(self.data), []
        if data == DONE:
            self.done = True
            return None
        self.events += 1
        return self._event(data)

    def ended(self) -> errors.ConnectionError:
        """The error for a stream that ended without ``[DONE]``: its answer is cut short."""
        return errors.ConnectionError(
            f"{self._where()}: the stream ended before its end ([DONE]) after {self.events} events"
        )

    def broken(self, exc: Exception) -> errors.ConnectionError:
        """The SDK's error for a failure while reading (the connection reset, a read timeout)."""
        return transport_error(self.response.request, exc, " mid-stream")

    def _where(self) -> str:
        request = self.response.request
        return f"{request.method} {request.url}"

    def _event(self, data: str) -> EventT:
        if data.startswith('{"error"'):
            # The server's own error shape, with the status it would have answered.
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            code = parsed.get("error", {}).get("code") if isinstance(parsed, dict) else None
            if isinstance(code, int):
                raise errors.error_from_response(code, self.response.headers, data)
        try:
            return self.model.model_validate_json(data)
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_input=False)
            where = ", ".join(".".join(str(p) for p in d["loc"]) or "(event)" for d in problems)
            raise errors.ResponseValidationError(
                f"event {self.events} of {self.operation}'s stream does not match "
                f"{self.model.__name__} (at {where})",
                status_code=self.response.status_code,
                headers=self.response.headers,
                body=data,
            ) from exc


class _StreamBase(Generic[EventT]):
    def __init__(
        self,
        response: httpx.Response,
        model: type[EventT],
        operation: str,
        log: _logging.DebugLog,
    ) -> None:
        self.response = response
        self._decoder = _Decoder(model, response, operation)
        self._log = log
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _mark_closed(self) -> bool:
        """Whether this call is the one that closes (a stream is closed once)."""
        if self._closed:
            return False
        self._closed = True
        finished = "at its end" if self._decoder.done else "before its end"
        _logging.log_stream_closed(self._log, self.response, self._decoder.events, finished)
        return True


class Stream(_StreamBase[EventT]):
    """The events of a streamed answer; iterate once. Leaving the loop closes the response."""

    def __iter__(self) -> Iterator[EventT]:
        if self._closed:
            return  # iterated already, or closed: nothing more to read
        decoder = self._decoder
        try:
            for line in self.response.iter_lines():
                event = decoder.line(line)
                if event is not None:
                    yield event
                elif decoder.done:
                    return
            if not self._closed:
                raise decoder.ended()
        except httpx.StreamClosed:
            return  # closed by the caller between events
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise decoder.broken(exc) from exc
        finally:
            self.close()

    def close(self) -> None:
        if self._mark_closed():
            self.response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A stream dropped unread must not keep its connection busy in the pool.
        if not getattr(self, "_closed", True):
            self.close()


class AsyncStream(_StreamBase[EventT]):
    """The async twin of :class:`Stream`."""

    async def __aiter__(self) -> AsyncIterator[EventT]:
        if self._closed:
            return
        decoder = self._decoder
        try:
            async for line in self.response.aiter_lines():
                event = decoder.line(line)
                if event is not None:
                    yield event
                elif decoder.done:
                    return
            if not self._closed:
                raise decoder.ended()
        except httpx.StreamClosed:
            return
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise decoder.broken(exc) from exc
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._mark_closed():
            await self.response.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Closing needs the event loop; a stream dropped unread in a running asyncio loop has
        # its response closed there, as asyncio finalizes an abandoned async generator.
        if getattr(self, "_closed", True):
            return
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop running here: the client's own close() releases the connection
        task = loop.create_task(self.aclose())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)


# Tasks closing dropped async streams: the loop keeps only weak references to its tasks.
_CLOSING: set[object] = set()
