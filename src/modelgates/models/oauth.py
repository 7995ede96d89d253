"""Bodies of the PKCE endpoints: ``POST /auth/keys/code`` and ``POST /auth/keys``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from modelgates import pkce
from modelgates.models.base import (
    KeyLabel,
    Money,
    RequestModel,
    ResponseModel,
    Text,
    Timestamp,
    UsageLimitType,
)
from modelgates.models.callbacks import MAX_CALLBACK_URL_LENGTH, check_callback_url

CallbackUrl = Annotated[
    str,
    AfterValidator(check_callback_url),
    WithJsonSchema({"type": "string", "format": "uri", "maxLength": MAX_CALLBACK_URL_LENGTH}),
]
#: The JSON Schema of a verifier, and of a challenge under either method (RFC 7636 §4.1, §4.2).
_RFC7636_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9._~-]{43,128}$"}
ChallengeMethod = Literal["S256", "plain"]


class CreateAuthCodeRequest(RequestModel):
    """Body of ``POST /api/v1/auth/keys/code`` (and the query of ``GET /auth``)."""

    callback_url: CallbackUrl
    # Declared before the challenge so that the challenge's validator can see it.
    code_challenge_method: ChallengeMethod | None = None
    code_challenge: Annotated[str, WithJsonSchema(_RFC7636_SCHEMA)] | None = Field(
        default=None, validate_default=True
    )
    limit: Money | None = None
    expires_at: Timestamp | None = None
    key_label: KeyLabel | None = None
    usage_limit_type: UsageLimitType | None = None

    @field_validator("code_challenge")
    @classmethod
    def _check_challenge(cls, challenge: str | None, info: ValidationInfo) -> str | None:
        method = info.data.get("code_challenge_method")
        if challenge is None:
            if method is not None:
                raise ValueError("is required when code_challenge_method is given")
            return None
        if "code_challenge_method" in info.data:  # else the method itself was invalid
            # RFC 7636 §4.3: "Defaults to "plain" if not present in the request."
            effective: ChallengeMethod = "S256" if method == "S256" else "plain"
            if not pkce.is_valid_challenge(challenge, effective):
                expected = (
                    "exactly 43 base64url characters (a SHA-256 digest)"
                    if effective == "S256"
                    else "43 to 128 characters of [A-Za-z0-9-._~]"
                )
                raise ValueError(f"must be {expected} for method {effective}")
        return challenge

    @model_validator(mode="after")
    def _default_method(self) -> CreateAuthCodeRequest:
        if self.code_challenge is not None and self.code_challenge_method is None:
            self.code_challenge_method = "plain"
        return self


class AuthCodeData(ResponseModel):
    id: str
    app_id: int
    created_at: Timestamp


class CreateAuthCodeResponse(ResponseModel):
    data: AuthCodeData


def _check_verifier(value: str) -> str:
    if not pkce.is_valid_verifier(value):
        raise ValueError("must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636)")
    return value


class ExchangeAuthCodeRequest(RequestModel):
    """Body of ``POST /api/v1/auth/keys``."""

    code: Annotated[str, Text(256)]
    code_verifier: (
        Annotated[str, AfterValidator(_check_verifier), WithJsonSchema(_RFC7636_SCHEMA)] | None
    ) = None
    code_challenge_method: ChallengeMethod | None = None


class ExchangeAuthCodeResponse(ResponseModel):
    # Kept out of repr, so that printing the response does not print the key.
    key: str = Field(repr=False)
    user_id: str


__all__ = [
    "AuthCodeData",
    "CallbackUrl",
    "CreateAuthCodeRequest",
    "CreateAuthCodeResponse",
    "ExchangeAuthCodeRequest",
    "ExchangeAuthCodeResponse",
]
