"""Making and hashing the secrets ModelGates hands out; nothing here is ever stored in the clear."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

API_KEY_PREFIX = "sk-mg-v1-"
API_KEY_PATTERN = re.compile(r"sk-mg-v1-[0-9a-f]{64}")
SERVICE_TOKEN_PREFIX = "mg-svc-v1-"  # noqa: S105 - a prefix, not a secret
SERVICE_TOKEN_PATTERN = re.compile(r"mg-svc-v1-[0-9a-f]{64}")


def new_api_key() -> str:
    """``sk-mg-v1-`` and 32 random bytes in lowercase hex."""
    return API_KEY_PREFIX + secrets.token_hex(32)


def new_service_token() -> str:
    """An operator credential for metering: ``mg-svc-v1-`` and 32 random bytes in hex."""
    return SERVICE_TOKEN_PREFIX + secrets.token_hex(32)


def new_code() -> str:
    """An authorization code: 32 random bytes, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def new_user_id() -> str:
    """``user_`` and 15 random bytes in lowercase base32 (24 characters)."""
    return "user_" + base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()


def sha256_hex(secret: str) -> str:
    """The stored form of a key or a code. Both carry 256 random bits, so an unsalted fast hash
    is enough: there is nothing to guess."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def looks_like_api_key(value: str) -> bool:
    return API_KEY_PATTERN.fullmatch(value) is not None


def looks_like_service_token(value: str) -> bool:
    return SERVICE_TOKEN_PATTERN.fullmatch(value) is not None
