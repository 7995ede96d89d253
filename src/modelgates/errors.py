"""The exceptions the SDK raises, and the standalone functions return in ``Result.error``.

Our exception hierarchy:

* ModelGatesError
  + APIError - the server answered with an error status; the answer is kept.
    · BadRequestResponseError - 400
    · UnauthorizedResponseError - 401
    · ForbiddenResponseError - 403
    · ConflictResponseError - 409
    · InternalServerResponseError - 500
    · ModelGatesDefaultError - any other status, or an error body that is not the contract's JSON
      - PaymentRequiredResponseError - 402
      - NotFoundResponseError - 404
      - TooManyRequestsResponseError - 429
  + ResponseValidationError - a 2XX whose body does not match the operation's response model
  + RequestValidationError - the caller's input failed the wire model; nothing was sent
                             (also a ValueError)
  + ConnectionError - the network failed; no httpx exception ever escapes the SDK
    · TimeoutError
  + LoginError - ``modelgates.login()`` ended without a code to exchange
    · LoginDeniedError - the user pressed Deny
    · LoginTimeoutError - no answer from the browser within the timeout
    · LoginStateMismatchError - the callback answered a sign-in this call did not start
* LoginCancelledError - Ctrl+C during ``modelgates.login()``: a KeyboardInterrupt, so that no
                        ``except Exception:`` can swallow it

The 402, 404 and 429 classes are ``ModelGatesDefaultError`` subclasses: the contract promises a
``ModelGatesDefaultError`` for those statuses, and catching it still catches them. They are used,
like the other status classes, only when the body is the contract's error JSON.

``ConnectionError`` and ``TimeoutError`` deliberately share their names with the builtins they
resemble; refer to them as ``modelgates.errors.ConnectionError`` to avoid shadowing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

# Only for annotations: httpx, pydantic and the models are imported when an error is made from an
# answer, so that importing the SDK does not pay for them.
if TYPE_CHECKING:
    from decimal import Decimal

    import httpx
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails

    from modelgates.models import ErrorBody

__all__ = [
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
    "error_from_response",
]

# An HTML error page from a proxy can be long; the message keeps only its start.
_BODY_EXCERPT = 200


class ModelGatesError(Exception):
    """The root of everything the SDK raises."""


class APIError(ModelGatesError):
    """The server answered with an error status.

    ``data`` is the parsed ``{"error": {...}}`` body (``code``, ``message``, ``metadata``), or
    ``None`` when the body was not the contract's JSON; ``body`` is always the raw text.
    """

    status_code: int
    headers: httpx.Headers
    body: str
    data: ErrorBody | None
    message: str

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        headers: httpx.Headers,
        body: str,
        data: ErrorBody | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.headers = headers
        self.body = body
        self.data = data

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status_code})"


class BadRequestResponseError(APIError):
    """400: the server rejected the request body; ``data.metadata`` names the field."""


class UnauthorizedResponseError(APIError):
    """401: the API key is missing, unknown, revoked or expired."""


class ForbiddenResponseError(APIError):
    """403: the key may not do this, or the code cannot be spent (the server does not say why)."""


class ConflictResponseError(APIError):
    """409: an unspent code with the same challenge exists, or an Idempotency-Key was reused."""


class InternalServerResponseError(APIError):
    """500: the server failed."""


class ModelGatesDefaultError(APIError):
    """Any other error status, or an error answer whose body is not the contract's JSON."""


class PaymentRequiredResponseError(ModelGatesDefaultError):
    """402: the charge (or a chat completion's smallest answer) does not fit what the key's
    limit leaves; ``data.metadata`` says why and what is left."""

    @property
    def limit_remaining(self) -> Decimal | None:
        """USD the key's limit leaves in its current window, as the server said (``None`` if it
        did not say)."""
        from decimal import Decimal

        value = self._metadata("limit_remaining")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None
        try:
            return Decimal(str(value))
        except ArithmeticError:
            return None

    @property
    def reason(self) -> str | None:
        """``limit_exceeded``, or ``key_inactive`` (a metering charge to a disabled, revoked or
        expired key)."""
        value = self._metadata("reason")
        return value if isinstance(value, str) else None

    def _metadata(self, name: str) -> object:
        metadata = self.data.metadata if self.data is not None else None
        return metadata.get(name) if isinstance(metadata, dict) else None


class NotFoundResponseError(ModelGatesDefaultError):
    """404: no such key among the caller's (another user's key is not found either)."""


class TooManyRequestsResponseError(ModelGatesDefaultError):
    """429: too many requests; retried by default, honouring ``Retry-After``."""


class ResponseValidationError(ModelGatesError):
    """A 2XX answer whose body does not match the response model.

    The pydantic ``ValidationError`` is the ``__cause__``. ``body`` may hold a secret (an issued
    key), so neither ``str()`` nor ``repr()`` shows it.
    """

    def __init__(self, message: str, *, status_code: int, headers: httpx.Headers, body: str):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.headers = headers
        self.body = body


class RequestValidationError(ModelGatesError, ValueError):
    """The caller's input was rejected before anything was sent.

    ``errors()`` lists the problems in pydantic's shape (``type``, ``loc``, ``msg``), without the
    offending input values, which may be secrets such as a verifier.
    """

    def __init__(self, message: str, errors: Sequence[ErrorDetails] = ()) -> None:
        super().__init__(message)
        self.message = message
        self._errors = list(errors)

    @classmethod
    def from_pydantic(cls, error: ValidationError, what: str) -> RequestValidationError:
        details = error.errors(include_url=False, include_input=False)
        problems = "; ".join(
            f"{'.'.join(str(part) for part in detail['loc']) or '(body)'}: {detail['msg']}"
            for detail in details
        )
        return cls(f"invalid {what}: {problems}", details)

    @classmethod
    def single(cls, field: str, message: str) -> RequestValidationError:
        """A problem that pydantic did not report, such as two call forms mixed."""
        # Without "input", like the details from_pydantic keeps.
        detail = cast("ErrorDetails", {"type": "value_error", "loc": (field,), "msg": message})
        return cls(f"invalid {field}: {message}", [detail])

    def errors(self) -> list[ErrorDetails]:
        return list(self._errors)


class ConnectionError(ModelGatesError):
    """The request did not get an answer: refused, reset, unreachable, or a protocol error.

    The httpx exception is the ``__cause__``.
    """


class TimeoutError(ConnectionError):
    """Connecting, sending or reading took longer than the timeout."""


class LoginError(ModelGatesError):
    """``modelgates.login()`` ended without a code to exchange. The listener is closed."""


class LoginDeniedError(LoginError):
    """The user pressed Deny on the consent page (``error=access_denied``)."""


class LoginTimeoutError(LoginError):
    """The browser did not answer within ``login``'s ``timeout``."""


class LoginStateMismatchError(LoginError):
    """The callback's ``state`` was not this sign-in's: someone else's flow, or a forgery.
    Nothing was exchanged."""


class LoginCancelledError(KeyboardInterrupt):
    """Ctrl+C while signing in; the listener is closed. A ``KeyboardInterrupt`` and not a
    ``ModelGatesError``: code that handles Ctrl+C handles it, and an ``except Exception:``
    between the user and the program's top level cannot swallow it."""


_ERRORS_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestResponseError,
    401: UnauthorizedResponseError,
    402: PaymentRequiredResponseError,
    403: ForbiddenResponseError,
    404: NotFoundResponseError,
    409: ConflictResponseError,
    429: TooManyRequestsResponseError,
    500: InternalServerResponseError,
}


def error_from_response(status_code: int, headers: httpx.Headers, body: str) -> APIError:
    """The error for a non-2XX answer.

    The status's own class is used only when the body is the contract's error JSON: a 500 page
    from a proxy says nothing about ModelGates, so it becomes ``ModelGatesDefaultError``.
    """
    from pydantic import ValidationError

    from modelgates.models import ErrorResponse

    try:
        data: ErrorBody | None = ErrorResponse.model_validate_json(body).error
    except ValidationError:
        data = None
    if data is not None:
        cls = _ERRORS_BY_STATUS.get(status_code, ModelGatesDefaultError)
        message = data.message
    else:
        cls = ModelGatesDefaultError
        message = _describe_unexpected(status_code, body)
    return cls(message, status_code=status_code, headers=headers, body=body, data=data)


def _describe_unexpected(status_code: int, body: str) -> str:
    import httpx

    reason = httpx.codes.get_reason_phrase(status_code) or "Unknown status"
    excerpt = " ".join(body.split())[:_BODY_EXCERPT]
    return f"unexpected response: {status_code} {reason}" + (f": {excerpt}" if excerpt else "")
