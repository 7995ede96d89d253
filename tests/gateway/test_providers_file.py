"""The providers file: read once, validated, and a mistake named with its line."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from modelgates.server.gateway.providers import ProvidersError, load_catalogue

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[providers.openai]
base_url = "https://api.openai.com/v1/"
api_key_env = "OPENAI_API_KEY"
timeout_seconds = 600

[[providers.openai.models]]
id = "gpt-4o-mini"
name = "GPT-4o mini"
input_per_million = 0.15
output_per_million = 0.60
context_length = 128000
max_output_tokens = 16384

[providers.local]
base_url = "http://127.0.0.1:11434/v1"

[[providers.local.models]]
id = "llama3.1:8b"
input_per_million = 0
output_per_million = 0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "providers.toml"
    path.write_text(text)
    return path


def test_a_good_file_gives_the_catalogue_with_exact_prices(tmp_path: Path) -> None:
    catalogue = load_catalogue(write(tmp_path, GOOD), {"OPENAI_API_KEY": "sk-secret"}.get)
    mini = catalogue.models["openai/gpt-4o-mini"]
    assert mini.input_per_million == Decimal("0.15") and mini.upstream_id == "gpt-4o-mini"
    assert mini.provider.base_url == "https://api.openai.com/v1"
    assert mini.provider.api_key == "sk-secret" and "sk-secret" not in repr(mini)
    local = catalogue.models["local/llama3.1:8b"]
    assert local.provider.api_key is None and local.name == "local/llama3.1:8b"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        # The table a missing field belongs in; the line of a wrong one.
        (GOOD.replace('id = "gpt-4o-mini"\n', ""), 7, "models[0].id"),
        (GOOD.replace("output_per_million = 0.60", 'output_per_million = "0.60"'), 11, "a number"),
        (GOOD.replace("output_per_million = 0\n", "output_per_million = -1\n"), 21, "output"),
        (GOOD.replace("context_length = 128000", "context_length = 0"), 12, "context_length"),
        (GOOD.replace("timeout_seconds = 600", "timeout = 600"), 5, "timeout"),
        (
            GOOD.replace('base_url = "http://127.0.0.1', 'base_url = "ftp://127.0.0.1'),
            16,
            "base_url",
        ),
        (GOOD.replace("[providers.local]", "[providers.Local]"), 15, "Local"),
        (
            GOOD + "\n[[providers.local.models]]\nid = 'llama3.1:8b'\ninput_per_million = 0\n"
            "output_per_million = 0\n",
            23,
            "twice",
        ),
        ("[providers.x\nbase_url = 1", 1, "TOML"),  # tomllib says "(at line 1, column 13)"
    ],
)
def test_a_mistake_is_named_with_its_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    with pytest.raises(ProvidersError) as raised:
        load_catalogue(write(tmp_path, text), {"OPENAI_API_KEY": "k"}.get)
    message = str(raised.value)
    assert re.search(rf"\(.*line {line}\b", message) and words in message, message


def test_a_missing_key_variable_is_named_and_no_value_shown(tmp_path: Path) -> None:
    with pytest.raises(ProvidersError, match="OPENAI_API_KEY, which is not set"):
        load_catalogue(write(tmp_path, GOOD), {}.get)


def test_an_unreadable_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ProvidersError, match="cannot read it"):
        load_catalogue(tmp_path / "missing.toml", {}.get)


@pytest.mark.parametrize("example", sorted((ROOT / "docs" / "providers").glob("*.toml")))
def test_the_examples_in_the_docs_load(example: Path) -> None:
    catalogue = load_catalogue(example, lambda name: f"value-of-{name}")
    assert catalogue.models
