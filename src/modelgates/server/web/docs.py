"""``/docs``: the documentation as pages, in the consent page's design.

The pages need no visitor: they read no cookie and no store (``render_anonymous``), so they
answer while the database is away. Each page's HTML is rendered once per process.
"""

from __future__ import annotations

import functools
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from modelgates.server.docs import markdown
from modelgates.server.docs.endpoint import PATH as MCP_PATH
from modelgates.server.docs.pages import Page, library
from modelgates.server.web.pages import render_anonymous


@functools.cache
def _html(page: Page, root: str) -> Markup:
    docs = library()

    def resolve(path: str, fragment: str) -> str | None:
        return docs.href(path, fragment, prefix=f"{root}/docs")

    # markdown-it escapes every character of the source and passes no HTML through
    # (html=False), so its output is markup already.
    return Markup(markdown.render(page.markdown, page.source, resolve))  # noqa: S704


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _short(page: Page) -> str:
    """The page's title for the list of pages: what comes before a colon."""
    return page.title.split(":")[0]


def _render(request: Request, **context: Any) -> Response:
    return render_anonymous(
        request, "docs.html", status=200, pages=library().pages, short=_short, **context
    )


async def index(request: Request) -> Response:
    mcp_url = str(request.base_url).rstrip("/") + MCP_PATH
    return _render(request, title="Documentation", current=None, body=None, mcp_url=mcp_url)


async def page(request: Request) -> Response:
    found = library().page(request.path_params["page"])
    if found is None:
        return _not_found(request)
    body = _html(found, _root(request))
    return _render(request, title=_short(found), current=found, body=body, mcp_url="")


async def asset(request: Request) -> Response:
    path = library().asset(request.path_params["name"])
    if path is None:
        return _not_found(request)
    return FileResponse(path)


def _not_found(request: Request) -> Response:
    return render_anonymous(
        request,
        "error.html",
        status=404,
        title="Page not found",
        message="There is no documentation page at this address.",
        problems=[],
    )
