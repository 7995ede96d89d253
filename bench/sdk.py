"""The SDK's start-up and per-call cost, against openrouter-python and raw httpx.

    .venv/bin/python bench/sdk.py [--quick] [--runs N] [--blocks N] [--calls N] [--per-call-only]

Start-up: ``import`` + client + its ``o_auth`` namespace, timed inside fresh interpreters
(``perf_counter`` around the three steps; the whole process is reported too), alternating with
``openrouter`` from PyPI. Each SDK sits in its own venv under $TMPDIR, as a user would have it:
``pip install openrouter`` (made once) and ``pip install .`` of this tree without extras (redone
on every run). Not the project's .venv: the server's dependencies there (uvicorn brings click)
make ``import httpx`` also import its command line (click, rich). Bytecode is cached for both
(one unmeasured run each first).

Per call: ``mg.o_auth.exchange_auth_code_for_api_key(...)`` against ``httpx.Client.post`` of the
same JSON body with the same headers, then ``.json()``, to a tiny local endpoint (a separate
process) that answers every POST with one fixed, valid exchange response over keep-alive. After
a warm-up, short blocks of calls (150 of 30 by default) alternate between the two, and the
medians of the blocks are compared. Short blocks because the noise of a shared machine comes
in bursts of tens to hundreds of milliseconds: with long blocks (15 of 300) one side takes a
burst the other misses. On a shared 2-core VM, raw httpx against itself read 0.88 to 1.10 in 13
runs of 15 blocks of 300, and 0.96 to 1.02 in 10 runs of 150 blocks of 30 (2026-11-27).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, WORK, free_port, machine, median, say, wait_listening

VENVS = Path(os.environ.get("TMPDIR") or "/tmp")

STARTUP = {
    "modelgates": (
        "from modelgates import ModelGates\n"
        "client = ModelGates(api_key='x', server_url='http://127.0.0.1:9/api/v1')\n"
        "client.o_auth\n"
    ),
    "openrouter": (
        "from openrouter import OpenRouter\n"
        "client = OpenRouter(api_key='x', server_url='http://127.0.0.1:9/api/v1')\n"
        "client.o_auth\n"
    ),
    # What any SDK built on httpx and pydantic pays before its own code: the bound on the ratio.
    "httpx+pydantic": "import httpx\nfrom pydantic import BaseModel\n",
}
_TIMED = (
    "import time\nt0 = time.perf_counter()\n{code}print(time.perf_counter() - t0)\n"
    "import sys; print(len(sys.modules))\n"
)

#: Calls of each kind before the timed blocks: imports, the connection, the first validations.
WARM_UP = 300
ANSWER = json.dumps({"key": "sk-mg-v1-" + "ab" * 32, "user_id": "user_bench"}).encode()
BODY = {
    "code": "a" * 43,
    "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "code_challenge_method": "S256",
}


def venv_with(name: str, *installs: list[str]) -> str:
    """The python of a venv under $TMPDIR after each of ``installs`` (``pip install ...``)."""
    venv = VENVS / f"mg-bench-{name}-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        say(f"making {venv} ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for install in installs:
        subprocess.run([*pip, *install], check=True, capture_output=True)
    probe = f"from importlib.metadata import version as v; print(v({name!r}), v('httpx'))"
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True)
    say(f"  {name} {found.stdout.split()[0]} (httpx {found.stdout.split()[1]}) in {venv}")
    return str(python)


def startup(runs: int) -> None:
    ours = venv_with("modelgates", [str(ROOT)], ["--force-reinstall", "--no-deps", str(ROOT)])
    pythons = {"modelgates": ours, "openrouter": venv_with("openrouter", ["openrouter"])}
    pythons["httpx+pydantic"] = ours
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    timings: dict[str, list[float]] = {name: [] for name in STARTUP}
    walls: dict[str, list[float]] = {name: [] for name in STARTUP}
    modules = {}
    for run in range(runs + 1):  # run 0 only caches bytecode
        for name in STARTUP if run % 2 else reversed(STARTUP):
            began = time.perf_counter()
            out = subprocess.run(
                [pythons[name], "-c", _TIMED.format(code=STARTUP[name])],
                capture_output=True, text=True, check=True, env=env, cwd=WORK,
            ).stdout.split()  # fmt: skip
            if run:
                walls[name].append(time.perf_counter() - began)
                timings[name].append(float(out[0]))
                modules[name] = int(out[1])
    ours, theirs = median(timings["modelgates"]), median(timings["openrouter"])
    bound = median(timings["httpx+pydantic"])
    for name in STARTUP:
        say(
            f"  {name:14} import + client + o_auth: {1000 * median(timings[name]):6.1f} ms "
            f"(whole process {1000 * median(walls[name]):6.1f} ms, {modules[name]} modules)"
        )
    say(
        f"start-up: modelgates / openrouter = {ours / theirs:.2f} (target <= 0.5), {runs} runs; "
        f"importing httpx and pydantic alone is {bound / theirs:.2f} of openrouter's"
    )


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: no-store\r\n"
        b"content-length: " + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER
    )
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(response)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def per_call(blocks: int, calls: int) -> None:
    import httpx

    from modelgates import ModelGates

    port = free_port()
    endpoint = subprocess.Popen([sys.executable, __file__, "--endpoint", str(port)])
    try:
        wait_listening(port, endpoint)  # type: ignore[arg-type]
        url = f"http://127.0.0.1:{port}/api/v1"
        content = json.dumps(BODY, separators=(",", ":")).encode()
        with ModelGates(server_url=url) as mg, httpx.Client() as raw:
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            headers["User-Agent"] = "modelgates-python/bench"

            def sdk_call() -> None:
                mg.o_auth.exchange_auth_code_for_api_key(request_body=BODY)

            def raw_call() -> None:
                answer = raw.post(f"{url}/auth/keys", content=content, headers=headers)
                answer.raise_for_status()
                answer.json()

            for _ in range(WARM_UP):
                sdk_call()
                raw_call()
            per: dict[str, list[float]] = {"sdk": [], "httpx": []}
            for block in range(blocks):
                pair = [("sdk", sdk_call), ("httpx", raw_call)]
                for name, call in pair if block % 2 else reversed(pair):
                    began = time.perf_counter()
                    for _ in range(calls):
                        call()
                    per[name].append((time.perf_counter() - began) / calls)
    finally:
        endpoint.terminate()
        endpoint.wait(timeout=10)
    sdk, raw_s = median(per["sdk"]), median(per["httpx"])
    say(
        f"  per call, median of {blocks} blocks of {calls}: SDK {1e6 * sdk:.0f} us, raw httpx "
        f"{1e6 * raw_s:.0f} us (tiny local endpoint, keep-alive)\n"
        f"per call: SDK / raw httpx = {sdk / raw_s:.2f} (target <= 1.15); "
        f"the SDK adds {1e6 * (sdk - raw_s):.0f} us a call"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per contender")
    parser.add_argument("--blocks", type=int, default=150)
    parser.add_argument("--calls", type=int, default=30, help="calls per block")
    parser.add_argument("--per-call-only", action="store_true", help="skip the start-up part")
    parser.add_argument("--endpoint", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.endpoint:
        asyncio.run(_serve(args.endpoint))
        return
    if args.quick:
        args.runs, args.blocks, args.calls = 5, 50, 30
    WORK.mkdir(parents=True, exist_ok=True)
    say(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    if not args.per_call_only:
        startup(args.runs)
    per_call(args.blocks, args.calls)


if __name__ == "__main__":
    main()
