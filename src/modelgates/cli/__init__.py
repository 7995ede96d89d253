"""``modelgates``: serve, administer users and keys, migrate the database; sign in from a
terminal (``login``, ``whoami``: the SDK alone).

Here are the arguments; the commands are in ``client`` (the SDK's: ``login``, ``whoami``),
``admin`` (``users``, ``keys``, ``apps``, ``service-tokens``, ``audit``, ``db``), ``gateway``
(``models``), ``serve`` and ``docs`` (``docs mcp``). A command's module is imported when it
runs, so ``modelgates --help`` and the SDK's commands work without the [server] extra.
Configuration comes from flags, then ``MODELGATES_*`` environment variables (see Settings).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import get_args

from modelgates.cli.common import CommandError, usd
from modelgates.models.base import UsageLimitType

#: The [server] extra's packages (pyproject.toml) as Python imports them. Only one of these not
#: found means "install the extra"; any other ImportError is a bug, shown with its traceback.
SERVER_PACKAGES = frozenset(
    {
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "psycopg",
        "alembic",
        "argon2",
        "cryptography",
        "jinja2",
        "limits",
        "redis",
        "prometheus_client",
        "markdown_it",
        "mcp",
    }
)


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
    except ModuleNotFoundError as error:
        if error.name not in SERVER_PACKAGES:
            raise  # not the extra missing: a bug, to be seen whole
        print(
            f"modelgates: {error.name} is missing; "
            "install the server with: pip install 'modelgates[server]'",
            file=sys.stderr,
        )
        return 1
    return 0


def _command(module: str, function: str) -> Callable[[argparse.Namespace], None]:
    """``function`` of ``modelgates.cli.<module>``, imported only when the command runs."""

    def run(args: argparse.Namespace) -> None:
        getattr(importlib.import_module(f"modelgates.cli.{module}"), function)(args)

    return run


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
    providers_help = (
        "the providers file (TOML: which OpenAI-compatible APIs serve which models, at what "
        "price; default: $MODELGATES_PROVIDERS_FILE)"
    )
    serve.add_argument("--providers", metavar="FILE", help=providers_help)
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        help="do not apply migrations at start (run `modelgates db upgrade` yourself)",
    )
    serve.set_defaults(run=_command("serve", "serve"))

    users = commands.add_parser("users", help="administer users").add_subparsers(title="commands")
    create_user = users.add_parser("create", parents=[database], help="add a user")
    create_user.add_argument("email")
    create_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create_user.set_defaults(run=_command("admin", "users_create"))

    keys = commands.add_parser("keys", help="administer API keys").add_subparsers(title="commands")
    create_key = keys.add_parser("create", parents=[database], help="print a new key, once")
    create_key.add_argument("--user", required=True, metavar="EMAIL")
    create_key.add_argument("--name", required=True)
    create_key.add_argument(
        "--management", action="store_true", help="a management key (it can manage other keys)"
    )
    create_key.add_argument("--limit", type=usd, metavar="USD", help="credit limit in USD")
    create_key.add_argument(
        "--reset", choices=get_args(UsageLimitType), help="the limit resets on this interval"
    )
    create_key.add_argument("--expires", metavar="WHEN", help="expiry, e.g. 2030-01-01T00:00:00Z")
    create_key.set_defaults(run=_command("admin", "keys_create"))
    list_keys = keys.add_parser("list", parents=[database], help="list a user's keys")
    list_keys.add_argument("--user", required=True, metavar="EMAIL")
    list_keys.set_defaults(run=_command("admin", "keys_list"))
    revoke_key = keys.add_parser("revoke", parents=[database], help="revoke a key by its hash")
    revoke_key.add_argument("hash")
    revoke_key.set_defaults(run=_command("admin", "keys_revoke"))
    for verb, disabled in (("disable", True), ("enable", False)):
        toggle = keys.add_parser(verb, parents=[database], help=f"{verb} a key by its hash")
        toggle.add_argument("hash")
        toggle.set_defaults(run=_command("admin", "keys_toggle"), disabled=disabled)

    apps = commands.add_parser(
        "apps", help="the apps that hold keys, and the names every user sees"
    ).add_subparsers(title="commands")
    title_app = apps.add_parser(
        "title", parents=[database], help="name an app for every user (shown as the operator's)"
    )
    title_app.add_argument(
        "origin", metavar="ORIGIN", help="the app's origin, e.g. https://app.example"
    )
    named = title_app.add_mutually_exclusive_group(required=True)
    named.add_argument("name", metavar="NAME", nargs="?")
    named.add_argument("--clear", action="store_true", help="remove the operator's name")
    title_app.set_defaults(run=_command("admin", "apps_title"))
    list_apps = apps.add_parser("list", parents=[database], help="list the apps")
    list_apps.set_defaults(run=_command("admin", "apps_list"))

    tokens = commands.add_parser(
        "service-tokens", help="credentials for a model gateway to charge keys"
    ).add_subparsers(title="commands")
    create_token = tokens.add_parser("create", parents=[database], help="print a new token, once")
    create_token.add_argument("--name", required=True)
    create_token.set_defaults(run=_command("admin", "service_tokens_create"))

    audit = commands.add_parser("audit", help="the audit trail").add_subparsers(title="commands")
    tail = audit.add_parser("tail", parents=[database], help="print recent security events")
    tail.add_argument("-n", type=int, default=20, metavar="N", help="how many (default 20)")
    tail.add_argument("--follow", action="store_true", help="keep printing new events")
    tail.set_defaults(run=_command("admin", "audit_tail"))

    models = commands.add_parser("models", help="the models the gateway serves").add_subparsers(
        title="commands"
    )
    list_models = models.add_parser(
        "list", help="what the providers file serves, with prices (as serve would read it)"
    )
    list_models.add_argument("--providers", metavar="FILE", help=providers_help)
    list_models.set_defaults(run=_command("gateway", "models_list"))

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
    sign_in.add_argument("--limit", type=usd, metavar="USD", help="credit limit to ask for")
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
    sign_in.set_defaults(run=_command("client", "login"))
    whoami = commands.add_parser("whoami", parents=[client], help="show a key's own record")
    whoami.add_argument(
        "--key-file", metavar="PATH", help="read the key here (default: $MODELGATES_API_KEY)"
    )
    whoami.set_defaults(run=_command("client", "whoami"))

    db = commands.add_parser("db", help="the database").add_subparsers(title="commands")
    upgrade = db.add_parser("upgrade", parents=[database], help="apply migrations (Alembic)")
    upgrade.set_defaults(run=_command("admin", "db_upgrade"))
    docs = commands.add_parser("docs", help="the documentation").add_subparsers(title="commands")
    docs.add_parser(
        "mcp",
        help="serve the documentation as an MCP server on standard input and output, for AI "
        "clients (Claude Code, Cursor, ...) configured with a command",
    ).set_defaults(run=_command("docs", "mcp"))
    return parser
