"""Proof Key for Code Exchange (RFC 7636), and nothing else.

The docstrings quote the RFC so that a reviewer can check each rule against it. Every pattern is
applied with ``re.fullmatch``: a ``$`` anchor would let a trailing newline through.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Literal

CodeChallengeMethod = Literal["S256", "plain"]

# RFC 7636 §4.1: code-verifier = 43*128unreserved
#                unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
VERIFIER_PATTERN = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# RFC 7636 §4.2: S256 is BASE64URL-ENCODE(SHA256(ASCII(code_verifier))), without padding: 32 bytes
# make 43 characters, and the last one carries only 4 significant bits, so only 16 letters can end a
# canonical encoding. Anything else cannot be the digest of any verifier.
S256_CHALLENGE_PATTERN = re.compile(r"[A-Za-z0-9\-_]{42}[AEIMQUYcgkosw048]")
# RFC 7636 §4.2: with "plain", code_challenge = code_verifier, so it obeys the verifier's grammar.
PLAIN_CHALLENGE_PATTERN = VERIFIER_PATTERN


def is_valid_verifier(code_verifier: str) -> bool:
    """RFC 7636 §4.1: 43 to 128 characters of ``[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"``."""
    return VERIFIER_PATTERN.fullmatch(code_verifier) is not None


def is_valid_challenge(code_challenge: str, method: CodeChallengeMethod) -> bool:
    """Whether ``code_challenge`` can have been made from some verifier with ``method``."""
    pattern = S256_CHALLENGE_PATTERN if method == "S256" else PLAIN_CHALLENGE_PATTERN
    return pattern.fullmatch(code_challenge) is not None


def create_verifier() -> str:
    """RFC 7636 §4.1: "It is RECOMMENDED that the output of a suitable random number generator be
    used to create a 32-octet sequence. The octet sequence is then base64url-encoded to produce a
    43-octet URL safe string to use as the code verifier."
    """
    return _b64url(secrets.token_bytes(32))


def s256_challenge(code_verifier: str) -> str:
    """RFC 7636 §4.2: ``code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))``."""
    return _b64url(hashlib.sha256(code_verifier.encode("ascii")).digest())


def derive_challenge(code_verifier: str, method: CodeChallengeMethod) -> str:
    """The challenge that ``code_verifier`` answers under ``method``."""
    return s256_challenge(code_verifier) if method == "S256" else code_verifier


def verify(code_verifier: str, code_challenge: str, method: CodeChallengeMethod) -> bool:
    """RFC 7636 §4.6: transform the verifier with the method and compare it with the challenge.

    A verifier outside the grammar never matches. The comparison takes constant time.
    """
    if not is_valid_verifier(code_verifier):
        return False
    expected = derive_challenge(code_verifier, method)
    return hmac.compare_digest(expected.encode("ascii"), code_challenge.encode("ascii"))


def _b64url(raw: bytes) -> str:
    # RFC 7636 Appendix A: base64url without padding.
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
