"""The api_keys namespace over a real socket: what each call sends, what it returns, its errors,
its path and query checks, and create's cautious retry policy."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from modelgates import ModelGates, ModelGatesCore, errors
from modelgates._logging import REDACTED
from modelgates.funcs import (
    api_keys_create,
    api_keys_create_async,
    api_keys_delete,
    api_keys_delete_async,
    api_keys_get,
    api_keys_get_async,
    api_keys_get_current_key,
    api_keys_get_current_key_async,
    api_keys_list,
    api_keys_list_async,
    api_keys_revoke_current_key,
    api_keys_revoke_current_key_async,
    api_keys_update,
    api_keys_update_async,
)
from modelgates.models import (
    CreateKeyRequest,
    CreateKeyResponse,
    DeleteKeyResponse,
    KeyListResponse,
    KeyRecordResponse,
    KeyResponse,
    UpdateKeyRequest,
)
from modelgates.models.endpoints import Endpoint
from tests.sdk.data import (
    FAST_RETRIES,
    ISSUED_KEY,
    KEY_HASH,
    KEY_RECORD,
    MANAGED_KEY,
    NO_RETRIES,
)
from tests.sdk.fake_time import FakeTime
from tests.sdk.scripted_server import ScriptedServer
from tests.sdk.test_sdk_transport import refused_url

CREATED_KEY: dict[str, Any] = {"data": MANAGED_KEY, "key": ISSUED_KEY}
DELETED = {"deleted": True}
CREATE_BODY: dict[str, Any] = {
    "name": "ci",
    "limit": 25,
    "limit_reset": "weekly",
    "expires_at": "2031-01-01T00:00:00Z",
}


@pytest.fixture
def core(server: ScriptedServer) -> Iterator[ModelGatesCore]:
    with ModelGatesCore(
        "sk-mg-v1-management", server_url=server.url, retry_config=NO_RETRIES
    ) as made:
        yield made


# -- what each call sends ----------------------------------------------------------------------


def test_get_current_key(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, {"data": KEY_RECORD})
    result = mg.api_keys.get_current_key()
    assert isinstance(result, KeyRecordResponse)
    assert (result.data.label, result.data.limit_remaining) == ("My App", 7.5)
    assert result.data.limit_reset == "monthly" and result.data.expires_at is None
    (sent,) = server.received
    assert (sent.method, sent.path, sent.body) == ("GET", "/api/v1/key", b"")
    assert sent.headers["authorization"] == "Bearer sk-mg-v1-user-key"
    assert sent.headers["http-referer"] == "https://myapp.example"
    assert sent.headers["x-modelgates-title"] == "My App"
    assert sent.headers["x-modelgates-categories"] == "cli-agent"
    assert "content-type" not in sent.headers  # nothing to describe
    assert "idempotency-key" not in sent.headers


def test_revoke_current_key(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, DELETED)
    result = mg.api_keys.revoke_current_key(http_headers={"X-Trace": "t1"})
    assert isinstance(result, DeleteKeyResponse) and result.deleted is True
    (sent,) = server.received
    assert (sent.method, sent.path, sent.body) == ("DELETE", "/api/v1/key", b"")
    assert sent.headers["authorization"] == "Bearer sk-mg-v1-user-key"
    assert sent.headers["x-trace"] == "t1"


@pytest.mark.parametrize(
    ("call", "path"),
    [
        ({}, "/api/v1/keys"),
        ({"offset": None, "include_disabled": None}, "/api/v1/keys"),
        ({"offset": 0}, "/api/v1/keys?offset=0"),
        ({"offset": 100}, "/api/v1/keys?offset=100"),
        ({"include_disabled": True}, "/api/v1/keys?include_disabled=true"),
        ({"include_disabled": False}, "/api/v1/keys?include_disabled=false"),
        (
            {"offset": 200, "include_disabled": True},
            "/api/v1/keys?offset=200&include_disabled=true",
        ),
    ],
)
def test_list(server: ScriptedServer, mg: ModelGates, call: dict[str, Any], path: str) -> None:
    server.answer(200, {"data": [MANAGED_KEY, {**MANAGED_KEY, "disabled": True}]})
    result = mg.api_keys.list(**call)
    assert isinstance(result, KeyListResponse)
    assert [key.disabled for key in result.data] == [False, True]
    assert result.data[0].hash == KEY_HASH
    (sent,) = server.received
    assert (sent.method, sent.path, sent.body) == ("GET", path, b"")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"offset": -1}, "offset"),
        ({"offset": True}, "offset"),
        ({"offset": "10"}, "offset"),
        ({"offset": 1.5}, "offset"),
        ({"include_disabled": "true"}, "include_disabled"),
        ({"include_disabled": 1}, "include_disabled"),
    ],
)
def test_bad_list_query_fails_locally(
    server: ScriptedServer, mg: ModelGates, call: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.RequestValidationError) as caught:
        mg.api_keys.list(**call)
    assert caught.value.errors()[0]["loc"] == (field,)
    assert server.received == []


@pytest.mark.parametrize(
    "call",
    [
        {"request_body": CREATE_BODY},
        {"request_body": CreateKeyRequest.model_validate(CREATE_BODY)},
        CREATE_BODY,
    ],
    ids=["dict", "model", "flat"],
)
def test_create_in_every_form(server: ScriptedServer, mg: ModelGates, call: dict[str, Any]) -> None:
    server.answer(201, CREATED_KEY)
    result = mg.api_keys.create(**call)
    assert isinstance(result, CreateKeyResponse)
    assert result.key == ISSUED_KEY and result.data.hash == KEY_HASH
    assert ISSUED_KEY not in repr(result)  # printing the answer does not show the key
    (sent,) = server.received
    assert (sent.method, sent.path) == ("POST", "/api/v1/keys")
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {**CREATE_BODY, "limit": 25.0}


def test_create_sends_only_what_is_given(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(201, CREATED_KEY)
    mg.api_keys.create(name="bare", limit=None)
    assert server.received[0].json() == {"name": "bare"}


def test_create_keeps_a_decimal_limit_exact(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(201, CREATED_KEY)
    mg.api_keys.create(name="exact", limit=Decimal("0.000001"))
    assert json.loads(server.received[0].body, parse_float=Decimal)["limit"] == Decimal("0.000001")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a", "limit": -1}, "limit"),
        ({"name": "a", "limit": "10"}, "limit"),
        ({"name": "a", "limit": float("nan")}, "limit"),
        ({"name": "a", "limit_reset": "hourly"}, "limit_reset"),
        ({"name": "a", "expires_at": "2031-01-01T00:00:00"}, "expires_at"),
        ({"request_body": {"name": "a", "label": "b"}}, "label"),
        ({"request_body": {"name": "a"}, "limit": 5}, "request_body"),
    ],
)
def test_bad_create_input_fails_locally(
    server: ScriptedServer, mg: ModelGates, call: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.RequestValidationError) as caught:
        mg.api_keys.create(**call)
    assert field in [str(part) for detail in caught.value.errors() for part in detail["loc"]]
    assert server.received == []


def test_get(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, {"data": MANAGED_KEY})
    result = mg.api_keys.get(hash=KEY_HASH)
    assert isinstance(result, KeyResponse)
    assert (result.data.hash, result.data.name, result.data.usage) == (KEY_HASH, "My App", 2.5)
    (sent,) = server.received
    assert (sent.method, sent.path, sent.body) == ("GET", f"/api/v1/keys/{KEY_HASH}", b"")


@pytest.mark.parametrize(
    ("call", "body"),
    [
        ({"name": "renamed"}, {"name": "renamed"}),
        ({"disabled": True}, {"disabled": True}),
        ({"limit": 5}, {"limit": 5.0}),
        ({"limit": None}, {"limit": None}),  # given as None: remove the limit
        ({"limit": None, "limit_reset": None}, {"limit": None, "limit_reset": None}),
        ({"limit": 1, "limit_reset": "daily"}, {"limit": 1.0, "limit_reset": "daily"}),
        ({}, {}),
        ({"request_body": {"limit": None}}, {"limit": None}),
        ({"request_body": {"disabled": False}}, {"disabled": False}),
        ({"request_body": UpdateKeyRequest(limit=None)}, {"limit": None}),
        ({"request_body": UpdateKeyRequest(name="n")}, {"name": "n"}),
        ({"request_body": UpdateKeyRequest()}, {}),
    ],
)
def test_update_sends_exactly_the_fields_given(
    server: ScriptedServer, mg: ModelGates, call: dict[str, Any], body: dict[str, Any]
) -> None:
    server.answer(200, {"data": MANAGED_KEY})
    result = mg.api_keys.update(hash=KEY_HASH, **call)
    assert isinstance(result, KeyResponse)
    (sent,) = server.received
    assert (sent.method, sent.path) == ("PATCH", f"/api/v1/keys/{KEY_HASH}")
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == body


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"disabled": "yes"}, "disabled"),
        ({"disabled": 1}, "disabled"),
        ({"name": ""}, "name"),
        ({"limit": -0.5}, "limit"),
        ({"limit_reset": "yearly"}, "limit_reset"),
        ({"request_body": {"label": "x"}}, "label"),
        ({"request_body": {"name": "x"}, "limit": None}, "request_body"),
    ],
)
def test_bad_update_input_fails_locally(
    server: ScriptedServer, mg: ModelGates, call: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.RequestValidationError) as caught:
        mg.api_keys.update(hash=KEY_HASH, **call)
    assert field in [str(part) for detail in caught.value.errors() for part in detail["loc"]]
    assert server.received == []


def test_delete(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, DELETED)
    assert mg.api_keys.delete(hash=KEY_HASH).deleted is True
    (sent,) = server.received
    assert (sent.method, sent.path, sent.body) == ("DELETE", f"/api/v1/keys/{KEY_HASH}", b"")


def test_per_call_options_apply(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, {"data": MANAGED_KEY})
    mg.api_keys.get(hash=KEY_HASH, app_title="Other", http_referer="", server_url=server.url)
    sent = server.received[0]
    assert sent.headers["x-modelgates-title"] == "Other"
    assert "http-referer" not in sent.headers


# -- path parameters ---------------------------------------------------------------------------

BAD_HASHES = [
    KEY_HASH.upper(),
    KEY_HASH[:-1],
    KEY_HASH + "0",
    "",
    "../" + KEY_HASH[3:],
    KEY_HASH[:-2] + "/x",
    KEY_HASH[:-2] + "?x",
    KEY_HASH + "\n",
    "sk-mg-v1-" + KEY_HASH,  # the key itself must never go in a URL
]


@pytest.mark.parametrize("bad", [*BAD_HASHES, 12345, None])
@pytest.mark.parametrize("method", ["get", "delete", "update"])
def test_a_bad_hash_fails_locally(
    server: ScriptedServer, mg: ModelGates, bad: Any, method: str
) -> None:
    with pytest.raises(errors.RequestValidationError) as caught:
        getattr(mg.api_keys, method)(hash=bad)
    assert caught.value.errors()[0]["loc"] == ("hash",)
    assert server.received == []


def test_the_hash_is_required(mg: ModelGates) -> None:
    with pytest.raises(TypeError):
        mg.api_keys.get()  # type: ignore[call-arg]


def test_path_parameters_are_percent_encoded(server: ScriptedServer, core: ModelGatesCore) -> None:
    # The core's own guarantee, for operations whose values are not as narrow as a hash.
    operation = Endpoint(
        "getThing", "GET", "/things/{id}", KeyResponse, auth="key", tag="Test", summary="A thing"
    )
    for value in ("a/b?c#d", "..", ".", "ü %"):
        server.answer(200, {"data": MANAGED_KEY})
        core.send(operation, path_params={"id": value})
    assert [r.path for r in server.received] == [
        "/api/v1/things/a%2Fb%3Fc%23d",
        "/api/v1/things/%2E%2E",
        "/api/v1/things/%2E",
        "/api/v1/things/%C3%BC%20%25",
    ]


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestResponseError),
        (401, errors.UnauthorizedResponseError),
        (403, errors.ForbiddenResponseError),
        (404, errors.NotFoundResponseError),
        (429, errors.TooManyRequestsResponseError),
        (500, errors.InternalServerResponseError),
    ],
)
def test_error_statuses(
    server: ScriptedServer, mg: ModelGates, status: int, cls: type[errors.APIError]
) -> None:
    server.error(status, "no such key", hash=KEY_HASH)
    with pytest.raises(cls) as caught:
        mg.api_keys.get(hash=KEY_HASH, retries=NO_RETRIES)
    assert caught.value.status_code == status
    assert caught.value.data is not None and caught.value.data.metadata == {"hash": KEY_HASH}


def test_not_found_is_still_a_default_error(server: ScriptedServer, mg: ModelGates) -> None:
    # The contract names only ModelGatesDefaultError for a 404; code written to it keeps working.
    server.error(404, "no such key")
    with pytest.raises(errors.ModelGatesDefaultError) as caught:
        mg.api_keys.delete(hash=KEY_HASH)
    assert isinstance(caught.value, errors.NotFoundResponseError)
    assert len(server.received) == 1  # a 404 is final


def test_a_404_page_from_a_proxy_is_only_a_default_error(
    server: ScriptedServer, mg: ModelGates
) -> None:
    server.answer(404, body="<h1>Not Found</h1>", headers={"Content-Type": "text/html"})
    with pytest.raises(errors.ModelGatesDefaultError) as caught:
        mg.api_keys.get_current_key()
    assert type(caught.value) is errors.ModelGatesDefaultError


def test_a_create_answer_without_the_key_is_a_validation_error(
    server: ScriptedServer, mg: ModelGates
) -> None:
    server.answer(201, {"data": MANAGED_KEY})
    with pytest.raises(errors.ResponseValidationError, match="CreateKeyResponse"):
        mg.api_keys.create(name="a")


# -- retries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_create_is_retried_when_the_server_did_nothing(
    server: ScriptedServer, mg: ModelGates, status: int
) -> None:
    server.error(status, "not now")
    server.answer(201, CREATED_KEY)
    assert mg.api_keys.create(name="a").key == ISSUED_KEY
    assert len(server.received) == 2
    assert server.received[0].body == server.received[1].body


@pytest.mark.parametrize("status", [408, 500, 502, 504])
def test_create_is_not_retried_when_the_key_may_exist(
    server: ScriptedServer, mg: ModelGates, status: int
) -> None:
    server.error(status, "maybe")
    server.answer(201, CREATED_KEY)
    with pytest.raises(errors.APIError) as caught:
        mg.api_keys.create(name="a")
    assert caught.value.status_code == status
    assert len(server.received) == 1


def test_create_is_not_retried_after_a_dropped_connection(
    server: ScriptedServer, mg: ModelGates
) -> None:
    server.drop()  # the request arrived; the answer was lost
    server.answer(201, CREATED_KEY)
    with pytest.raises(errors.ConnectionError):
        mg.api_keys.create(name="a")
    assert len(server.received) == 1


def test_create_is_not_retried_after_a_read_timeout(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(201, CREATED_KEY, delay=5)
    server.answer(201, CREATED_KEY)
    with pytest.raises(errors.TimeoutError):
        mg.api_keys.create(name="a", timeout_ms=100)
    assert len(server.received) == 1


def test_create_is_retried_when_the_connection_is_refused() -> None:
    with ModelGates(server_url=refused_url()) as mg:
        fake = FakeTime().install(mg)
        with pytest.raises(errors.ConnectionError) as caught:
            mg.api_keys.create(name="a")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert fake.sleeps[:2] == pytest.approx([0.5, 0.75])  # the client's schedule, in full
    assert sum(fake.sleeps) == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("failure", "retried"),
    [
        (httpx.ConnectTimeout("connect timed out"), True),
        (httpx.PoolTimeout("no connection free"), True),
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("read timed out"), False),
        (httpx.WriteTimeout("write timed out"), False),
        (httpx.ReadError("reset"), False),
        (httpx.RemoteProtocolError("server disconnected"), False),
    ],
)
def test_create_retries_only_failures_before_sending(
    failure: httpx.TransportError, retried: bool
) -> None:
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise failure
        return httpx.Response(201, json=CREATED_KEY)

    with httpx.Client(transport=httpx.MockTransport(handler)) as own:
        mg = ModelGates(server_url="http://mock.invalid/api/v1", client=own)
        FakeTime().install(mg)
        result = api_keys_create(mg.core, name="a")
    assert len(attempts) == (2 if retried else 1)
    assert result.ok is retried
    if not retried:
        assert isinstance(result.error, errors.ConnectionError)
        assert result.error.__cause__ is failure


def test_create_follows_retries_none(server: ScriptedServer, mg: ModelGates) -> None:
    server.error(503)
    server.answer(201, CREATED_KEY)
    with pytest.raises(errors.ModelGatesDefaultError):
        mg.api_keys.create(name="a", retries=NO_RETRIES)
    assert len(server.received) == 1


@pytest.mark.parametrize("method", ["get", "update", "delete"])
def test_the_other_calls_are_retried_as_usual(
    server: ScriptedServer, mg: ModelGates, method: str
) -> None:
    server.error(500)
    server.drop()
    server.answer(200, DELETED if method == "delete" else {"data": MANAGED_KEY})
    getattr(mg.api_keys, method)(hash=KEY_HASH)
    assert len(server.received) == 3
    assert len({(r.method, r.path, r.body) for r in server.received}) == 1


def test_self_revocation_is_retried_as_usual(server: ScriptedServer, mg: ModelGates) -> None:
    server.error(502)
    server.answer(200, DELETED)
    assert mg.api_keys.revoke_current_key().deleted
    assert [r.method for r in server.received] == ["DELETE", "DELETE"]


# -- the standalone functions ------------------------------------------------------------------


def test_the_functions_return_results(server: ScriptedServer, core: ModelGatesCore) -> None:
    server.answer(200, {"data": KEY_RECORD})
    server.answer(200, DELETED)
    server.answer(200, {"data": [MANAGED_KEY]})
    server.answer(201, CREATED_KEY)
    server.answer(200, {"data": MANAGED_KEY})
    server.answer(200, {"data": MANAGED_KEY})
    server.answer(200, DELETED)
    assert api_keys_get_current_key(core).unwrap().data.creator_user_id == "user_abc"
    assert api_keys_revoke_current_key(core).unwrap().deleted
    assert len(api_keys_list(core, offset=100).unwrap().data) == 1
    assert api_keys_create(core, request_body={"name": "a"}).unwrap().key == ISSUED_KEY
    assert api_keys_get(core, hash=KEY_HASH).unwrap().data.hash == KEY_HASH
    assert api_keys_update(core, hash=KEY_HASH, limit=None).unwrap().data.name == "My App"
    assert api_keys_delete(core, hash=KEY_HASH).unwrap().deleted
    assert [(r.method, r.path) for r in server.received] == [
        ("GET", "/api/v1/key"),
        ("DELETE", "/api/v1/key"),
        ("GET", "/api/v1/keys?offset=100"),
        ("POST", "/api/v1/keys"),
        ("GET", f"/api/v1/keys/{KEY_HASH}"),
        ("PATCH", f"/api/v1/keys/{KEY_HASH}"),
        ("DELETE", f"/api/v1/keys/{KEY_HASH}"),
    ]
    assert all(r.headers["authorization"] == "Bearer sk-mg-v1-management" for r in server.received)


def test_the_functions_return_errors(server: ScriptedServer, core: ModelGatesCore) -> None:
    server.error(404, "no such key")
    server.error(401, "revoked")
    not_found = api_keys_get(core, hash=KEY_HASH)
    unauthorized = api_keys_get_current_key(core)
    bad_hash = api_keys_delete(core, hash="nope")
    bad_body = api_keys_update(core, hash=KEY_HASH, disabled="no")  # type: ignore[arg-type]
    bad_query = api_keys_list(core, offset=-5)
    assert isinstance(not_found.error, errors.NotFoundResponseError)
    assert isinstance(unauthorized.error, errors.UnauthorizedResponseError)
    for invalid in (bad_hash, bad_body, bad_query):
        assert isinstance(invalid.error, errors.RequestValidationError)
        assert invalid.value is None and not invalid.ok
    with pytest.raises(errors.NotFoundResponseError):
        not_found.unwrap()
    assert len(server.received) == 2
    with ModelGatesCore(server_url=refused_url(), retry_config=NO_RETRIES) as offline:
        assert isinstance(api_keys_get_current_key(offline).error, errors.ConnectionError)


def test_a_misspelt_keyword_still_raises(core: ModelGatesCore) -> None:
    with pytest.raises(TypeError, match="include_disable"):
        api_keys_list(core, include_disable=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="label"):
        api_keys_create(core, name="a", label="b")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="offset"):
        api_keys_get_current_key(core, offset=1)  # type: ignore[call-arg]


@pytest.mark.anyio
async def test_async_twins(server: ScriptedServer, core: ModelGatesCore) -> None:
    server.answer(200, {"data": KEY_RECORD})
    server.answer(200, DELETED)
    server.answer(200, {"data": []})
    server.answer(201, CREATED_KEY)
    server.answer(200, {"data": MANAGED_KEY})
    server.answer(200, {"data": MANAGED_KEY})
    server.answer(200, DELETED)
    server.error(404, "gone")
    assert (await api_keys_get_current_key_async(core)).unwrap().data.app_id == 7
    assert (await api_keys_revoke_current_key_async(core)).unwrap().deleted
    listed = await api_keys_list_async(core, include_disabled=True)
    assert listed.unwrap().data == []
    assert (await api_keys_create_async(core, name="a")).unwrap().key == ISSUED_KEY
    assert (await api_keys_get_async(core, hash=KEY_HASH)).unwrap().data.hash == KEY_HASH
    assert (await api_keys_update_async(core, hash=KEY_HASH, disabled=True)).ok
    assert (await api_keys_delete_async(core, hash=KEY_HASH)).unwrap().deleted
    gone = await api_keys_delete_async(core, hash=KEY_HASH)
    bad = await api_keys_get_async(core, hash="XYZ")
    await core.aclose()
    assert isinstance(gone.error, errors.NotFoundResponseError)
    assert isinstance(bad.error, errors.RequestValidationError)
    assert [(r.method, r.path) for r in server.received] == [
        ("GET", "/api/v1/key"),
        ("DELETE", "/api/v1/key"),
        ("GET", "/api/v1/keys?include_disabled=true"),
        ("POST", "/api/v1/keys"),
        ("GET", f"/api/v1/keys/{KEY_HASH}"),
        ("PATCH", f"/api/v1/keys/{KEY_HASH}"),
        ("DELETE", f"/api/v1/keys/{KEY_HASH}"),
        ("DELETE", f"/api/v1/keys/{KEY_HASH}"),
    ]
    assert server.received[5].json() == {"disabled": True}


@pytest.mark.anyio
async def test_async_namespace_methods(server: ScriptedServer) -> None:
    server.answer(200, {"data": KEY_RECORD})
    server.answer(200, DELETED)
    server.answer(200, {"data": [MANAGED_KEY]})
    server.answer(201, CREATED_KEY)
    server.answer(200, {"data": MANAGED_KEY})
    server.answer(200, {"data": MANAGED_KEY})
    server.answer(200, DELETED)
    server.error(503)
    server.answer(201, CREATED_KEY)
    server.error(500)
    async with ModelGates("sk-mg-v1-m", server_url=server.url, retry_config=NO_RETRIES) as mg:
        fake = FakeTime().install(mg)
        assert (await mg.api_keys.get_current_key_async()).data.usage_weekly == 1.5
        assert (await mg.api_keys.revoke_current_key_async()).deleted
        assert (await mg.api_keys.list_async(offset=100)).data[0].hash == KEY_HASH
        created = await mg.api_keys.create_async(request_body=CREATE_BODY)
        assert created.key == ISSUED_KEY
        assert (await mg.api_keys.get_async(hash=KEY_HASH)).data.disabled is False
        await mg.api_keys.update_async(hash=KEY_HASH, request_body={"limit": None})
        assert (await mg.api_keys.delete_async(hash=KEY_HASH)).deleted
        # The async path shares create's policy: a 503 is retried, a 500 is not.
        retried = await mg.api_keys.create_async(name="a", retries=FAST_RETRIES)
        assert retried.key == ISSUED_KEY
        with pytest.raises(errors.InternalServerResponseError):
            await mg.api_keys.create_async(name="a", retries=FAST_RETRIES)
        with pytest.raises(errors.RequestValidationError):
            await mg.api_keys.update_async(hash="A" * 64, name="x")
    assert len(server.received) == 10
    assert server.received[5].json() == {"limit": None}
    assert len(fake.sleeps) == 1


# -- logging, laziness, typing -----------------------------------------------------------------


def test_the_created_key_is_redacted_in_debug_logs(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("modelgates")
    level = logger.level
    server.answer(201, CREATED_KEY)
    try:
        with ModelGates("sk-mg-v1-" + "e" * 64, server_url=server.url, debug=True) as mg:
            mg.api_keys.create(name="ci")
    finally:
        logger.setLevel(level)
    assert ISSUED_KEY not in caplog.text and "e" * 64 not in caplog.text
    assert f'"key": "{REDACTED}"' in caplog.text
    assert KEY_HASH in caplog.text  # the public id stays readable
    assert "-> 201 in" in caplog.text


def test_namespaces_are_made_once_and_make_no_client(server: ScriptedServer) -> None:
    with ModelGates(server_url=server.url) as mg:
        assert mg.api_keys is mg.api_keys
        assert mg.usage is mg.usage
        assert mg.core._client is None and mg.core._async_client is None
