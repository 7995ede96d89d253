"""Debug logging of requests and answers, with the secrets taken out.

A debug log is the first thing a user pastes into a bug report, so it must not carry a key, a code
or a verifier: header values that authenticate are replaced, and so are the values of the
``code``, ``code_verifier`` and ``key`` fields at any depth of a JSON body, and of ``id``, which is
where the create-code answer puts the code. A body that is not JSON is described by its size only,
since nothing can be said about what it holds.

What people say to a model, and what it answers, are theirs and no business of a bug report:
the text of chat messages (``content``, ``reasoning``, ``refusal``, a tool call's ``arguments``)
is logged by its length only. A streamed answer's events are not logged, only how many there
were when the stream closed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

REDACTED = "[REDACTED]"
SECRET_FIELDS = frozenset({"code", "code_verifier", "key", "id"})
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
PRIVATE_TEXT_FIELDS = frozenset({"content", "reasoning", "refusal", "arguments"})

logger = logging.getLogger("modelgates")


@dataclass(frozen=True)
class DebugLog:
    """Where one client's debug records go: ``logger``, at DEBUG.

    A client made with ``debug=True`` emits them whatever the logger's level, without changing
    it: a logger's level is shared by every client in the process, and one client's option must
    not turn on (or leave on) another's logging. Other clients log as the logger's own
    configuration says.
    """

    logger: logging.Logger
    always: bool = False

    def enabled(self) -> bool:
        return self.always or self.logger.isEnabledFor(logging.DEBUG)

    def debug(self, message: str, *args: object) -> None:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug(message, *args)
        elif self.always and not self.logger.disabled:
            # handle() skips the level check that debug() makes; filters and handlers still apply.
            record = self.logger.makeRecord(
                self.logger.name, logging.DEBUG, __file__, 0, message, args, None
            )
            self.logger.handle(record)


def redact_headers(headers: httpx.Headers) -> dict[str, str]:
    return {
        name: REDACTED if name.lower() in SECRET_HEADERS else value
        for name, value in headers.items()
    }


def redact_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _redact_field(name, item) for name, item in value.items()}
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value


def _redact_field(name: str, value: Any) -> Any:
    if name in SECRET_FIELDS:
        return REDACTED
    if name in PRIVATE_TEXT_FIELDS and value is not None:
        return f"[{len(value)} characters]" if isinstance(value, str) else REDACTED
    return redact_json(value)


def describe_body(content: bytes) -> str:
    if not content:
        return "(empty)"
    try:
        parsed = json.loads(content)
    except ValueError:  # includes UnicodeDecodeError
        return f"({len(content)} bytes, not JSON)"
    return json.dumps(redact_json(parsed), ensure_ascii=False)


def log_request(log: DebugLog, request: httpx.Request, attempt: int) -> None:
    if log.enabled():
        log.debug(
            "request %s %s (attempt %d) headers=%s body=%s",
            request.method,
            request.url,
            attempt,
            redact_headers(request.headers),
            describe_body(request.content),
        )


def log_response(log: DebugLog, response: httpx.Response, elapsed: float) -> None:
    if log.enabled():
        log.debug(
            "response %s %s -> %d in %.1f ms headers=%s body=%s",
            response.request.method,
            response.request.url,
            response.status_code,
            elapsed * 1000,
            redact_headers(response.headers),
            # A stream's body is read event by event, by its reader, never here.
            describe_body(response.content) if _is_read(response) else "(streamed)",
        )


def _is_read(response: httpx.Response) -> bool:
    import httpx  # loaded already: there is a response

    try:
        response.content  # noqa: B018 - raises ResponseNotRead for an open stream
    except httpx.ResponseNotRead:
        return False
    return True


def log_stream_closed(log: DebugLog, response: httpx.Response, events: int, finished: str) -> None:
    log.debug(
        "stream %s %s closed %s after %d events",
        response.request.method,
        response.request.url,
        finished,
        events,
    )


def log_failure(log: DebugLog, request: httpx.Request, error: Exception, elapsed: float) -> None:
    log.debug(
        "failure %s %s after %.1f ms: %s: %s",
        request.method,
        request.url,
        elapsed * 1000,
        type(error).__name__,
        error,
    )


def log_retry(log: DebugLog, request: httpx.Request, delay: float) -> None:
    log.debug("retrying %s %s in %.3f s", request.method, request.url, delay)
