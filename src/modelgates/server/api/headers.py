"""Headers every API answer carries, and CORS for the endpoints browser pages call directly;
``outer.OuterLayer`` adds them.

``Cache-Control: no-store`` on every API answer (some carry keys; none should be cached), and
CORS on the endpoints the table marks ``cors`` (the exchange, so that single-page apps holding
the verifier can call it). No credentials (cookies) are allowed, so ``*`` without
``Allow-Credentials`` is safe: a page can call these only with a key it holds itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelgates.models.endpoints import Endpoint

#: Set on every API answer, whatever the handler set.
API_HEADERS = ((b"cache-control", b"no-store"),)
#: Set too on every answer of an endpoint marked ``cors``.
CORS_HEADERS = ((b"access-control-allow-origin", b"*"),)

_ALLOWED_HEADERS = (
    b"Content-Type, Authorization, HTTP-Referer, X-ModelGates-Title, X-Title, "
    b"X-ModelGates-Categories, Idempotency-Key, User-Agent"
)


def preflights(endpoints: Iterable[Endpoint[Any]]) -> dict[str, list[tuple[bytes, bytes]]]:
    """For each path a page on any origin may call, what its ``OPTIONS`` preflight answers,
    less :data:`API_HEADERS` and :data:`CORS_HEADERS`, which every answer there gets."""
    methods: dict[str, set[str]] = {}
    for endpoint in endpoints:
        if endpoint.cors:
            methods.setdefault(endpoint.full_path, set()).add(endpoint.method)
    return {
        path: [
            (b"access-control-allow-headers", _ALLOWED_HEADERS),
            (b"access-control-max-age", b"600"),
            (b"access-control-allow-methods", ", ".join([*sorted(allowed), "OPTIONS"]).encode()),
            (b"content-length", b"0"),
        ]
        for path, allowed in methods.items()
    }
