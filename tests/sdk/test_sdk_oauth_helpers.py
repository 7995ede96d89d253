"""The PKCE helpers: the consent page URL and the S256 pair."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from modelgates import ModelGates, RequestValidationError, pkce
from tests.sdk.data import CHALLENGE, VERIFIER


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_authorization_url_on_the_servers_origin() -> None:
    mg = ModelGates(server_url="https://gates.example:8443/api/v1")
    url = mg.o_auth.create_authorization_url(
        "http://localhost:3000/callback?next=/home",
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
        limit=100,
        state="s t&a=te",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "gates.example:8443", "/auth")
    assert query(url) == {
        "callback_url": "http://localhost:3000/callback?next=/home",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "limit": "100",
        "state": "s t&a=te",
    }


@pytest.mark.parametrize(
    ("server_url", "page"),
    [
        ("https://modelgates.ai/api/v1", "https://modelgates.ai/auth"),
        ("https://modelgates.ai/api/v1/", "https://modelgates.ai/auth"),
        ("http://127.0.0.1:8000/api/v1", "http://127.0.0.1:8000/auth"),
        ("https://corp.example/gates/api/v1", "https://corp.example/gates/auth"),
        ("https://corp.example/other", "https://corp.example/auth"),
    ],
)
def test_authorization_url_base(server_url: str, page: str) -> None:
    url = ModelGates(server_url=server_url).o_auth.create_authorization_url("https://a.example/cb")
    assert url.split("?")[0] == page
    assert query(url) == {"callback_url": "https://a.example/cb"}


def test_authorization_url_with_every_option() -> None:
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    url = ModelGates().o_auth.create_authorization_url(
        callback_url="https://a.example/cb",
        code_challenge=VERIFIER,
        code_challenge_method="plain",
        limit=0.5,
        key_label="CLI on laptop",
        expires_at=expires,
        usage_limit_type="weekly",
    )
    assert query(url) == {
        "callback_url": "https://a.example/cb",
        "code_challenge": VERIFIER,
        "code_challenge_method": "plain",
        "limit": "0.5",
        "key_label": "CLI on laptop",
        "expires_at": expires.isoformat().replace("+00:00", "Z"),
        "usage_limit_type": "weekly",
    }


@pytest.mark.parametrize(
    "params",
    [
        {"callback_url": "http://myapp.example/cb"},
        {"callback_url": "javascript:alert(1)"},
        {
            "callback_url": "https://a.example/cb",
            "code_challenge": "x" * 42,
            "code_challenge_method": "S256",
        },
        {"callback_url": "https://a.example/cb", "code_challenge_method": "S256"},
        {"callback_url": "https://a.example/cb", "limit": -1},
    ],
)
def test_authorization_url_refuses_bad_input(params: dict[str, object]) -> None:
    with pytest.raises(ValueError) as caught:
        ModelGates().o_auth.create_authorization_url(**params)  # type: ignore[arg-type]
    assert isinstance(caught.value, RequestValidationError)


def test_rfc_7636_appendix_b() -> None:
    pair = ModelGates().o_auth.create_sha256_code_challenge(VERIFIER)
    assert pair.code_verifier == VERIFIER
    assert pair.code_challenge == CHALLENGE


def test_a_fresh_pair() -> None:
    make = ModelGates().o_auth.create_sha256_code_challenge
    one, two = make(), make()
    assert one.code_verifier != two.code_verifier
    assert pkce.is_valid_verifier(one.code_verifier) and len(one.code_verifier) == 43
    assert pkce.verify(one.code_verifier, one.code_challenge, "S256")
    assert one.code_verifier not in repr(one)


@pytest.mark.parametrize(
    "verifier",
    [
        "a" * 42,
        "a" * 129,
        "",
        VERIFIER[:-1] + "+",
        VERIFIER + "\n",
        VERIFIER[:-1] + "é",
    ],
)
def test_invalid_verifiers_are_refused(verifier: str) -> None:
    with pytest.raises(ValueError):
        ModelGates().o_auth.create_sha256_code_challenge(verifier)


@pytest.mark.parametrize("length", [43, 128])
def test_verifier_length_edges_are_accepted(length: int) -> None:
    verifier = ("abc-._~XYZ019" * 10)[:length]
    pair = ModelGates().o_auth.create_sha256_code_challenge(verifier)
    assert pair.code_challenge == pkce.s256_challenge(verifier)
