"""The pages' two static files, read once at import: the stylesheet and the Copy script."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

_STATIC = resources.files("modelgates.server.web") / "static"


def _file(name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    body = (_STATIC / name).read_bytes()

    async def endpoint(_request: Request) -> Response:
        return Response(body, media_type=media_type)

    return endpoint


stylesheet = _file("modelgates.css", "text/css")
copy_script = _file("copy.js", "text/javascript")
