"""Wire models: the JSON bodies of the API, defined once and used by the SDK and the server.

Request models carry every rule that can be checked from the body alone (types, formats, ranges);
rules that need a clock or the database (an expiry in the future, a duplicate challenge) belong to
the server's services. Request models forbid unknown fields, so a misspelt ``code_chalenge`` is a
400 rather than a code silently issued without PKCE. Response models ignore unknown fields, so an
older SDK keeps working against a newer server.
"""

from modelgates.models.errors import ErrorBody, ErrorResponse
from modelgates.models.keys import (
    CreateKeyRequest,
    CreateKeyResponse,
    DeleteKeyResponse,
    KeyListResponse,
    KeyRecord,
    KeyRecordResponse,
    KeyResponse,
    ManagedKey,
    UpdateKeyRequest,
)
from modelgates.models.oauth import (
    AuthCodeData,
    CreateAuthCodeRequest,
    CreateAuthCodeResponse,
    ExchangeAuthCodeRequest,
    ExchangeAuthCodeResponse,
)
from modelgates.models.usage import RecordUsageRequest, RecordUsageResponse, UsageCharge

__all__ = [
    "AuthCodeData",
    "CreateAuthCodeRequest",
    "CreateAuthCodeResponse",
    "CreateKeyRequest",
    "CreateKeyResponse",
    "DeleteKeyResponse",
    "ErrorBody",
    "ErrorResponse",
    "ExchangeAuthCodeRequest",
    "ExchangeAuthCodeResponse",
    "KeyListResponse",
    "KeyRecord",
    "KeyRecordResponse",
    "KeyResponse",
    "ManagedKey",
    "RecordUsageRequest",
    "RecordUsageResponse",
    "UpdateKeyRequest",
    "UsageCharge",
]
