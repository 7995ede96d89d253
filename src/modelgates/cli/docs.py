"""``modelgates docs mcp``: the documentation's MCP server on standard input and output.

Standard output carries the protocol alone; anything else this process says goes to standard
error. Needs the [server] extra (the ``mcp`` SDK, markdown-it-py)."""

from __future__ import annotations

import argparse

import anyio


def mcp(_args: argparse.Namespace) -> None:
    from modelgates.server.docs.mcp_server import serve_stdio

    anyio.run(serve_stdio)
