"""Keeping an issued key for the exactly-once retry without keeping it in the clear.

The key is encrypted with AES-GCM under a key derived (HKDF-SHA256) from the S256 code verifier,
which the server never stores: only the client that holds the verifier can open it again. The
code's hash is the HKDF salt and the AEAD's associated data, binding the box to its code.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"modelgates exchange retry v1"
_NONCE_BYTES = 12


def _box(code_verifier: str, code_hash: str) -> AESGCM:
    secret = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=code_hash.encode("ascii"), info=_INFO
    ).derive(code_verifier.encode("ascii"))
    return AESGCM(secret)


def seal(api_key: str, code_verifier: str, code_hash: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    box = _box(code_verifier, code_hash)
    return nonce + box.encrypt(nonce, api_key.encode("ascii"), code_hash.encode("ascii"))


def unseal(sealed: bytes, code_verifier: str, code_hash: str) -> str | None:
    """The key, or None if this verifier does not open the box."""
    nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    try:
        plain = _box(code_verifier, code_hash).decrypt(nonce, ciphertext, code_hash.encode("ascii"))
    except InvalidTag:
        return None
    return plain.decode("ascii")
