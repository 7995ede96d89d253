"""The SDK's commands: ``login`` (a key for this terminal, approved in a browser) and ``whoami``.

The SDK alone: nothing here imports the server.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile

from modelgates import signin
from modelgates.cli.common import CommandError, money
from modelgates.errors import LoginCancelledError, ModelGatesError
from modelgates.models.base import MAX_KEY_LABEL_LENGTH
from modelgates.sdk import ModelGates


def login(args: argparse.Namespace) -> None:
    """The SDK's ``login()``; the key is printed once, or saved in a file only the user reads."""
    limit = money("--limit", args.limit)
    label = args.label or f"modelgates CLI on {socket.gethostname()}"[:MAX_KEY_LABEL_LENGTH]
    if args.save is not None:
        _check_save_path(args.save, replace=args.force)  # before anyone approves anything
    try:
        result = signin.login(
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
    try:
        with ModelGates(api_key=key, server_url=server) as mg:
            mg.api_keys.revoke_current_key()
    except ModelGatesError:
        print(
            "modelgates: could not revoke the unsaved key; revoke it at /account", file=sys.stderr
        )


def whoami(args: argparse.Namespace) -> None:
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
