"""The gateway's fixtures: the scripted provider, a providers file naming it, and a server
serving both on each database."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelgates.models.keys import CreateKeyRequest
from modelgates.server.services import keys, money
from modelgates.server.settings import Settings
from modelgates.server.store import GenerationRow, KeyRow
from tests.conftest import (
    Account,
    free_port,
    new_account,
    run,
    start_server,
    utcnow,
)
from tests.gateway.upstream import Upstream


@dataclass
class Gateway:
    base_url: str
    database_url: str
    client: httpx.Client
    upstream: Upstream

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v1"

    def key(self, limit: float | None = None, reset: str | None = None) -> Account:
        """A user with a key of their own, limited to ``limit`` USD."""
        account = new_account(self.database_url)

        async def make(store: Any) -> Account:
            request = CreateKeyRequest.model_validate(
                {"name": "gateway key", "limit": limit, "limit_reset": reset}
            )
            issued = await keys.create_key_for_user(
                store, email=account.email, request=request, now=utcnow()
            )
            return Account(account.email, account.user_id, issued.key, issued.row.hash)

        return run(make, self.database_url)

    def chat(self, key: str, **body: Any) -> httpx.Response:
        body.setdefault("messages", [{"role": "user", "content": "Hello"}])
        return self.client.post(
            "/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        )

    def stream(self, key: str, **body: Any) -> contextlib.AbstractContextManager[httpx.Response]:
        """A streamed completion, to be read in a ``with`` block."""
        body.setdefault("messages", [{"role": "user", "content": "Hi"}])
        return self.client.stream(
            "POST",
            "/chat/completions",
            json={**body, "stream": True},
            headers={"Authorization": f"Bearer {key}"},
        )

    def key_row(self, key_hash: str) -> KeyRow:
        row = run(lambda store: store.run(lambda tx: tx.keys.by_hash(key_hash)), self.database_url)
        assert row is not None
        return row

    def generations_of(self, key_hash: str) -> list[GenerationRow]:
        key = self.key_row(key_hash)

        async def rows(store: Any) -> list[GenerationRow]:
            return await store.run(
                lambda tx: [
                    g
                    for g in tx.generations.recent_of_user(key.user_id, 10_000)
                    if g.key_id == key.id
                ]
            )

        return run(rows, self.database_url)


def usd(micros: int) -> float:
    return float(money.to_usd(micros))


@contextlib.contextmanager
def serving(
    database_url: str, providers_file: Path, upstream: Upstream, **settings: Any
) -> Iterator[Gateway]:
    """A server with the providers file, in this process, for as long as the block lasts."""
    port = free_port()
    server, thread = start_server(
        Settings(
            database_url=database_url,
            host="127.0.0.1",
            port=port,
            secret_key=os.environ["MODELGATES_SECRET_KEY"],
            providers_file=str(providers_file),
            **settings,
        )
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=f"{base_url}/api/v1", timeout=30) as client:
            yield Gateway(base_url, database_url, client, upstream)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def gateway(database_url: str, providers_file: Path, upstream: Upstream) -> Iterator[Gateway]:
    with serving(database_url, providers_file, upstream) as served:
        yield served
