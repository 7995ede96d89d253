"""The documentation as an MCP server, on the official ``mcp`` SDK's low-level ``Server``:
four tools (list, search, read, the OpenAPI document) and one resource per page.

The same server answers over streamable HTTP at ``/docs/_mcp/server`` (stateless, JSON
answers: every request stands alone, so any worker of any replica answers it) and over stdio
(``modelgates docs mcp``). It is read-only and public, like ``/docs``. The low-level ``Server``
rather than ``MCPServer``: the tools' schemas and descriptions are written here, for the model
that reads them, and it leaves the process's logging alone (``MCPServer`` configures the root
logger).

This module imports ``mcp``; nothing of the SDK or of a server that is never asked for MCP
imports it (``modelgates.server.docs.endpoint`` loads it on the first request).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError

from modelgates import __version__
from modelgates.server.docs import reference
from modelgates.server.docs.pages import Library, Page, library
from modelgates.server.docs.search import SearchIndex

RESOURCE_SCHEME = "modelgates-docs"

INSTRUCTIONS = """\
The documentation of ModelGates ("Sign in with ModelGates"): an OAuth PKCE service through which \
an app's user approves a credit-limited API key for the app, with a Python SDK (`pip install \
modelgates`), a self-hostable server and a CLI. Use these tools when writing or debugging code \
that integrates ModelGates: start with `search_docs` and a question in plain words, then \
`read_page` on the paths it returns; `get_openapi` gives the exact JSON API (fields, types, \
statuses)."""

_PATH_PARAM = {
    "type": "string",
    "description": "The page, as a path from `list_pages` or `search_docs`: `/docs/api`, or "
    "with a section, `/docs/api#post-apiv1authkeys`; a bare page name (`api`) works too.",
}


def _tool(
    name: str, title: str, description: str, properties: dict[str, Any], *required: str
) -> types.Tool:
    """A read-only tool taking an object of ``properties`` and nothing else."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return types.Tool(
        name=name,
        title=title,
        description=description,
        input_schema=schema,
        annotations=types.ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )


TOOLS: tuple[types.Tool, ...] = (
    _tool(
        "list_pages",
        "List the documentation's pages",
        "List every page of the ModelGates documentation with its path, title, one-line "
        "summary and section headings (with their anchors). Call it to see what the "
        "documentation covers before choosing a page to read, or when a search finds nothing.",
        {},
    ),
    _tool(
        "search_docs",
        "Search the documentation",
        "Full-text search of the ModelGates documentation (the SDK and CLI guide, the API "
        "guide and reference, deployment, security, design decisions). Ask in plain words, "
        'e.g. "exchange an authorization code for a key in Python" or "what does 409 mean '
        'when creating a code". Returns the best-matching sections first, each with its page '
        "and section title, a path to pass to `read_page`, and the matching passage (matched "
        "words in **bold**). Read the section before relying on a passage.",
        {
            "query": {"type": "string", "minLength": 1, "description": "The question."},
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": 20,
                "default": 5,
                "description": "How many sections to return.",
            },
        },
        "query",
    ),
    _tool(
        "read_page",
        "Read a page or one section",
        "Return one page of the ModelGates documentation as Markdown, or only one section of "
        "it (with its subsections) when the path has a `#anchor` or `section` is given. Code "
        "samples in it are meant to run as written against the SDK "
        "(`from modelgates import ModelGates`).",
        {
            "path": _PATH_PARAM,
            "section": {
                "type": "string",
                "description": "A section's anchor, as `list_pages` shows them (optional; an "
                "anchor in `path` does the same).",
            },
        },
        "path",
    ),
    _tool(
        "get_openapi",
        "The JSON API's OpenAPI document",
        "Return the OpenAPI 3.1 document of the ModelGates JSON API (the server's own "
        "`GET /api/v1/openapi.json`), or only one operation of it with every schema it refers "
        "to. Give `operation` as an operationId (`exchangeAuthCodeForApiKey`, "
        "`createAuthCode`, `getCurrentKey`, …) or as `METHOD /path` "
        "(`POST /api/v1/auth/keys`). Use it for exact field names, types, limits and error "
        "statuses; prefer one operation to the whole document, which is long.",
        {
            "operation": {
                "type": "string",
                "description": "An operationId or `METHOD /path`; omit for the whole document.",
            }
        },
    ),
)
_SCHEMAS = {tool.name: tool.input_schema for tool in TOOLS}


class DocsTools:
    """What the tools answer, over the pages and their index (plain Python, tested as such)."""

    def __init__(self, docs: Library) -> None:
        self.docs = docs
        self.index = SearchIndex(docs)

    def list_pages(self) -> list[dict[str, Any]]:
        return [
            {
                "path": f"/docs/{page.slug}",
                "title": page.title,
                "summary": page.summary,
                "sections": [
                    {"anchor": s.anchor, "title": s.title} for s in page.sections if s.level > 1
                ],
            }
            for page in self.docs.pages
        ]

    def search(self, query: str, limit: int = 5) -> list[dict[str, str]]:
        return [
            {
                "title": f"{hit.page_title} > {hit.section_title}"
                if hit.section_title != hit.page_title
                else hit.page_title,
                "path": hit.path,
                "passage": hit.passage,
            }
            for hit in self.index.search(query, limit)
        ]

    def read(self, path: str, section: str | None = None) -> str:
        page, anchor = self._find(path)
        anchor = section or anchor
        if not anchor:
            return page.markdown
        found = page.section(anchor.lstrip("#"))
        if found is None:
            anchors = ", ".join(s.anchor for s in page.sections if s.level > 1)
            raise LookupError(f"{page.title} has no section {anchor!r}; its sections: {anchors}")
        return page.section_markdown(found)

    def openapi(self, operation: str | None = None) -> dict[str, Any]:
        if not operation:
            return reference.document()
        found = reference.operation(operation)
        if found is None:
            known = ", ".join(op["operationId"] for _, _, op in reference.operations())
            raise LookupError(f"No operation {operation!r}; the operations: {known}")
        return found

    def _find(self, path: str) -> tuple[Page, str]:
        address, _, anchor = path.strip().partition("#")
        slug = address.strip("/").removeprefix("docs/").removesuffix(".md").lower()
        page = self.docs.page("overview" if slug in ("", "readme") else slug)
        if page is None:
            known = ", ".join(f"/docs/{p.slug}" for p in self.docs.pages)
            raise LookupError(f"No page {path!r}; the pages: {known}")
        return page, anchor


def _text(value: str | Any) -> types.CallToolResult:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
    return types.CallToolResult(content=[types.TextContent(text=text)])


def build_server(tools: DocsTools | None = None) -> Server[Any]:
    docs = tools or DocsTools(library())
    calls: dict[str, Callable[[Mapping[str, Any]], types.CallToolResult]] = {
        "list_pages": lambda _args: _text(docs.list_pages()),
        "search_docs": lambda args: _text(docs.search(args["query"], args.get("limit", 5))),
        "read_page": lambda args: _text(docs.read(args["path"], args.get("section"))),
        "get_openapi": lambda args: _text(docs.openapi(args.get("operation"))),
    }

    async def list_tools(
        _ctx: ServerRequestContext[Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=list(TOOLS))

    async def call_tool(
        _ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        call = calls.get(params.name)
        if call is None:
            return _error(f"No tool {params.name!r}; the tools: {', '.join(calls)}")
        arguments = params.arguments or {}
        wrong = _wrong_arguments(_SCHEMAS[params.name], arguments)
        if wrong:
            return _error(f"{params.name}: {wrong}")
        try:
            return call(arguments)
        except LookupError as error:
            # A wrong page or operation name is the model's to correct: say what exists.
            return _error(str(error))

    async def list_resources(
        _ctx: ServerRequestContext[Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=f"{RESOURCE_SCHEME}://pages/{page.slug}",
                    name=page.slug,
                    title=page.title,
                    description=page.summary,
                    mime_type="text/markdown",
                    size=len(page.markdown.encode()),
                )
                for page in docs.docs.pages
            ]
        )

    async def read_resource(
        _ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        prefix = f"{RESOURCE_SCHEME}://pages/"
        uri = str(params.uri)
        page = docs.docs.page(uri.removeprefix(prefix)) if uri.startswith(prefix) else None
        if page is None:
            raise MCPError(types.INVALID_PARAMS, f"No resource {uri!r}", {"uri": uri})
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(uri=uri, text=page.markdown, mime_type="text/markdown")
            ]
        )

    return Server(
        "modelgates-docs",
        version=__version__,
        title="ModelGates documentation",
        instructions=INSTRUCTIONS,
        get_tool_input_schema=_SCHEMAS.get,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


#: The JSON types the tools' arguments take: the Python type, and its name in a message.
_JSON_TYPES: dict[str, tuple[type, str]] = {
    "string": (str, "a string"),
    "integer": (int, "an integer"),
}


def _wrong_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> str:
    """What is wrong with a call's arguments against its tool's (flat) schema, in a sentence
    the model can act on; empty when nothing is."""
    properties: Mapping[str, Any] = schema["properties"]
    missing = [name for name in schema.get("required", ()) if name not in arguments]
    if missing:
        return f"missing {', '.join(missing)}"
    unknown = [name for name in arguments if name not in properties]
    if unknown:
        return f"unknown argument {', '.join(unknown)}; it takes {', '.join(properties) or 'none'}"
    for name, value in arguments.items():
        spec = properties[name]
        kind, called = _JSON_TYPES[spec["type"]]
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{name} must be {called}"
        if isinstance(value, str) and len(value) < spec.get("minLength", 0):
            return f"{name} must not be empty"
        low, high = spec.get("minimum"), spec.get("maximum")
        if isinstance(value, int) and low is not None and not low <= value <= high:
            return f"{name} must be from {low} to {high}"
    return ""


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def session_manager() -> StreamableHTTPSessionManager:
    """The streamable HTTP transport: stateless, with JSON answers. The documentation is
    public and read-only, so the transport's DNS-rebinding check (a guard for servers on a
    developer's machine holding private data) is off, as it must be behind any real host name."""
    return StreamableHTTPSessionManager(
        app=build_server(),
        stateless=True,
        json_response=True,
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


async def serve_stdio() -> None:
    """The same server over standard input and output, until the client closes them."""
    from mcp.server.stdio import stdio_server

    server = build_server()
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
