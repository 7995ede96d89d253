"""Server administration: ``users``, ``keys``, ``apps``, ``service-tokens``, ``audit`` and
``db``, straight on the database (no server needs to run). Needs the [server] extra.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import datetime, timezone

from modelgates.cli.common import CommandError, from_flags
from modelgates.cli.database import location, migrate, require_database, settings_of, with_store
from modelgates.models.keys import CreateKeyRequest
from modelgates.server.services import apps, audit, keys, money, usage, users
from modelgates.server.store import KeyRow, Store


def _now() -> datetime:
    return datetime.now(timezone.utc)


def users_create(args: argparse.Namespace) -> None:
    settings = settings_of(args)
    require_database(settings)  # before asking for a password it would not use
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the passwords differ")
    user = with_store(
        settings, lambda store: users.create_user(store, args.email, password, _now())
    )
    print(f"Created user {user.email}")


def keys_create(args: argparse.Namespace) -> None:
    request = from_flags(
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

    issued, key = with_store(settings_of(args), create)
    print(issued.key)
    print(f"(shown once: {key}; its hash is {issued.row.hash})", file=sys.stderr)


def keys_list(args: argparse.Namespace) -> None:
    rows = with_store(settings_of(args), lambda store: keys.list_keys(store, args.user))
    now = _now()
    print(f"{'HASH':64}  {'STATUS':8}  {'LIMIT':>12}  {'CREATED':20}  NAME")
    for row in rows:
        status = "live" if row.is_live(now) else ("revoked" if row.revoked_at else "inactive")
        limit = "-" if row.limit_micros is None else f"{money.to_usd(row.limit_micros):.6g}"
        created = row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{row.hash}  {status:8}  {limit:>12}  {created:20}  {row.label}")


def keys_revoke(args: argparse.Namespace) -> None:
    async def revoke(store: Store) -> tuple[bool, str]:
        revoked = await keys.revoke_by_hash(store, args.hash, _now())
        return revoked, _named(*await keys.owner_of(store, args.hash))

    revoked, key = with_store(settings_of(args), revoke)
    print(f"Revoked {key}" if revoked else f"Already revoked: {key}")


def keys_toggle(args: argparse.Namespace) -> None:
    async def toggle(store: Store) -> str:
        await keys.set_disabled(store, args.hash, args.disabled)
        return _named(*await keys.owner_of(store, args.hash))

    key = with_store(settings_of(args), toggle)
    print(f"{'Disabled' if args.disabled else 'Enabled'} {key}")


def _named(row: KeyRow, email: str) -> str:
    return f"key {row.label!r} of {email}"


def apps_title(args: argparse.Namespace) -> None:
    title = None if args.clear else args.name
    row = with_store(
        settings_of(args), lambda store: apps.name_app(store, args.origin, title, _now())
    )
    if row.operator_title is None:
        print(f"{row.origin} is no longer named by the operator")
    else:
        print(f"{row.origin} is now {row.operator_title!r} for every user")


def apps_list(args: argparse.Namespace) -> None:
    """Every app; NAME is the operator's ("-": none; each user sees its host or their own)."""
    rows = with_store(settings_of(args), apps.list_apps)
    print(f"{'ID':>6}  {'CREATED':20}  {'ORIGIN':40}  NAME")
    for row in rows:
        created = row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{row.id:>6}  {created:20}  {row.origin:40}  {row.operator_title or '-'}")


def service_tokens_create(args: argparse.Namespace) -> None:
    token = with_store(
        settings_of(args), lambda store: usage.create_service_token(store, args.name, _now())
    )
    print(token)
    print("(shown once: give it to the gateway that charges keys)", file=sys.stderr)


def audit_tail(args: argparse.Namespace) -> None:
    """Events as JSON lines, oldest first; with --follow, polls for new ones until Ctrl+C."""

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
        with_store(settings_of(args), print_events)
    except KeyboardInterrupt:
        pass


def db_upgrade(args: argparse.Namespace) -> None:
    settings = settings_of(args)
    migrate(settings)
    print(f"database at the newest revision: {location(settings.database_url)}")
