"""Fixtures of the server tests that run several server processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import free_port

PROCESSES = 3


@pytest.fixture(scope="module")
def servers(database_url: str) -> Iterator[list[str]]:
    """Three ``modelgates serve`` processes on the same database."""
    ports = [free_port() for _ in range(PROCESSES)]
    # Three servers of 20 connections at most each, beside the session's own servers, came to
    # PostgreSQL's default max_connections (100) and got 503s: sized as docs/deploy.md says.
    env = {
        **os.environ,
        "MODELGATES_DATABASE_URL": database_url,
        "MODELGATES_DB_POOL_SIZE": "5",
        "MODELGATES_DB_MAX_OVERFLOW": "5",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "modelgates.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            _wait_until_up(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")
