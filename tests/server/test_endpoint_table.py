"""Adding an endpoint: an entry in the table, a service function and a handler, nothing more.

The endpoint made here (``GET /api/v1/echo``) exists only in this test. With it added to the
table the app is given, the server routes and authenticates it, reads its query with its model,
documents it in the OpenAPI document, and the SDK calls it through the same machinery as every
other operation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import httpx
import pytest

from modelgates import ModelGatesCore, errors
from modelgates.funcs._common import call
from modelgates.models.base import QueryModel, ResponseModel
from modelgates.models.endpoints import ENDPOINTS, Endpoint
from modelgates.server.api.openapi import openapi_document
from modelgates.server.api.routing import ApiCall, handles
from modelgates.server.settings import Settings
from tests.conftest import Account, free_port, new_account, start_server


# 1. The table's entry (with its wire models).
class EchoQuery(QueryModel):
    word: str


class Echo(ResponseModel):
    word: str
    user_id: str


ECHO = Endpoint(
    "echo", "GET", "/echo", Echo, auth="key", tag="Test", summary="Echo a word", query=EchoQuery
)


# 2. The rule, framework-free, in the service layer.
def shout(word: str) -> str:
    return word.upper() + "!"


# 3. The handler: read what the table says, call the rule, return the answer's model.
@handles(ECHO)
async def echo(request: ApiCall) -> Echo:
    word = request.query(EchoQuery).word
    return Echo(word=shout(word), user_id=request.caller.user_id)


# An endpoint whose handler fails as a bug would: what the client gets for an unexpected error.
BROKEN = Endpoint("broken", "GET", "/broken", Echo, auth="none", tag="Test", summary="Fails")


@handles(BROKEN)
async def broken(request: ApiCall) -> Echo:
    raise ZeroDivisionError("a bug")


@pytest.fixture(scope="module")
def served(new_database: Callable[[str], str]) -> Iterator[tuple[str, Account]]:
    database_url = new_database("sqlite")
    account = new_account(database_url)
    port = free_port()
    settings = Settings(
        database_url=database_url,
        host="127.0.0.1",
        port=port,
        secret_key=os.environ["MODELGATES_SECRET_KEY"],
    )
    server, thread = start_server(settings, (*ENDPOINTS, ECHO, BROKEN))
    yield f"http://127.0.0.1:{port}/api/v1", account
    server.should_exit = True
    thread.join(timeout=10)


def test_the_sdk_calls_the_new_endpoint(served: tuple[str, Account]) -> None:
    url, account = served
    with ModelGatesCore(account.key, server_url=url) as core:
        result = call(core, ECHO, {"word": "hello"})
        assert result.ok and result.value == Echo(word="HELLO!", user_id=account.user_id)
        refused = call(ModelGatesCore("sk-mg-v1-" + "0" * 64, server_url=url), ECHO, {"word": "x"})
        assert isinstance(refused.error, errors.UnauthorizedResponseError)  # the table's auth
        missing = call(core, ECHO, {})
        assert isinstance(missing.error, errors.RequestValidationError)  # the query's model


def test_the_server_reads_the_query_with_its_model(served: tuple[str, Account]) -> None:
    url, account = served
    answer = httpx.get(f"{url}/echo", headers={"Authorization": f"Bearer {account.key}"})
    assert answer.status_code == 400
    assert answer.json()["error"]["metadata"]["field"] == "word"
    assert answer.headers["cache-control"] == "no-store"


def test_the_openapi_document_describes_it(served: tuple[str, Account]) -> None:
    url, _ = served
    document = httpx.get(f"{url}/openapi.json").json()
    operation = document["paths"]["/api/v1/echo"]["get"]
    assert operation["operationId"] == "echo"
    assert operation["security"] == [{"apiKey": []}]
    assert [p["name"] for p in operation["parameters"]] == ["word"]
    assert set(operation["responses"]) == {"200", "400", "401", "500", "503"}
    assert "/api/v1/echo" not in openapi_document()["paths"]  # the table's own has no such thing


def test_an_unexpected_error_is_a_500_in_the_error_shape_with_the_request_id(
    served: tuple[str, Account], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = served
    answer = httpx.get(f"{url}/broken", headers={"X-Request-Id": "req-123"})
    assert answer.status_code == 500
    assert answer.json() == {
        "error": {"code": 500, "message": "Internal server error.", "metadata": None}
    }
    assert answer.headers["x-request-id"] == "req-123"
    assert answer.headers["cache-control"] == "no-store"
    assert "a bug" not in answer.text  # the traceback is for the log only
    assert any("ZeroDivisionError" in (r.exc_text or "") for r in caplog.records)
