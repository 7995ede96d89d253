"""What ``modelgates serve`` bounds before the application sees a request, and HSTS, over real
sockets to real ``serve`` processes (on SQLite, but for the one test that stores something).

A request's head (request line and headers) is bounded in bytes and in fields: a 32 MB header was
read whole, and a million small headers held the event loop for half a second. HSTS goes out
only where the server knows the answer travels over https: a trusted proxy said so.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from modelgates.server.http_limits import MAX_HEAD_BYTES, MAX_HEADERS
from modelgates.server.transport import HSTS
from tests.server.serving import ServeProcess


def _serve(database_url: str, forwarded_allow_ips: str) -> Iterator[ServeProcess]:
    server = ServeProcess(database_url, env={"MODELGATES_FORWARDED_ALLOW_IPS": forwarded_allow_ips})
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def behind_proxy(new_database: Callable[[str], str]) -> Iterator[ServeProcess]:
    """A server that believes the proxy at 127.0.0.1 (where the tests connect from)."""
    yield from _serve(new_database("sqlite"), "127.0.0.1")


@pytest.fixture(scope="module")
def proxy_elsewhere(new_database: Callable[[str], str]) -> Iterator[ServeProcess]:
    """A server whose proxy is at another address: 127.0.0.1 is a client like any other."""
    yield from _serve(new_database("sqlite"), "10.11.12.13")


def _head(header_lines: list[bytes], path: bytes = b"/healthz") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(header_lines) + b"\r\n"


def _exchange(server: ServeProcess, data: bytes, *, chunk: int = 64 * 1024) -> tuple[bytes, int]:
    """Send ``data`` until the server stops taking it, then read: (the answer, bytes sent)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sent = 0
        try:
            while sent < len(data):
                sent += sock.send(data[sent : sent + chunk])
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk_read := sock.recv(65536):
                answer += chunk_read
        except (ConnectionResetError, TimeoutError):
            pass
        return answer, sent


def _status(answer: bytes) -> int | None:
    if not answer.startswith(b"HTTP/1.1 "):
        return None
    return int(answer[9:12])


def test_a_head_within_the_bounds_is_served(behind_proxy: ServeProcess) -> None:
    # A large cookie, and as many fields as allowed (with Host, Cookie and Connection).
    cookie = b"Cookie: c=" + b"x" * (MAX_HEAD_BYTES // 2) + b"\r\n"
    fields = [b"X-F%d: v\r\n" % n for n in range(MAX_HEADERS - 3)]
    answer, _ = _exchange(behind_proxy, _head([cookie, *fields, b"Connection: close\r\n"]))
    assert _status(answer) == 200, answer[:200]


def test_one_field_too_many_is_431(behind_proxy: ServeProcess) -> None:
    fields = [b"X-F%d: v\r\n" % n for n in range(MAX_HEADERS)]  # with Host: one too many
    answer, _ = _exchange(behind_proxy, _head(fields))
    assert _status(answer) == 431, answer[:200]


def test_a_head_over_the_byte_bound_in_one_chunk_is_431(behind_proxy: ServeProcess) -> None:
    header = b"X-Big: " + b"x" * MAX_HEAD_BYTES + b"\r\n"
    answer, _ = _exchange(behind_proxy, _head([header]), chunk=1 << 20)
    assert _status(answer) == 431, answer[:200]


def test_a_32_mb_header_is_refused_before_it_is_read(behind_proxy: ServeProcess) -> None:
    # Was read whole (and kept in memory) before the application saw the request.
    header = b"X-Huge: " + b"x" * (32 << 20) + b"\r\n"
    answer, sent = _exchange(behind_proxy, _head([header]))
    assert sent < 8 << 20, f"the server took {sent} bytes of a 32 MB header"
    assert _status(answer) in (431, None)  # the refusal, unless a reset overtook it
    assert httpx.get(f"{behind_proxy.url}/healthz").status_code == 200


def test_a_million_small_headers_do_not_stall_the_server(behind_proxy: ServeProcess) -> None:
    # Held the event loop ~0.5 s while they were parsed.
    head = _head([b"a: b\r\n"] * 1_000_000)
    started = time.monotonic()
    answer, sent = _exchange(behind_proxy, head)
    assert _status(answer) in (431, None)
    assert sent < 8 << 20
    assert time.monotonic() - started < 2
    assert httpx.get(f"{behind_proxy.url}/healthz", timeout=1).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/sign-in", "/api/v1/key", "/nowhere"])
def test_hsts_where_a_trusted_proxy_says_https(behind_proxy: ServeProcess, path: str) -> None:
    url = f"{behind_proxy.url}{path}"
    assert (
        httpx.get(url, headers={"X-Forwarded-Proto": "https"}).headers.get(
            "strict-transport-security"
        )
        == HSTS
    )
    assert "strict-transport-security" not in httpx.get(url).headers
    plain = httpx.get(url, headers={"X-Forwarded-Proto": "http"})
    assert "strict-transport-security" not in plain.headers


def test_no_hsts_when_an_untrusted_client_says_https(proxy_elsewhere: ServeProcess) -> None:
    response = httpx.get(f"{proxy_elsewhere.url}/sign-in", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "strict-transport-security" not in response.headers


@pytest.fixture(scope="module")
def trusting_every_hop(database_url: str) -> Iterator[ServeProcess]:
    """A server told to believe every X-Forwarded-For (``*``), on SQLite and PostgreSQL."""
    yield from _serve(database_url, "*")


def test_a_forwarded_address_longer_than_its_column_is_cut(
    trusting_every_hop: ServeProcess,
) -> None:
    # uvicorn then takes the leftmost entry, the client's own text; the audit trail's column
    # holds 64 characters, and PostgreSQL answered a failed exchange with 500.
    claimed = {"X-Forwarded-For": "a" * 5000}
    url = f"{trusting_every_hop.url}/api/v1/auth/keys"
    refused = httpx.post(url, json={"code": "nope"}, headers=claimed)
    assert refused.status_code == 403, refused.text
    form = httpx.get(f"{trusting_every_hop.url}/sign-in", headers=claimed)
    assert form.status_code == 200
