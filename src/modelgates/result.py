"""``Result``: what the standalone functions in ``modelgates.funcs`` return instead of raising."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from modelgates.errors import ModelGatesError

__all__ = ["Result"]

T = TypeVar("T")


@dataclass(frozen=True)
class Result(Generic[T]):
    """Either a value (``ok`` is true) or the error the class methods would have raised.

    Check ``ok`` and read ``value`` or ``error``; or call ``unwrap()``, which returns the value or
    raises the error, as ``ModelGates`` does.
    """

    value: T | None = None
    error: ModelGatesError | None = None

    def __post_init__(self) -> None:
        if self.value is not None and self.error is not None:
            raise ValueError("a Result holds a value or an error, not both")

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> T:
        """The value, or raise the error."""
        if self.error is not None:
            raise self.error
        return cast(T, self.value)
