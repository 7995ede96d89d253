"""Sign in from a terminal: ``modelgates.login()`` gets the user's key through their browser.

The loopback flow of RFC 8252 ("OAuth 2.0 for Native Apps"), §7.3:

1. bind ``127.0.0.1`` on a port the system picks, *then* build the callback URL from that port,
   with a random path (``/callback/<nonce>``) and a random ``state``;
2. make an S256 PKCE pair and open the browser on the consent page (``/auth``);
3. serve exactly one callback: any other request (a favicon, a port scanner) gets 404 and is
   ignored; the callback gets a small "you can close this tab" page;
4. check ``state`` (in constant time), then exchange the code and its verifier for the key.

The listener is always closed before ``login`` returns or raises. Without a browser (``headless``,
or when :func:`webbrowser.open` finds none) the consent page runs in headless mode: it shows the
code, and the user pastes it into the terminal.

This module uses the standard library and the SDK only; it never imports ``modelgates.server``.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import selectors
import signal
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, TextIO, TypedDict, cast
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from modelgates.errors import (
    LoginCancelledError,
    LoginDeniedError,
    LoginError,
    LoginStateMismatchError,
    LoginTimeoutError,
    RequestValidationError,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from modelgates.sdk import CodeChallenge, ModelGates

__all__ = ["LoginOptions", "LoginResult", "login", "login_async"]

UsageLimitType = Literal["daily", "weekly", "monthly"]
#: Opens a URL in a browser; returns whether one was opened (``webbrowser.open``'s contract).
BrowserOpener = Callable[[str], bool]

_HOST = "127.0.0.1"
#: A request head larger than this is not a browser following our redirect.
_MAX_HEAD_BYTES = 16 * 1024
#: Connections that sent no complete request within this long are dropped.
_IDLE_SECONDS = 10.0
_MAX_CONNECTIONS = 32
#: How often ``login`` wakes up while waiting (Ctrl+C wakes it at once).
_WAKE_SECONDS = 0.25
#: How often ``login_async`` looks at the listener (it never blocks the event loop).
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class LoginResult:
    """The user's new key for this app (shown once: keep it) and the user's id."""

    key: str = field(repr=False)
    user_id: str


@dataclass(frozen=True)
class _Terms:
    """What the app asks for, as ``create_authorization_url`` takes it."""

    limit: float | Decimal | None
    key_label: str | None
    expires_at: datetime | str | None
    usage_limit_type: UsageLimitType | None


class LoginOptions(TypedDict, total=False):
    """What :func:`login` and :func:`login_async` take besides ``server_url``."""

    #: The app's name on the consent page (and the key's default label).
    app_title: str | None
    #: The app's URL: its identity.
    http_referer: str | None
    #: The terms asked for (the user may lower the limit): USD, the key's label, its expiry and
    #: its reset interval.
    limit: float | Decimal | None
    key_label: str | None
    expires_at: datetime | str | None
    usage_limit_type: UsageLimitType | None
    #: Seconds to wait for the browser's answer (default 300).
    timeout: float
    #: False prints the address for the user to open on this computer (default True).
    open_browser: bool
    #: Replaces :func:`webbrowser.open`.
    browser_opener: BrowserOpener | None
    #: Sign in on any device and paste the code it shows (default False).
    headless: bool
    #: Reads the pasted code (default: a line of standard input).
    input_func: Callable[[str], str] | None
    #: Where messages go (default: standard error).
    output: TextIO | None


def login(server_url: str | None = None, **options: Unpack[LoginOptions]) -> LoginResult:
    """Get an API key for this program from the user, through their browser.

    Opens the consent page on ``server_url`` (like ``ModelGates(server_url=...)``: default
    ``$MODELGATES_BASE_URL``, else ``https://modelgates.ai/api/v1``; a bare origin such as
    ``http://127.0.0.1:8080`` means its ``/api/v1``), waits up to ``timeout`` seconds for the
    user's answer on a one-shot listener on ``127.0.0.1``, and exchanges the code. ``limit``
    (USD), ``key_label`` (default: ``app_title``), ``expires_at`` and ``usage_limit_type`` are
    the terms asked for; the user may lower the limit.

    ``open_browser=False`` prints the address for the user to open on this computer.
    ``headless=True`` (or no browser found) prints a headless consent address, which works on
    any device that can reach the server, and reads the code it shows with ``input_func``
    (default: a line of standard input). Messages go to ``output`` (default: standard error, so
    that standard output stays the program's own), including a line for each retry of the
    exchange. ``browser_opener`` replaces :func:`webbrowser.open`.

    Raises ``LoginDeniedError`` (the user pressed Deny), ``LoginTimeoutError``,
    ``LoginStateMismatchError`` (an answer to a sign-in this call did not start),
    ``LoginCancelledError`` (Ctrl+C: a ``KeyboardInterrupt``, not a ``LoginError``); and the
    exchange's own errors (``APIError``, ``ConnectionError``). Invalid terms raise
    ``RequestValidationError``, and a server that does not answer ``ConnectionError``, before
    anything is opened.
    """
    plan = _Plan.of(options)
    try:
        with plan.client(server_url) as mg:
            mg.check_reachable()
            pair = mg.o_auth.create_sha256_code_challenge()
            code = None
            if not plan.headless:
                code = _loopback(mg, pair, plan)
            if code is None:
                prompt = _headless_prompt(mg, pair, plan.terms, plan.out)
                code = _pasted(lambda: plan.read(prompt))
            exchanged = mg.o_auth.exchange_auth_code_for_api_key(
                code=code, code_verifier=pair.code_verifier, code_challenge_method="S256"
            )
    except KeyboardInterrupt:
        raise LoginCancelledError("sign-in cancelled") from None
    return LoginResult(key=exchanged.key, user_id=exchanged.user_id)


async def login_async(
    server_url: str | None = None, **options: Unpack[LoginOptions]
) -> LoginResult:
    """The async twin of :func:`login` (asyncio or trio). The browser is opened, and the pasted
    code read, in a worker thread. Cancelling the task closes the listener and lets the
    cancellation through (it does not become ``LoginCancelledError``)."""
    import anyio.to_thread

    plan = _Plan.of(options)
    async with plan.client(server_url) as mg:
        await mg.check_reachable_async()
        pair = mg.o_auth.create_sha256_code_challenge()
        code = None
        if not plan.headless:
            listener = _Listener()
            try:
                url = _authorization_url(mg, pair, plan.terms, listener)
                opened = plan.open_browser and await anyio.to_thread.run_sync(plan.opener, url)
                if _announce(plan.out, url, plan.open_browser, opened):
                    code = await _wait_async(listener, plan.timeout)
            finally:
                listener.close()
        if code is None:
            prompt = _headless_prompt(mg, pair, plan.terms, plan.out)
            code = await anyio.to_thread.run_sync(
                lambda: _pasted(lambda: plan.read(prompt)), abandon_on_cancel=True
            )
        exchanged = await mg.o_auth.exchange_auth_code_for_api_key_async(
            code=code, code_verifier=pair.code_verifier, code_challenge_method="S256"
        )
    return LoginResult(key=exchanged.key, user_id=exchanged.user_id)


@dataclass(frozen=True)
class _Plan:
    """A sign-in's options, checked and with their defaults: what both twins start from."""

    app_title: str | None
    http_referer: str | None
    terms: _Terms
    timeout: float
    open_browser: bool
    opener: BrowserOpener
    headless: bool
    input_func: Callable[[str], str] | None
    out: TextIO

    @classmethod
    def of(cls, options: LoginOptions) -> _Plan:
        unknown = options.keys() - LoginOptions.__optional_keys__
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        timeout = options.get("timeout", 300)
        if not timeout > 0:
            raise RequestValidationError.single("timeout", "must be a positive number of seconds")
        app_title = options.get("app_title")
        terms = _Terms(
            options.get("limit"),
            options.get("key_label") or _label_of(app_title),
            options.get("expires_at"),
            options.get("usage_limit_type"),
        )
        return cls(
            app_title=app_title,
            http_referer=options.get("http_referer"),
            terms=terms,
            timeout=timeout,
            open_browser=options.get("open_browser", True),
            opener=options.get("browser_opener") or _open_in_browser,
            headless=options.get("headless", False),
            input_func=options.get("input_func"),
            out=options.get("output") or sys.stderr,
        )

    def client(self, server_url: str | None) -> ModelGates:
        """The client for the sign-in; each retry of the exchange is said on ``out``."""
        from modelgates.sdk import ModelGates

        return ModelGates(
            server_url=server_url,
            app_title=self.app_title,
            http_referer=self.http_referer,
            on_retry=_retrying(self.out),
        )

    def read(self, prompt: str) -> str:
        return (self.input_func or _stdin_reader(self.out))(prompt)


# -- the steps ------------------------------------------------------------------------------------


def _label_of(app_title: str | None) -> str | None:
    """The key's default label: the app's title, cut to a label's 100 characters."""
    return app_title[:100] if app_title else None


def _loopback(mg: ModelGates, pair: CodeChallenge, plan: _Plan) -> str | None:
    """The code from the loopback callback, or None when no browser could be opened."""
    listener = _Listener()
    try:
        with _ctrl_c_noted() as ctrl_c:
            url = _authorization_url(mg, pair, plan.terms, listener)
            opened = plan.open_browser and plan.opener(url)
            if not _announce(plan.out, url, plan.open_browser, opened):
                return None
            deadline = time.monotonic() + plan.timeout
            while True:
                if ctrl_c.pressed:
                    raise KeyboardInterrupt
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _timed_out(plan.timeout)
                answer = listener.poll(min(remaining, _WAKE_SECONDS))
                if answer is not None:
                    return _code_or_raise(answer)
    finally:
        listener.close()


class _CtrlC:
    pressed = False


@contextmanager
def _ctrl_c_noted() -> Iterator[_CtrlC]:
    """While ``login`` waits in the main thread, Ctrl+C is also noted, so the wait loop raises it
    even when the ``KeyboardInterrupt`` was lost. Python's handler raises it wherever the main
    thread happens to be, and when that is a finaliser run by the garbage collector it is printed
    as "ignored" and dropped: the user's Ctrl+C would wait out the whole timeout. Where the
    program has a handler of its own (or we are not in the main thread) it is left alone."""
    ctrl_c = _CtrlC()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield ctrl_c
        return

    def note(signum: int, frame: object) -> None:
        ctrl_c.pressed = True
        raise KeyboardInterrupt  # at once, out of the blocking select()

    signal.signal(signal.SIGINT, note)
    try:
        yield ctrl_c
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


async def _wait_async(listener: _Listener, timeout: float) -> str:
    import anyio

    deadline = time.monotonic() + timeout
    while True:
        answer = listener.poll(0)
        if answer is not None:
            return _code_or_raise(answer)
        if time.monotonic() >= deadline:
            raise _timed_out(timeout)
        await anyio.sleep(_POLL_SECONDS)


def _authorization_url(
    mg: ModelGates, pair: CodeChallenge, terms: _Terms, listener: _Listener
) -> str:
    """The consent page's address, with the listener's callback and state."""
    return mg.o_auth.create_authorization_url(
        callback_url=listener.callback_url,
        code_challenge=pair.code_challenge,
        code_challenge_method="S256",
        state=listener.state,
        limit=terms.limit,
        key_label=terms.key_label,
        expires_at=terms.expires_at,
        usage_limit_type=terms.usage_limit_type,
    )


def _announce(out: TextIO, url: str, open_browser: bool, opened: bool) -> bool:
    """Tell the user where to go; False when the browser was to be opened and could not be."""
    if open_browser and not opened:
        _say(out, "No browser could be opened here: signing in with a code instead.")
        return False
    if opened:
        _say(out, "Your browser is open to sign in to ModelGates. If you do not see it, visit:")
    else:
        _say(out, "To sign in to ModelGates, open this address in a browser on this computer:")
    _say(out, f"\n  {url}\n\nWaiting for your approval (Ctrl+C to cancel) ...")
    return True


def _headless_prompt(mg: ModelGates, pair: CodeChallenge, terms: _Terms, out: TextIO) -> str:
    """Announce the headless consent page (no callback: it shows the code); the prompt."""
    # The SDK builds (and checks) the request with a callback; headless mode is that request
    # without one.
    with_callback = mg.o_auth.create_authorization_url(
        callback_url=f"http://{_HOST}/",
        code_challenge=pair.code_challenge,
        code_challenge_method="S256",
        limit=terms.limit,
        key_label=terms.key_label,
        expires_at=terms.expires_at,
        usage_limit_type=terms.usage_limit_type,
    )
    parts = urlsplit(with_callback)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "callback_url"]
    url = urlunsplit(parts._replace(query=urlencode(query)))
    # "Any device" is true only of an address that device can reach: a phone that opens
    # 127.0.0.1 asks itself, and the user is left with an error page and no idea why.
    where = ""
    if _is_this_computer(parts.hostname):
        where = (
            f"This address points at this computer ({parts.hostname}); from another device, use "
            "an address of this server that device can reach.\n"
        )
    _say(
        out,
        "To sign in to ModelGates, open this address in a browser on any device that can reach "
        f"it, sign in and approve:\n\n  {url}\n\n{where}Then paste the code the page shows.",
    )
    return "Code: "


def _is_this_computer(host: str | None) -> bool:
    """Whether ``host`` names the computer it is used on, whichever computer that is."""
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761 §6.3
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _retrying(out: TextIO) -> Callable[[str, float], None]:
    """The client's ``on_retry``: a person waiting for the exchange sees why it takes long."""

    def say(what: str, delay: float) -> None:
        _say(out, f"{what}: retrying in {delay:.1f} s ...")

    return say


def _pasted(read: Callable[[], str]) -> str:
    try:
        code = read().strip()
    except EOFError:
        raise LoginError("no code was entered (end of input)") from None
    except KeyboardInterrupt:
        raise LoginCancelledError("sign-in cancelled") from None
    if not code:
        raise LoginError("no code was entered")
    return code


def _stdin_reader(out: TextIO) -> Callable[[str], str]:
    """Prompts on ``out`` and reads a line of standard input (``input()`` would prompt on
    standard output, which a caller may be capturing)."""

    def read(prompt: str) -> str:
        out.write(prompt)
        out.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line

    return read


def _open_in_browser(url: str) -> bool:
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def _code_or_raise(answer: str | LoginError) -> str:
    if isinstance(answer, LoginError):
        raise answer
    return answer


def _timed_out(timeout: float) -> LoginTimeoutError:
    return LoginTimeoutError(f"no answer from the browser within {timeout:g} seconds")


def _say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


# -- the one-shot listener ------------------------------------------------------------------------


class _Listener:
    """A loopback HTTP listener that waits for one callback, without threads and without ever
    blocking on a client: idle or slow connections (a preconnecting browser, a scanner) cannot
    hold up the real callback.

    The socket is bound on creation, so :attr:`callback_url` names a port that is already ours.
    """

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._socket.bind((_HOST, 0))
            self._socket.listen(16)
            self._socket.setblocking(False)
        except BaseException:
            self._socket.close()
            raise
        self.port: int = self._socket.getsockname()[1]
        #: Unguessable, so that only the browser we sent can find the callback.
        self.path = f"/callback/{secrets.token_urlsafe(16)}"
        self.state = secrets.token_urlsafe(32)
        self.callback_url = f"http://{_HOST}:{self.port}{self.path}"
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._socket, selectors.EVENT_READ)
        #: Connections still sending their request: what they sent so far, and since when.
        self._pending: dict[socket.socket, tuple[bytearray, float]] = {}
        self._closed = False

    def poll(self, seconds: float) -> str | LoginError | None:
        """Serve what arrives within ``seconds``: the callback's code, the error that ends the
        sign-in, or None while waiting."""
        for key, _ in self._selector.select(max(seconds, 0)):
            if key.fileobj is self._socket:
                self._accept()
                continue
            connection = cast(socket.socket, key.fileobj)  # the only other kind registered
            answer = self._read(connection)
            if answer is not None:
                return answer
        self._drop_idle()
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for connection in list(self._pending):
            self._forget(connection)
        self._selector.close()
        self._socket.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            if len(self._pending) >= _MAX_CONNECTIONS:
                self._forget(min(self._pending, key=lambda c: self._pending[c][1]))
            connection.setblocking(False)
            self._pending[connection] = (bytearray(), time.monotonic())
            self._selector.register(connection, selectors.EVENT_READ)

    def _read(self, connection: socket.socket) -> str | LoginError | None:
        buffer, _ = self._pending[connection]
        try:
            chunk = connection.recv(4096)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            chunk = b""
        if not chunk:
            self._forget(connection)
            return None
        buffer += chunk
        if b"\r\n\r\n" not in buffer:
            if len(buffer) > _MAX_HEAD_BYTES:
                self._respond(connection, _NOT_FOUND)
            return None
        answer, response = self._judge(bytes(buffer))
        self._respond(connection, response)
        return answer

    def _judge(self, head: bytes) -> tuple[str | LoginError | None, bytes]:
        """What a request means, and what to answer it."""
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[0] != "GET" or not parts[2].startswith("HTTP/1."):
            return None, _NOT_FOUND
        target = urlsplit(parts[1])
        if target.path != self.path:
            return None, _NOT_FOUND
        query = parse_qs(target.query, keep_blank_values=True)
        states = query.get("state", [])
        if len(states) != 1 or not hmac.compare_digest(states[0].encode(), self.state.encode()):
            return (
                LoginStateMismatchError(
                    "the browser answered a sign-in this program did not start (wrong state); "
                    "nothing was exchanged"
                ),
                _page(_MISMATCH_PAGE),
            )
        errors = query.get("error", [])
        codes = query.get("code", [])
        if errors == ["access_denied"] and not codes:
            return LoginDeniedError("the sign-in was denied in the browser"), _page(_DENIED_PAGE)
        if errors or len(codes) != 1 or not codes[0]:
            shown = "".join(c for c in ",".join(errors)[:100] if c.isprintable()) or "no code"
            return LoginError(f"the sign-in failed: {shown}"), _page(_FAILED_PAGE)
        return codes[0], _page(_APPROVED_PAGE)

    def _respond(self, connection: socket.socket, response: bytes) -> None:
        try:
            # A local browser's receive window takes this at once; the timeout bounds the rest.
            connection.settimeout(1.0)
            connection.sendall(response)
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._forget(connection)

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for connection, (_, since) in list(self._pending.items()):
            if now - since > _IDLE_SECONDS:
                self._forget(connection)

    def _forget(self, connection: socket.socket) -> None:
        self._pending.pop(connection, None)
        try:
            self._selector.unregister(connection)
        except (KeyError, ValueError):
            pass
        connection.close()


# -- what the browser sees ------------------------------------------------------------------------

_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nCache-Control: no-store\r\n"
    b"Connection: close\r\n\r\n"
)
_APPROVED_PAGE = (
    "Signed in",
    "ModelGates sent the key's code to your terminal. You can close this tab.",
)
_DENIED_PAGE = ("Sign-in cancelled", "No key was made. You can close this tab.")
_MISMATCH_PAGE = (
    "Sign-in refused",
    "This answer does not belong to the sign-in your terminal started, so it was not used. "
    "You can close this tab.",
)
_FAILED_PAGE = ("Sign-in failed", "No key was made. You can close this tab.")
_STYLE = "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem}"


def _page(content: tuple[str, str]) -> bytes:
    """A small page without secrets (never the code), which the browser must not keep, nor
    mention to anyone as a referrer."""
    heading, text = content
    body = (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>ModelGates: {heading}</title><style>{_STYLE}</style>"
        f"<h1>{heading}</h1><p>{text}</p></html>"
    ).encode()
    headers = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "X-Frame-Options: DENY\r\n"
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
        "Connection: close\r\n\r\n"
    )
    return headers.encode("ascii") + body
