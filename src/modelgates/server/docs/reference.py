"""The API reference page, written from the OpenAPI document (the one source: the endpoint
table and the wire models), and single operations of that document for the MCP tools."""

from __future__ import annotations

import json
from typing import Any

from modelgates.server.api.openapi import openapi_document

_METHODS = ("get", "post", "put", "patch", "delete")
_SCHEMA_PREFIX = "#/components/schemas/"


def document() -> dict[str, Any]:
    return openapi_document()


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """``(METHOD, path, operation)`` for every operation, in the document's order."""
    return [
        (method.upper(), path, operation)
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def operation(ref: str) -> dict[str, Any] | None:
    """One operation, found by its ``operationId`` (``exchangeAuthCodeForApiKey``) or as
    ``METHOD /path`` (``POST /api/v1/auth/keys``), with every schema it refers to, however
    deep, so that it reads on its own; None when there is none such."""
    wanted = " ".join(ref.split())
    for method, path, op in operations():
        if wanted.lower() in (op["operationId"].lower(), f"{method} {path}".lower()):
            return {
                "method": method,
                "path": path,
                "operation": op,
                "schemas": _referenced(op),
            }
    return None


def _referenced(node: Any) -> dict[str, Any]:
    schemas = document()["components"]["schemas"]
    found: dict[str, Any] = {}
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(_SCHEMA_PREFIX):
                name = ref.removeprefix(_SCHEMA_PREFIX)
                if name not in found:
                    found[name] = schemas[name]
                    pending.append(schemas[name])
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return dict(sorted(found.items()))


def markdown() -> str:
    """The reference as Markdown: one section per tag, one per operation."""
    doc = document()
    lines = [
        "# API reference",
        "",
        f"{doc['info']['description']} This page is written from the server's OpenAPI "
        "document, `GET /api/v1/openapi.json`, which is built from the same endpoint table "
        "and wire models that the server validates with; [the API guide](docs/api.md) says "
        "the same in prose, with the choices behind it.",
        "",
    ]
    lines += _errors_markdown()
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for method, path, op in operations():
        by_tag.setdefault(op.get("tags", ["Other"])[0], []).append((method, path, op))
    for tag, ops in by_tag.items():
        lines += [f"## {tag}", ""]
        for method, path, op in ops:
            lines += _operation_markdown(method, path, op)
    return "\n".join(lines) + "\n"


def _operation_markdown(method: str, path: str, op: dict[str, Any]) -> list[str]:
    security = op.get("security") or []
    auth = (
        "none"
        if not security
        else " or ".join(
            document()["components"]["securitySchemes"][name]["description"]
            for requirement in security
            for name in requirement
        )
    )
    lines = [
        f"### {op['summary']}",
        "",
        f"`{method} {path}` · operation `{op['operationId']}` · authentication: {auth}",
        "",
    ]
    if op.get("description"):
        lines += [op["description"], ""]
    parameters = op.get("parameters", [])
    if parameters:
        lines += ["**Parameters**", "", "| name | in | type | required | meaning |"]
        lines += ["| --- | --- | --- | --- | --- |"]
        lines += [
            f"| `{p['name']}` | {p['in']} | {_type(p.get('schema', {}))} | "
            f"{'yes' if p.get('required') else 'no'} | {_cell(p.get('description', ''))} |"
            for p in parameters
        ]
        lines.append("")
    body = op.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        lines += _fields("Request body", schema)
    (status, success), *errors = op["responses"].items()
    success_schema = success.get("content", {}).get("application/json", {}).get("schema")
    body_lines = _fields(f"Success ({status})", success_schema) if success_schema else []
    lines += body_lines or [f"**Success**: {status}.", ""]
    # Each status means the same whichever operation answers it: said once, under Errors.
    lines += [
        f"**Errors**: {', '.join(code for code, _ in errors)} ([what each means](#errors)).",
        "",
    ]
    return lines


def _errors_markdown() -> list[str]:
    meanings: dict[str, str] = {}
    for _, _, op in operations():
        for status, response in list(op["responses"].items())[1:]:
            meanings.setdefault(status, response["description"])
    lines = [
        "## Errors",
        "",
        "Every error answer has the one shape above, with `error.code` equal to the HTTP "
        "status. What each status means, whichever operation answers it:",
        "",
        "| status | meaning |",
        "| --- | --- |",
    ]
    lines += [f"| {status} | {_cell(meanings[status])} |" for status in sorted(meanings)]
    return [*lines, ""]


def _fields(label: str, schema: dict[str, Any]) -> list[str]:
    """A table of an object schema's fields (following its ``$ref``)."""
    name = schema.get("$ref", "").removeprefix(_SCHEMA_PREFIX)
    resolved = document()["components"]["schemas"].get(name, schema)
    properties = resolved.get("properties", {})
    if not properties:
        return []
    required = set(resolved.get("required", ()))
    meanings = [_cell(spec.get("description") or _meaning(spec)) for spec in properties.values()]
    explained = any(meanings)  # a column of nothing but blanks is left out
    lines = [f"**{label}**{f' `{name}`' if name else ''}", ""]
    lines += ["| field | type | required |" + (" meaning |" if explained else "")]
    lines += ["| --- | --- | --- |" + (" --- |" if explained else "")]
    for (field, spec), meaning in zip(properties.items(), meanings, strict=True):
        row = f"| `{field}` | {_type(spec)} | {'yes' if field in required else 'no'} |"
        lines.append(row + (f" {meaning} |" if explained else ""))
    return [*lines, ""]


def _meaning(spec: dict[str, Any]) -> str:
    for option in spec.get("anyOf", ()):
        if option.get("description"):
            return str(option["description"])
    return ""


def _type(schema: dict[str, Any]) -> str:
    """A JSON schema in a few words: ``string (uri, ≤ 2048)``, ``S256 | plain | null``."""
    if not schema:
        return ""
    if "$ref" in schema:
        return f"`{schema['$ref'].removeprefix(_SCHEMA_PREFIX)}`"
    if "anyOf" in schema:
        return " \\| ".join(_type(option) for option in schema["anyOf"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    details = []
    if "format" in schema:
        details.append(str(schema["format"]))
    if "pattern" in schema:
        details.append(f"`{schema['pattern']}`")
    for key, sign in (("minimum", "≥"), ("maximum", "≤"), ("maxLength", "≤")):
        if key in schema:
            details.append(f"{sign} {schema[key]}")
    return f"{kind} ({', '.join(details)})" if details else kind


def _cell(text: str) -> str:
    """Text that stays in its table cell."""
    return " ".join(text.split()).replace("|", "\\|")
