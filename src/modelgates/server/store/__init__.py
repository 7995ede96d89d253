"""Tables, queries and migrations: the only part of ModelGates that speaks SQL."""

from modelgates.server.store.database import Store, Transaction
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

__all__ = [
    "AppRow",
    "AuditRow",
    "ChargeRow",
    "CodeRow",
    "IdempotencyRow",
    "KeyRow",
    "ServiceTokenRow",
    "Store",
    "Transaction",
    "UserRow",
]
