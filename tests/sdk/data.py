"""Values the SDK tests share."""

from __future__ import annotations

from modelgates import BackoffStrategy, RetryConfig

#: Milliseconds, not seconds: enough to exercise the retry loop without waiting it out.
FAST_RETRIES = RetryConfig(
    backoff=BackoffStrategy(
        initial_interval=1, max_interval=20, exponent=1.5, max_elapsed_time=2_000
    )
)
NO_RETRIES = RetryConfig("none")

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
ISSUED_KEY = "sk-mg-v1-" + "0123456789abcdef" * 4
EXCHANGED = {"key": ISSUED_KEY, "user_id": "user_abc"}
CREATED = {"data": {"id": "code_xyz", "app_id": 7, "created_at": "2030-01-01T00:00:00Z"}}

KEY_HASH = "0123456789abcdef" * 4  # what the server names a key by: 64 lowercase hex
SERVICE_TOKEN = "mg-svc-" + "5" * 40
KEY_RECORD = {
    "label": "My App",
    "limit": 10.0,
    "limit_remaining": 7.5,
    "limit_reset": "monthly",
    "usage": 2.5,
    "usage_daily": 0.5,
    "usage_weekly": 1.5,
    "usage_monthly": 2.5,
    "expires_at": None,
    "created_at": "2030-01-01T00:00:00Z",
    "is_management_key": False,
    "app_id": 7,
    "creator_user_id": "user_abc",
}
MANAGED_KEY = {**KEY_RECORD, "hash": KEY_HASH, "name": "My App", "disabled": False}
