"""Headers every API answer carries, and CORS for the endpoints browser pages call directly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelgates.models.endpoints import Endpoint

_CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-headers": (
        "Content-Type, Authorization, HTTP-Referer, X-ModelGates-Title, X-Title, "
        "X-ModelGates-Categories, Idempotency-Key, User-Agent"
    ),
    "access-control-max-age": "600",
}


class ApiHeaders:
    """``Cache-Control: no-store`` on every API answer (some carry keys; none should be cached),
    and CORS on the endpoints the table marks ``cors`` (the exchange, so that single-page apps
    holding the verifier can call it).

    No credentials (cookies) are allowed, so ``*`` without ``Allow-Credentials`` is safe: a page
    can call these only with a key it holds itself.
    """

    def __init__(self, app: ASGIApp, endpoints: Iterable[Endpoint[Any]]) -> None:
        self.app = app
        #: The methods a page on any origin may use, by path.
        self.cors_methods: dict[str, set[str]] = {}
        for endpoint in endpoints:
            if endpoint.cors:
                self.cors_methods.setdefault(endpoint.full_path, set()).add(endpoint.method)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        methods = self.cors_methods.get(path.rstrip("/"))
        cors = methods is not None
        if methods is not None and scope["method"] == "OPTIONS":
            allowed = {
                **_CORS,
                "access-control-allow-methods": ", ".join([*sorted(methods), "OPTIONS"]),
            }
            await send({"type": "http.response.start", "status": 204, "headers": _raw(allowed)})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["cache-control"] = "no-store"
                if cors:
                    headers["access-control-allow-origin"] = "*"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()] + [
        (b"cache-control", b"no-store"),
        (b"content-length", b"0"),
    ]
