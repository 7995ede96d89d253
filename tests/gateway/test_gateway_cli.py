"""``modelgates models list`` and ``modelgates serve --providers``, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.gateway.upstream import SCRIPTED
from tests.server.serving import ServeProcess

#: A price below zero, on line 8: the message must send the operator there.
BAD = """\
[providers.local]
base_url = "http://127.0.0.1:11434/v1"

[[providers.local.models]]
id = "llama3"
input_per_million = 0
output_per_million = 0
context_length = -5
"""

TWO = """\
[providers.openai]
base_url = "https://api.openai.com/v1"
api_key_env = "MODELGATES_TEST_OPENAI_KEY"

[[providers.openai.models]]
id = "gpt-4o-mini"
name = "GPT-4o mini"
input_per_million = 0.15
output_per_million = 0.60
context_length = 128000
max_output_tokens = 16384

[[providers.openai.models]]
id = "gpt-4o"
input_per_million = 2.50
output_per_million = 10
"""


def run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if k != "MODELGATES_PROVIDERS_FILE"}
    return subprocess.run(
        [sys.executable, "-m", "modelgates.cli", *args],
        capture_output=True, text=True, timeout=60, cwd=folder, env={**keep, **env},
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_models_list_shows_each_model_with_its_prices(tmp_path: Path) -> None:
    (tmp_path / "providers.toml").write_text(TWO)
    listed = run(
        tmp_path,
        "models",
        "list",
        "--providers",
        "providers.toml",
        MODELGATES_TEST_OPENAI_KEY="sk-secret-of-the-operator",
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == (
        "MODEL               NAME           INPUT $/M  OUTPUT $/M  CONTEXT  MAX OUTPUT"
    )
    assert lines[1] == ("openai/gpt-4o-mini  GPT-4o mini    0.15       0.6         128000   16384")
    assert lines[2] == ("openai/gpt-4o       openai/gpt-4o  2.5        10          -        -")
    assert lines[-1] == "2 models from providers.toml (USD per million tokens)"
    assert "sk-secret" not in listed.stdout + listed.stderr

    # The file may come from the environment, as serve reads it.
    from_env = run(
        tmp_path,
        "models",
        "list",
        MODELGATES_PROVIDERS_FILE="providers.toml",
        MODELGATES_TEST_OPENAI_KEY="sk-secret-of-the-operator",
    )
    assert from_env.stdout == listed.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (BAD, "providers.toml (line 8): providers.local.models[0].context_length: "),
        ("[providers.x\n", "providers.toml: not valid TOML: "),
        (TWO, "providers.toml: providers.openai.api_key_env names MODELGATES_TEST_OPENAI_KEY, "),
    ],
    ids=["bad-value", "not-toml", "key-unset"],
)
def test_a_malformed_file_is_one_line_naming_it(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "providers.toml").write_text(content)
    for args in (("models", "list"), ("serve", "--port", "0"), ("serve", "--workers", "2")):
        failed = run(tmp_path, *args, "--providers", "providers.toml")
        assert failed.returncode == 1, (args, failed.stdout)
        assert failed.stderr.startswith(f"modelgates: {message}"), (args, failed.stderr)
        assert failed.stderr.count("\n") == 1
        assert failed.stdout == ""  # serve stopped before it listened: no banner
    assert sorted(p.name for p in tmp_path.iterdir()) == ["providers.toml"]  # no database made


def test_models_list_without_a_file_says_how_to_name_one(tmp_path: Path) -> None:
    failed = run(tmp_path, "models", "list")
    assert failed.returncode == 1
    assert failed.stderr == (
        "modelgates: no providers file: pass --providers FILE or set MODELGATES_PROVIDERS_FILE\n"
    )


def test_serve_with_workers_hands_the_providers_file_on(
    tmp_path: Path, providers_file: Path
) -> None:
    server = ServeProcess(
        f"sqlite:///{tmp_path / 'gw.db'}",
        "--providers",
        str(providers_file),
        "--workers",
        "2",
        env={"MODELGATES_TEST_UPSTREAM_KEY": UPSTREAM_KEY},
    )
    try:
        server.wait_until_up()
        models = httpx.get(f"{server.url}/api/v1/models", timeout=10).json()["data"]
        assert "script/echo" in {model["id"] for model in models}  # a worker's catalogue
        served = len(SCRIPTED) + 1  # and the "down" provider's one
        assert f"Models:       {served} from {providers_file}" in server.output
    finally:
        server.stop()
