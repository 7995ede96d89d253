"""The ``modelgates`` command as an operator runs it: real processes, a real SQLite file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port


def modelgates(*args: str, db: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelgates.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MODELGATES_DATABASE_URL": f"sqlite:///{db}"},
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


def test_user_and_key_administration(db: Path) -> None:
    created = modelgates(
        "users", "create", "Ada@Example.com", "--password-stdin", db=db, stdin="s3cret-password\n"
    )
    assert created.returncode == 0, created.stderr
    assert "ada@example.com" in created.stdout

    again = modelgates(
        "users", "create", "ada@example.com", "--password-stdin", db=db, stdin="another-password\n"
    )
    assert again.returncode == 1
    assert "exists already" in again.stderr

    key = modelgates(
        "keys", "create", "--user", "ada@example.com", "--name", "laptop", "--limit", "2.5", db=db
    )
    assert key.returncode == 0, key.stderr
    lines = key.stdout.splitlines()
    assert len(lines) == 1 and re.fullmatch(r"sk-mg-v1-[0-9a-f]{64}", lines[0])
    secret = lines[0]
    assert "shown once" in key.stderr

    listed = modelgates("keys", "list", "--user", "ada@example.com", db=db)
    assert listed.returncode == 0
    assert "laptop" in listed.stdout and "live" in listed.stdout and "2.5" in listed.stdout
    assert secret not in listed.stdout  # the secret is shown once only
    key_hash = re.search(r"^([0-9a-f]{64})", listed.stdout.splitlines()[1]).group(1)  # type: ignore[union-attr]

    revoked = modelgates("keys", "revoke", key_hash, db=db)
    assert revoked.returncode == 0 and revoked.stdout.strip() == "revoked"
    assert modelgates("keys", "revoke", key_hash, db=db).stdout.strip() == "already revoked"
    assert "revoked" in modelgates("keys", "list", "--user", "ada@example.com", db=db).stdout
    # Nothing stored the secrets in the clear.
    raw = db.read_bytes()
    assert secret.encode() not in raw and b"s3cret-password" not in raw


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "create", "--user", "nobody@example.com", "--name", "x"), "no user"),
        (("keys", "revoke", "0" * 64), "no key"),
        (("keys", "list", "--user", "nobody@example.com"), "no user"),
        (("keys", "create", "--user", "a@example.com", "--name", "x", "--limit", "-1"), "≥ 0"),
        (
            ("keys", "create", "--user", "a@example.com", "--name", "x", "--limit", "abc"),
            "not a number",
        ),
    ],
)
def test_refusals_are_one_line_errors(db: Path, args: tuple[str, ...], message: str) -> None:
    result = modelgates(*args, db=db)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_short_password_is_refused(db: Path) -> None:
    result = modelgates(
        "users", "create", "bob@example.com", "--password-stdin", db=db, stdin="short\n"
    )
    assert result.returncode == 1 and "password" in result.stderr


def test_key_options_disable_enable_and_service_tokens(db: Path) -> None:
    assert (
        modelgates(
            "users", "create", "eve@example.com", "--password-stdin", db=db, stdin="long-password\n"
        ).returncode
        == 0
    )
    created = modelgates(
        "keys", "create", "--user", "eve@example.com", "--name", "limited",
        "--limit", "3", "--reset", "weekly", "--expires", "2099-01-01T00:00:00Z", db=db,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    listed = modelgates("keys", "list", "--user", "eve@example.com", db=db).stdout
    key_hash = listed.splitlines()[1].split()[0]
    assert modelgates("keys", "disable", key_hash, db=db).stdout.strip() == "disabled"
    assert "inactive" in modelgates("keys", "list", "--user", "eve@example.com", db=db).stdout
    assert modelgates("keys", "enable", key_hash, db=db).stdout.strip() == "enabled"
    assert "live" in modelgates("keys", "list", "--user", "eve@example.com", db=db).stdout
    past = modelgates(
        "keys",
        "create",
        "--user",
        "eve@example.com",
        "--name",
        "x",
        "--expires",
        "2001-01-01T00:00:00Z",
        db=db,
    )
    assert past.returncode == 1 and "expires_at" in past.stderr

    token = modelgates("service-tokens", "create", "--name", "gateway", db=db)
    assert token.returncode == 0, token.stderr
    assert re.fullmatch(r"mg-svc-v1-[0-9a-f]{64}", token.stdout.strip())
    assert token.stdout.strip().encode() not in db.read_bytes()


def test_db_upgrade(db: Path) -> None:
    result = modelgates("db", "upgrade", db=db)
    assert result.returncode == 0, result.stderr
    assert "newest revision" in result.stdout
    assert db.exists()


def test_unsupported_database_is_a_clear_error(tmp_path: Path) -> None:
    result = modelgates(
        "db", "upgrade", "--database-url", "mysql://root@localhost/x", db=tmp_path / "x.db"
    )
    assert result.returncode == 1
    assert "unsupported database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [("db", "upgrade"), ("keys", "list", "--user", "a@example.com")])
def test_unreachable_database_is_a_one_line_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    result = modelgates(*args, "--database-url", url, db=tmp_path / "unused.db")
    assert result.returncode == 1
    assert (
        result.stderr.startswith("modelgates: cannot migrate") and "Traceback" not in result.stderr
    )


def test_serve_prints_where_to_go_and_serves(db: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "modelgates.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "MODELGATES_DATABASE_URL": f"sqlite:///{db}"},
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(8)]
        assert f"http://127.0.0.1:{port}" in banner[0]
        assert any("modelgates users create" in line for line in banner)
        assert any("modelgates keys create" in line for line in banner)
        for _ in range(100):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                import time

                time.sleep(0.05)
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
