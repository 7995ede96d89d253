"""What the store raises, besides a bug's own exception."""

from __future__ import annotations


class DuplicateError(Exception):
    """An insert broke a unique constraint (an e-mail taken, a challenge already pending)."""


class StoreUnavailable(Exception):
    """The database cannot be used right now: answered 503, and worth retrying later.

    Raised by :meth:`.Store.run` in place of the driver's error, which is its ``__cause__``;
    :func:`.store.is_unavailable` says which driver errors those are. Its message is one line,
    the error's class and the driver's first line, fit for a log without a traceback.
    """
