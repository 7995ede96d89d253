"""``/api/v1/openapi.json``: a valid OpenAPI 3.1 document of every JSON route, built from the wire
models. (Whether the server keeps to it is test_schema_fuzz.py's business.)"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from schemathesis.core.result import Ok
from starlette.routing import BaseRoute, Mount, Route

from modelgates.models.endpoints import ENDPOINTS
from modelgates.models.errors import ErrorResponse
from modelgates.server.api.openapi import (
    API_PREFIX,
    OPENAPI_VERSION,
    REF,
    openapi_document,
)
from modelgates.server.app import create_app
from modelgates.server.settings import Settings
from tests.conftest import LiveServer


def _openapi_31_validator() -> Any:
    # schemathesis validates the documents it loads against the OpenAPI 3.1 schema it carries.
    from schemathesis.specs.openapi import definitions

    return definitions.OPENAPI_31_VALIDATOR


def _api_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route under /api/v1; HEAD is Starlette's own twin of GET."""
    for route in routes:
        if isinstance(route, Mount):
            yield from _api_routes(list(route.routes), prefix + route.path)
        elif isinstance(route, Route) and (prefix + route.path).startswith(API_PREFIX + "/"):
            path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", prefix + route.path)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield method.lower(), path


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"] == OPENAPI_VERSION == "3.1.0"
    _openapi_31_validator().validate(document)
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    # Every $ref resolves inside the document.
    refs = set(re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(document)))
    for ref in refs:
        node: Any = document
        for part in ref.split("/"):
            node = node[part]
    # And schemathesis reads every operation of it.
    loaded = schemathesis.openapi.from_dict(document)
    results = list(loaded.get_all_operations())
    assert all(isinstance(result, Ok) for result in results)
    assert len(results) == len(ENDPOINTS)


def test_every_api_route_is_documented_and_nothing_else(tmp_path: Path) -> None:
    app = create_app(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'routes.db'}",
            secret_key=os.environ["MODELGATES_SECRET_KEY"],
        )
    )
    try:
        routes = set(_api_routes(list(app.routes)))
    finally:
        asyncio.run(app.state.context.store.close())
    documented = {
        (method, path)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
    }
    assert routes, "no routes under /api/v1?"
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations without a route"


def test_bodies_are_the_wire_models_own_schemas() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for op in ENDPOINTS:
        pairs = [(op.request, "validation"), (op.response, "serialization")]
        for model, mode in pairs:
            if model is None:
                continue
            own = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
            own.pop("$defs", None)
            assert schemas[model.__name__] == own, (op.operation_id, model.__name__)


def test_every_error_is_the_one_error_shape_with_its_status() -> None:
    document = openapi_document()
    error_ref = REF.format(model=ErrorResponse.__name__)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = {int(status) for status in operation["responses"]}
            assert 500 in statuses, (method, path)
            for status in statuses - {200, 201}:
                response = operation["responses"][str(status)]
                ref = response["content"]["application/json"]["schema"]["$ref"]
                schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
                assert schema["allOf"][0] == {"$ref": error_ref}
                code = schema["allOf"][1]["properties"]["error"]["properties"]["code"]
                assert code == {"const": status}
            if operation["security"]:
                assert 401 in statuses, (method, path)
            if "requestBody" in operation:
                assert {400, 413, 415} <= statuses, (method, path)


@pytest.mark.parametrize(
    ("operation_id", "statuses"),
    [
        ("createAuthCode", {200, 400, 401, 403, 409, 413, 415, 429, 500, 503}),
        ("exchangeAuthCodeForApiKey", {200, 400, 403, 413, 415, 429, 500, 503}),
        ("getKey", {200, 401, 403, 404, 500, 503}),
        ("recordUsage", {200, 400, 401, 402, 404, 409, 413, 415, 500, 503}),
    ],
)
def test_statuses_follow_the_contract(operation_id: str, statuses: set[int]) -> None:
    operations = [
        operation
        for path in openapi_document()["paths"].values()
        for operation in path.values()
        if operation["operationId"] == operation_id
    ]
    assert len(operations) == 1
    assert {int(status) for status in operations[0]["responses"]} == statuses


def test_the_server_serves_the_document(live_server: LiveServer) -> None:
    response = live_server.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == openapi_document()
    # Public: no key needed, and one given is not looked at.
    assert live_server.client.get("/openapi.json", headers={"Authorization": "x"}).is_success
