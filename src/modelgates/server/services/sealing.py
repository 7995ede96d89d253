"""Keeping what must be kept without keeping it in the clear.

**An issued key, for the exactly-once retry.**

The key is encrypted with AES-GCM under a key derived (HKDF-SHA256) from the S256 code verifier,
which the server never stores: only the client that holds the verifier can open it again. The
code's hash is the HKDF salt and the AEAD's associated data, binding the box to its code.

**A stored idempotent answer** (it holds a code) is encrypted under a key derived from the
server's secret, with its owner as associated data, so a row moved to another owner will not open.
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


def seal_with_secret(data: bytes, server_secret: bytes, context: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _server_box(server_secret).encrypt(nonce, data, context.encode("utf-8"))


def unseal_with_secret(sealed: bytes, server_secret: bytes, context: str) -> bytes | None:
    """The data, or None if this secret and context do not open the box."""
    nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    try:
        return _server_box(server_secret).decrypt(nonce, ciphertext, context.encode("utf-8"))
    except InvalidTag:
        return None


def _server_box(server_secret: bytes) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"modelgates stored answers v1"
    ).derive(server_secret)
    return AESGCM(key)
