"""The transaction a unit of work is given (:meth:`.Store.run`): its connection, and the queries
grouped by what they store, each reached by name: ``tx.keys.by_hash(h)``."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from modelgates.server.store.queries.apps import Apps
from modelgates.server.store.queries.audit import Audit
from modelgates.server.store.queries.codes import Codes
from modelgates.server.store.queries.generations import Generations
from modelgates.server.store.queries.idempotency import Idempotency
from modelgates.server.store.queries.keys import Keys
from modelgates.server.store.queries.service_tokens import ServiceTokens
from modelgates.server.store.queries.sessions import Sessions
from modelgates.server.store.queries.usage import Usage
from modelgates.server.store.queries.users import Users
from modelgates.server.store.tables import metadata


class Transaction:
    """The queries, run inside one transaction (made for each one: a few small objects)."""

    __slots__ = (
        "apps",
        "audit",
        "codes",
        "connection",
        "generations",
        "idempotency",
        "keys",
        "service_tokens",
        "sessions",
        "usage",
        "users",
    )

    def __init__(self, connection: Connection) -> None:
        #: The transaction's connection, for the statements that are not queries of the store's
        #: (migration checks, tests).
        self.connection = connection
        self.users = Users(connection)
        self.apps = Apps(connection)
        self.keys = Keys(connection)
        self.codes = Codes(connection)
        self.sessions = Sessions(connection)
        self.usage = Usage(connection)
        self.service_tokens = ServiceTokens(connection)
        self.idempotency = Idempotency(connection)
        self.audit = Audit(connection)
        self.generations = Generations(connection)

    def count(self, table_name: str) -> int:
        """Rows in a table (for the CLI's status and for tests that check nothing was written)."""
        table = metadata.tables[table_name]
        return int(self.connection.execute(select(func.count()).select_from(table)).scalar_one())
