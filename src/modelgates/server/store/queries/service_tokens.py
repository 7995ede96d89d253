"""Service tokens: the operator's credentials for metering, kept by their SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Connection

from modelgates.server.store.queries._common import columns, returned, to
from modelgates.server.store.rows import ServiceTokenRow
from modelgates.server.store.tables import service_tokens

_SERVICE_TOKEN = columns(service_tokens, ServiceTokenRow)
_INSERT = insert(service_tokens).returning(*_SERVICE_TOKEN)
_BY_HASH = select(*_SERVICE_TOKEN).where(service_tokens.c.token_hash == bindparam("token_hash"))


class ServiceTokens:
    __slots__ = ("_c",)

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def insert(self, *, token_hash: str, name: str, created_at: datetime) -> ServiceTokenRow:
        """Insert a new (unrevoked) token."""
        params = {
            "token_hash": token_hash,
            "name": name,
            "created_at": created_at,
            "revoked_at": None,
        }
        return returned(ServiceTokenRow, self._c.execute(_INSERT, params).first())

    def by_hash(self, token_hash: str) -> ServiceTokenRow | None:
        result = self._c.execute(_BY_HASH, {"token_hash": token_hash})
        return to(ServiceTokenRow, result.first())
