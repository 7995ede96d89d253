"""``modelgates.login()``: the loopback listener, its port, path nonce and state, and the headless
fallback, against a scripted exchange. A stand-in browser drives the listener over real sockets.
(The flow with a real server and a real Chromium is in tests/browser/test_login.py.)"""

from __future__ import annotations

import _thread
import io
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import httpx
import pytest

from modelgates import LoginResult, ModelGates, errors, login, login_async, pkce, signin
from tests.sdk.data import EXCHANGED, ISSUED_KEY
from tests.sdk.scripted_server import ScriptedServer
from tests.sdk.test_sdk_import import run
from tests.sdk.test_sdk_transport import refused_url

NONCE_PATH = re.compile(r"/callback/[A-Za-z0-9_-]{22}")


@dataclass(frozen=True)
class Consent:
    """The consent page's address, as the stand-in browser reads it."""

    url: str

    @property
    def query(self) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(urlsplit(self.url).query).items()}

    @property
    def callback_url(self) -> str:
        return self.query["callback_url"]

    @property
    def port(self) -> int:
        port = urlsplit(self.callback_url).port
        assert port is not None
        return port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def callback(self, **params: str) -> httpx.Response:
        """The browser arriving at the callback with ``params`` in the query."""
        return httpx.get(f"{self.callback_url}?{urlencode(params)}", timeout=5)

    def approve(self, code: str = "the-code") -> httpx.Response:
        return self.callback(code=code, state=self.query["state"])


@dataclass
class FakeBrowser:
    """A ``browser_opener``: records each address and runs ``script`` on it in a thread (the
    user acting in the browser while ``login`` waits)."""

    script: Callable[[Consent], object] | None = None
    opens: bool = True
    opened: list[Consent] = field(default_factory=list)
    responses: list[httpx.Response] = field(default_factory=list)
    listening_when_opened: bool = False
    failures: list[BaseException] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def __call__(self, url: str) -> bool:
        consent = Consent(url)
        self.opened.append(consent)
        self.listening_when_opened = is_listening(consent.port)
        if self.script is not None:
            thread = threading.Thread(target=self._run, args=(consent,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self.opens

    def join(self) -> None:
        """Wait for the browser to have read its answers."""
        for thread in self.threads:
            thread.join(timeout=5)

    def _run(self, consent: Consent) -> None:
        try:
            answer = self.script(consent)  # type: ignore[misc]
            if isinstance(answer, httpx.Response):
                self.responses.append(answer)
        except BaseException as error:  # shown by the test that expected an answer
            self.failures.append(error)


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def assert_closed(port: int) -> None:
    """Nothing listens on ``port`` any more: connecting is refused."""
    assert not is_listening(port)


def assert_free(port: int) -> None:
    """Closed, and free for another program to listen on. (Only where the listener answered no
    request: a connection it answered and closed keeps the port in TIME_WAIT for a minute.)"""
    assert_closed(port)
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
        again.listen()


@pytest.fixture(autouse=True)
def ctrl_c_as_in_a_terminal() -> Iterator[None]:
    """Python's own Ctrl+C handler, as a program started from a terminal has it. A test run
    started in the background by a shell without job control (a CI script's ``cmd &``) inherits
    SIGINT ignored, and a program that ignores Ctrl+C rightly gets no Ctrl+C."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture
def exchange(server: ScriptedServer) -> ScriptedServer:
    server.answer(200, EXCHANGED)
    return server


def sign_in(server: ScriptedServer, browser: FakeBrowser, **options: object) -> LoginResult:
    # A bound for a failing test, never waited out by a passing one.
    arguments: dict[str, object] = {"output": io.StringIO(), "timeout": 30, **options}
    try:
        return login(server_url=server.url, browser_opener=browser, **arguments)  # type: ignore[arg-type]
    finally:
        browser.join()


# --- the listener --------------------------------------------------------------------------------


def test_the_port_is_bound_before_the_url_is_made_and_the_code_is_exchanged(
    exchange: ScriptedServer,
) -> None:
    browser = FakeBrowser(lambda consent: consent.approve("code-123"))
    result = sign_in(exchange, browser, app_title="My CLI", limit=5)

    assert result.key == ISSUED_KEY and result.user_id == "user_abc"
    assert ISSUED_KEY not in repr(result)
    (consent,) = browser.opened
    assert browser.listening_when_opened  # bound first, then the URL names that port
    assert consent.url.startswith(f"{exchange.origin}/auth?")
    callback = urlsplit(consent.callback_url)
    assert (callback.scheme, callback.hostname) == ("http", "127.0.0.1")
    assert NONCE_PATH.fullmatch(callback.path)
    assert len(consent.query["state"]) >= 43  # 32 random bytes
    assert consent.query["code_challenge_method"] == "S256"
    assert consent.query["limit"] == "5"
    assert consent.query["key_label"] == "My CLI"  # the label defaults to the title

    (sent,) = exchange.received
    assert sent.path == "/api/v1/auth/keys"
    body = sent.json()
    assert body["code"] == "code-123" and body["code_challenge_method"] == "S256"
    assert pkce.s256_challenge(body["code_verifier"]) == consent.query["code_challenge"]
    assert sent.headers["x-modelgates-title"] == "My CLI"

    (page,) = browser.responses
    assert page.status_code == 200
    assert "You can close this tab" in page.text
    assert "code-123" not in page.text and consent.query["state"] not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert_closed(consent.port)


def test_each_sign_in_has_its_own_nonce_state_and_pair(server: ScriptedServer) -> None:
    seen: list[Consent] = []
    for _ in range(2):
        server.answer(200, EXCHANGED)
        browser = FakeBrowser(lambda consent: consent.approve())
        sign_in(server, browser)
        seen.extend(browser.opened)
    first, second = seen
    assert urlsplit(first.callback_url).path != urlsplit(second.callback_url).path
    assert first.query["state"] != second.query["state"]
    assert first.query["code_challenge"] != second.query["code_challenge"]


def test_stray_requests_get_404_and_do_not_end_the_sign_in(exchange: ScriptedServer) -> None:
    strays: list[int] = []
    raw_answers: list[bytes] = []

    def browse(consent: Consent) -> httpx.Response:
        # A connection that never sends anything must not hold the listener up.
        idle = socket.create_connection(("127.0.0.1", consent.port))
        try:
            state = consent.query["state"]
            for path in ("/favicon.ico", "/", "/callback/guessed", "/callback"):
                response = httpx.get(f"{consent.origin}{path}?code=stolen&state={state}")
                strays.append(response.status_code)
            posted = httpx.post(consent.callback_url, params={"code": "x", "state": state})
            strays.append(posted.status_code)
            with socket.create_connection(("127.0.0.1", consent.port)) as garbage:
                garbage.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
                raw_answers.append(garbage.recv(100))
            return consent.approve("the-real-code")
        finally:
            idle.close()

    browser = FakeBrowser(browse)
    assert sign_in(exchange, browser).key == ISSUED_KEY
    assert not browser.failures, browser.failures
    assert strays == [404] * 5
    assert raw_answers[0].startswith(b"HTTP/1.1 404 ")
    assert browser.responses[0].status_code == 200
    assert exchange.received[0].json()["code"] == "the-real-code"


@pytest.mark.parametrize(
    "params",
    [
        {"code": "c", "state": "not-the-state"},
        {"code": "c"},
        {"error": "access_denied", "state": "forged"},
    ],
    ids=["wrong", "missing", "forged-denial"],
)
def test_a_wrong_state_ends_the_sign_in_and_exchanges_nothing(
    server: ScriptedServer, params: dict[str, str]
) -> None:
    browser = FakeBrowser(lambda consent: consent.callback(**params))
    with pytest.raises(errors.LoginStateMismatchError, match="wrong state"):
        sign_in(server, browser)
    assert server.received == []  # nothing was exchanged
    assert "was not used" in browser.responses[0].text
    assert_closed(browser.opened[0].port)


def test_a_repeated_state_is_a_mismatch(server: ScriptedServer) -> None:
    def twice(consent: Consent) -> httpx.Response:
        state = consent.query["state"]
        return httpx.get(f"{consent.callback_url}?code=c&state={state}&state={state}")

    with pytest.raises(errors.LoginStateMismatchError):
        sign_in(server, FakeBrowser(twice))


def test_deny_ends_with_login_denied(server: ScriptedServer) -> None:
    browser = FakeBrowser(
        lambda consent: consent.callback(error="access_denied", state=consent.query["state"])
    )
    with pytest.raises(errors.LoginDeniedError):
        sign_in(server, browser)
    assert server.received == []
    assert "No key was made" in browser.responses[0].text
    assert_closed(browser.opened[0].port)


def test_another_error_is_a_login_error_naming_it(server: ScriptedServer) -> None:
    browser = FakeBrowser(
        lambda consent: consent.callback(error="server_error", state=consent.query["state"])
    )
    with pytest.raises(errors.LoginError, match="server_error") as caught:
        sign_in(server, browser)
    assert type(caught.value) is errors.LoginError


def test_a_timeout_ends_cleanly_and_closes_the_port(server: ScriptedServer) -> None:
    browser = FakeBrowser()  # the user never answers
    started = time.monotonic()
    with pytest.raises(errors.LoginTimeoutError, match=r"0\.3 seconds"):
        sign_in(server, browser, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 10  # the timeout, not a test's bound
    assert_free(browser.opened[0].port)


def test_ctrl_c_ends_cleanly_and_closes_the_port(server: ScriptedServer) -> None:
    browser = FakeBrowser(lambda consent: (time.sleep(0.1), _thread.interrupt_main()))
    with pytest.raises(errors.LoginCancelledError) as caught:
        sign_in(server, browser, timeout=10)
    assert isinstance(caught.value, KeyboardInterrupt)  # still Ctrl+C to code that expects it
    assert_free(browser.opened[0].port)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


def test_no_except_exception_swallows_ctrl_c(server: ScriptedServer) -> None:
    browser = FakeBrowser(lambda consent: (time.sleep(0.1), _thread.interrupt_main()))
    with pytest.raises(errors.LoginCancelledError):
        try:
            sign_in(server, browser)
        except Exception:  # an app's catch-all between the user and its top level
            pytest.fail("Ctrl+C was caught as an Exception")


def test_a_ctrl_c_whose_keyboard_interrupt_was_lost_still_ends_the_wait(
    server: ScriptedServer,
) -> None:
    """Python raises Ctrl+C's ``KeyboardInterrupt`` wherever the main thread is; inside a finaliser
    run by the garbage collector it is printed as "ignored" and dropped. (Under a full test run
    that made this test's predecessor wait out its timeout.) Here the drop is made to happen: the
    handler runs in the main thread, inside code that swallows what it raises."""

    def opener_that_swallows_a_ctrl_c(url: str) -> bool:
        browser(url)
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        try:
            handler(signal.SIGINT, None)
        except KeyboardInterrupt:
            pass  # as in a finaliser: the exception goes nowhere
        return True

    browser = FakeBrowser()
    started = time.monotonic()
    with pytest.raises(errors.LoginCancelledError):
        login(
            server_url=server.url,
            browser_opener=opener_that_swallows_a_ctrl_c,
            output=io.StringIO(),
            timeout=30,
        )
    assert time.monotonic() - started < 10  # not the timeout
    assert_free(browser.opened[0].port)


def test_a_real_ctrl_c_ends_a_terminal_program_cleanly(server: ScriptedServer) -> None:
    """SIGINT, as a terminal sends it, to a program waiting in ``login()``: it ends with
    ``LoginCancelledError`` at once, the listener closed while the program still runs."""
    program = textwrap.dedent(f"""
        import socket, sys
        from urllib.parse import parse_qs, urlsplit
        from modelgates import errors, login
        ports = []
        def opener(url):
            callback = parse_qs(urlsplit(url).query)["callback_url"][0]
            ports.append(urlsplit(callback).port)
            print("waiting", flush=True)
            return True
        try:
            login(server_url={server.url!r}, browser_opener=opener, output=sys.stderr, timeout=60)
        except errors.LoginCancelledError as cancelled:
            with socket.socket() as again:
                again.bind(("127.0.0.1", ports[0]))  # free again: the listener is closed
            print("cancelled", isinstance(cancelled, KeyboardInterrupt), flush=True)
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "waiting\n"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert (child.returncode, out) == (0, "cancelled True\n"), err


def test_open_browser_false_prints_the_address_and_waits(exchange: ScriptedServer) -> None:
    output = io.StringIO()
    found: list[Consent] = []

    def user_copies_the_address() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = re.search(r"http://\S+/auth\?\S+", output.getvalue())
            if match:
                found.append(Consent(match.group(0)))
                found[0].approve()
                return
            time.sleep(0.01)

    threading.Thread(target=user_copies_the_address, daemon=True).start()
    result = login(
        server_url=exchange.url,
        open_browser=False,
        browser_opener=lambda url: pytest.fail("no browser is to be opened"),
        output=output,
        timeout=30,
    )
    assert result.key == ISSUED_KEY
    assert "this computer" in output.getvalue()
    assert found and NONCE_PATH.fullmatch(urlsplit(found[0].callback_url).path)


# --- headless ------------------------------------------------------------------------------------


def test_headless_prints_the_address_without_callback_and_exchanges_the_pasted_code(
    exchange: ScriptedServer,
) -> None:
    output = io.StringIO()
    prompts: list[str] = []

    def paste(prompt: str) -> str:
        prompts.append(prompt)
        return "  pasted-code \n"

    result = login(
        server_url=exchange.url,
        headless=True,
        browser_opener=lambda url: pytest.fail("headless opens no browser"),
        input_func=paste,
        output=output,
        limit=2,
        key_label="Over SSH",
    )
    assert result.key == ISSUED_KEY
    (url,) = re.findall(r"http://\S+/auth\?\S+", output.getvalue())
    query = Consent(url).query
    assert "callback_url" not in query and "state" not in query
    assert query["code_challenge_method"] == "S256"
    assert (query["limit"], query["key_label"]) == ("2", "Over SSH")
    assert prompts == ["Code: "]
    assert "points at this computer (127.0.0.1)" in output.getvalue()
    body = exchange.received[0].json()
    assert body["code"] == "pasted-code"
    assert pkce.s256_challenge(body["code_verifier"]) == query["code_challenge"]


@pytest.mark.parametrize(
    ("server_url", "this_computer"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080/api/v1", True),
        ("http://[::1]:8080", True),
        ("http://0.0.0.0:8080", True),
        ("http://192.168.1.20:8080", False),
        ("https://gates.example/api/v1", False),
    ],
)
def test_the_headless_address_says_when_another_device_cannot_use_it(
    server_url: str, this_computer: bool
) -> None:
    output = io.StringIO()
    with ModelGates(server_url=server_url) as mg:
        pair = mg.o_auth.create_sha256_code_challenge()
        signin._headless_prompt(mg, pair, signin._Terms(None, None, None, None), output)
    said = output.getvalue()
    assert "on any device that can reach it" in said
    assert ("This address points at this computer" in said) is this_computer
    if this_computer:
        assert "from another device, use an address of this server that device can reach" in said


def test_without_a_browser_it_falls_back_to_headless_and_closes_the_port(
    exchange: ScriptedServer,
) -> None:
    browser = FakeBrowser(opens=False)  # what webbrowser.open says when it finds none
    output = io.StringIO()
    result = sign_in(exchange, browser, output=output, input_func=lambda prompt: "code-9")
    assert result.key == ISSUED_KEY
    assert_free(browser.opened[0].port)
    assert "signing in with a code instead" in output.getvalue()
    assert exchange.received[0].json()["code"] == "code-9"


@pytest.mark.parametrize("outcome", [False, webbrowser.Error("no runnable browser")])
def test_the_default_opener_is_webbrowser(
    exchange: ScriptedServer, monkeypatch: pytest.MonkeyPatch, outcome: object
) -> None:
    asked: list[str] = []

    def fake_open(url: str) -> bool:
        asked.append(url)
        if isinstance(outcome, BaseException):
            raise outcome
        return bool(outcome)

    monkeypatch.setattr(webbrowser, "open", fake_open)
    result = login(server_url=exchange.url, input_func=lambda p: "c", output=io.StringIO())
    assert result.user_id == "user_abc"
    assert len(asked) == 1 and "callback_url=" in asked[0]


@pytest.mark.parametrize(
    ("typed", "message"), [("", "no code was entered"), (EOFError(), "end of input")]
)
def test_no_pasted_code_is_a_login_error(
    server: ScriptedServer, typed: str | BaseException, message: str
) -> None:
    def paste(prompt: str) -> str:
        if isinstance(typed, BaseException):
            raise typed
        return typed

    with pytest.raises(errors.LoginError, match=message):
        login(server_url=server.url, headless=True, input_func=paste, output=io.StringIO())
    assert server.received == []


# --- arguments and the exchange ------------------------------------------------------------------


def test_a_bare_origin_means_its_api(exchange: ScriptedServer) -> None:
    browser = FakeBrowser(lambda consent: consent.approve())
    sign_in_at_origin = login(
        server_url=exchange.origin, browser_opener=browser, output=io.StringIO(), timeout=30
    )
    assert sign_in_at_origin.key == ISSUED_KEY
    assert browser.opened[0].url.startswith(f"{exchange.origin}/auth?")
    assert exchange.received[0].path == "/api/v1/auth/keys"


@pytest.mark.parametrize("slash", ["", "/"])
def test_a_bare_origin_in_the_environment_means_its_api(
    exchange: ScriptedServer, monkeypatch: pytest.MonkeyPatch, slash: str
) -> None:
    monkeypatch.setenv("MODELGATES_BASE_URL", exchange.origin + slash)  # what `serve` prints
    browser = FakeBrowser(lambda consent: consent.approve())
    result = login(browser_opener=browser, output=io.StringIO(), timeout=5)
    assert result.key == ISSUED_KEY
    assert browser.opened[0].url.startswith(f"{exchange.origin}/auth?")
    assert [r.path for r in exchange.received] == ["/api/v1/auth/keys"]


def test_the_server_is_checked_before_the_browser_opens(exchange: ScriptedServer) -> None:
    checked_when_opened: list[int] = []

    def approve(consent: Consent) -> httpx.Response:
        checked_when_opened.append(exchange.health_checks)
        return consent.approve()

    sign_in(exchange, FakeBrowser(approve))
    assert checked_when_opened == [1]


@pytest.mark.parametrize("headless", [False, True], ids=["browser", "headless"])
def test_an_unreachable_server_fails_at_once_before_anything_is_opened(headless: bool) -> None:
    url = refused_url()
    output = io.StringIO()
    browser = FakeBrowser()
    started = time.monotonic()
    with pytest.raises(errors.ConnectionError) as caught:
        login(
            server_url=url,
            headless=headless,
            browser_opener=browser,
            input_func=lambda prompt: pytest.fail("the user was asked for a code"),
            output=output,
        )
    assert time.monotonic() - started < 2  # not the exchange's minute of retries
    assert not isinstance(caught.value, (errors.TimeoutError, httpx.HTTPError))
    assert str(caught.value).startswith(f"cannot reach the ModelGates server at {url}: ")
    assert "\n" not in str(caught.value)
    assert browser.opened == [] and output.getvalue() == ""


def test_login_says_when_it_retries(server: ScriptedServer) -> None:
    body = {"error": {"code": 503, "message": "starting", "metadata": None}}
    server.answer(503, body, headers={"retry-after-ms": "100"})
    server.answer(200, EXCHANGED)
    output = io.StringIO()
    result = sign_in(server, FakeBrowser(lambda consent: consent.approve()), output=output)
    assert result.key == ISSUED_KEY
    retries = [line for line in output.getvalue().splitlines() if "retrying" in line]
    assert retries == [f"POST {server.url}/auth/keys: HTTP 503: retrying in 0.1 s ..."]


@pytest.mark.parametrize(
    "options", [{"limit": -1}, {"usage_limit_type": "hourly"}, {"timeout": 0}], ids=str
)
def test_invalid_terms_fail_before_anything_is_opened(
    server: ScriptedServer, options: dict[str, object]
) -> None:
    browser = FakeBrowser()
    with pytest.raises(errors.RequestValidationError):
        sign_in(server, browser, **options)
    assert browser.opened == []


def test_a_refused_exchange_raises_the_api_error(server: ScriptedServer) -> None:
    server.error(403, "This code cannot be used.")
    browser = FakeBrowser(lambda consent: consent.approve())
    with pytest.raises(errors.ForbiddenResponseError):
        sign_in(server, browser)
    assert_closed(browser.opened[0].port)


# --- async ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_login_async_gets_the_key(exchange: ScriptedServer) -> None:
    browser = FakeBrowser(lambda consent: consent.approve("async-code"))
    result = await login_async(
        server_url=exchange.url, browser_opener=browser, output=io.StringIO(), timeout=30
    )
    assert result.key == ISSUED_KEY
    assert exchange.received[0].json()["code"] == "async-code"
    assert_closed(browser.opened[0].port)


@pytest.mark.anyio
async def test_login_async_times_out_and_cancels_cleanly(server: ScriptedServer) -> None:
    browser = FakeBrowser()
    with pytest.raises(errors.LoginTimeoutError):
        await login_async(
            server_url=server.url, browser_opener=browser, output=io.StringIO(), timeout=0.2
        )
    assert_free(browser.opened[0].port)

    cancelled = FakeBrowser()
    with anyio.move_on_after(0.2) as scope:
        await login_async(
            server_url=server.url, browser_opener=cancelled, output=io.StringIO(), timeout=10
        )
    assert scope.cancelled_caught
    assert_free(cancelled.opened[0].port)


@pytest.mark.anyio
async def test_login_async_headless(exchange: ScriptedServer) -> None:
    result = await login_async(
        server_url=exchange.url, headless=True, input_func=lambda p: "c-1", output=io.StringIO()
    )
    assert result.key == ISSUED_KEY
    assert exchange.health_checks == 1


@pytest.mark.anyio
async def test_login_async_checks_the_server_before_anything_is_opened() -> None:
    browser = FakeBrowser()
    output = io.StringIO()
    with pytest.raises(errors.ConnectionError, match="cannot reach the ModelGates server"):
        await login_async(server_url=refused_url(), browser_opener=browser, output=output)
    assert browser.opened == [] and output.getvalue() == ""


@pytest.fixture(autouse=True)
def _no_real_browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A test that forgot its opener must not open a browser on the developer's screen."""
    monkeypatch.setattr(webbrowser, "open", lambda url: pytest.fail(f"a browser was opened: {url}"))
    yield


def test_login_is_imported_on_first_use_without_the_server() -> None:
    out = run("""
        import modelgates
        print("signin imported:", "modelgates.signin" in sys.modules)
        from modelgates.signin import LoginResult  # the module first, then the function:
        from modelgates import login               # still the function
        assert callable(login) and login is modelgates.login
    """)
    assert "signin imported: False" in out
    assert "loaded: []" in out
