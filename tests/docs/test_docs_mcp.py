"""The documentation's MCP server through the official MCP Python client: over streamable HTTP
against a live server on a real socket (in process, and ``modelgates serve --workers 2``), and
over stdio against ``modelgates docs mcp``.

The documentation touches no database, so SQLite alone is used here.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.server.serving import ServeProcess

pytestmark = pytest.mark.anyio

EXCHANGE_ANCHOR = "exchange-an-authorization-code-and-its-pkce-verifier-for-an-api-key"
TOOLS = {"list_pages", "search_docs", "read_page", "get_openapi"}


@asynccontextmanager
async def http_session(
    url: str, http_client: httpx2.AsyncClient | None = None
) -> AsyncIterator[ClientSession]:
    async with (
        streamable_http_client(url, http_client=http_client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: Any) -> str:
    assert not result.is_error, result.content
    return str(result.content[0].text)


async def check_the_tools(session: ClientSession) -> None:
    """What the issue asks an MCP client to be able to do, against any transport."""
    tools = (await session.list_tools()).tools
    assert {tool.name for tool in tools} == TOOLS
    for tool in tools:
        assert tool.description and len(tool.description) > 80  # written for a model to choose

    found = json.loads(
        text_of(await session.call_tool("search_docs", {"query": "exchange a code for a key"}))
    )
    assert found[0]["path"] == f"/docs/reference#{EXCHANGE_ANCHOR}"
    assert "Exchange" in found[0]["title"]
    assert "**" in found[0]["passage"]  # the matched words marked

    # "How do I exchange an authorization code in Python?", answered from the tools alone:
    # a search, then the section it points at, which holds the SDK's call.
    question = "How do I exchange an authorization code in Python?"
    hits = json.loads(text_of(await session.call_tool("search_docs", {"query": question})))
    sections = [
        text_of(await session.call_tool("read_page", {"path": hit["path"]})) for hit in hits
    ]
    assert any("exchange_auth_code_for_api_key(" in section for section in sections)

    page = text_of(await session.call_tool("read_page", {"path": "/docs/api"}))
    assert page.startswith("# The ModelGates API")
    section = text_of(
        await session.call_tool("read_page", {"path": "/docs/overview#terminal-apps"})
    )
    assert section.startswith("## Terminal apps") and "## The SDK" not in section

    operation = json.loads(
        text_of(await session.call_tool("get_openapi", {"operation": "exchangeAuthCodeForApiKey"}))
    )
    assert (operation["method"], operation["path"]) == ("POST", "/api/v1/auth/keys")
    assert "ExchangeAuthCodeRequest" in operation["schemas"]
    assert "code_verifier" in operation["schemas"]["ExchangeAuthCodeRequest"]["properties"]

    wrong = await session.call_tool("read_page", {"path": "/docs/no-such-page"})
    assert wrong.is_error and "/docs/api" in wrong.content[0].text  # says what exists
    for arguments, said in [
        ({}, "search_docs: missing query"),
        ({"query": "x", "limit": "5"}, "search_docs: limit must be an integer"),
        ({"query": "x", "limit": 0}, "search_docs: limit must be from 1 to 20"),
        ({"query": "x", "page": 2}, "search_docs: unknown argument page; it takes query, limit"),
    ]:
        refused = await session.call_tool("search_docs", arguments)
        assert refused.is_error and refused.content[0].text == said

    resources = (await session.list_resources()).resources
    uris = {str(resource.uri) for resource in resources}
    assert "modelgates-docs://pages/security" in uris
    read = await session.read_resource("modelgates-docs://pages/security")
    assert read.contents[0].text.startswith("# Security")


async def test_over_streamable_http(base_url: str) -> None:
    async with http_session(f"{base_url}/docs/_mcp/server") as session:
        await check_the_tools(session)


def test_only_post_is_taken(base_url: str) -> None:
    """No stream held open by GET, no session to DELETE: 405, in the contract's shape."""
    for method in ("GET", "DELETE", "PUT"):
        answer = httpx.request(
            method, f"{base_url}/docs/_mcp/server", headers={"accept": "text/event-stream"}
        )
        assert (answer.status_code, answer.headers["allow"]) == (405, "POST"), method
        assert answer.json()["error"]["code"] == 405


async def test_the_whole_openapi_document_is_the_servers(base_url: str) -> None:
    async with http_session(f"{base_url}/docs/_mcp/server") as session:
        document = json.loads(text_of(await session.call_tool("get_openapi", {})))
    served = httpx.get(f"{base_url}/api/v1/openapi.json").json()
    assert document == served


async def test_over_stdio(tmp_path: Path) -> None:
    modelgates = Path(sys.executable).with_name("modelgates")
    parameters = StdioServerParameters(
        command=str(modelgates), args=["docs", "mcp"], cwd=tmp_path, env=dict(os.environ)
    )
    async with (
        stdio_client(parameters) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        await check_the_tools(session)
    assert list(tmp_path.iterdir()) == []  # no database, no secret file: it serves docs only


async def test_any_worker_answers(new_database: Callable[[str], str]) -> None:
    """Stateless: no session to find, so requests on new connections, whichever of the two
    workers takes each, all succeed."""
    server = ServeProcess(new_database("sqlite"), "--workers", "2")
    try:
        server.wait_until_up()
        url = f"{server.url}/docs/_mcp/server"
        headers = {"accept": "application/json, text/event-stream"}
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            },
        }
        for _ in range(12):
            # A client of its own each time: a new connection, which either worker may accept.
            with httpx.Client(timeout=30) as client:
                answer = client.post(url, json=initialize, headers=headers)
            assert answer.status_code == 200, answer.text
            assert "mcp-session-id" not in answer.headers
        no_keepalive = httpx2.AsyncClient(
            timeout=30, limits=httpx2.Limits(max_keepalive_connections=0)
        )
        async with no_keepalive, http_session(url, no_keepalive) as session:
            for _ in range(6):
                hits = await session.call_tool("search_docs", {"query": "PKCE verifier"})
                assert json.loads(text_of(hits))
    finally:
        server.stop()


async def test_the_server_does_not_load_mcp_until_asked() -> None:
    import subprocess

    code = "import sys; from modelgates.server.app import create_app; print('mcp' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
