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
    #: Connections each server process (each worker) keeps to PostgreSQL (ignored on SQLite).
    db_pool_size: int = 10
    #: Extra connections a process may open beyond the pool under load (closed when returned).
    db_max_overflow: int = 10
    #: How long a request waits for a free connection before it gets 503.
    db_pool_timeout_seconds: int = 10
    #: How long opening a connection to PostgreSQL may take before the request gets 503.
    db_connect_timeout_seconds: int = 5
    #: Worker processes ``serve`` runs on one port.
    workers: int = 1
    #: Whether ``serve`` applies migrations before it listens (one process at a time).
    migrate_on_start: bool = True
    #: The load balancers whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` ``serve`` believes:
    #: addresses or networks, comma-separated (``*``: any). Empty: none; the peer is the client.
    forwarded_allow_ips: str = ""
    #: ``redis://host:port/db`` to share rate limits between processes; empty keeps them in memory.
    redis_url: str = ""
    #: Whether the sign-in page offers sign-up to anyone who reaches it.
    allow_signup: bool = False
    #: Whether ``http`` callbacks may name private-network addresses (RFC 1918, RFC 4193,
    #: link-local), for web UIs on a home or office network; the code then crosses that network
    #: unencrypted.
    allow_private_http_callbacks: bool = False
    #: The server's own secret, which encrypts what it keeps without needing to read it back in
    #: the clear (stored idempotent answers). Every replica needs the same one. Empty: read it
    #: from ``secret_key_file``, creating that file (mode 0600) on first start.
    secret_key: str = ""
    secret_key_file: str = "modelgates.secret"  # noqa: S105 - a file name
    #: Rate limits as "N/period" (e.g. "120/minute"), or "off": exchanges per client address;
    #: codes created, keys created (through the API and the account page) and apps first named
    #: (a new origin in a code's request), each per user, however many keys the user holds.
    rate_limit_exchange: str = "120/minute"
    rate_limit_create_code: str = "60/minute"
    #: The operator's providers file (TOML, docs/gateway.md); empty: the gateway serves no models.
    providers_file: str = ""
    #: Chat completion bodies (prompts) may be larger than other bodies, up to this.
    max_chat_body_bytes: int = 4 * 1024 * 1024
    rate_limit_create_key: str = "30/hour"
    rate_limit_create_app: str = "20/hour"
    #: A bearer token that unlocks ``GET /metrics`` (Prometheus); empty: metrics are off.
    metrics_token: str = ""

    def __post_init__(self) -> None:
        scheme = self.database_url.split(":", 1)[0].split("+", 1)[0]
        if scheme not in _DATABASE_SCHEMES:
            raise SettingsError(
                f"unsupported database {scheme!r}: use sqlite:///path/to/file.db "
                "or postgresql://user@host:port/dbname"
            )
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is out of range")
        if (
            min(
                self.code_ttl_seconds,
                self.max_body_bytes,
                self.max_chat_body_bytes,
                self.db_pool_size,
            )
            <= 0
        ):
            raise SettingsError(
                "code_ttl_seconds, max_body_bytes, max_chat_body_bytes and db_pool_size must be > 0"
            )
        if self.db_pool_timeout_seconds <= 0 or self.db_connect_timeout_seconds <= 0:
            raise SettingsError(
                "db_pool_timeout_seconds and db_connect_timeout_seconds must be > 0"
            )
        if self.db_max_overflow < 0:
            raise SettingsError("db_max_overflow must be >= 0")
        if self.workers < 1:
            raise SettingsError("workers must be at least 1")
        for field in dataclasses.fields(self):
            name = field.name
            if name.startswith("rate_limit_") and not is_rate_rule(getattr(self, name)):
                raise SettingsError(f"{name} must be like '120/minute' or 'off'")
        if self.secret_key and len(self.secret_key) < 32:
            raise SettingsError("secret_key must be at least 32 characters")

    def to_environ(self) -> dict[str, str]:
        """These settings as the ``MODELGATES_*`` variables :meth:`load` reads back: how
        ``serve --workers N`` hands them to its worker processes."""
        environ = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            environ[f"MODELGATES_{field.name.upper()}"] = text
        return environ

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


def provider_key(variable: str) -> str | None:
    """A provider's API key, from the environment variable the providers file names: the one
    setting read by a name the operator chose, and never kept in :class:`Settings`."""
    return os.environ.get(variable)


def is_rate_rule(rule: str) -> bool:
    if rule == "off":
        return True
    from limits import parse

    try:
        parse(rule)
    except ValueError:
        return False
    return True
