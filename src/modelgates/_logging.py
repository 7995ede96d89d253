"""Debug logging of requests and answers, with the secrets taken out.

A debug log is the first thing a user pastes into a bug report, so it must not carry a key, a code
or a verifier: header values that authenticate are replaced, and so are the values of the
``code``, ``code_verifier`` and ``key`` fields at any depth of a JSON body, and of ``id``, which is
where the create-code answer puts the code. A body that is not JSON is described by its size only,
since nothing can be said about what it holds.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

REDACTED = "[REDACTED]"
SECRET_FIELDS = frozenset({"code", "code_verifier", "key", "id"})
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

logger = logging.getLogger("modelgates")


def redact_headers(headers: httpx.Headers) -> dict[str, str]:
    return {
        name: REDACTED if name.lower() in SECRET_HEADERS else value
        for name, value in headers.items()
    }


def redact_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            name: REDACTED if name in SECRET_FIELDS else redact_json(item)
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value


def describe_body(content: bytes) -> str:
    if not content:
        return "(empty)"
    try:
        parsed = json.loads(content)
    except ValueError:  # includes UnicodeDecodeError
        return f"({len(content)} bytes, not JSON)"
    return json.dumps(redact_json(parsed), ensure_ascii=False)


def log_request(log: logging.Logger, request: httpx.Request, attempt: int) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "request %s %s (attempt %d) headers=%s body=%s",
            request.method,
            request.url,
            attempt,
            redact_headers(request.headers),
            describe_body(request.content),
        )


def log_response(log: logging.Logger, response: httpx.Response, elapsed: float) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "response %s %s -> %d in %.1f ms headers=%s body=%s",
            response.request.method,
            response.request.url,
            response.status_code,
            elapsed * 1000,
            redact_headers(response.headers),
            describe_body(response.content),
        )


def log_failure(
    log: logging.Logger, request: httpx.Request, error: Exception, elapsed: float
) -> None:
    log.debug(
        "failure %s %s after %.1f ms: %s: %s",
        request.method,
        request.url,
        elapsed * 1000,
        type(error).__name__,
        error,
    )


def log_retry(log: logging.Logger, request: httpx.Request, delay: float) -> None:
    log.debug("retrying %s %s in %.3f s", request.method, request.url, delay)
