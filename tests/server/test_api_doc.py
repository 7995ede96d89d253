"""docs/api.md lists exactly the operations the server's OpenAPI document has, and every other
endpoint it lists is one the server serves.

docs/api.md's convention: each endpoint has a heading ``### `METHOD /path` `` (the path as the
OpenAPI document spells it, ``{hash}`` and all).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Route

from modelgates.server.settings import Settings
from tests.conftest import free_port, start_server

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_ENDPOINT = re.compile(r"^### `(GET|POST|PUT|PATCH|DELETE) (/\S*)`$")
_METHODS = ("get", "post", "put", "patch", "delete")


def documented() -> set[tuple[str, str]]:
    found = set()
    for line in API_DOC.read_text(encoding="utf-8").splitlines():
        matched = _ENDPOINT.match(line)
        if matched:
            found.add((matched.group(1), matched.group(2)))
    return found


@pytest.fixture(scope="module")
def served(new_database: Callable[[str], str]) -> Iterator[tuple[str, list[BaseRoute]]]:
    """A server with every optional route on (``/metrics`` needs its token): its URL and the
    routes of the very app it runs."""
    port = free_port()
    server, thread = start_server(
        Settings(
            database_url=new_database("sqlite"),
            host="127.0.0.1",
            port=port,
            secret_key="s" * 32,
            metrics_token="a metrics token",
        )
    )
    try:
        app: Any = server.config.app
        yield f"http://127.0.0.1:{port}", list(app.routes)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_doc_lists_exactly_the_operations_of_the_openapi_document(
    served: tuple[str, list[BaseRoute]],
) -> None:
    url, _ = served
    document = httpx.get(f"{url}/api/v1/openapi.json").raise_for_status().json()
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in _METHODS
    }
    in_doc = {(method, path) for method, path in documented() if path.startswith("/api/")}
    assert operations, "the OpenAPI document has no operation"
    assert not operations - in_doc, (
        f"in the OpenAPI document, not in docs/api.md: {operations - in_doc}"
    )
    assert not in_doc - operations, (
        f"in docs/api.md, not in the OpenAPI document: {in_doc - operations}"
    )


def test_every_other_endpoint_the_doc_lists_is_served(
    served: tuple[str, list[BaseRoute]],
) -> None:
    _, routes = served
    routed = {
        (method, route.path)
        for route in routes
        if isinstance(route, Route)
        for method in route.methods or ()
    }
    others = {(method, path) for method, path in documented() if not path.startswith("/api/")}
    assert others, "docs/api.md lists no page or probe"
    assert not others - routed, f"in docs/api.md, not served: {others - routed}"


def test_every_endpoint_heading_follows_the_convention() -> None:
    # A heading spelt otherwise would drop out of both comparisons above without a word.
    for line in API_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and re.search(r"\b(GET|POST|PUT|PATCH|DELETE) /", line):
            assert _ENDPOINT.match(line), f"not '### `METHOD /path`': {line!r}"
