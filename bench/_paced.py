"""A paced (open-loop) HTTP/1.1 loader, since wrk2 is not packaged for Debian.

Request i is due at ``start + i / rate`` whatever happened before it, and its latency counts from
that moment, so time spent waiting for a free connection is included (no coordinated omission,
as in wrk2). Each body of the file is posted once over a pool of keep-alive connections, which
are reopened when the server closes them (the peer's gunicorn answers ``Connection: close``).
A chunked answer (server-sent events) is read to its end, and the time to its first body byte,
counted from the same due moment, is reported too (``ttfb_*``).

    .venv/bin/python bench/_paced.py URL BODIES RATE SECONDS [CONTENT_TYPE]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit


class _Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, head: bytes, body: bytes) -> tuple[int, float | None]:
        """The status, and when the first byte of a chunked body came (loop time)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length, close, chunked = 0, False, False
        for line in header.lower().split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and b"close" in value:
                close = True
            elif name == b"transfer-encoding" and b"chunked" in value:
                chunked = True
        first = None
        if chunked:
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
                if first is None:
                    first = asyncio.get_running_loop().time()
            await self.reader.readuntil(b"\r\n")  # no trailers
        else:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status, first

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _run(
    url: str,
    bodies: list[bytes],
    rate: float,
    conns: int,
    content_type: str,
    headers: Mapping[str, str],
) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
        f"Content-Type: {content_type}\r\nContent-Length: "
    ).encode()
    pool: asyncio.Queue[_Conn] = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(_Conn(host, port))
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    firsts: list[float] = []
    statuses: Counter[int] = Counter()
    lag = [0.0]

    async def one(due: float, body: bytes) -> None:
        conn = await pool.get()
        try:
            status, first = await conn.post(head, body)
            statuses[status] += 1
            if first is not None:
                firsts.append(first - due)
        except (OSError, asyncio.IncompleteReadError):
            conn.close()
            statuses[0] += 1
        finally:
            pool.put_nowait(conn)
        latencies.append(loop.time() - due)

    start = loop.time() + 0.05
    tasks = []
    for i, body in enumerate(bodies):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        lag[0] = max(lag[0], loop.time() - due)
        tasks.append(asyncio.create_task(one(due, body)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    while not pool.empty():
        pool.get_nowait().close()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    firsts_at = {}
    if len(firsts) > 1:
        ttfb = statistics.quantiles(firsts, n=100, method="inclusive")
        firsts_at = {"ttfb_p50_ms": ttfb[49] * 1000, "ttfb_p99_ms": ttfb[98] * 1000}
    return {
        **firsts_at,
        "sent": len(bodies),
        "ok2xx": sum(c for s, c in statuses.items() if 200 <= s < 300),
        "failed": sum(c for s, c in statuses.items() if not 200 <= s < 300),
        "rate": len(bodies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "max_ms": max(latencies) * 1000,
        "lag_ms": lag[0] * 1000,
    }


def paced(
    url: str,
    bodies_file: Path,
    *,
    rate: float,
    seconds: float,
    conns: int = 16,
    content_type: str = "application/x-www-form-urlencoded",
    headers: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Post ``rate * seconds`` bodies from the file at a fixed rate; latency percentiles."""
    lines = [line for line in bodies_file.read_bytes().splitlines() if line]
    count = int(rate * seconds)
    if len(lines) < count:
        raise SystemExit(f"{bodies_file} has {len(lines)} bodies, the run needs {count}")
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    began = time.process_time()
    result = runner(_run(url, lines[:count], rate, conns, content_type, headers or {}))
    result["loader_cpu_s"] = time.process_time() - began
    return result


if __name__ == "__main__":
    url, path, rate, seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    kind = sys.argv[5] if len(sys.argv) > 5 else "application/x-www-form-urlencoded"
    print(paced(url, path, rate=rate, seconds=float(seconds), content_type=kind))
