"""``/docs/_mcp/server``: the ASGI endpoint of the documentation's MCP server, which loads the
``mcp`` SDK on its first request rather than at start-up.

Importing ``mcp`` costs about as much as importing the rest of the server; a server that is
never asked for MCP never pays it. The SDK's streamable HTTP session manager must run (its
``run()`` holds a task group) for as long as it answers, and a task group must be left by the
task that entered it, so :meth:`McpEndpoint.serve` is a task of the app's lifespan: it waits
for the first request, loads the SDK in a thread, and runs the manager until the app stops.

The route takes POST alone: the answers are JSON and stateless, so there is no session to end
(DELETE) and nothing to push on a stream held open (GET), which would tie up a connection per
client for nothing; the transport's specification lets a server answer both with 405.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from modelgates.server.api.responses import error_response

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

logger = logging.getLogger("modelgates.server")

PATH = "/docs/_mcp/server"


def _load() -> StreamableHTTPSessionManager:
    module = importlib.import_module("modelgates.server.docs.mcp_server")
    manager: StreamableHTTPSessionManager = module.session_manager()
    return manager


class McpEndpoint:
    def __init__(self) -> None:
        self._manager: StreamableHTTPSessionManager | None = None
        self._serving = False
        self._wanted = asyncio.Event()
        self._settled = asyncio.Event()

    async def serve(self) -> None:
        """Run by the app's lifespan until it is cancelled at shutdown."""
        self._serving = True
        try:
            await self._wanted.wait()
            try:
                manager = await asyncio.to_thread(_load)
            except Exception:
                logger.exception("the documentation's MCP server could not be loaded")
                return
            async with manager.run():
                self._manager = manager
                self._settled.set()
                await asyncio.Event().wait()
        finally:
            self._manager = None
            self._serving = False
            self._settled.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._manager is None and self._serving:
            self._wanted.set()
            await self._settled.wait()
        manager = self._manager
        if manager is None:
            response = error_response(503, "The documentation's MCP server is not running.")
            await response(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)
