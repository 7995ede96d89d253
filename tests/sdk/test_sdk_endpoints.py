"""Each standalone function's keywords are its endpoint's: the table's models, nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from modelgates.funcs import (
    CreateAuthCodeParams,
    CreateKeyParams,
    ExchangeAuthCodeParams,
    GenerationParams,
    ListKeysParams,
    RecordUsageParams,
    RequestOptions,
    UpdateKeyParams,
)
from modelgates.funcs.api_keys import KeyParams
from modelgates.models import endpoints
from modelgates.models.endpoints import Endpoint


def fields(model: type[BaseModel] | None) -> set[str]:
    return set() if model is None else set(model.model_fields)


@pytest.mark.parametrize(
    ("params", "endpoint"),
    [
        (ExchangeAuthCodeParams, endpoints.EXCHANGE_AUTH_CODE),
        (CreateAuthCodeParams, endpoints.CREATE_AUTH_CODE),
        (RequestOptions, endpoints.GET_CURRENT_KEY),
        (RequestOptions, endpoints.REVOKE_CURRENT_KEY),
        (ListKeysParams, endpoints.LIST_KEYS),
        (CreateKeyParams, endpoints.CREATE_KEY),
        (KeyParams, endpoints.GET_KEY),
        (UpdateKeyParams, endpoints.UPDATE_KEY),
        (KeyParams, endpoints.DELETE_KEY),
        (RecordUsageParams, endpoints.RECORD_USAGE),
        (RequestOptions, endpoints.LIST_MODELS),
        (GenerationParams, endpoints.GET_GENERATION),
    ],
    ids=lambda value: getattr(value, "operation_id", getattr(value, "__name__", "")),
)
def test_the_keywords_are_the_endpoints_models_fields(
    params: type, endpoint: Endpoint[Any]
) -> None:
    keywords = set(params.__annotations__) - set(RequestOptions.__annotations__)
    expected = fields(endpoint.path_params) | fields(endpoint.query) | fields(endpoint.request)
    if endpoint.request is not None:
        expected.add("request_body")
    assert keywords == expected
