"""The SDK's types as a user's type checker sees them: ``mypy --strict`` on small programs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

NARROWED = """
    from modelgates import ModelGatesCore
    from modelgates.funcs import api_keys_get_current_key

    def label(core: ModelGatesCore) -> str:
        res = api_keys_get_current_key(core)
        if res.ok:
            return res.value.data.label
        return str(res.error)
"""

NOT_NARROWED = """
    from modelgates import ModelGatesCore
    from modelgates.funcs import api_keys_get_current_key

    def label(core: ModelGatesCore) -> str:
        return api_keys_get_current_key(core).value.data.label
"""


def mypy(tmp_path: Path, program: str) -> subprocess.CompletedProcess[str]:
    example = tmp_path / "example.py"
    example.write_text(textwrap.dedent(program))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(example)],
        capture_output=True,
        text=True,
        cwd=ROOT,  # the project's mypy cache, warm after CI's own mypy run
        timeout=300,
        check=False,
    )


def test_a_result_narrows_on_ok(tmp_path: Path) -> None:
    checked = mypy(tmp_path, NARROWED)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_reading_value_without_checking_ok_is_a_type_error(tmp_path: Path) -> None:
    checked = mypy(tmp_path, NOT_NARROWED)
    assert checked.returncode == 1
    assert 'Item "None" of "KeyRecordResponse | None" has no attribute "data"' in checked.stdout


CHAT = """
    from modelgates import ModelGates
    from modelgates.funcs import chat_send

    def texts(mg: ModelGates) -> list[str]:
        answer = mg.chat.send(model="p/m", messages=[{"role": "user", "content": "Hi"}])
        out = [answer.choices[0].message.content or ""]
        with mg.chat.send(model="p/m", messages=[], stream=True, temperature=0) as stream:
            out += [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
        res = chat_send(mg, model="p/m", messages=[], stream=True)
        if res.ok:
            res.value.close()
        return out

    async def first(mg: ModelGates) -> str | None:
        async with await mg.chat.send_async(model="p/m", messages=[], stream=True) as stream:
            async for chunk in stream:
                return chunk.id
        return (await mg.generations.get_async(id="gen-1")).data.model
"""


def test_chat_answers_and_streams_are_typed(tmp_path: Path) -> None:
    checked = mypy(tmp_path, CHAT)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Without stream=True the answer is a ChatCompletion, which is no context manager.
    wrong = mypy(tmp_path, CHAT.replace("stream=True, temperature=0", "temperature=0"))
    assert wrong.returncode == 1
    assert '"ChatCompletion" has no attribute "__enter__"' in wrong.stdout, wrong.stdout
