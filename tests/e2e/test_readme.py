"""The README's snippets, run as a newcomer runs them: against a live ``modelgates serve``.

The README's convention for its fenced blocks:

- ``python``: a whole program. It is run here with this interpreter in a subprocess of its own
  and must exit with status 0.
- ``python fragment``: part of a program, which needs what only a person can supply (the code a
  browser brings back to a callback, someone at the consent page). It is only compiled.
- ``sh``: commands the reader types. A shell block is run when a runnable ``python`` block
  follows it in the same section (those are the commands that section asks for first); the
  others (``./scripts/serve``, ``./scripts/test``) are not. The blocks share one environment,
  as they would share the reader's shell: what one exports, later blocks and programs see.

What stands in for the reader's machine: ``modelgates serve`` on a free port and a fresh SQLite
file instead of ``./scripts/serve`` on port 8080 (so the snippets' ``http://127.0.0.1:8080``
becomes the server's address), serving the README's example providers file
(``docs/providers/openai.toml``) with the scripted provider of tests/gateway/upstream.py standing
in for OpenAI (no model provider is reachable here), and this interpreter's directory on
``PATH`` instead of ``. .venv/bin/activate``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gateway.upstream import Upstream
from tests.server.serving import ServeProcess

README = Path(__file__).resolve().parents[2] / "README.md"
#: Where the README's reader has the server (``./scripts/serve``'s default address).
README_ORIGIN = "http://127.0.0.1:8080"
ACTIVATE = ". .venv/bin/activate"

_FENCE_OPEN = re.compile(r"^(?P<indent> *)```(?P<info>[^`\s][^`]*)?\s*$")
_HEADING = re.compile(r"^#{1,6} ")
_EXPORT = re.compile(r"^export ([A-Z_][A-Z0-9_]*)=", re.M)


@dataclass(frozen=True)
class Block:
    line: int  #: of the opening fence, 1-based
    section: int  #: index of the heading the block is under
    info: tuple[str, ...]
    text: str

    @property
    def where(self) -> str:
        return f"README.md:{self.line}"

    @property
    def runnable_python(self) -> bool:
        return self.info == ("python",)

    @property
    def python_fragment(self) -> bool:
        return self.info == ("python", "fragment")


def readme_blocks() -> list[Block]:
    blocks: list[Block] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    section, i = 0, 0
    while i < len(lines):
        opened = _FENCE_OPEN.match(lines[i])
        if opened is None:
            if _HEADING.match(lines[i]):
                section += 1
            i += 1
            continue
        start, body = i, []
        i += 1
        while lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        info = tuple((opened.group("info") or "").split())
        blocks.append(Block(start + 1, section, info, textwrap.dedent("\n".join(body)) + "\n"))
        i += 1
    return blocks


def steps(blocks: list[Block]) -> Iterator[Block]:
    """The blocks to run, in the README's order: its programs, and the shell blocks that come
    before a program in its section."""
    for n, block in enumerate(blocks):
        if block.runnable_python:
            yield block
        elif block.info == ("sh",) and any(
            later.runnable_python and later.section == block.section for later in blocks[n + 1 :]
        ):
            yield block


def reader_environment(database_url: str) -> dict[str, str]:
    """A shell like the reader's: no MODELGATES_* settings of the developer running the tests,
    the commands of this interpreter's environment on PATH, the server's database."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "modelgates").exists(), f"no modelgates command beside {sys.executable}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATES_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["MODELGATES_DATABASE_URL"] = database_url
    return env


def run_shell(block: Block, env: dict[str, str], cwd: Path) -> dict[str, str]:
    """Run a shell block in ``env``; the environment it leaves behind."""
    script = block.text.replace(ACTIVATE + "\n", "")  # PATH already has this environment
    left = cwd / "env.after"
    done = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{script}\nenv -0 > {shlex.quote(str(left))}"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{block.where} failed ({done.returncode}):\n{done.stderr}"
    after = dict(item.split("=", 1) for item in left.read_text().split("\0") if "=" in item)
    # `export X=$(command)` succeeds even when the command fails: check what it exported.
    for name in _EXPORT.findall(script):
        assert after.get(name), f"{block.where} left {name} empty:\n{done.stderr}"
    return after


def run_python(block: Block, env: dict[str, str], cwd: Path, origin: str) -> str:
    """Run a program of the README against the server at ``origin``; its standard output."""
    program = cwd / f"readme_line_{block.line}.py"
    program.write_text(block.text.replace(README_ORIGIN, origin), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(program)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (
        f"{block.where} raised (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture
def server(tmp_path: Path, upstream: Upstream) -> Iterator[ServeProcess]:
    database = tmp_path / "modelgates.db"
    example = (README.parent / "docs" / "providers" / "openai.toml").read_text()
    providers = tmp_path / "providers.toml"
    providers.write_text(example.replace("https://api.openai.com/v1", upstream.base_url))
    serving = ServeProcess(
        f"sqlite:///{database}",
        "--providers",
        str(providers),
        env={"OPENAI_API_KEY": "sk-stand-in"},
    )
    try:
        serving.wait_until_up()
        yield serving
    finally:
        serving.stop()


def test_the_readme_runs_as_written(server: ServeProcess, tmp_path: Path) -> None:
    blocks = readme_blocks()
    env = reader_environment(f"sqlite:///{tmp_path / 'modelgates.db'}")
    outputs: dict[int, str] = {}
    for block in steps(blocks):
        if block.runnable_python:
            outputs[block.line] = run_python(block, env, tmp_path, server.url)
        else:
            env = run_shell(block, env, tmp_path)
    assert outputs, "the README has no runnable Python snippet"
    # The first program is "A first flow, by hand": it must have got a key, not just exited.
    first = outputs[min(outputs)]
    assert re.search(r"^sk-mg-v1-[0-9a-f]{64} user_\S+$", first, re.M), first
    # ... and spent it on a model call.
    assert re.search(r"^tok .* cost: 0\.0\d+ USD$", first, re.M), first


def test_every_fragment_at_least_compiles() -> None:
    fragments = [block for block in readme_blocks() if block.python_fragment]
    assert fragments
    for block in fragments:
        compile(block.text, block.where, "exec")


def test_every_python_block_follows_the_convention() -> None:
    # A block tagged otherwise (``py``, ``python3``, ``python fragmnet``) would be neither run
    # nor compiled, silently.
    for block in readme_blocks():
        if block.info and block.info[0].startswith("py"):
            assert block.runnable_python or block.python_fragment, block.where
