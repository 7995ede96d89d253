"""Headers every page carries (everything outside ``/api/``).

No page may be cached (they show keys, codes and CSRF tokens), leak its URL to the next site
(``/auth``'s query names the app's callback), be framed (clickjacking the Approve button) or load
anything from another origin.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The pages' Content-Security-Policy; a page may widen ``form-action`` (see :func:`csp`).
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def csp(form_action: str | None = None, *, scripts: bool = False) -> str:
    """The policy, with ``form-action`` also allowing ``form_action`` (a source expression),
    and with ``scripts``, the site's own script files (never inline code)."""
    policy = CSP
    if form_action is not None:
        policy = policy.replace("form-action 'self'", f"form-action 'self' {form_action}")
    if scripts:
        policy = policy.replace("style-src", "script-src 'self'; style-src")
    return policy


class PageHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith("/api/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["cache-control"] = "no-store"
                headers["referrer-policy"] = "no-referrer"
                headers["x-frame-options"] = "DENY"
                headers["x-content-type-options"] = "nosniff"
                if "content-security-policy" not in headers:
                    headers["content-security-policy"] = CSP
            await send(message)

        await self.app(scope, receive, send_with_headers)
