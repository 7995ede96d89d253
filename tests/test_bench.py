"""The benchmarks need peers this repository does not include: without them they say so in one
line, naming the path they looked for and the variable that moves it, instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_exchange_bench_names_the_missing_peers(tmp_path: Path) -> None:
    nowhere = tmp_path / "no-peers-here"
    done = subprocess.run(
        [sys.executable, str(BENCH / "exchange.py"), "--quick"],
        env={**os.environ, "MODELGATES_PEERS_DIR": str(nowhere)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""  # stopped before starting anything
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert str(nowhere / "dot" / "serve.sh") in lines[0]
    assert str(nowhere / "wrk_bodies.lua") in lines[0]
    assert "MODELGATES_PEERS_DIR" in lines[0]
