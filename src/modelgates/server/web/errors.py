"""The router's own refusals (no such address, a method it does not take) as the pages' error
page for a browser, and in the contract's JSON shape for everything else.

The rule (docs/decisions.md): HTML only outside ``/api/`` and only when ``Accept`` names
``text/html`` (or XHTML) ahead of JSON. A browser's navigation says so; ``fetch``, curl, httpx
and the SDK send ``*/*`` or ``application/json`` and keep getting JSON.
"""

from __future__ import annotations

from typing import cast

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelgates.server.api import responses
from modelgates.server.web.pages import render_anonymous

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

_PAGES = {
    404: (
        "Page not found",
        "There is no page at this address. Check the link you followed, or go to your account.",
    ),
    405: (
        "This address does not take that request",
        "Nothing was changed. Go back, reload the page and use its own buttons.",
    ),
}


def prefers_html(accept: str) -> bool:
    """Whether an ``Accept`` header names HTML, with a weight above zero and at least JSON's.

    A wildcard never counts: ``*/*`` is what non-browser clients send."""
    html = json = 0.0
    for item in accept.split(","):
        media_type, *params = item.split(";")
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        media_type = media_type.strip().lower()
        if media_type in _HTML_TYPES:
            html = max(html, weight)
        elif media_type == "application/json":
            json = max(json, weight)
    return html > 0 and html >= json


async def on_http_exception(request: Request, exc: Exception) -> Response:
    exc = cast(HTTPException, exc)  # Starlette calls this for HTTPException only
    if request.scope.get("path", "").startswith("/api/"):
        return await responses.on_http_exception(request, exc)
    page = _PAGES.get(exc.status_code)
    if page is None or not prefers_html(request.headers.get("accept", "")):
        response = await responses.on_http_exception(request, exc)
    else:
        title, message = page
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = responses.allowed_methods(request)
        response = render_anonymous(
            request,
            "error.html",
            status=exc.status_code,
            headers=headers,
            title=title,
            message=message,
            problems=[],
            home_link=True,
        )
    # The same address answers HTML or JSON by Accept: a cache must not hand one to the other.
    response.headers["Vary"] = "Accept"
    return response
