"""The one ASGI layer every HTTP request passes through, outside all our routes.

It gives the request its id, adds the headers every answer carries (``api/headers.py``,
``web/headers.py``, ``transport.py`` say which and why), answers an unexpected error with a
500 in the error shape, and logs and measures the request (``observability.py``).

One layer rather than one per concern: each layer wrapped ``send`` and parsed the answer's
headers again, and the four together cost more CPU than Starlette's routing of the request
(bench/exchange.py's A/B). The header sets are built once, per kind of answer, as raw header
lists; an answer's own headers are read once.

It is the outermost of our layers, so that the 500 of an unexpected error carries the request
id and every header like any other answer: Starlette's own last-resort handler answers outside
every middleware.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelgates.models.endpoints import Endpoint
from modelgates.server.api.headers import API_HEADERS, CORS_HEADERS, preflights
from modelgates.server.api.responses import error_response
from modelgates.server.observability import Metrics, log_request, request_id
from modelgates.server.transport import HSTS_HEADER
from modelgates.server.web.headers import PAGE_DEFAULT_HEADERS, PAGE_HEADERS

logger = logging.getLogger("modelgates.server")

Header = tuple[bytes, bytes]


class AnswerHeaders:
    """The headers one kind of answer gets: ``replace`` whatever the app set of them, then
    ``default`` where the app set none of that name."""

    def __init__(self, replace: Iterable[Header], default: Iterable[Header]) -> None:
        self.replace = tuple(replace)
        self.default = tuple(default)
        self.replaced = frozenset(name for name, _ in self.replace) | {b"x-request-id"}

    def applied(self, headers: Iterable[Header], request_id: Header) -> list[Header]:
        """``headers`` (an answer's, lower-case names as ASGI has them) with these added."""
        answer = list(headers)
        present = {name for name, _ in answer}
        if not present.isdisjoint(self.replaced):
            answer = [header for header in answer if header[0] not in self.replaced]
        answer += self.replace
        answer.append(request_id)
        answer += [header for header in self.default if header[0] not in present]
        return answer


class OuterLayer:
    def __init__(self, app: ASGIApp, metrics: Metrics, endpoints: Iterable[Endpoint[Any]]) -> None:
        self.app = app
        self.metrics = metrics
        #: What a preflight answers, by path, for the paths pages on any origin may call.
        self.preflights = preflights(endpoints)
        #: By (kind, https): the headers of a page, an API answer, one of a CORS endpoint.
        self.headers: dict[tuple[str, bool], AnswerHeaders] = {}
        for https in (False, True):
            hsts = [HSTS_HEADER] if https else []
            self.headers["page", https] = AnswerHeaders(
                PAGE_HEADERS, [*PAGE_DEFAULT_HEADERS, *hsts]
            )
            self.headers["api", https] = AnswerHeaders(API_HEADERS, hsts)
            self.headers["cors", https] = AnswerHeaders([*API_HEADERS, *CORS_HEADERS], hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given_id = request_id(scope)
        id_header = (b"x-request-id", given_id.encode("latin-1"))
        path = scope["path"]
        preflight = None
        if not path.startswith("/api/"):
            kind = "page"
        else:
            preflight = self.preflights.get(path.rstrip("/"))
            kind = "api" if preflight is None else "cors"
        added = self.headers[kind, scope.get("scheme") == "https"]
        status = 500
        answering = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, answering
            if message["type"] == "http.response.start":
                status, answering = message["status"], True
                message["headers"] = added.applied(message.get("headers", ()), id_header)
            await send(message)

        try:
            if preflight is not None and scope["method"] == "OPTIONS":
                start = {"type": "http.response.start", "status": 204, "headers": preflight}
                await send_with_headers(start)
                await send_with_headers({"type": "http.response.body", "body": b""})
            else:
                await self.app(scope, receive, send_with_headers)
        except Exception:
            if answering:  # mid-answer, nothing better can be said
                raise
            # The traceback goes to the server's log (it holds no request bodies); the client
            # learns only that something failed.
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            answer = error_response(500, "Internal server error.")
            await answer(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("endpoint"), "__name__", "unmatched")
            self.metrics.request_answered(route, scope["method"], status, elapsed)
            log_request(scope, given_id, status, elapsed)
