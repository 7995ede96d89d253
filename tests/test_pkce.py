"""RFC 7636, checked against the RFC's own example and the edges of its grammar."""

from __future__ import annotations

import base64
import hashlib

import pytest

from modelgates import pkce

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def test_appendix_b() -> None:
    assert pkce.s256_challenge(VERIFIER) == CHALLENGE
    assert pkce.derive_challenge(VERIFIER, "S256") == CHALLENGE
    assert pkce.verify(VERIFIER, CHALLENGE, "S256")
    assert pkce.is_valid_verifier(VERIFIER)
    assert pkce.is_valid_challenge(CHALLENGE, "S256")


@pytest.mark.parametrize(
    ("length", "valid"), [(0, False), (42, False), (43, True), (128, True), (129, False)]
)
def test_verifier_length(length: int, valid: bool) -> None:
    verifier = (UNRESERVED * 2)[:length]
    assert pkce.is_valid_verifier(verifier) is valid
    assert pkce.is_valid_challenge(verifier, "plain") is valid  # plain: the verifier's grammar


@pytest.mark.parametrize("extra", ["\n", "\r\n", " ", "\x00"])
def test_trailing_characters_are_rejected(extra: str) -> None:
    # re.match with "$" would let "\n" through; the grammar has no room for it.
    assert not pkce.is_valid_verifier(VERIFIER + extra)
    assert not pkce.is_valid_challenge(CHALLENGE + extra, "S256")
    assert not pkce.is_valid_challenge(VERIFIER + extra, "plain")
    assert not pkce.verify(VERIFIER + extra, CHALLENGE, "S256")


@pytest.mark.parametrize("char", ["+", "/", "=", "%", "é", "A\u0301"[-1]])
def test_characters_outside_unreserved_are_rejected(char: str) -> None:
    assert not pkce.is_valid_verifier(VERIFIER[:-1] + char)


def test_every_unreserved_character_is_accepted() -> None:
    assert pkce.is_valid_verifier(UNRESERVED)


def test_s256_challenge_must_be_canonical() -> None:
    # The last of 43 characters carries 4 bits of the digest and 2 zero bits: "N" (0b001101)
    # decodes to the same bytes as "M" under a lenient decoder, but no SHA-256 encodes to it.
    assert CHALLENGE.endswith("M")
    non_canonical = CHALLENGE[:-1] + "N"
    assert base64.urlsafe_b64decode(non_canonical + "=") == base64.urlsafe_b64decode(
        CHALLENGE + "="
    )
    assert not pkce.is_valid_challenge(non_canonical, "S256")
    assert not pkce.verify(VERIFIER, non_canonical, "S256")


@pytest.mark.parametrize(
    "challenge",
    [CHALLENGE[:-1], CHALLENGE + "A", CHALLENGE[:-1] + "=", CHALLENGE.replace("-", "+")],
)
def test_s256_challenge_shape(challenge: str) -> None:
    assert not pkce.is_valid_challenge(challenge, "S256")


def test_every_canonical_last_character_occurs() -> None:
    # The 16 letters the pattern allows are exactly those real digests can end with.
    endings = {pkce.s256_challenge(f"{i:043d}")[-1] for i in range(2000)}
    assert endings == set("AEIMQUYcgkosw048")


def test_plain_method() -> None:
    assert pkce.derive_challenge(VERIFIER, "plain") == VERIFIER
    assert pkce.verify(VERIFIER, VERIFIER, "plain")
    assert not pkce.verify(VERIFIER, CHALLENGE, "plain")
    assert not pkce.verify(VERIFIER, VERIFIER, "S256")


def test_a_wrong_verifier_does_not_verify() -> None:
    other = VERIFIER[:-1] + ("j" if VERIFIER[-1] != "j" else "k")
    assert not pkce.verify(other, CHALLENGE, "S256")


def test_a_verifier_outside_the_grammar_never_verifies() -> None:
    short = "abc"
    assert not pkce.verify(short, short, "plain")
    assert not pkce.verify(short, pkce.s256_challenge(short), "S256")


def test_created_verifiers() -> None:
    made = {pkce.create_verifier() for _ in range(50)}
    assert len(made) == 50
    for verifier in made:
        assert len(verifier) == 43  # 32 random octets, base64url without padding
        assert pkce.is_valid_verifier(verifier)
        digest = hashlib.sha256(verifier.encode()).digest()
        assert pkce.s256_challenge(verifier) == base64.urlsafe_b64encode(digest).decode().rstrip(
            "="
        )
