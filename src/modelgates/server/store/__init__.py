"""Tables, queries and migrations: the only part of ModelGates that speaks SQL."""

from modelgates.server.store.database import Transaction
from modelgates.server.store.errors import DuplicateError, StoreUnavailable
from modelgates.server.store.rows import (
    AppRow,
    AuditRow,
    ChargeRow,
    CodeRow,
    IdempotencyRow,
    KeyRow,
    ServiceTokenRow,
    UserRow,
)
from modelgates.server.store.store import Store

__all__ = [
    "AppRow",
    "AuditRow",
    "ChargeRow",
    "CodeRow",
    "DuplicateError",
    "IdempotencyRow",
    "KeyRow",
    "ServiceTokenRow",
    "Store",
    "StoreUnavailable",
    "Transaction",
    "UserRow",
]
