"""One Settings object, from command-line flags first, then ``MODELGATES_*`` variables.

No other server module reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///modelgates.db"
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")


class SettingsError(ValueError):
    """A setting that cannot work; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    #: How long an authorization code (and the exactly-once retry of its exchange) lives.
    code_ttl_seconds: int = 600
    #: Request bodies larger than this are refused with 413 before they are parsed.
    max_body_bytes: int = 64 * 1024
    #: Connections each server process keeps to PostgreSQL (ignored on SQLite).
    db_pool_size: int = 10
    #: ``redis://host:port/db`` to share rate limits between processes; empty keeps them in memory.
    redis_url: str = ""
    #: Whether the sign-in page offers sign-up to anyone who reaches it.
    allow_signup: bool = False

    def __post_init__(self) -> None:
        scheme = self.database_url.split(":", 1)[0].split("+", 1)[0]
        if scheme not in _DATABASE_SCHEMES:
            raise SettingsError(
                f"unsupported database {scheme!r}: use sqlite:///path/to/file.db "
                "or postgresql://user@host:port/dbname"
            )
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is out of range")
        if self.code_ttl_seconds <= 0 or self.max_body_bytes <= 0 or self.db_pool_size <= 0:
            raise SettingsError("code_ttl_seconds, max_body_bytes and db_pool_size must be > 0")

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from ``overrides`` (flags; ``None`` is ignored), else the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(f"MODELGATES_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(field.name, field.type, raw)
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls(**values)


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _parse(name: str, type_name: object, raw: str) -> object:
    if type_name == "int":
        if not raw.isdigit():
            raise SettingsError(f"MODELGATES_{name.upper()} must be a whole number")
        return int(raw)
    if type_name == "bool":
        if raw.lower() not in _TRUE | _FALSE:
            raise SettingsError(f"MODELGATES_{name.upper()} must be true or false")
        return raw.lower() in _TRUE
    return raw
