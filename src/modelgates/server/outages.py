"""Which failures mean "a dependency cannot be used right now" (answered 503, retry later)
rather than "something is wrong here" (answered 500, look at the log).

Unavailable: whatever psycopg reports as OperationalError (PostgreSQL down, restarting,
refusing or dropping connections, out of connections, a lock or statement timeout, a
serialization failure or deadlock, which a retry resolves, and a refused login, after which
nothing can be served either); a connection found dead; no pooled connection free in time;
SQLite busy or locked past its busy timeout; Redis not answering. Not unavailable: SQLite's
other OperationalErrors (a missing table, a syntax error), which are bugs or a broken database
and must not be retried into forever.
"""

from __future__ import annotations

import sqlite3

import redis.exceptions
import sqlalchemy.exc

#: The exception classes among which :func:`is_unavailable` decides.
CANDIDATES: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)

_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6  # sqlite3's own constants need Python 3.11


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means a dependency is unavailable for now."""
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error.orig, sqlite3.Error):
            code = getattr(error.orig, "sqlite_errorcode", None)
            if code is not None:
                return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
            return "locked" in str(error.orig)
    return isinstance(error, CANDIDATES)
