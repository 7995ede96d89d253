"""Fixtures for the SDK's unit tests: a scripted HTTP server on a real socket, and a client
pointed at it with a retry schedule short enough to keep the suite fast."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelgates import ModelGates
from tests.sdk.data import FAST_RETRIES
from tests.sdk.scripted_server import ScriptedServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    running = ScriptedServer().start()
    yield running
    running.stop()


@pytest.fixture
def mg(server: ScriptedServer) -> Iterator[ModelGates]:
    """A client with a key and attribution, made as in the contract's example."""
    with ModelGates(
        "sk-mg-v1-user-key",
        http_referer="https://myapp.example",
        app_title="My App",
        app_categories="cli-agent",
        server_url=server.url,
        retry_config=FAST_RETRIES,
    ) as client:
        yield client
