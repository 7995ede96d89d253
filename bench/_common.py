"""What the benchmarks share: paths, servers as child processes, wrk, PostgreSQL, statistics.

Everything listens on and talks to 127.0.0.1 only. Scratch files go to ``$TMPDIR/mg-bench``.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: What the benchmarks measure against, which is not part of this repository: the
#: django-oauth-toolkit server (``dot/``) and wrk's script that sends each body once
#: (``wrk_bodies.lua``). By default the directory the figures in docs/performance.md were made
#: with, beside the repository.
PEERS_VARIABLE = "MODELGATES_PEERS_DIR"
PEERS = Path(os.environ.get(PEERS_VARIABLE) or ROOT.parent / "shared" / "peers")
WRK_LUA = PEERS / "wrk_bodies.lua"
WORK = Path(os.environ.get("TMPDIR") or "/tmp") / "mg-bench"
PG_ADMIN_URL = os.environ.get("MG_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_TCK = os.sysconf("SC_CLK_TCK")


def require_peers(script: str, *needed: Path) -> None:
    """Stop with one line naming what is missing, rather than a traceback halfway through."""
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        raise SystemExit(
            f"{script} needs {' and '.join(missing)}, which this repository does not include: "
            f"set {PEERS_VARIABLE} to the directory holding the peers (dot/, wrk_bodies.lua)"
        )


def say(*parts: object) -> None:
    print(*parts, flush=True)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    system = f"{platform.platform()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} cores ({cpu}), {system}"


class Service:
    """A server started here in its own session, stopped by its pid (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, argv: Sequence[str], port: int, env: dict[str, str]) -> None:
        self.name, self.port = name, port
        WORK.mkdir(parents=True, exist_ok=True)
        self.log_path = WORK / f"{name}-{port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                list(argv),
                env=env,
                cwd=WORK,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_listening(port, self.process)

    def processes(self) -> list[int]:
        """The server's pid and every descendant's."""
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    todo += [int(child) for child in task.read_text().split()]
                except OSError:
                    pass
        return found

    def workers(self) -> list[int]:
        """The processes that serve requests: the children if there are any (a master forks
        workers; multiprocessing's resource tracker is not one), else the server itself."""
        pids = self.processes()
        children = [p for p in pids[1:] if "resource_tracker" not in _read(f"/proc/{p}/cmdline")]
        return children or pids[:1]

    def peak_rss_mib(self) -> dict[int, float]:
        """Each worker's peak resident memory so far (VmHWM), in MiB."""
        peaks = {}
        for pid in self.workers():
            status = _read(f"/proc/{pid}/status")
            found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
            if found:
                peaks[pid] = int(found.group(1)) / 1024
        return peaks

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.processes():
            fields = _read(f"/proc/{pid}/stat").rsplit(")", 1)[-1].split()
            if len(fields) > 12:
                total += (int(fields[11]) + int(fields[12])) / _TCK
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group this script created
                self.process.wait(timeout=10)


def _read(path: str) -> str:
    try:
        with open(path) as file:
            return file.read()
    except OSError:
        return ""


def run_wrk(
    url: str,
    bodies: Path,
    *,
    seconds: float,
    conns: int = 16,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """One wrk run (1 thread) that sends each line of ``bodies`` once; wrk_bodies.lua's RESULT."""
    env = dict(os.environ, BODIES=str(bodies), WRK_THREADS="1")
    if content_type:
        env["CTYPE"] = content_type
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(WRK_LUA)]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*argv, url], env=env, capture_output=True, text=True, timeout=seconds + 60
    )
    found = re.search(r"^RESULT (.*)$", done.stdout, re.M)
    if done.returncode != 0 or not found:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return {k: float(v) for k, v in (item.split("=") for item in found.group(1).split())}


def run_wrk_on(
    service: Service, url: str, bodies: Path, *, seconds: float, **options: Any
) -> dict[str, float]:
    """:func:`run_wrk` against ``service``, with the CPU its processes used: ``cores`` over the
    run, and ``cpu_ms`` per 2xx answer."""
    cpu, began = service.cpu_seconds(), time.monotonic()
    result = run_wrk(url, bodies, seconds=seconds, **options)
    result["cores"] = (service.cpu_seconds() - cpu) / (time.monotonic() - began)
    result["cpu_ms"] = 1000 * result["cores"] / max(result["rate2xx"], 1e-9)
    return result


def pg_available() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0


def pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


def pg_admin(sql: str) -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        cursor = conn.execute(sql)  # type: ignore[arg-type]
        return "" if cursor.description is None else str(cursor.fetchone()[0])  # type: ignore[index]


def pg_recreate(database: str) -> str:
    pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{database}"')
    return pg_url(database)


def pg_drop(database: str) -> None:
    pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A small aligned text table."""
    cells = [list(map(str, header))] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def python() -> str:
    return sys.executable


#: The HTTP servers a benchmark can serve our app with: uvicorn is what ``modelgates serve``
#: runs; granian (the ``bench`` extra) is measured against it on the same app, never shipped.
SERVERS = ("uvicorn", "granian")


def serve_argv(server: str, port: int, workers: int) -> list[str]:
    """The command that serves our app on 127.0.0.1:``port`` with ``workers`` processes, its
    settings read from the ``MODELGATES_*`` variables (the database already migrated).

    uvicorn through ``modelgates serve`` itself. granian serves the same factory that each of
    serve's workers imports, with uvloop like uvicorn's, the same backlog and no access log
    (our JSON line is the app's); it has none of serve's additions (the head limits of
    ``http_limits``, forwarded headers), which are uvicorn-specific.
    """
    if server == "uvicorn":
        argv = [python(), "-m", "modelgates.cli", "serve", "--port", str(port)]
        return argv + (["--workers", str(workers)] if workers > 1 else [])
    if server == "granian":
        return [
            python(), "-m", "granian", "--interface", "asgi", "--factory", "--loop", "uvloop",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--backlog", "2048", "--no-access-log", "--log-level", "warning",
            "modelgates.server.app:create_app_from_env",
        ]  # fmt: skip
    raise SystemExit(f"unknown server {server!r}: one of {', '.join(SERVERS)}")
