"""``modelgates login`` around the SDK's ``login()``: where the key goes (a 0600 file made anew,
or standard output), ``--force``, and what happens when the key cannot be saved; ``whoami``'s
server; ``--version``. The flow itself, with a real server and Chromium, is in
tests/browser/test_login.py."""

from __future__ import annotations

import importlib.metadata
import io
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from modelgates import LoginResult, signin
from modelgates.cli import main
from modelgates.cli.client import _revoke_quietly, _save_secret
from tests.conftest import Account, LiveServer, new_account
from tests.sdk.scripted_server import ScriptedServer
from tests.sdk.test_sdk_transport import refused_url

KEY = "sk-mg-v1-" + "ab" * 32


@pytest.fixture
def logins(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Replaces the browser flow: records each call's arguments and returns KEY."""
    calls: list[dict[str, Any]] = []

    def fake_login(**options: Any) -> LoginResult:
        calls.append(options)
        return LoginResult(key=KEY, user_id="user_1")

    monkeypatch.setattr(signin, "login", fake_login)
    yield calls


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_save_makes_a_0600_file_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "key"
    old = os.umask(0)
    try:
        _save_secret(str(path), KEY, replace=False)
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    assert path.read_text() == f"{KEY}\n"


def test_save_never_writes_into_an_existing_file_or_through_a_symlink(tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.write_text("mine")
    with pytest.raises(FileExistsError):
        _save_secret(str(existing), KEY, replace=False)
    assert existing.read_text() == "mine"

    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")  # dangling: O_CREAT alone would create its target
    with pytest.raises(FileExistsError):
        _save_secret(str(link), KEY, replace=False)
    assert not (tmp_path / "elsewhere").exists()


def test_replacing_swaps_in_a_new_0600_file_and_leaves_a_symlinks_target_alone(
    tmp_path: Path,
) -> None:
    target = tmp_path / "target"
    target.write_text("someone else's file")
    target.chmod(0o644)
    link = tmp_path / "key"
    link.symlink_to(target)
    _save_secret(str(link), KEY, replace=True)
    assert not link.is_symlink() and mode(link) == 0o600
    assert link.read_text() == f"{KEY}\n"
    assert target.read_text() == "someone else's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key", "target"]  # no temporary left


def test_login_passes_the_flags_and_prints_the_key_once(
    logins: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["login", "--server", "http://127.0.0.1:1", "--limit", "4", "--label", "ci", "--no-browser"]
    )
    assert code == 0
    out, err = capsys.readouterr()
    assert out == f"{KEY}\n" and KEY not in err
    (call,) = logins
    assert call["server_url"] == "http://127.0.0.1:1"
    assert call["limit"] == Decimal("4") and call["key_label"] == "ci"
    assert call["headless"] is True and call["timeout"] == 300


@pytest.mark.parametrize(
    ("limit", "refusal"),
    [
        ("1e30", "must be ≤ 1000000000"),
        ("5e12", "must be ≤ 1000000000"),
        ("0.1234567", "must have no more than 6 decimal places"),
        ("-1", "must be ≥ 0"),
    ],
)
def test_login_refuses_a_limit_the_api_refuses_in_one_line_before_signing_in(
    logins: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], limit: str, refusal: str
) -> None:
    assert main(["login", "--server", "http://127.0.0.1:1", "--limit", limit]) == 1
    assert capsys.readouterr() == ("", f"modelgates: --limit: {refusal}\n")
    assert logins == []  # nobody was sent to a browser for nothing


def test_save_refuses_an_existing_file_before_signing_in_unless_forced(
    logins: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "key"
    path.write_text("old")
    assert main(["login", "--save", str(path)]) == 1
    assert "exists; use --force" in capsys.readouterr().err
    assert logins == []  # nobody was sent to a browser for nothing

    assert main(["login", "--save", str(path), "--force"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and KEY not in err
    assert path.read_text() == f"{KEY}\n" and mode(path) == 0o600


def test_a_key_that_cannot_be_saved_is_revoked_not_lost_silently(
    logins: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    revoked: list[tuple[str | None, str]] = []
    monkeypatch.setattr(
        "modelgates.cli.client._revoke_quietly", lambda server, key: revoked.append((server, key))
    )
    directory = tmp_path / "keys"
    directory.mkdir()

    def directory_gone_while_signing_in(**options: Any) -> LoginResult:
        shutil.rmtree(directory)  # checked before the browser opened, removed since
        return LoginResult(key=KEY, user_id="user_1")

    monkeypatch.setattr(signin, "login", directory_gone_while_signing_in)
    saved = directory / "key"
    assert main(["login", "--server", "http://127.0.0.1:1", "--save", str(saved)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and KEY not in err
    assert "the key was revoked" in err
    assert revoked == [("http://127.0.0.1:1", KEY)]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    running = ScriptedServer().start()
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("where", "force", "message"),
    [
        ("missing/key", False, "missing does not exist"),
        ("missing/key", True, "missing does not exist"),
        ("a-file/key", False, "a-file is not a directory"),
        ("a-directory", True, "a-directory is a directory"),
        ("read-only/key", False, "read-only is not writable"),
    ],
)
def test_save_refuses_a_path_it_cannot_write_before_anything_is_asked(
    server: ScriptedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    force: bool,
    message: str,
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "read-only").mkdir(mode=0o500)
    if where.startswith("read-only") and os.access(tmp_path / "read-only", os.W_OK):
        pytest.skip("this user writes anywhere (root): no directory is read-only to it")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # a paste would end the sign-in anyway
    path = tmp_path / where
    args = ["login", "--server", server.origin, "--no-browser", "--save", str(path)]
    assert main([*args, "--force"] if force else args) == 1
    (line,) = capsys.readouterr().err.splitlines()  # one line: no address, no prompt
    assert line.startswith(
        f"modelgates: {path}" if where == "a-directory" else "modelgates: cannot"
    )
    assert message in line
    assert server.health_checks == 0 and server.received == []  # nothing was started


def test_whoami_takes_a_bare_origin_from_the_environment(
    live_server: LiveServer,
    account: Account,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELGATES_BASE_URL", live_server.base_url)  # what `serve` prints
    monkeypatch.setenv("MODELGATES_API_KEY", account.key)
    assert main(["whoami"]) == 0
    out = capsys.readouterr().out
    assert f"creator_user_id    {account.user_id}" in out.splitlines()

    monkeypatch.setenv("MODELGATES_BASE_URL", "http://127.0.0.1:1")
    assert main(["whoami", "--server", f"{live_server.base_url}/"]) == 0  # the flag wins
    assert account.user_id in capsys.readouterr().out


def test_login_against_an_unreachable_server_fails_in_one_line_at_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = refused_url().removesuffix("/api/v1")
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-code\n"))
    monkeypatch.setenv("MODELGATES_BASE_URL", origin)
    assert main(["login", "--no-browser"]) == 1
    out, err = capsys.readouterr()
    (line,) = err.splitlines()  # no address to open, no prompt, no traceback
    assert line.startswith(f"modelgates: cannot reach the ModelGates server at {origin}/api/v1: ")
    assert out == "" and sys.stdin.read() == "a-code\n"  # nothing was asked of the user


def test_version_is_the_installed_distributions() -> None:
    version = importlib.metadata.version("modelgates")
    done = subprocess.run(
        [sys.executable, "-m", "modelgates.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"modelgates {version}\n", "")


def test_revoking_an_unsaved_key_really_revokes_it(live_server: LiveServer) -> None:
    key = new_account(live_server.database_url).key
    _revoke_quietly(live_server.base_url, key)  # a bare origin, as --server takes it
    answer = live_server.client.get("/key", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 401
