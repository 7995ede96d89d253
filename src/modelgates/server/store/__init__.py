"""Tables, queries and migrations: the only part of ModelGates that speaks SQL.

``engine`` makes engines; ``store`` runs transactions (:meth:`Store.run`); ``transaction`` is what
a transaction's work is given, with ``queries/`` by what they store; ``rows`` are what comes back.
"""

from modelgates.server.store.errors import DuplicateError, StoreUnavailable
from modelgates.server.store.queries.keys import KeyChanges
from modelgates.server.store.rows import (
    AppRow,
    AuditRow,
    ChargeRow,
    CodeRow,
    DailyChargeRow,
    GenerationRow,
    IdempotencyRow,
    KeyRow,
    ServiceTokenRow,
    UserRow,
)
from modelgates.server.store.store import Store
from modelgates.server.store.transaction import Transaction

__all__ = [
    "AppRow",
    "AuditRow",
    "ChargeRow",
    "CodeRow",
    "DailyChargeRow",
    "DuplicateError",
    "GenerationRow",
    "IdempotencyRow",
    "KeyChanges",
    "KeyRow",
    "ServiceTokenRow",
    "Store",
    "StoreUnavailable",
    "Transaction",
    "UserRow",
]
