"""The ``modelgates`` command as an operator runs it: real processes, a real SQLite file."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelgates.server.store.migrate import WAITING
from tests.conftest import _create_postgres_database, _drop_postgres_database, free_port
from tests.server.serving import ServeProcess


def modelgates(*args: str, db: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelgates.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MODELGATES_DATABASE_URL": f"sqlite:///{db}"},
    )


def modelgates_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command run in ``folder`` with no database named: the default, ./modelgates.db."""
    env = {k: v for k, v in os.environ.items() if k != "MODELGATES_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "modelgates.cli", *args],
        capture_output=True, text=True, timeout=60, cwd=folder, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database made as an operator makes one before administering it."""
    path = tmp_path / "cli.db"
    upgraded = modelgates("db", "upgrade", db=path)
    assert upgraded.returncode == 0, upgraded.stderr
    return path


def test_user_and_key_administration(db: Path) -> None:
    created = modelgates(
        "users", "create", "Ada@Example.com", "--password-stdin", db=db, stdin="s3cret-password\n"
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout == "Created user ada@example.com\n"  # the e-mail, not an internal id

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
    assert "shown once: key 'laptop' of ada@example.com" in key.stderr

    listed = modelgates("keys", "list", "--user", "ada@example.com", db=db)
    assert listed.returncode == 0
    assert "laptop" in listed.stdout and "live" in listed.stdout and "2.5" in listed.stdout
    assert secret not in listed.stdout  # the secret is shown once only
    key_hash = re.search(r"^([0-9a-f]{64})", listed.stdout.splitlines()[1]).group(1)  # type: ignore[union-attr]

    revoked = modelgates("keys", "revoke", key_hash, db=db)
    assert revoked.returncode == 0
    assert revoked.stdout == "Revoked key 'laptop' of ada@example.com\n"
    again = modelgates("keys", "revoke", key_hash, db=db).stdout
    assert again == "Already revoked: key 'laptop' of ada@example.com\n"
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


@pytest.mark.parametrize(
    ("flags", "refusal"),
    [
        (("--limit", "1e30"), "--limit: must be ≤ 1000000000"),  # was an OverflowError
        (("--limit", "5e12"), "--limit: must be ≤ 1000000000"),  # was accepted
        (("--limit", "0.1234567"), "--limit: must have no more than 6 decimal places"),
        (("--limit", "NaN"), "--limit: must be a finite number"),
        (("--name", "x" * 101), "--name: must have at most 100 characters"),
        (("--expires", "9999-12-31T23:59:59-01:00"), "--expires: is out of range"),
        (
            ("--expires", "2030-01-01T00:00:00"),
            "--expires: must carry a time zone, e.g. 2030-01-01T00:00:00Z",
        ),
    ],
)
def test_key_flags_the_api_refuses_are_one_line_errors_naming_the_flag(
    db: Path, flags: tuple[str, ...], refusal: str
) -> None:
    result = modelgates("keys", "create", "--user", "a@example.com", "--name", "x", *flags, db=db)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"modelgates: {refusal}\n")


def test_the_operator_names_apps_for_every_user(db: Path) -> None:
    named = modelgates("apps", "title", "https://Acme.example/any/path", "Acme Notes", db=db)
    assert named.returncode == 0, named.stderr
    assert named.stdout == "https://acme.example is now 'Acme Notes' for every user\n"
    listed = modelgates("apps", "list", db=db).stdout.splitlines()
    assert listed[0].split() == ["ID", "CREATED", "ORIGIN", "NAME"]
    assert listed[1].split()[2:] == ["https://acme.example", "Acme", "Notes"]
    refused = modelgates("apps", "title", "https://acme.example", "ModeIGates Verified", db=db)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        "modelgates: NAME: must not read as ModelGates nor mix Latin with lookalike letters\n"
    )
    not_an_origin = modelgates("apps", "title", "javascript:alert(1)", "X", db=db)
    assert not_an_origin.stderr == (
        "modelgates: ORIGIN: must be a callback URL: https, http on a local host, "
        "or an app's own scheme\n"
    )
    # A native app is named by its scheme and authority, as its callbacks name it.
    editor = modelgates("apps", "title", "vscode://Saoudrizwan.Claude-Dev/cb", "Cline", db=db)
    assert editor.stdout == "vscode://saoudrizwan.claude-dev is now 'Cline' for every user\n"
    cleared = modelgates("apps", "title", "https://acme.example", "--clear", db=db)
    assert cleared.stdout == "https://acme.example is no longer named by the operator\n"
    assert modelgates("apps", "list", db=db).stdout.splitlines()[1].split()[-1] == "-"


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
    disabled = modelgates("keys", "disable", key_hash, db=db).stdout
    assert disabled == "Disabled key 'limited' of eve@example.com\n"
    assert "inactive" in modelgates("keys", "list", "--user", "eve@example.com", db=db).stdout
    enabled = modelgates("keys", "enable", key_hash, db=db).stdout
    assert enabled == "Enabled key 'limited' of eve@example.com\n"
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


def test_db_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    result = modelgates("db", "upgrade", db=db)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"database at the newest revision: {db}\n"
    assert db.exists()


def test_unsupported_database_is_a_clear_error(tmp_path: Path) -> None:
    result = modelgates(
        "db", "upgrade", "--database-url", "mysql://root@localhost/x", db=tmp_path / "x.db"
    )
    assert result.returncode == 1
    assert "unsupported database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "failure"),
    [
        (("db", "upgrade"), "cannot migrate"),
        (("keys", "list", "--user", "a@example.com"), "cannot open"),
    ],
)
def test_unreachable_database_is_a_one_line_error(
    tmp_path: Path, args: tuple[str, ...], failure: str
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    result = modelgates(*args, "--database-url", url, db=tmp_path / "unused.db")
    assert result.returncode == 1
    assert result.stderr.startswith(f"modelgates: {failure} {url}: ")
    assert result.stderr.count("\n") == 1


BANNER_END = "Press Ctrl+C to stop."


def test_serve_listens_before_it_says_so_and_says_where_to_go(tmp_path: Path) -> None:
    folder = tmp_path.resolve()
    env = {k: v for k, v in os.environ.items() if k != "MODELGATES_DATABASE_URL"}
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "modelgates.cli", "serve", "--port", str(free_port())],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        # Frozen the moment it says it serves: the port must take connections already.
        os.kill(process.pid, signal.SIGSTOP)
        try:
            found = re.fullmatch(r"ModelGates is serving on http://127\.0\.0\.1:(\d+)\n", first)
            assert found, first
            port = int(found.group(1))
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass  # the kernel queued it for the server
        finally:
            os.kill(process.pid, signal.SIGCONT)
        banner = [first.rstrip("\n")]
        while banner[-1] != BANNER_END:
            line = process.stdout.readline()
            assert line, banner  # the server stopped mid-banner
            banner.append(line.rstrip("\n"))
        text = "\n".join(banner)
        origin = f"http://127.0.0.1:{port}"
        assert f"{origin}/api/v1\n" in text
        assert f"{origin}/auth " in text and f"{origin}/account " in text
        # Where the default sqlite:///modelgates.db is: here, where serve runs.
        assert f"Database:     {folder / 'modelgates.db'}  (from sqlite:///modelgates.db" in text
        assert "modelgates users create you@example.com\n" in text
        assert "modelgates keys create --user you@example.com --name my-key\n" in text
        assert f"modelgates login --server {origin}\n" in text
        assert httpx.get(f"{origin}/healthz", timeout=30).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_taken_port_says_so_in_one_line(tmp_path: Path, workers: str) -> None:
    first = ServeProcess(f"sqlite:///{tmp_path / 'first.db'}")
    try:
        first.wait_until_up()
        folder = tmp_path / "second"
        folder.mkdir()
        second = modelgates_in(folder, "serve", "--port", str(first.port), "--workers", workers)
        assert second.returncode == 1
        assert second.stderr == (
            f"modelgates: 127.0.0.1:{first.port} is already in use; "
            "choose another port with --port\n"
        )
        assert second.stdout == ""  # no banner claiming it serves
        assert list(folder.iterdir()) == []  # it gave up before making a database
        assert first.is_up()
    finally:
        first.stop()


def test_serve_refuses_connections_while_it_migrates_and_loses_a_port_taken_meanwhile(
    tmp_path: Path,
) -> None:
    path = tmp_path / "held.db"
    assert modelgates("db", "upgrade", db=path).returncode == 0
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # the migration lock: serve waits at it
    port = free_port()
    rival = socket.socket()
    rival.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rival.bind(("127.0.0.1", port))  # bound, not listening: serve may bind too
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "modelgates.cli", "serve", "--port", str(port)],
            env={**os.environ, "MODELGATES_DATABASE_URL": f"sqlite:///{path}"},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while WAITING not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        with pytest.raises(ConnectionRefusedError):  # not up: refused, not left hanging
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        rival.listen()
        holder.rollback()
        assert process.wait(timeout=30) == 1
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        holder.close()
        rival.close()
    output = log.read_text()
    assert "serving on" not in output
    assert output.endswith(
        f"\nmodelgates: 127.0.0.1:{port} is already in use; choose another port with --port\n"
    )


def test_serve_on_an_address_of_no_interface_here_says_so(tmp_path: Path) -> None:
    result = modelgates_in(tmp_path, "serve", "--host", "192.0.2.1", "--port", "0")  # TEST-NET-1
    assert result.returncode == 1
    assert result.stderr.startswith("modelgates: cannot listen on 192.0.2.1:0: ")
    assert result.stderr.endswith("choose another address with --host or port with --port\n")
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_logs_json_lines_only_one_per_request(tmp_path: Path, workers: str) -> None:
    server = ServeProcess(f"sqlite:///{tmp_path / 'log.db'}", "--workers", workers)
    try:
        server.wait_until_up()
        for _ in range(3):
            assert httpx.get(f"{server.url}/api/v1/openapi.json").status_code == 200
    finally:
        server.process.terminate()
        server.process.wait(timeout=15)
        output = server.output  # read before stop() removes the file
        server.stop()
    lines = output.splitlines()
    logged = [json.loads(line) for line in lines[lines.index(BANNER_END) + 1 :]]
    requests = [entry for entry in logged if entry.get("path") == "/api/v1/openapi.json"]
    assert len(requests) == 3 and all(entry["status"] == 200 for entry in requests)
    uvicorn = [entry["message"] for entry in logged if entry.get("logger") == "uvicorn"]
    assert sum(m.startswith("Started server process") for m in uvicorn) == int(workers)
    assert "Application startup complete." in uvicorn
    assert all(entry["level"] == "info" for entry in logged if "logger" in entry)


ADMINISTRATION = [
    ("users", "create", "a@example.com", "--password-stdin"),
    ("keys", "create", "--user", "a@example.com", "--name", "x"),
    ("keys", "list", "--user", "a@example.com"),
    ("keys", "revoke", "0" * 64),
    ("keys", "disable", "0" * 64),
    ("keys", "enable", "0" * 64),
    ("service-tokens", "create", "--name", "gateway"),
    ("audit", "tail"),
]


@pytest.mark.parametrize("args", ADMINISTRATION, ids=" ".join)
def test_administration_in_another_folder_creates_no_database(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = modelgates_in(tmp_path, *args)
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"modelgates: no database at {tmp_path.resolve() / 'modelgates.db'} "
        "(sqlite:///modelgates.db is relative to the current folder); run this in the folder "
        "where `modelgates serve` ran, or give --database-url "
    )
    assert "MODELGATES_DATABASE_URL" in result.stderr and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_administration_names_the_missing_database_file(tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "modelgates.db"
    result = modelgates("keys", "list", "--user", "a@example.com", db=missing)
    assert result.returncode == 1
    assert result.stderr.startswith(f"modelgates: no database at {missing}; ")
    assert "--database-url" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_administration_refuses_a_database_not_migrated(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    if backend == "sqlite":
        path = tmp_path / "empty.db"
        sqlite3.connect(path).close()  # an SQLite file with no tables of ours
        url, where = f"sqlite:///{path}", str(path)
    else:
        url = where = _create_postgres_database(request.getfixturevalue("postgres_admin"))
        request.addfinalizer(lambda: _drop_postgres_database(url))
    args = ("keys", "list", "--user", "a@example.com", "--database-url", url)
    refused = modelgates(*args, db=tmp_path / "unused.db")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"modelgates: the database at {where} is not migrated for this version of ModelGates; "
        "run `modelgates db upgrade` with the same database URL\n"
    )
    assert (
        modelgates("db", "upgrade", "--database-url", url, db=tmp_path / "unused.db").returncode
        == 0
    )
    listed = modelgates(*args, db=tmp_path / "unused.db")
    assert listed.returncode == 1 and "no user with e-mail a@example.com" in listed.stderr


# The [server] extra's packages (pyproject.toml), as Python imports them.
SERVER_PACKAGES = (
    "starlette", "uvicorn", "sqlalchemy", "psycopg", "alembic", "argon2", "cryptography",
    "jinja2", "limits", "redis", "prometheus_client", "markdown_it", "mcp",
)  # fmt: skip


# Run first in the child: each named module fails to import as one not installed fails.
NOT_INSTALLED = """
import sys

class NotInstalled:
    def __init__(self, names):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if name in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled(sys.argv.pop(1).split(",")))
from modelgates.cli import main
sys.exit(main(sys.argv[1:]))
"""


def without(modules: tuple[str, ...], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command in a Python where none of ``modules`` is installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATES_")}
    return subprocess.run(
        [sys.executable, "-c", NOT_INSTALLED, ",".join(modules), *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_the_sdk_commands_need_no_server(tmp_path: Path) -> None:
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, modelgates.cli, modelgates.cli.client\n"
         "print([m for m in sys.modules if m.split('.')[0] in sys.argv[1:]\n"
         "       or m.startswith('modelgates.server')])", *SERVER_PACKAGES],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert imported.stdout == "[]\n"
    assert without(SERVER_PACKAGES, "--help", cwd=tmp_path).returncode == 0
    whoami = without(SERVER_PACKAGES, "whoami", cwd=tmp_path)
    assert (whoami.returncode, whoami.stderr) == (
        1,
        "modelgates: no key: give --key-file PATH, or set MODELGATES_API_KEY\n",
    )
    login = without(
        SERVER_PACKAGES, "login", "--server", "http://127.0.0.1:1", "--limit", "-1", cwd=tmp_path
    )
    assert (login.returncode, login.stderr) == (1, "modelgates: --limit: must be ≥ 0\n")


@pytest.mark.parametrize(
    ("package", "args"),
    [
        *((package, ("keys", "list", "--user", "a@example.com")) for package in
          ("sqlalchemy", "alembic", "argon2", "limits")),
        *((package, ("serve", "--port", "0")) for package in
          ("uvicorn", "starlette", "prometheus_client")),
        *((package, ("docs", "mcp")) for package in ("mcp", "markdown_it")),
    ],
)  # fmt: skip
def test_administration_without_the_server_extra_says_to_install_it(
    tmp_path: Path, package: str, args: tuple[str, ...]
) -> None:
    result = without((package,), *args, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"modelgates: {package} is missing; "
        "install the server with: pip install 'modelgates[server]'\n"
    )
    assert list(tmp_path.iterdir()) == []  # it stopped before making anything


@pytest.mark.parametrize(
    ("module", "error"),
    [
        # Modules of ours not found, and a part of an installed package: bugs, not the extra.
        ("modelgates.server.store.migrate", "ModuleNotFoundError: No module named"),
        ("modelgates.server.services.audit", "ImportError: cannot import name 'audit'"),
        ("sqlalchemy.engine", "ModuleNotFoundError: No module named 'sqlalchemy.engine'"),
    ],
)
def test_any_other_import_error_is_shown_whole(tmp_path: Path, module: str, error: str) -> None:
    result = without((module,), "keys", "list", "--user", "a@example.com", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert f"\n{error}" in result.stderr and "modelgates[server]" not in result.stderr
