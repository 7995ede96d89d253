"""Each error answer becomes its error class, with the answer kept."""

from __future__ import annotations

import json

import httpx
import pydantic
import pytest

from modelgates import ModelGates, errors
from tests.sdk.data import EXCHANGED, ISSUED_KEY, NO_RETRIES
from tests.sdk.scripted_server import ScriptedServer


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestResponseError),
        (401, errors.UnauthorizedResponseError),
        (403, errors.ForbiddenResponseError),
        (409, errors.ConflictResponseError),
        (500, errors.InternalServerResponseError),
        (402, errors.PaymentRequiredResponseError),
        (404, errors.NotFoundResponseError),
        (429, errors.TooManyRequestsResponseError),
        (503, errors.ModelGatesDefaultError),
        (418, errors.ModelGatesDefaultError),
    ],
)
def test_status_maps_to_its_class_with_parsed_data(
    server: ScriptedServer, mg: ModelGates, status: int, cls: type[errors.APIError]
) -> None:
    server.error(status, "the sentence", field="code")
    with pytest.raises(errors.APIError) as caught:
        mg.o_auth.exchange_auth_code_for_api_key(code="abc", retries=NO_RETRIES)
    error = caught.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.message == "the sentence"
    assert error.data is not None
    assert (error.data.code, error.data.message) == (status, "the sentence")
    assert error.data.metadata == {"field": "code"}
    assert '"the sentence"' in error.body
    assert error.headers["content-type"] == "application/json"
    assert str(error) == f"the sentence (HTTP {status})"


@pytest.mark.parametrize("status", [502, 500, 400])
def test_an_error_body_that_is_not_the_contracts_json_is_a_default_error(
    server: ScriptedServer, mg: ModelGates, status: int
) -> None:
    page = "<html><body><h1>Bad Gateway</h1></body></html>"
    server.answer(status, body=page, headers={"Content-Type": "text/html"})
    with pytest.raises(errors.ModelGatesDefaultError) as caught:
        mg.o_auth.exchange_auth_code_for_api_key(code="abc", retries=NO_RETRIES)
    error = caught.value
    assert error.status_code == status
    assert error.data is None
    assert error.body == page
    assert "Bad Gateway" in error.message


def test_json_of_another_shape_is_a_default_error(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(403, {"detail": "forbidden"})
    with pytest.raises(errors.ModelGatesDefaultError) as caught:
        mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    assert caught.value.data is None
    assert caught.value.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"key": ISSUED_KEY},  # user_id missing
        {"key": ISSUED_KEY, "user_id": 5},
        ["not", "an", "object"],
    ],
)
def test_a_2xx_that_does_not_match_the_model(
    server: ScriptedServer, mg: ModelGates, body: object
) -> None:
    server.answer(200, body)
    with pytest.raises(errors.ResponseValidationError) as caught:
        mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    error = caught.value
    assert error.status_code == 200
    assert json.loads(error.body) == body
    assert isinstance(error.__cause__, pydantic.ValidationError)
    assert "ExchangeAuthCodeResponse" in str(error)
    # The body may carry an issued key: it is kept on the error, but never shown.
    assert ISSUED_KEY not in str(error) and ISSUED_KEY not in repr(error)


def test_a_2xx_that_is_not_json(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(200, body="OK", headers={"Content-Type": "text/plain"})
    with pytest.raises(errors.ResponseValidationError) as caught:
        mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    assert caught.value.body == "OK"
    assert caught.value.headers["content-type"] == "text/plain"


def test_the_tree() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and cls is not errors.LoginCancelledError:
            assert issubclass(cls, errors.ModelGatesError), name
    # Ctrl+C stays out of the tree of Exceptions, where an "except Exception:" could swallow it.
    assert issubclass(errors.LoginCancelledError, KeyboardInterrupt)
    assert not issubclass(errors.LoginCancelledError, Exception)
    assert issubclass(errors.TimeoutError, errors.ConnectionError)
    assert issubclass(errors.RequestValidationError, ValueError)
    assert issubclass(errors.ModelGatesDefaultError, errors.APIError)
    # The contract calls these statuses ModelGatesDefaultError; the subclasses keep that true.
    for cls in (
        errors.PaymentRequiredResponseError,
        errors.NotFoundResponseError,
        errors.TooManyRequestsResponseError,
    ):
        assert issubclass(cls, errors.ModelGatesDefaultError)
    assert not issubclass(errors.ResponseValidationError, errors.APIError)
    # The SDK's own classes, not the builtins they are named after.
    assert not issubclass(errors.ConnectionError, OSError)


def test_a_success_is_not_an_error(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(201, EXCHANGED)  # any 2XX
    assert mg.o_auth.exchange_auth_code_for_api_key(code="abc").key == ISSUED_KEY


def test_error_headers_are_httpx_headers(server: ScriptedServer, mg: ModelGates) -> None:
    server.answer(403, {"error": {"code": 403, "message": "no"}}, headers={"X-Trace": "t1"})
    with pytest.raises(errors.ForbiddenResponseError) as caught:
        mg.o_auth.exchange_auth_code_for_api_key(code="abc")
    assert isinstance(caught.value.headers, httpx.Headers)
    assert caught.value.headers["x-trace"] == "t1"
