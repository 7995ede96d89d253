"""Headers every API answer carries, and CORS for the one endpoint browsers call directly."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EXCHANGE_PATH = "/api/v1/auth/keys"
_CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, OPTIONS",
    "access-control-allow-headers": (
        "Content-Type, Authorization, HTTP-Referer, X-ModelGates-Title, X-Title, "
        "X-ModelGates-Categories, Idempotency-Key, User-Agent"
    ),
    "access-control-max-age": "600",
}


class ApiHeaders:
    """``Cache-Control: no-store`` on every API answer (some carry keys; none should be cached),
    and CORS on the exchange, so single-page apps holding the verifier can call it.

    The exchange takes no credentials, so ``*`` without ``Allow-Credentials`` is safe.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        cors = path.rstrip("/") == EXCHANGE_PATH
        if cors and scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": _raw(_CORS)})
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
