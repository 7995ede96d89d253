"""ModelGates: user-controlled, credit-limited API keys through OAuth PKCE.

``import modelgates`` imports nothing but this file; each public name is imported from its module
on first use, and HTTP clients are made on the first request.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str
    from modelgates.core import ModelGatesCore
    from modelgates.errors import (
        APIError,
        BadRequestResponseError,
        ConflictResponseError,
        ForbiddenResponseError,
        InternalServerResponseError,
        LoginCancelledError,
        LoginDeniedError,
        LoginError,
        LoginStateMismatchError,
        LoginTimeoutError,
        ModelGatesDefaultError,
        ModelGatesError,
        NotFoundResponseError,
        PaymentRequiredResponseError,
        RequestValidationError,
        ResponseValidationError,
        TooManyRequestsResponseError,
        UnauthorizedResponseError,
    )
    from modelgates.errors import ConnectionError as ConnectionError
    from modelgates.errors import TimeoutError as TimeoutError
    from modelgates.result import Err, Ok, Result
    from modelgates.retries import BackoffStrategy, RetryConfig
    from modelgates.sdk import (
        ApiKeys,
        Chat,
        CodeChallenge,
        Generations,
        ModelGates,
        Models,
        OAuth,
        Usage,
    )
    from modelgates.signin import LoginResult, login, login_async
    from modelgates.streams import AsyncStream, Stream

_ERRORS = (
    "APIError",
    "BadRequestResponseError",
    "ConflictResponseError",
    "ConnectionError",
    "ForbiddenResponseError",
    "InternalServerResponseError",
    "LoginCancelledError",
    "LoginDeniedError",
    "LoginError",
    "LoginStateMismatchError",
    "LoginTimeoutError",
    "ModelGatesDefaultError",
    "ModelGatesError",
    "NotFoundResponseError",
    "PaymentRequiredResponseError",
    "RequestValidationError",
    "ResponseValidationError",
    "TimeoutError",
    "TooManyRequestsResponseError",
    "UnauthorizedResponseError",
)
_LAZY: dict[str, str] = {
    "ModelGates": "modelgates.sdk",
    "OAuth": "modelgates.sdk",
    "ApiKeys": "modelgates.sdk",
    "Usage": "modelgates.sdk",
    "Chat": "modelgates.sdk",
    "Models": "modelgates.sdk",
    "Generations": "modelgates.sdk",
    "Stream": "modelgates.streams",
    "AsyncStream": "modelgates.streams",
    "CodeChallenge": "modelgates.sdk",
    "ModelGatesCore": "modelgates.core",
    "Result": "modelgates.result",
    "Ok": "modelgates.result",
    "Err": "modelgates.result",
    "RetryConfig": "modelgates.retries",
    "BackoffStrategy": "modelgates.retries",
    "login": "modelgates.signin",
    "login_async": "modelgates.signin",
    "LoginResult": "modelgates.signin",
    **dict.fromkeys(_ERRORS, "modelgates.errors"),
}

# ConnectionError and TimeoutError stay out of __all__ so that a star import cannot shadow the
# builtins of the same name; they are still `modelgates.ConnectionError` and so on.
__all__ = [
    "APIError",
    "ApiKeys",
    "AsyncStream",
    "BackoffStrategy",
    "BadRequestResponseError",
    "Chat",
    "CodeChallenge",
    "ConflictResponseError",
    "Err",
    "ForbiddenResponseError",
    "Generations",
    "InternalServerResponseError",
    "LoginCancelledError",
    "LoginDeniedError",
    "LoginError",
    "LoginResult",
    "LoginStateMismatchError",
    "LoginTimeoutError",
    "ModelGates",
    "ModelGatesCore",
    "ModelGatesDefaultError",
    "ModelGatesError",
    "Models",
    "NotFoundResponseError",
    "OAuth",
    "Ok",
    "PaymentRequiredResponseError",
    "RequestValidationError",
    "ResponseValidationError",
    "Result",
    "RetryConfig",
    "Stream",
    "TooManyRequestsResponseError",
    "UnauthorizedResponseError",
    "Usage",
    "__version__",
    "login",
    "login_async",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    else:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'modelgates' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def _version() -> str:
    # The installed distribution's version: pyproject.toml is the one place it is written.
    # Read on first use, since importing importlib.metadata costs more than this package.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("modelgates")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})
