"""``modelgates.login()`` and ``modelgates login`` end to end: a real server, a real Chromium on
the consent page, the real loopback listener. ``login`` runs in a thread of its own, and its
browser opener hands the consent page's address to the test, which drives Chromium (Playwright's
sync API belongs to the thread that started it)."""

from __future__ import annotations

import asyncio
import io
import os
import queue
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from modelgates import LoginResult, errors, login, login_async
from modelgates.cli import main
from tests.browser.conftest import Site
from tests.browser.test_consent_flow import key_record, sign_in
from tests.conftest import Account, new_account

KEY = re.compile(r"sk-mg-v1-[0-9a-f]{64}")
URL = re.compile(r"http://\S+/auth\?\S+")
WAIT = 20  # seconds: a bound for a failing test, never waited out by a passing one


@pytest.fixture(scope="module")
def user(site: Site) -> Account:
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps a loop in this thread
        return thread.submit(new_account, site.database_url).result()


@pytest.fixture(scope="module")
def signed_in(chromium: Browser, site: Site, user: Account) -> Iterator[BrowserContext]:
    """One browser profile, JavaScript off, signed in once for the module (the sign-in form
    has tests of its own): each test starts at the consent screen."""
    context = chromium.new_context(java_script_enabled=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{site.base_url}/sign-in")
    sign_in(page, user)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(signed_in: BrowserContext) -> Iterator[Page]:
    page = signed_in.new_page()
    yield page
    page.close()


class Handoff:
    """A ``browser_opener`` that gives the address to the test's Chromium, optionally changed
    first (as an attacker's link would be)."""

    def __init__(self, rewrite: Callable[[str], str] = lambda url: url) -> None:
        self._urls: queue.Queue[str] = queue.Queue()
        self._rewrite = rewrite
        self.opened: list[str] = []

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        self._urls.put(self._rewrite(url))
        return True

    def next_url(self) -> str:
        return self._urls.get(timeout=WAIT)


@pytest.fixture
def background() -> Iterator[Callable[..., Future[Any]]]:
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit


def consent(page: Page, url: str) -> None:
    """Open the consent page, as the signed-in user."""
    page.goto(url)
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()


def callback_port(url: str) -> int:
    callback = dict(parse_qsl(urlsplit(url).query))["callback_url"]
    port = urlsplit(callback).port
    assert port is not None
    return port


def is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_approve_in_chromium_and_get_a_key_with_the_limit(
    page: Page, site: Site, user: Account, background: Callable[..., Future[LoginResult]]
) -> None:
    handoff = Handoff()
    signing_in = background(
        login,
        server_url=site.base_url,  # as `modelgates serve` prints it: the API is beside it
        app_title="Terminal test",
        limit=3,
        browser_opener=handoff,
        output=io.StringIO(),
        timeout=WAIT,
    )
    consent(page, handoff.next_url())
    port = callback_port(handoff.opened[0])
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"127.0.0.1:{port}")
    expect(page.get_by_label("Limit", exact=True)).to_have_value("3")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    assert "You can close this tab" in page.content()

    result = signing_in.result(timeout=WAIT)
    assert result.user_id == user.user_id
    record = key_record(site, result.key).json()["data"]
    assert record["limit"] == 3
    assert record["label"] == "Terminal test"
    assert not is_listening(port)


def test_login_async_with_chromium(
    page: Page, site: Site, user: Account, background: Callable[..., Future[LoginResult]]
) -> None:
    handoff = Handoff()
    signing_in = background(
        asyncio.run,
        login_async(
            server_url=site.api_url, browser_opener=handoff, output=io.StringIO(), timeout=WAIT
        ),
    )
    consent(page, handoff.next_url())
    page.get_by_role("button", name="Approve", exact=True).click()
    result = signing_in.result(timeout=WAIT)
    assert key_record(site, result.key).status_code == 200


def test_deny_in_chromium_is_login_denied(
    page: Page, site: Site, user: Account, background: Callable[..., Future[LoginResult]]
) -> None:
    handoff = Handoff()
    signing_in = background(
        login, server_url=site.api_url, browser_opener=handoff, output=io.StringIO(), timeout=WAIT
    )
    consent(page, handoff.next_url())
    page.get_by_role("button", name="Deny", exact=True).click()
    expect(page.get_by_role("heading", name="Sign-in cancelled")).to_be_visible()
    with pytest.raises(errors.LoginDeniedError):
        signing_in.result(timeout=WAIT)
    assert not is_listening(callback_port(handoff.opened[0]))


def forged_state(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, "forged-state" if k == "state" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_a_consent_with_another_state_is_refused_and_nothing_is_exchanged(
    page: Page, site: Site, user: Account, background: Callable[..., Future[LoginResult]]
) -> None:
    handoff = Handoff(rewrite=forged_state)  # the user follows a link someone else made
    signing_in = background(
        login, server_url=site.api_url, browser_opener=handoff, output=io.StringIO(), timeout=WAIT
    )
    consent(page, handoff.next_url())
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("heading", name="Sign-in refused")).to_be_visible()
    with pytest.raises(errors.LoginStateMismatchError):
        signing_in.result(timeout=WAIT)
    assert not is_listening(callback_port(handoff.opened[0]))


def test_no_answer_times_out_and_closes_the_port(
    page: Page, site: Site, user: Account, background: Callable[..., Future[LoginResult]]
) -> None:
    handoff = Handoff()
    started = time.monotonic()
    signing_in = background(
        login, server_url=site.api_url, browser_opener=handoff, output=io.StringIO(), timeout=1.5
    )
    consent(page, handoff.next_url())  # ... and the user walks away
    with pytest.raises(errors.LoginTimeoutError):
        signing_in.result(timeout=WAIT)
    assert time.monotonic() - started < WAIT / 2  # its own 1.5 s, not the test's bound
    port = callback_port(handoff.opened[0])
    assert not is_listening(port)
    with socket.socket() as again:  # and the port is free for anyone
        again.bind(("127.0.0.1", port))
        again.listen()


def test_headless_paste_from_the_page(
    page: Page, site: Site, user: Account, background: Callable[..., Future[LoginResult]]
) -> None:
    output = io.StringIO()
    pasted: queue.Queue[str] = queue.Queue()
    signing_in = background(
        login,
        server_url=site.api_url,
        app_title="Over SSH",
        headless=True,
        input_func=lambda prompt: pasted.get(timeout=WAIT),
        output=output,
    )
    url = wait_for_url(output.getvalue)
    assert "callback_url" not in url
    consent(page, url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("A program wants an API key")
    page.get_by_role("button", name="Approve", exact=True).click()
    pasted.put(page.get_by_label("Authorization code").input_value())
    result = signing_in.result(timeout=WAIT)
    assert key_record(site, result.key).json()["data"]["label"] == "Over SSH"


def wait_for_url(read: Callable[[], str]) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = URL.search(read())
        if found:
            return found.group(0)
        time.sleep(0.01)
    raise AssertionError(f"no address printed: {read()!r}")


# --- the command ---------------------------------------------------------------------------------


def modelgates(*args: str, **options: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MODELGATES_BASE_URL", "DISPLAY")}
    env.update(options.pop("env", {}))
    return subprocess.Popen(
        [sys.executable, "-m", "modelgates.cli", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def printed_url(process: subprocess.Popen[str]) -> str:
    """The consent page's address, from the command's standard error."""
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        found = URL.search(line)
        if found:
            return found.group(0)
    raise AssertionError("".join(seen))


def finish(process: subprocess.Popen[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = process.communicate(stdin, timeout=WAIT)
    return process.returncode, out, err


def test_the_login_command_saves_the_key_0600_and_whoami_reads_it(
    page: Page,
    site: Site,
    user: Account,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved = tmp_path / "modelgates.key"
    process = modelgates(
        "login", "--server", site.base_url, "--no-browser", "--save", str(saved), "--limit", "4"
    )
    url = printed_url(process)
    consent(page, url)
    page.get_by_role("button", name="Approve", exact=True).click()
    code = page.get_by_label("Authorization code").input_value()
    status, out, err = finish(process, f"{code}\n")

    assert status == 0, err
    assert out == ""  # the key went to the file only
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    key = saved.read_text().strip()
    assert KEY.fullmatch(key)
    assert key not in err and f"Signed in as {user.user_id}" in err
    record = key_record(site, key).json()["data"]
    assert record["limit"] == 4
    assert record["label"] == f"modelgates CLI on {socket.gethostname()}"[:100]

    # A second login does not overwrite the key: refused before anything is asked of the user.
    # (The command in this process from here on: the same main(), a second faster.)
    again = main(["login", "--server", site.base_url, "--no-browser", "--save", str(saved)])
    err = capsys.readouterr().err
    assert again == 1
    assert "exists; use --force" in err and "http" not in err
    assert saved.read_text().strip() == key

    assert main(["whoami", "--server", site.base_url, "--key-file", str(saved)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^limit\s+4(\.0)?$", out, re.M)
    assert re.search(rf"^creator_user_id\s+{user.user_id}$", out, re.M)
    assert key not in out

    monkeypatch.setenv("MODELGATES_API_KEY", key)
    assert main(["whoami", "--server", site.api_url]) == 0
    assert "creator_user_id" in capsys.readouterr().out


@pytest.mark.parametrize("given", ["flag", "environment"])
def test_the_login_command_prints_the_key_once_on_its_own_line(
    page: Page, site: Site, user: Account, given: str
) -> None:
    # The origin `serve` prints first, as --server or as MODELGATES_BASE_URL: the same rule.
    if given == "flag":
        process = modelgates("login", "--server", site.base_url, "--no-browser", "--label", "mine")
    else:
        env = {"MODELGATES_BASE_URL": site.base_url}
        process = modelgates("login", "--no-browser", "--label", "mine", env=env)
    url = printed_url(process)
    assert url.startswith(f"{site.base_url}/auth?")
    consent(page, url)
    page.get_by_role("button", name="Approve", exact=True).click()
    status, out, err = finish(process, page.get_by_label("Authorization code").input_value())
    assert status == 0, err
    (line,) = out.splitlines()
    assert KEY.fullmatch(line) and line not in err
    assert key_record(site, line).json()["data"]["label"] == "mine"


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({}, (), "no key"),
        ({"MODELGATES_API_KEY": "sk-mg-v1-" + "0" * 64}, (), "HTTP 401"),
        ({}, ("--key-file", "/nonexistent/key"), "cannot read"),
    ],
)
def test_whoami_refusals_are_one_line(
    site: Site,
    env: dict[str, str],
    args: tuple[str, ...],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELGATES_API_KEY", env.get("MODELGATES_API_KEY", ""))
    assert main(["whoami", "--server", site.base_url, *args]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert message in line


def test_a_login_without_a_code_is_one_line(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # end of input, nothing pasted
    assert main(["login", "--server", site.base_url, "--no-browser", "--limit", "1"]) == 1
    err = capsys.readouterr().err
    assert err.endswith("modelgates: no code was entered (end of input)\n")
