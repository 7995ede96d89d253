"""``modelgates``: serve, administer users and keys, migrate the database; sign in from a
terminal (``login``, ``whoami``: the SDK alone).

Configuration comes from flags, then ``MODELGATES_*`` environment variables (see Settings).
Server dependencies are imported inside the commands, so ``modelgates --help`` works with the
SDK alone.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar, get_args

from modelgates.models.base import UsageLimitType

if TYPE_CHECKING:
    import socket

    from pydantic import BaseModel
    from sqlalchemy.exc import DBAPIError

    from modelgates.server.settings import Settings
    from modelgates.server.store import KeyRow, Store

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")


class CommandError(Exception):
    """A failure to report in one line, without a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        args.run(args)
    except CommandError as error:
        print(f"modelgates: {error}", file=sys.stderr)
        return 1
    except ImportError as error:
        print(
            f"modelgates: {error.name or error} is missing; "
            "install the server with: pip install 'modelgates[server]'",
            file=sys.stderr,
        )
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    from modelgates import __version__

    parser = argparse.ArgumentParser(
        prog="modelgates", description="ModelGates: OAuth PKCE for user-controlled API keys."
    )
    parser.add_argument("--version", action="version", version=f"modelgates {__version__}")
    commands = parser.add_subparsers(title="commands")
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--database-url",
        help="sqlite:///path/to/file.db or postgresql://user@host:port/dbname "
        "(default: $MODELGATES_DATABASE_URL, else sqlite:///modelgates.db)",
    )

    serve = commands.add_parser("serve", parents=[database], help="migrate the database and serve")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port (default 1)")
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        help="do not apply migrations at start (run `modelgates db upgrade` yourself)",
    )
    serve.set_defaults(run=_serve)

    users = commands.add_parser("users", help="administer users").add_subparsers(title="commands")
    create_user = users.add_parser("create", parents=[database], help="add a user")
    create_user.add_argument("email")
    create_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create_user.set_defaults(run=_users_create)

    keys = commands.add_parser("keys", help="administer API keys").add_subparsers(title="commands")
    create_key = keys.add_parser("create", parents=[database], help="print a new key, once")
    create_key.add_argument("--user", required=True, metavar="EMAIL")
    create_key.add_argument("--name", required=True)
    create_key.add_argument(
        "--management", action="store_true", help="a management key (it can manage other keys)"
    )
    create_key.add_argument("--limit", type=_usd, metavar="USD", help="credit limit in USD")
    create_key.add_argument(
        "--reset", choices=get_args(UsageLimitType), help="the limit resets on this interval"
    )
    create_key.add_argument("--expires", metavar="WHEN", help="expiry, e.g. 2030-01-01T00:00:00Z")
    create_key.set_defaults(run=_keys_create)
    list_keys = keys.add_parser("list", parents=[database], help="list a user's keys")
    list_keys.add_argument("--user", required=True, metavar="EMAIL")
    list_keys.set_defaults(run=_keys_list)
    revoke_key = keys.add_parser("revoke", parents=[database], help="revoke a key by its hash")
    revoke_key.add_argument("hash")
    revoke_key.set_defaults(run=_keys_revoke)
    for verb, disabled in (("disable", True), ("enable", False)):
        toggle = keys.add_parser(verb, parents=[database], help=f"{verb} a key by its hash")
        toggle.add_argument("hash")
        toggle.set_defaults(run=_keys_toggle, disabled=disabled)

    tokens = commands.add_parser(
        "service-tokens", help="credentials for a model gateway to charge keys"
    ).add_subparsers(title="commands")
    create_token = tokens.add_parser("create", parents=[database], help="print a new token, once")
    create_token.add_argument("--name", required=True)
    create_token.set_defaults(run=_service_tokens_create)

    audit = commands.add_parser("audit", help="the audit trail").add_subparsers(title="commands")
    tail = audit.add_parser("tail", parents=[database], help="print recent security events")
    tail.add_argument("-n", type=int, default=20, metavar="N", help="how many (default 20)")
    tail.add_argument("--follow", action="store_true", help="keep printing new events")
    tail.set_defaults(run=_audit_tail)

    client = argparse.ArgumentParser(add_help=False)
    client.add_argument(
        "--server",
        metavar="URL",
        help="the ModelGates server, e.g. http://127.0.0.1:8080 (an origin means its /api/v1; "
        "default: $MODELGATES_BASE_URL, else https://modelgates.ai/api/v1)",
    )
    sign_in = commands.add_parser(
        "login", parents=[client], help="get a key for this terminal, approved in a browser"
    )
    sign_in.add_argument("--limit", type=_usd, metavar="USD", help="credit limit to ask for")
    sign_in.add_argument("--label", help="the key's label (default: modelgates CLI on HOST)")
    sign_in.add_argument(
        "--no-browser",
        action="store_true",
        help="open no browser: print an address to open on any device that can reach the "
        "server, then read the code",
    )
    sign_in.add_argument(
        "--save", metavar="PATH", help="write the key to PATH (mode 0600) instead of printing it"
    )
    sign_in.add_argument("--force", action="store_true", help="let --save replace a file")
    sign_in.add_argument(
        "--timeout",
        type=float,
        default=300,
        metavar="SECONDS",
        help="how long to wait for the browser (default 300)",
    )
    sign_in.set_defaults(run=_login)
    whoami = commands.add_parser("whoami", parents=[client], help="show a key's own record")
    whoami.add_argument(
        "--key-file", metavar="PATH", help="read the key here (default: $MODELGATES_API_KEY)"
    )
    whoami.set_defaults(run=_whoami)

    db = commands.add_parser("db", help="the database").add_subparsers(title="commands")
    upgrade = db.add_parser("upgrade", parents=[database], help="apply migrations (Alembic)")
    upgrade.set_defaults(run=_db_upgrade)
    return parser


def _usd(text: str) -> Decimal:
    """An amount as typed (``2.5``, ``1e3``). Only the form is read here: which amounts are
    allowed is the ``Money`` type's rule, checked with the rest of the request."""
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _from_flags(model: type[M], flags: dict[str, tuple[str, Any]]) -> M:
    """``model`` from the flags given (``field: (flag, value)``), or its refusal in one line
    naming each flag: the API's rules, not a copy of them."""
    from pydantic import ValidationError

    from modelgates.models.problems import problems

    try:
        return model.model_validate(
            {field: value for field, (_, value) in flags.items() if value is not None}
        )
    except ValidationError as error:
        named = {field: flag for field, (flag, _) in flags.items()}
        raise CommandError(
            "; ".join(f"{named.get(field, field)}: {what}" for field, what in problems(error))
        ) from None


def _money(flag: str, amount: Decimal | None) -> Decimal | None:
    """``amount`` if the API takes it as an amount of USD, else a one-line refusal."""
    from pydantic import TypeAdapter, ValidationError

    from modelgates.models.base import Money
    from modelgates.models.problems import describe

    if amount is None:
        return None
    try:
        return TypeAdapter(Money).validate_python(amount)
    except ValidationError as error:
        raise CommandError(f"{flag}: {describe(error.errors()[0])}") from None


def _settings(args: argparse.Namespace, **flags: Any) -> Settings:
    from modelgates.server.settings import Settings, SettingsError

    try:
        return Settings.load({"database_url": args.database_url, **flags})
    except SettingsError as error:
        raise CommandError(str(error)) from None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``work`` against the database, mapping refusals to one-line errors."""
    from modelgates.server.services.errors import ServiceError
    from modelgates.server.store import Store

    _require_database(settings)

    async def run() -> T:
        store = Store.open(settings.database_url, pool_size=1)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except ServiceError as error:
        raise CommandError(error.message) from None


def _require_database(settings: Settings) -> None:
    """Fail in one line unless the database is there and migrated. An administration command
    creates no database and migrates none: one it does not find is most often one ``serve``
    made in another folder, and an empty one made here would answer "no user"."""
    from sqlalchemy.exc import DatabaseError

    from modelgates.server.store.migrate import SchemaState, database_state

    url = settings.database_url
    file = _sqlite_file(url)
    if file is not None and not os.path.exists(file):
        where = os.path.abspath(file)
        if os.path.isabs(file):
            raise CommandError(
                f"no database at {where}; `modelgates serve` or `modelgates db upgrade` creates "
                "it, or name another with --database-url (or MODELGATES_DATABASE_URL)"
            )
        raise CommandError(
            f"no database at {where} ({url} is relative to the current folder); run this in "
            "the folder where `modelgates serve` ran, or give --database-url "
            "sqlite:////path/to/file.db (or MODELGATES_DATABASE_URL)"
        )
    try:
        state = database_state(url)
    except DatabaseError as error:
        raise CommandError(f"cannot open {_where(url)}: {_reason(error)}") from None
    # A database a newer release migrated still works with this one (docs/deploy.md).
    if state is SchemaState.BEHIND:
        raise CommandError(
            f"the database at {_where(url)} is not migrated for this version of ModelGates; "
            "run `modelgates db upgrade` with the same database URL"
        )


def _reason(error: DBAPIError) -> str:
    return str(error.orig or error).strip().splitlines()[0]


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from modelgates.server.observability import LOG_CONFIG, configure_logging

    settings = _settings(
        args,
        host=args.host,
        port=args.port,
        workers=args.workers,
        migrate_on_start=False if args.no_migrate else None,
    )
    configure_logging()  # what the migration logs (waiting for its lock) is JSON too
    listener = _bind(settings.host, settings.port)
    try:
        if settings.migrate_on_start:
            _migrate(settings)
        _listen(listener, settings.host, settings.port)
        port = listener.getsockname()[1]
        print(_banner(settings, port), flush=True)
        options: dict[str, Any] = {
            "host": settings.host,
            "port": port,
            "log_config": LOG_CONFIG,
            "access_log": False,  # ours: one JSON line per request (observability.RequestLog)
            # Forwarded headers only from the load balancers named (docs/deploy.md): anyone
            # else could claim any client address and dodge the per-address limits.
            "proxy_headers": bool(settings.forwarded_allow_ips),
            "forwarded_allow_ips": settings.forwarded_allow_ips or None,
        }
        if settings.workers == 1:
            from modelgates.server.app import create_app

            config = uvicorn.Config(create_app(settings), **options)
            try:
                uvicorn.Server(config).run(sockets=[listener])
            except KeyboardInterrupt:  # uvicorn stopped gracefully, then re-raised the SIGINT
                pass
            return
        from uvicorn.supervisors import Multiprocess

        # Each worker is a fresh process that imports the app: it reads these settings back
        # from the environment it inherits, and serves on the socket bound here.
        os.environ.update(settings.to_environ())
        config = uvicorn.Config(
            "modelgates.server.app:create_app_from_env",
            factory=True,
            workers=settings.workers,
            **options,
        )
        Multiprocess(config, sockets=[listener]).run()
    finally:
        listener.close()


#: Connections the kernel queues for the server before it accepts them (uvicorn's default).
BACKLOG = 2048


def _bind(host: str, port: int) -> socket.socket:
    """The server's socket, bound before the database is touched: on a port someone else
    serves, ``serve`` says so in one line and leaves nothing behind (no database made)."""
    import socket

    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        # A restart must not wait for the last run's connections to leave TIME_WAIT.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise _cannot_listen(host, port, error) from None
    return listener


def _listen(listener: socket.socket, host: str, port: int) -> None:
    """Take connections from here on (they wait for the server rather than being refused), so
    the banner can say it serves. Until now, while it migrated, they were refused: a load
    balancer sees a replica that is not up yet."""
    try:
        listener.listen(BACKLOG)
    except OSError as error:  # SO_REUSEADDR let another process bind too, and it listened first
        listener.close()
        raise _cannot_listen(host, port, error) from None


def _cannot_listen(host: str, port: int, error: OSError) -> CommandError:
    import errno

    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return CommandError(f"{address} is already in use; choose another port with --port")
    return CommandError(
        f"cannot listen on {address}: {error.strerror or error}; "
        "choose another address with --host or port with --port"
    )


def _banner(settings: Settings, port: int) -> str:
    from modelgates.server.settings import DEFAULT_DATABASE_URL

    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    origin = f"http://{host}:{port}"
    # Run in this folder, the commands below find the default database unaided; any other
    # they must be told of.
    url = settings.database_url
    shown_db = "" if url == DEFAULT_DATABASE_URL else f" --database-url {_redact(url)}"
    database = _where(url)
    file = _sqlite_file(url)
    if file is not None and not os.path.isabs(file):
        database += f"  (from {url}, relative to this folder)"
    return (
        f"ModelGates is serving on {origin}\n"
        f"  API:          {origin}/api/v1\n"
        f"  Consent page: {origin}/auth  (where apps send their users)\n"
        f"  Your account: {origin}/account  (sign in as a user made below)\n"
        f"  Database:     {database}\n"
        f"  Workers:      {settings.workers}\n"
        f"  Add a user:   modelgates users create you@example.com{shown_db}\n"
        f"  Make a key:   modelgates keys create --user you@example.com --name my-key{shown_db}\n"
        f"  From a shell: modelgates login --server {origin}\n"
        "Press Ctrl+C to stop."
    )


def _redact(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(database_url).render_as_string(hide_password=True)


def _sqlite_file(database_url: str) -> str | None:
    """An SQLite database's file as its URL names it (``sqlite:///name.db`` is relative to the
    current folder); None for PostgreSQL, and for SQLite in memory."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def _where(database_url: str) -> str:
    """The database as an operator can find it: an SQLite file's absolute path, else the URL
    without its password."""
    from sqlalchemy.engine import make_url

    if make_url(database_url).get_backend_name() != "sqlite":
        return _redact(database_url)
    file = _sqlite_file(database_url)
    return "SQLite in memory" if file is None else os.path.abspath(file)


def _users_create(args: argparse.Namespace) -> None:
    from modelgates.server.services import users

    settings = _settings(args)
    _require_database(settings)  # before asking for a password it would not use
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the passwords differ")
    user = _with_store(
        settings, lambda store: users.create_user(store, args.email, password, _now())
    )
    print(f"Created user {user.email}")


def _keys_create(args: argparse.Namespace) -> None:
    from modelgates.models.keys import CreateKeyRequest
    from modelgates.server.services import keys

    request = _from_flags(
        CreateKeyRequest,
        {
            "name": ("--name", args.name),
            "limit": ("--limit", args.limit),
            "limit_reset": ("--reset", args.reset),
            "expires_at": ("--expires", args.expires),
        },
    )

    async def create(store: Store) -> tuple[keys.IssuedKey, str]:
        issued = await keys.create_key_for_user(
            store, email=args.user, request=request, now=_now(), is_management=args.management
        )
        return issued, _named(*await keys.owner_of(store, issued.row.hash))

    issued, key = _with_store(_settings(args), create)
    print(issued.key)
    print(f"(shown once: {key}; its hash is {issued.row.hash})", file=sys.stderr)


def _keys_list(args: argparse.Namespace) -> None:
    from modelgates.server.services import keys, money

    rows = _with_store(_settings(args), lambda store: keys.list_keys(store, args.user))
    now = _now()
    print(f"{'HASH':64}  {'STATUS':8}  {'LIMIT':>12}  {'CREATED':20}  NAME")
    for row in rows:
        status = "live" if row.is_live(now) else ("revoked" if row.revoked_at else "inactive")
        limit = "-" if row.limit_micros is None else f"{money.to_usd(row.limit_micros):.6g}"
        created = row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{row.hash}  {status:8}  {limit:>12}  {created:20}  {row.label}")


def _keys_revoke(args: argparse.Namespace) -> None:
    from modelgates.server.services import keys

    async def revoke(store: Store) -> tuple[bool, str]:
        revoked = await keys.revoke_by_hash(store, args.hash, _now())
        return revoked, _named(*await keys.owner_of(store, args.hash))

    revoked, key = _with_store(_settings(args), revoke)
    print(f"Revoked {key}" if revoked else f"Already revoked: {key}")


def _keys_toggle(args: argparse.Namespace) -> None:
    from modelgates.server.services import keys

    async def toggle(store: Store) -> str:
        await keys.set_disabled(store, args.hash, args.disabled)
        return _named(*await keys.owner_of(store, args.hash))

    key = _with_store(_settings(args), toggle)
    print(f"{'Disabled' if args.disabled else 'Enabled'} {key}")


def _named(row: KeyRow, email: str) -> str:
    return f"key {row.label!r} of {email}"


def _service_tokens_create(args: argparse.Namespace) -> None:
    from modelgates.server.services import usage

    token = _with_store(
        _settings(args), lambda store: usage.create_service_token(store, args.name, _now())
    )
    print(token)
    print("(shown once: give it to the gateway that charges keys)", file=sys.stderr)


def _audit_tail(args: argparse.Namespace) -> None:
    """Events as JSON lines, oldest first; with --follow, polls for new ones until Ctrl+C."""
    import json

    from modelgates.server.services import audit

    async def print_events(store: Store) -> None:
        last = 0
        while True:
            for row in await audit.tail(store, args.n if last == 0 else 1000, last):
                print(json.dumps(audit.as_json(row)), flush=True)
                last = row.id
            if not args.follow:
                return
            await asyncio.sleep(1)

    try:
        _with_store(_settings(args), print_events)
    except KeyboardInterrupt:
        pass


def _login(args: argparse.Namespace) -> None:
    """The SDK's ``login()``; the key is printed once, or saved in a file only the user reads."""
    import socket

    from modelgates.errors import LoginCancelledError, ModelGatesError
    from modelgates.models.base import MAX_KEY_LABEL_LENGTH
    from modelgates.signin import login

    limit = _money("--limit", args.limit)
    label = args.label or f"modelgates CLI on {socket.gethostname()}"[:MAX_KEY_LABEL_LENGTH]
    if args.save is not None:
        _check_save_path(args.save, replace=args.force)  # before anyone approves anything
    try:
        result = login(
            server_url=args.server,
            app_title="modelgates CLI",
            limit=limit,
            key_label=label,
            timeout=args.timeout,
            headless=args.no_browser,
        )
    except (ModelGatesError, LoginCancelledError) as error:
        raise CommandError(str(error)) from None
    if args.save is None:
        print(result.key, flush=True)
        print(f"(shown once; signed in as {result.user_id})", file=sys.stderr)
        return
    try:
        _save_secret(args.save, result.key, replace=args.force)
    except OSError as error:
        # The key is shown nowhere else: rather than lose it, take it back.
        _revoke_quietly(args.server, result.key)
        raise CommandError(
            f"cannot write {args.save}: {error.strerror or error}; the key was revoked"
        ) from None
    print(f"Signed in as {result.user_id}; the key is in {args.save}", file=sys.stderr)


def _check_save_path(path: str, *, replace: bool) -> None:
    """Refuse, in one line, a path ``_save_secret`` would refuse: found out only after the user
    approved, the key would have to be revoked."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CommandError(f"{path} is a directory; give a file name to save the key in")
    if os.path.lexists(path) and not replace:
        raise CommandError(f"{path} exists; use --force to replace it")
    if not os.path.isdir(directory):
        what = "is not a directory" if os.path.lexists(directory) else "does not exist"
        raise CommandError(f"cannot save the key in {path}: {directory} {what}")
    # Write to make the file (or --force's temporary), search to reach it.
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CommandError(f"cannot save the key in {path}: {directory} is not writable by you")


def _save_secret(path: str, secret: str, *, replace: bool) -> None:
    """``secret`` in a file that only its owner can read (0600), created anew: never through a
    symlink, never into a file someone else made first."""
    data = f"{secret}\n".encode()
    if not replace:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, data)
        finally:
            os.close(fd)
        return
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".modelgates-key-")  # 0600, O_EXCL
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)  # replaces a symlink itself, never its target
    except BaseException:
        os.unlink(temporary)
        raise


def _revoke_quietly(server: str | None, key: str) -> None:
    from modelgates.errors import ModelGatesError
    from modelgates.sdk import ModelGates

    try:
        with ModelGates(api_key=key, server_url=server) as mg:
            mg.api_keys.revoke_current_key()
    except ModelGatesError:
        print(
            "modelgates: could not revoke the unsaved key; revoke it at /account", file=sys.stderr
        )


def _whoami(args: argparse.Namespace) -> None:
    from modelgates.errors import ModelGatesError
    from modelgates.sdk import ModelGates

    if args.key_file is not None:
        try:
            with open(args.key_file, encoding="utf-8") as file:
                key = file.readline().strip()
        except OSError as error:
            raise CommandError(f"cannot read {args.key_file}: {error.strerror or error}") from None
    else:
        key = os.environ.get("MODELGATES_API_KEY", "").strip()
    if not key:
        raise CommandError("no key: give --key-file PATH, or set MODELGATES_API_KEY")
    try:
        with ModelGates(api_key=key, server_url=args.server) as mg:
            record = mg.api_keys.get_current_key().data
    except ModelGatesError as error:
        raise CommandError(str(error)) from None
    for name, value in record.model_dump(mode="json").items():
        print(f"{name:18} {'-' if value is None else value}")


def _migrate(settings: Settings) -> None:
    """Apply the migrations (one process at a time, however many start), or fail in one line."""
    from sqlalchemy.exc import OperationalError

    from modelgates.server.store.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except OperationalError as error:
        raise CommandError(
            f"cannot migrate {_redact(settings.database_url)}: {_reason(error)}"
        ) from None


def _db_upgrade(args: argparse.Namespace) -> None:
    settings = _settings(args)
    _migrate(settings)
    print(f"database at the newest revision: {_where(settings.database_url)}")


if __name__ == "__main__":
    sys.exit(main())
