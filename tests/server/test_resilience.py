"""When PostgreSQL goes away the server answers 503 in the contract's shape, quickly, and
recovers by itself when it is back.

The outage is real: the test makes a throwaway PostgreSQL cluster of its own (initdb into a
temporary directory, on a free port), stops it and starts it again. The machine's shared
PostgreSQL is never touched.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from modelgates import ModelGates, pkce
from modelgates.server.settings import Settings
from tests.conftest import REQUIRE_POSTGRES, free_port, new_account, start_server
from tests.server.serving import ServeProcess

#: A 503 must come at once, not after a hang (the connection is refused at once).
QUICK_SECONDS = 3.0
CONNECT_TIMEOUT_SECONDS = 2


def _postgres_bin() -> Path | None:
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        return Path(max(found, key=lambda p: int(Path(p).parts[-3]))).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only.

    initdb refuses to run as root, so as root it runs as the ``postgres`` user.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.root = Path(tempfile.mkdtemp(prefix="mg-pg-"))
        self.data = self.root / "data"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
            cwd=self.root,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
            "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    bin_dir = _postgres_bin()
    problem = None
    if bin_dir is None:
        problem = "PostgreSQL's initdb and pg_ctl are not installed"
    elif os.geteuid() == 0 and shutil.which("runuser") is None:
        problem = "running as root without runuser to become the postgres user"
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(problem)
        pytest.skip(problem)
    assert bin_dir is not None
    cluster = ThrowawayPostgres(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {
        "error": {
            "code": 503,
            "message": "The service is temporarily unavailable; try again shortly.",
            "metadata": None,
        }
    }
    assert response.headers["retry-after"] == "2"
    assert response.headers["content-type"] == "application/json"


def _timed(call: httpx.Request, client: httpx.Client) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.send(call)
    return response, time.monotonic() - started


def test_postgres_restart_gives_503s_then_recovers_without_a_server_restart(
    throwaway_postgres: ThrowawayPostgres,
) -> None:
    pg = throwaway_postgres
    server = ServeProcess(pg.url)  # migrates the new cluster's database at start
    try:
        server.wait_until_up()
        account = new_account(pg.url)
        auth = {"Authorization": f"Bearer {account.key}"}
        verifier = pkce.create_verifier()
        client = httpx.Client(base_url=server.url, timeout=30)
        created = client.post(
            "/api/v1/auth/keys/code",
            headers=auth,
            json={
                "callback_url": "https://app.example/cb",
                "code_challenge": pkce.s256_challenge(verifier),
                "code_challenge_method": "S256",
            },
        )
        assert created.status_code == 200, created.text
        assert client.get("/api/v1/key", headers=auth).status_code == 200
        assert client.get("/readyz").status_code == 200

        pg.stop()

        calls = [
            client.build_request("GET", "/api/v1/key", headers=auth),
            client.build_request(
                "POST",
                "/api/v1/auth/keys/code",
                headers=auth,
                json={"callback_url": "https://app.example/cb"},
            ),
            client.build_request("POST", "/api/v1/auth/keys", json={"code": "not-a-code"}),
        ]
        slowest = 0.0
        for call in calls * 2:
            response, seconds = _timed(call, client)
            _assert_unavailable(response)
            assert seconds < QUICK_SECONDS, (call.url, seconds)
            slowest = max(slowest, seconds)
        print(f"503s while PostgreSQL was down: the slowest took {slowest:.3f}s")
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["metadata"]["checks"]["database"] == "unreachable"
        assert client.get("/healthz").status_code == 200  # the process itself is fine

        # A client of the SDK, retrying (its defaults) through the outage, gets its key once
        # the database is back.
        with (
            ThreadPoolExecutor(max_workers=1) as pool,
            ModelGates(server_url=f"{server.url}/api/v1") as mg,
        ):
            exchange = pool.submit(
                mg.o_auth.exchange_auth_code_for_api_key,
                code=created.json()["data"]["id"],
                code_verifier=verifier,
                code_challenge_method="S256",
            )
            time.sleep(1.0)
            assert not exchange.done()  # still retrying

            pg.start()
            back = time.monotonic()
            deadline = back + 20
            while client.get("/api/v1/key", headers=auth).status_code != 200:
                assert time.monotonic() < deadline, "the server did not recover"
                time.sleep(0.05)
            print(f"recovered {time.monotonic() - back:.2f}s after PostgreSQL was back")
            assert exchange.result(timeout=60).key.startswith("sk-mg-v1-")

        assert client.get("/readyz").status_code == 200
        assert server.process.poll() is None  # the same process throughout
        assert "Traceback" not in server.output
        client.close()
    finally:
        server.stop()


def test_serve_that_cannot_reach_the_database_says_so_in_one_line() -> None:
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/modelgates"  # nothing listens
    started = time.monotonic()
    result = subprocess.run(
        # Port 0: serve binds before it migrates, and port 8080 may be someone else's.
        [sys.executable, "-m", "modelgates.cli", "serve", "--port", "0", "--database-url", nobody],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"modelgates: cannot migrate {nobody}: ")
    assert result.stderr.count("\n") == 1
    assert time.monotonic() - started < 30


def test_a_database_that_never_answers_gets_503_within_the_connect_timeout() -> None:
    """A server that accepts the connection and then says nothing (a hung host, a black hole
    behind a proxy): the request fails after the connect timeout instead of hanging."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # connections complete in the backlog; nobody ever answers them
        database_url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/modelgates"
        settings = Settings(
            database_url=database_url,
            port=free_port(),
            db_connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
        )
        server, thread = start_server(settings)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", timeout=30) as client:
                call = client.build_request("POST", "/api/v1/auth/keys", json={"code": "x"})
                response, seconds = _timed(call, client)
                _assert_unavailable(response)
                assert CONNECT_TIMEOUT_SECONDS - 0.5 < seconds < CONNECT_TIMEOUT_SECONDS + 2
                print(f"503 after {seconds:.2f}s with a {CONNECT_TIMEOUT_SECONDS}s connect timeout")
                started = time.monotonic()
                ready = client.get("/readyz")
                assert ready.status_code == 503
                assert time.monotonic() - started < CONNECT_TIMEOUT_SECONDS + 2
        finally:
            server.should_exit = True
            thread.join(timeout=10)
