"""What the documentation's tests share: a live server of their own (SQLite: the documentation
touches no database)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from modelgates.server.settings import Settings
from tests.conftest import free_port, start_server


@pytest.fixture(scope="module")
def base_url(new_database: Callable[[str], str]) -> Iterator[str]:
    port = free_port()
    server, thread = start_server(
        Settings(database_url=new_database("sqlite"), host="127.0.0.1", port=port)
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
