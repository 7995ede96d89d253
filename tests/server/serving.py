"""``modelgates serve`` as a real process on a free loopback port, for the scale-out tests.

Its output goes to a file (a pipe nobody reads could fill and stall the server), which a test
reads to see what the server said.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.conftest import free_port

#: One client for every probe: a client each would load the CA bundle every 50 ms.
_probe = httpx.Client(timeout=2)


class ServeProcess:
    """One ``python -m modelgates.cli serve`` on 127.0.0.1 and a port of its own."""

    def __init__(
        self,
        database_url: str | None,
        *args: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="mg-serve-", suffix=".log")
        command = [sys.executable, "-m", "modelgates.cli", "serve", "--port", str(self.port)]
        if database_url is not None:
            command += ["--database-url", database_url]
        self.process = subprocess.Popen(
            [*command, *args],
            env={**os.environ, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def is_up(self) -> bool:
        try:
            return _probe.get(f"{self.url}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def wait_until_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.output}")
            if self.is_up():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.url} did not come up:\n{self.output}")

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"the server never said {text!r}:\n{self.output}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


def start_all(database_url: str | None, count: int, *args: str) -> list[ServeProcess]:
    """``count`` servers started at once (none waits for another), each up when this returns."""
    servers = [ServeProcess(database_url, *args) for _ in range(count)]
    try:
        for server in servers:
            server.wait_until_up()
    except BaseException:
        stop_all(servers)
        raise
    return servers


def stop_all(servers: list[ServeProcess]) -> None:
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
    for server in servers:
        server.stop()
