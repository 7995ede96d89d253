"""Shared fixtures: real databases (an SQLite file, and PostgreSQL when reachable) and a real
server on a free port.

PostgreSQL: ``MODELGATES_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/
postgres``) names a server where each test run creates, and drops, a database of its own. When it
is unreachable the PostgreSQL variants are skipped, unless ``MODELGATES_TEST_REQUIRE_POSTGRES=1``
(CI sets it), which turns that into a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
import uvicorn

from modelgates.models.endpoints import ENDPOINTS, Endpoint
from modelgates.models.keys import CreateKeyRequest
from modelgates.server.app import create_app
from modelgates.server.services import keys, users
from modelgates.server.settings import Settings
from modelgates.server.store import Store
from modelgates.server.store.migrate import upgrade

if TYPE_CHECKING:
    from tests.gateway.upstream import Upstream

T = TypeVar("T")

POSTGRES_ADMIN_URL = os.environ.get(
    "MODELGATES_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("MODELGATES_TEST_REQUIRE_POSTGRES") == "1"


def _postgres_reachable() -> bool:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


BACKENDS = ["sqlite", "postgres"]

# One server secret for every server this run starts, in process or not (replicas share theirs),
# so that none of them writes a secret file into the working directory.
os.environ.setdefault("MODELGATES_SECRET_KEY", secrets.token_hex(32))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    if not _postgres_reachable():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but unreachable at {POSTGRES_ADMIN_URL}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}")
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def new_database(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], str]]:
    """Makes fresh, migrated databases of a backend; PostgreSQL ones are dropped at the end."""
    made: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("db") / "modelgates.db"
            url = f"sqlite:///{path}"
        else:
            admin = request.getfixturevalue("postgres_admin")
            url = _create_postgres_database(admin)
            made.append(url)
        upgrade(url)
        return url

    yield make
    for url in made:
        _drop_postgres_database(url)


def _create_postgres_database(admin_url: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"mg_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, new_database: Callable[[str], str]) -> str:
    """One migrated database per backend, shared by the session's tests (each makes its own
    users, so they do not see each other's data)."""
    return new_database(request.param)


def run(coroutine_factory: Callable[[Store], Awaitable[T]], database_url: str) -> T:
    """Run ``coroutine_factory(store)`` on a store of its own, from synchronous test code."""

    async def go() -> T:
        store = Store.open(database_url, pool_size=2)
        try:
            return await coroutine_factory(store)
        finally:
            await store.close()

    return asyncio.run(go())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Account:
    email: str
    user_id: str
    key: str
    key_hash: str


async def create_account(store: Store, *, management: bool = False) -> Account:
    """A user with a key of their own, straight through the services."""
    email = f"user-{secrets.token_hex(6)}@example.com"
    user = await users.create_user(store, email, "correct horse battery", utcnow())
    issued = await keys.create_key_for_user(
        store,
        email=email,
        request=CreateKeyRequest(name="own key"),
        now=utcnow(),
        is_management=management,
    )
    return Account(email=email, user_id=user.id, key=issued.key, key_hash=issued.row.hash)


def new_account(database_url: str, *, management: bool = False) -> Account:
    return run(lambda store: create_account(store, management=management), database_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    database_url: str
    #: A client on ``{base_url}/api/v1``; one connection pool for the whole session keeps the
    #: tests fast (a client per request pays for a TLS context every time).
    client: httpx.Client

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"


#: Every rate limit of the settings off (the limits have tests of their own).
NO_RATE_LIMITS: dict[str, Any] = {
    field.name: "off"
    for field in dataclasses.fields(Settings)
    if field.name.startswith("rate_limit_")
}


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own
        pass


def start_server(
    settings: Settings, endpoints: tuple[Endpoint[Any], ...] = ENDPOINTS
) -> tuple[_ThreadedServer, threading.Thread]:
    """uvicorn with ``create_app(settings)`` on a real socket, in a thread of this process."""
    config = uvicorn.Config(
        create_app(settings, endpoints), host=settings.host, port=settings.port, log_level="warning"
    )
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return server, thread


def serve_live(database_url: str, **settings: Any) -> Iterator[LiveServer]:
    """A server on ``database_url`` with the suite's secret and these ``settings``, for as long
    as the generator runs (a fixture's body)."""
    port = free_port()
    server, thread = start_server(
        Settings(
            database_url=database_url,
            host="127.0.0.1",
            port=port,
            secret_key=os.environ["MODELGATES_SECRET_KEY"],
            **settings,
        )
    )
    base_url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=30) as client:
        yield LiveServer(base_url=base_url, database_url=database_url, client=client)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[LiveServer]:
    # The suite sends far more exchanges a minute from 127.0.0.1 than any client should; the
    # rate limits have tests of their own.
    yield from serve_live(database_url, **NO_RATE_LIMITS)


@pytest.fixture(scope="module")
def account(live_server: LiveServer) -> Account:
    return new_account(live_server.database_url)


def table_counts(database_url: str) -> dict[str, int]:
    async def count(store: Store) -> dict[str, int]:
        return await store.run(
            lambda tx: {t: tx.count(t) for t in ("users", "apps", "api_keys", "auth_codes")}
        )

    return run(count, database_url)


#: The scripted provider's API key, named in the providers file by MODELGATES_TEST_UPSTREAM_KEY.
UPSTREAM_KEY = "sk-upstream-secret-never-shown"


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The scripted OpenAI-compatible provider (tests/gateway/upstream.py)."""
    from tests.gateway.upstream import Upstream

    scripted = Upstream().start()
    yield scripted
    scripted.stop()


@pytest.fixture(scope="session")
def providers_file(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The providers file names this variable for the scripted provider's API key.
    os.environ["MODELGATES_TEST_UPSTREAM_KEY"] = UPSTREAM_KEY
    from tests.gateway.upstream import providers_toml

    path = tmp_path_factory.mktemp("gateway") / "providers.toml"
    path.write_text(providers_toml(upstream))
    return path
