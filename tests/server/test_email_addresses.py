"""E-mail addresses as accounts are made and found: validated by email-validator, normalised, and
refused where they hide what they are (lookalike letters of another script, invisible or control
characters, markup)."""

from __future__ import annotations

import pytest

from modelgates.server.services import users
from modelgates.server.services.errors import InvalidInput

REFUSED = [
    "\u0430lice@example.com",  # Cyrillic a among Latin letters: looks like alice@example.com
    "p\u0430ypal@example.com",
    "alice\u200b@example.com",  # zero-width space
    "ali\u200dce@example.com",  # zero-width joiner
    "eve\x00@example.com",
    "eve\x07@example.com",
    '"><script>@x.y',
    "<script>@example.com",
    "alice@ex\u0430mple.com",  # a lookalike in the domain
    "not-an-email",
    "two@@example.com",
    "nodot@localhost",
    "a" * 65 + "@example.com",
    "",
]


@pytest.mark.parametrize("address", REFUSED)
def test_addresses_that_hide_what_they_are_are_refused(address: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        users.normalize_email(address)
    assert refused.value.message == "email: is not an e-mail address"  # never the value


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  bob@example.com ", "bob@example.com"),
        ("jos\u00e9@example.com", "jos\u00e9@example.com"),
        ("jose\u0301@example.com", "jos\u00e9@example.com"),  # NFC: one spelling of é
        (
            "\u043c\u0430\u0440\u0438\u044f@example.com",
            "\u043c\u0430\u0440\u0438\u044f@example.com",
        ),
        ("x@B\u00fccher.example", "x@b\u00fccher.example"),
    ],
)
def test_real_addresses_are_kept_in_one_spelling(address: str, normalized: str) -> None:
    assert users.normalize_email(address) == normalized
