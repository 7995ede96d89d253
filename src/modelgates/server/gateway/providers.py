"""The operator's providers file: which OpenAI-compatible APIs serve which models, at what price.

Read once at start-up (never per request) with the standard library's TOML parser, its floats
read as decimals so that prices stay exact, and validated by the models below; a mistake stops
``serve`` with a message naming the line. A provider's API key is read from the environment
variable the file names, and is kept only in the pooled client that sends it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from modelgates.server.services.ceiling import Price

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

__all__ = ["Catalogue", "ModelEntry", "Provider", "ProvidersError", "load_catalogue"]

#: Prices beyond this (USD per million tokens) are surely a typo.
_MAX_PRICE = Decimal(1_000_000)
#: What a request's output is capped at when the model names no ``max_output_tokens`` and the
#: request sets no ``max_tokens`` (docs/gateway.md).
DEFAULT_MAX_OUTPUT_TOKENS = 4096


class ProvidersError(ValueError):
    """A providers file that cannot be served; the message names the file and the line."""


_Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
_ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,150}$")]
_Price = Annotated[Decimal, Field(ge=0, le=_MAX_PRICE, allow_inf_nan=False)]
_Tokens = Annotated[int, Field(ge=1, le=100_000_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)


class _ModelSpec(_Strict):
    id: _ModelName
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    input_per_million: _Price
    output_per_million: _Price
    context_length: _Tokens | None = None
    max_output_tokens: _Tokens | None = None


class _ProviderSpec(_Strict):
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2048)]
    api_key_env: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = (
        None
    )
    timeout_seconds: Annotated[Decimal, Field(gt=0, le=3600)] = Decimal(600)
    connect_timeout_seconds: Annotated[Decimal, Field(gt=0, le=600)] = Decimal(10)
    models: Annotated[list[_ModelSpec], Field(min_length=1)]


class _FileSpec(_Strict):
    providers: dict[_Name, _ProviderSpec]


@dataclass(frozen=True)
class Provider:
    name: str
    #: Without a trailing slash: ``{base_url}/chat/completions`` is where requests go.
    base_url: str
    #: The secret, or None for a provider without one (a local Ollama). Never logged or shown.
    api_key: str | None
    timeout_seconds: float
    connect_timeout_seconds: float

    def __repr__(self) -> str:  # the dataclass's own would print the key
        return f"Provider(name={self.name!r}, base_url={self.base_url!r})"


@dataclass(frozen=True)
class ModelEntry:
    #: As clients name it: ``provider/model``.
    id: str
    name: str
    provider: Provider
    #: As the provider names it.
    upstream_id: str
    #: USD per million tokens, exactly as the file gives them (micro-dollars per token).
    input_per_million: Decimal
    output_per_million: Decimal
    context_length: int | None
    max_output_tokens: int | None
    #: The same prices and bounds as the ceiling takes them, made once at start-up.
    price: Price


@dataclass(frozen=True)
class Catalogue:
    """Every model the gateway serves, by id, and the providers serving them."""

    models: dict[str, ModelEntry]
    providers: tuple[Provider, ...]


def load_catalogue(path: str | Path, provider_key: Callable[[str], str | None]) -> Catalogue:
    """The catalogue in the providers file at ``path``; ``provider_key`` reads an API key's
    environment variable by name. ProvidersError, naming the line, for anything wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ProvidersError(f"{path}: cannot read it ({type(error).__name__})") from None
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise ProvidersError(f"{path}: not valid TOML: {error}") from None
    try:
        spec = _FileSpec.model_validate(_decimal_prices(raw))
    except ValidationError as error:
        first = error.errors()[0]
        where = _dotted(first["loc"])
        line = _line_of(text, first["loc"])
        at = f" (line {line})" if line else ""
        # Strict mode's wording for a string where a number belongs is pydantic's internals.
        why = "must be a number" if first["type"] == "is_instance_of" else first["msg"]
        raise ProvidersError(f"{path}{at}: {where}: {why}") from None

    providers: list[Provider] = []
    models: dict[str, ModelEntry] = {}
    for name, given in spec.providers.items():
        api_key = None
        if given.api_key_env is not None:
            api_key = provider_key(given.api_key_env)
            if not api_key:
                raise ProvidersError(
                    f"{path}: providers.{name}.api_key_env names {given.api_key_env}, "
                    "which is not set"
                )
        provider = Provider(
            name=name,
            base_url=given.base_url.rstrip("/"),
            api_key=api_key,
            timeout_seconds=float(given.timeout_seconds),
            connect_timeout_seconds=float(given.connect_timeout_seconds),
        )
        providers.append(provider)
        for index, model in enumerate(given.models):
            served = f"{name}/{model.id}"
            if served in models:
                line = _line_of(text, ("providers", name, "models", index))
                at = f" (line {line})" if line else ""
                raise ProvidersError(f"{path}{at}: model {served} is listed twice")
            models[served] = ModelEntry(
                id=served,
                name=model.name or served,
                provider=provider,
                upstream_id=model.id,
                input_per_million=model.input_per_million,
                output_per_million=model.output_per_million,
                context_length=model.context_length,
                max_output_tokens=model.max_output_tokens,
                price=Price(
                    input_per_million=model.input_per_million,
                    output_per_million=model.output_per_million,
                    output_cap=model.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
                    context_length=model.context_length,
                ),
            )
    return Catalogue(models=models, providers=tuple(providers))


def empty_catalogue() -> Catalogue:
    return Catalogue(models={}, providers=())


def _decimal_prices(raw: Any) -> Any:
    # TOML integers (`input_per_million = 1`) are prices too; strict mode takes only Decimals.
    if isinstance(raw, dict):
        return {
            key: Decimal(value)
            if key.endswith(("_per_million", "_seconds"))
            and isinstance(value, int)
            and not isinstance(value, bool)
            else _decimal_prices(value)
            for key, value in raw.items()
        }
    if isinstance(raw, list):
        return [_decimal_prices(item) for item in raw]
    return raw


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The line where the table ``loc`` points into starts (or where its key is set): enough
    to send the operator to the right place, without a position-keeping TOML parser."""
    parts = [str(p) for p in loc]
    # providers.NAME[.models[INDEX]][.KEY]
    if len(parts) < 2 or parts[0] != "providers":
        return 1
    name = parts[1]
    target, index, key = f"providers.{name}", None, None
    if len(parts) >= 4 and parts[2] == "models":
        target, index = f"providers.{name}.models", int(parts[3])
        key = parts[4] if len(parts) > 4 else None
    elif len(parts) >= 3:
        key = parts[2]
    seen = -1
    start = None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        match = _HEADER.match(line)
        if match is None:
            if start is not None and key and re.match(rf"^\s*{re.escape(key)}\s*=", line):
                return number
            continue
        if start is not None:
            break  # the table ended without the key: point at its header
        if match.group(2) == target:
            seen += 1
            if index is None or seen == index:
                start = number
    return start
