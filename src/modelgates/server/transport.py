"""``Strict-Transport-Security`` on every answer the server knows went out over https.

The server knows it when uvicorn terminates TLS itself, or when a load balancer named in
``MODELGATES_FORWARDED_ALLOW_IPS`` says so with ``X-Forwarded-Proto: https`` (uvicorn then sets
the request's scheme); a client elsewhere cannot claim it. Over plain http the header is never
sent (RFC 6797 §7.2: browsers ignore it there, and an http-only server must not promise https).
``outer.OuterLayer`` adds it, unless the answer carries its own.
"""

from __future__ import annotations

#: One year, without ``includeSubDomains``: the server may share its domain with sites that are
#: not ours to hold to https. An operator who wants more sets it at the proxy.
HSTS = "max-age=31536000"
#: The header as the ASGI answer carries it.
HSTS_HEADER = (b"strict-transport-security", HSTS.encode("latin-1"))
