"""The pages' two static files, read once at import: the stylesheet and the Copy script."""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

_STATIC = resources.files("modelgates.server.web") / "static"
_STYLESHEET = (_STATIC / "modelgates.css").read_bytes()
_COPY_SCRIPT = (_STATIC / "copy.js").read_bytes()


async def stylesheet(_request: Request) -> Response:
    return Response(_STYLESHEET, media_type="text/css")


async def copy_script(_request: Request) -> Response:
    return Response(_COPY_SCRIPT, media_type="text/javascript")
