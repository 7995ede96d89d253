"""Tables, queries and migrations: the only part of ModelGates that speaks SQL."""

from modelgates.server.store.database import Store, Transaction
from modelgates.server.store.rows import AppRow, CodeRow, KeyRow, UserRow

__all__ = ["AppRow", "CodeRow", "KeyRow", "Store", "Transaction", "UserRow"]
