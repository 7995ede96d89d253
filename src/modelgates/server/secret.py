"""The server's secret: from the settings, or a file created once beside the database."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from modelgates.server.settings import Settings, SettingsError


def server_secret(settings: Settings) -> bytes:
    """The secret as bytes; with no ``secret_key`` set, read ``secret_key_file``, creating it
    with a fresh random secret (readable by its owner only) if it does not exist."""
    if settings.secret_key:
        return settings.secret_key.encode("utf-8")
    path = Path(settings.secret_key_file)
    if not path.exists():
        _create(path, secrets.token_hex(32))
    value = path.read_text(encoding="ascii").strip()
    if len(value) < 32:
        raise SettingsError(f"{path} holds no usable secret (32+ characters)")
    return value.encode("ascii")


def _create(path: Path, value: str) -> None:
    # Written whole to a private temporary file, then linked into place: of several processes
    # starting at once, exactly one link succeeds and nobody ever reads a half-written file.
    fd, temporary = tempfile.mkstemp(dir=path.parent or ".", prefix=".secret-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(value + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
