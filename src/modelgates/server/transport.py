"""``Strict-Transport-Security`` on every answer the server knows went out over https.

The server knows it when uvicorn terminates TLS itself, or when a load balancer named in
``MODELGATES_FORWARDED_ALLOW_IPS`` says so with ``X-Forwarded-Proto: https`` (uvicorn then sets
the request's scheme); a client elsewhere cannot claim it. Over plain http the header is never
sent (RFC 6797 §7.2: browsers ignore it there, and an http-only server must not promise https).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: One year, without ``includeSubDomains``: the server may share its domain with sites that are
#: not ours to hold to https. An operator who wants more sets it at the proxy.
HSTS = "max-age=31536000"


class TransportSecurity:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("strict-transport-security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_header)
