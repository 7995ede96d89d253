"""`import modelgates` stays cheap: no server, no HTTP client until a request is made, and no
httpx, pydantic or wire models until they are needed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Any attempt to build an HTTP client fails loudly, so "nothing was built" cannot pass by accident.
FORBID_CLIENTS = """
import httpx

def refuse(*args, **kwargs):
    raise AssertionError("an httpx client was built")

httpx.Client.__init__ = refuse
httpx.AsyncClient.__init__ = refuse
"""

SERVER_MODULES = (
    "starlette",
    "sqlalchemy",
    "uvicorn",
    "alembic",
    "mcp",
    "markdown_it",
    "modelgates.server",
)


def run(code: str) -> str:
    script = (
        FORBID_CLIENTS
        + textwrap.dedent(code)
        + textwrap.dedent(f"""
        loaded = sorted(
            name for name in sys.modules
            if name.split(".")[0] in {SERVER_MODULES!r} or name.startswith({SERVER_MODULES!r})
        )
        print("loaded:", loaded)
    """)
    )
    done = subprocess.run(
        [sys.executable, "-c", "import sys\n" + script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_is_cheap() -> None:
    out = run("""
        import modelgates
        print("metadata imported:", "importlib.metadata" in sys.modules)
        import importlib.metadata
        assert modelgates.__version__ == importlib.metadata.version("modelgates")
        print("core imported:", "modelgates.core" in sys.modules)
    """)
    assert "loaded: []" in out
    assert "core imported: False" in out
    assert "metadata imported: False" in out  # the version is read when asked for


def test_making_a_client_builds_no_http_client() -> None:
    out = run("""
        from modelgates import ModelGates, ModelGatesCore, errors
        mg = ModelGates(api_key="k", server_url="http://127.0.0.1:9/api/v1")
        url = mg.o_auth.create_authorization_url("http://localhost:1/cb")
        pair = mg.o_auth.create_sha256_code_challenge()
        mg.close()
        ModelGatesCore().close()
        print("url:", url)
    """)
    assert "loaded: []" in out
    assert "url: http://127.0.0.1:9/auth?" in out


def test_the_public_names_resolve() -> None:
    out = run("""
        import modelgates
        for name in modelgates.__all__:
            getattr(modelgates, name)
        assert modelgates.ConnectionError is not ConnectionError
        assert modelgates.TimeoutError is modelgates.errors.TimeoutError
        assert "ModelGates" in dir(modelgates)
        try:
            modelgates.Nope
        except AttributeError:
            print("unknown names raise")
    """)
    assert "unknown names raise" in out


def test_start_up_imports_neither_httpx_nor_pydantic() -> None:
    # The start-up that bench/sdk.py compares with openrouter's: httpx and pydantic alone cost about
    # half of that, so loading either before the first request would miss the target (issue 7).
    code = """
from modelgates import ModelGates
client = ModelGates(api_key='x', server_url='http://127.0.0.1:9/api/v1')
client.o_auth, client.api_keys, client.usage, client.chat, client.models, client.generations
import sys
print(sorted(m for m in ('httpx', 'pydantic', 'modelgates.models') if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
