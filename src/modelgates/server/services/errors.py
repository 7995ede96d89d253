"""What a service refuses, and with which HTTP status the API answers it."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 500

    def __init__(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = metadata
        self.headers = headers


class InvalidInput(ServiceError):
    """A rule the body alone could not show, e.g. an expiry already past."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            f"{field}: {message}",
            {"field": field, "errors": [{"field": field, "message": message}]},
        )


class Unauthenticated(ServiceError):
    status = 401


class PaymentRequired(ServiceError):
    """A charge the key cannot take."""

    status = 402


class NotPermitted(ServiceError):
    status = 403


class CodeRejected(ServiceError):
    """One answer for every reason a code cannot be spent, so that it reveals none of them."""

    status = 403

    def __init__(self) -> None:
        super().__init__("The authorization code is invalid, expired or already used.")


class Conflict(ServiceError):
    status = 409


class NotFound(ServiceError):
    status = 404


class TooManyRequests(ServiceError):
    status = 429

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(
            message or f"Too many requests; try again in {retry_after} seconds.",
            {"retry_after": retry_after},
            {"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after
