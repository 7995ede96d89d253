"""``Result``: what the standalone functions in ``modelgates.funcs`` return instead of raising.

A ``Result[T]`` is an ``Ok[T]`` (``ok`` is ``True``, ``value`` holds the answer) or an ``Err``
(``ok`` is ``False``, ``error`` holds the error the class methods would have raised). ``ok`` is
a literal, so a type checker narrows on it::

    res = api_keys_get_current_key(core)
    if res.ok:
        print(res.value.data.label)  # res is Ok[KeyRecordResponse] here
    else:
        print(res.error)  # and Err here
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, NoReturn, TypeAlias, TypeVar

from modelgates.errors import ModelGatesError

__all__ = ["Err", "Ok", "Result"]

T = TypeVar("T")


@dataclass(frozen=True)
class Ok(Generic[T]):
    """A success: ``value`` is the answer."""

    value: T
    ok: Literal[True] = True
    error: None = None

    def unwrap(self) -> T:
        """The value."""
        return self.value


@dataclass(frozen=True)
class Err:
    """A failure: ``error`` is what the class methods would have raised."""

    error: ModelGatesError
    ok: Literal[False] = False
    value: None = None

    def unwrap(self) -> NoReturn:
        """Raise the error."""
        raise self.error


Result: TypeAlias = Ok[T] | Err
