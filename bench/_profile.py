"""Where our workers spend their time during one wrk round: py-spy samples, summed.

py-spy (``pip install -e '.[bench]'``) records every worker at 250 Hz without stopping it
(``--nonblocking``), and only the thread holding the GIL (``--gil``): this is where the Python
CPU time goes. Waiting (network, fsync, locks) and C code that releases the GIL are not in it.
The raw samples are kept beside the flame graph; the script prints each area's share of the
samples in which it appears (a frame anywhere on the stack) and the functions that were on top.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from _common import run_wrk, say

#: Areas of the exchange path, by the file of a frame anywhere on the stack.
AREAS = {
    "event loop: HTTP (uvicorn's protocol + httptools)": r"\(uvicorn/protocols|httptools",
    "event loop: starlette (routing, our middleware, request, response)": r"\(starlette/",
    "event loop: pydantic (validate the body, dump the answer)": r"\(pydantic",
    "event loop: logging (our JSON request log line)": r"\(logging/|\(json/",
    "store thread: the transaction, all of it": r"\(concurrent/futures/thread",
    "store thread: SQLAlchemy": r"\(concurrent/futures/thread.*\(sqlalchemy/",
    "store thread: psycopg (sqlite3 is C, not sampled)": r"\(psycopg/",
    "event loop: cryptography (seal the key)": r"\(cryptography/|sealing\.py",
}


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is missing: .venv/bin/pip install -e '.[bench]'")
    return found


def profile_round(contender: Any, seconds: float, out: Path) -> None:
    """One more wrk round against ``contender`` while py-spy samples each of its workers."""
    bodies = contender.mint(int(contender.estimate * seconds * 2) + 100)
    spies = start_sampling(contender.service.workers(), seconds, out)
    result = run_wrk(contender.url, bodies, seconds=seconds, content_type=contender.content_type)
    for spy in spies:
        spy.wait(timeout=60)
    say(f"profile ({result['rate2xx']:.0f} exchanges/s while sampled):")
    summarize(out)


def start_sampling(pids: list[int], seconds: float, out: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on each of ``pids`` for ``seconds`` (and one more), raw stacks to ``out``-PID.txt;
    wait for the processes returned."""
    for old in out.parent.glob(f"{out.name}-*.txt"):
        old.unlink()
    spies = []
    for pid in pids:
        argv = [_py_spy(), "record", "-p", str(pid), "-r", "250", "-d", str(int(seconds) + 1)]
        argv += ["--gil", "--nonblocking", "-f", "raw", "-o", f"{out}-{pid}.txt"]
        spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return spies


def summarize(out: Path, areas: dict[str, str] = AREAS) -> None:
    """Each area's share of the samples in ``out``-PID.txt, and the functions on top."""
    stacks: Counter[str] = Counter()
    for raw in out.parent.glob(f"{out.name}-*.txt"):
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            stacks[stack] += int(count)
    total = sum(stacks.values()) or 1
    say(f"  {total} samples; raw stacks in {out}-PID.txt, open with speedscope or flamegraph.pl")
    for area, pattern in areas.items():
        hits = sum(n for stack, n in stacks.items() if re.search(pattern, stack))
        say(f"  {100 * hits / total:5.1f}%  {area}")
    leaves: Counter[str] = Counter()
    for stack, n in stacks.items():
        leaves[stack.rsplit(";", 1)[-1]] += n
    say("  on top of the stack (self time):")
    for leaf, n in leaves.most_common(12):
        say(f"  {100 * n / total:5.1f}%  {leaf}")
