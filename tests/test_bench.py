"""The benchmarks need peers this repository does not include: without them they say so in one
line, naming the path they looked for and the variable that moves it, instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _without_peers(script: str, nowhere: Path) -> str:
    """The one line ``script --quick`` stops with when the peers are not where it looks."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        env={**os.environ, "MODELGATES_PEERS_DIR": str(nowhere)},
        cwd=nowhere.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""  # stopped before starting anything
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_exchange_bench_names_the_missing_peers(tmp_path: Path) -> None:
    nowhere = tmp_path / "no-peers-here"
    lines = [_without_peers("exchange.py", nowhere)]
    assert str(nowhere / "dot" / "serve.sh") in lines[0]
    assert str(nowhere / "wrk_bodies.lua") in lines[0]
    assert "MODELGATES_PEERS_DIR" in lines[0]


def test_gateway_bench_names_the_missing_peers(tmp_path: Path) -> None:
    nowhere = tmp_path / "no-peers-here"
    lines = [_without_peers("gateway.py", nowhere)]
    for needed in ("fake_openai.py", "wrk_bodies.lua", "litellm/serve.sh"):
        assert str(nowhere / needed) in lines[0]
    assert "MODELGATES_PEERS_DIR" in lines[0]


def test_paced_loader_reads_a_stream_and_times_its_first_byte(tmp_path: Path) -> None:
    """The open-loop loader the gateway bench uses, against a real server that streams its
    answer in chunks after a pause: every answer read to its end, the first byte timed apart."""
    sys.path.insert(0, str(BENCH))
    try:
        from _common import free_port
        from _paced import paced
    finally:
        sys.path.remove(str(BENCH))
    app = tmp_path / "chunks.py"
    app.write_text(
        "import asyncio\n"
        "async def app(scope, receive, send):\n"
        "    assert scope['type'] == 'http'\n"
        "    headers = dict(scope['headers'])\n"
        "    status = 200 if headers.get(b'authorization') == b'Bearer t' else 401\n"
        "    while (await receive()).get('more_body'):\n"
        "        pass\n"
        "    await send({'type': 'http.response.start', 'status': status, 'headers': []})\n"
        "    first = {'type': 'http.response.body', 'body': b'data: 1\\n\\n', 'more_body': True}\n"
        "    await send(first)\n"
        "    await asyncio.sleep(0.05)\n"
        "    await send({'type': 'http.response.body', 'body': b'data: 2\\n\\n'})\n"
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "chunks:app", "--port", str(port), "--log-level=error"],
        cwd=tmp_path,
    )
    try:
        import socket
        import time

        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        bodies = tmp_path / "bodies.txt"
        bodies.write_text("{}\n" * 20)
        url = f"http://127.0.0.1:{port}/"
        got = paced(url, bodies, rate=20, seconds=1, conns=4, headers={"Authorization": "Bearer t"})
        assert got["ok2xx"] == 20 and got["failed"] == 0
        assert got["p50_ms"] >= 50  # the whole answer, pause included
        assert got["ttfb_p50_ms"] < got["p50_ms"] - 30  # the first chunk came before the pause
        refused = paced(url, bodies, rate=20, seconds=1, conns=4)
        assert refused["failed"] == 20
    finally:
        server.terminate()
        server.wait(timeout=10)
