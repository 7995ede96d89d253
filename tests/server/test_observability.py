"""Request logs, request ids and metrics of a real server."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import httpx
import pytest

from modelgates.server.settings import Settings
from tests.conftest import free_port, start_server

TOKEN = "metrics-token-for-tests"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from modelgates.server.store.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('obs') / 'obs.db'}"
    upgrade(url)
    port = free_port()
    running, thread = start_server(
        Settings(
            database_url=url,
            port=port,
            secret_key=os.environ["MODELGATES_SECRET_KEY"],
            metrics_token=TOKEN,
        )
    )
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


def test_one_json_line_per_request_with_a_request_id(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="modelgates.access"):
        given = httpx.post(
            f"{server}/api/v1/auth/keys?x=secret-in-query",
            json={"code": "c"},
            headers={"X-Request-Id": "req-42"},
        )
        made = httpx.get(f"{server}/healthz")
    assert given.headers["x-request-id"] == "req-42"
    assert len(made.headers["x-request-id"]) == 16
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "modelgates.access"]
    first = next(line for line in lines if line["request_id"] == "req-42")
    assert (
        first["method"] == "POST"
        and first["path"] == "/api/v1/auth/keys"
        and first["status"] == 403
    )
    assert first["latency_ms"] >= 0 and first["client"] == "127.0.0.1"
    assert "secret-in-query" not in caplog.text


def test_malformed_request_ids_are_replaced(server: str) -> None:
    response = httpx.get(f"{server}/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert response.headers["x-request-id"] != "bad id with spaces"


def test_metrics_need_the_token_and_count_exchanges(server: str) -> None:
    assert httpx.get(f"{server}/metrics").status_code == 401
    assert (
        httpx.get(f"{server}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    )
    httpx.post(f"{server}/api/v1/auth/keys", json={"code": "unknown"})
    httpx.post(f"{server}/api/v1/auth/keys", json={})
    page = httpx.get(f"{server}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert 'modelgates_exchanges_total{outcome="refused"}' in text
    assert 'modelgates_exchanges_total{outcome="invalid"}' in text
    assert (
        'modelgates_requests_total{method="POST",route="exchangeAuthCodeForApiKey",status="403"}'
        in text
    )
    assert "modelgates_request_duration_seconds_bucket" in text


def test_metrics_are_off_without_a_token(live_server: object) -> None:
    base = live_server.base_url  # type: ignore[attr-defined]
    assert httpx.get(f"{base}/metrics").status_code == 404
