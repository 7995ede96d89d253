"""The callback URL rules that need no URL parser: what the SDK checks before sending, and the
server first, before it reads the URL as a browser does (``server/services/callbacks.py``).

The server applies these first, so the SDK refuses nothing the server would accept. They refuse
forms we never accept, whatever a browser makes of them (non-ASCII, spaces, backslashes, a
fragment, user-info, ``https:`` without ``//``), and an http URL whose host is a plain domain name
other than ``localhost``. Whatever needs a browser's parser (the host a browser visits, an IP
address written in hex, whether it is loopback or on a private network) is the server's alone:
the SDK stays free of a C extension, and only the server knows whether its operator allows
private-network callbacks.
"""

from __future__ import annotations

import re

MAX_CALLBACK_URL_LENGTH = 2048
#: Schemes a browser runs or reads itself rather than handing the URL to an app: sending a code
#: there would run script on our page (``javascript``, ``vbscript``), show or store content the
#: URL carries (``data``, ``blob``, ``filesystem``, ``view-source``, ``about``, ``file``, the
#: browsers' own pages and extensions), start something other than the app that asked
#: (``intent`` starts any Android activity; ``ms-msdt`` runs a Windows diagnostic tool,
#: CVE-2022-30190), or is no navigation to an app at all (``ws``, ``wss``, ``ftp``). The first
#: thirteen are the contract's; the browsers' own schemes are ours (docs/decisions.md).
REFUSED_SCHEMES = frozenset(
    {
        "javascript",
        "data",
        "file",
        "blob",
        "about",
        "vbscript",
        "filesystem",
        "view-source",
        "intent",
        "ms-msdt",
        "ws",
        "wss",
        "ftp",
        "chrome",
        "chrome-extension",
        "chrome-untrusted",
        "devtools",
        "edge",
        "moz-extension",
        "resource",
    }
)
WEB_SCHEMES = frozenset({"http", "https"})
#: The hosts an ``http`` callback may name without the operator's leave, as a browser writes them.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
HTTP_HOSTS_RULE = (
    "must use https; http only on localhost, 127.0.0.1 or [::1] "
    "(or a private-network address, where the server allows it)"
)

# Printable ASCII without space or backslash: browsers read "\" as "/" in http URLs, which makes
# the host a parser sees differ from the host a browser visits.
_URL_CHARACTERS = re.compile(r"[!-\[\]-~]+")
# RFC 3986 §3.1, which is also WHATWG's scheme state.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", re.DOTALL)
# A host that a WHATWG parser reads as a domain name, lower-cased and nothing else: letters,
# digits and hyphens in dot-separated labels, the last not a number (else it is an IPv4 address,
# perhaps in hex or octal: http://0x7f.1/ is 127.0.0.1).
_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?")
_NUMBER_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")


def check_callback_url(url: str) -> str:
    """Refuse what is surely not a callback URL; messages never echo the URL.

    Absolute, with a scheme that is ``https``, ``http`` (checked further by the server) or a
    native app's own (RFC 8252 §7.1) and not in :data:`REFUSED_SCHEMES`; no fragment (RFC 6749
    §3.1.2), no user-info (``http://localhost@evil.example`` names the host ``evil.example``), at
    most 2048 characters of printable ASCII.
    """
    if len(url) > MAX_CALLBACK_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_CALLBACK_URL_LENGTH} characters")
    if _URL_CHARACTERS.fullmatch(url) is None:
        raise ValueError("must be a URL of printable ASCII without spaces or backslashes")
    if "#" in url:
        raise ValueError("must not contain a fragment")
    found = _SCHEME.fullmatch(url)
    if found is None or not found.group(2):
        raise ValueError("must be an absolute URL: https, or an app's own scheme")
    scheme, rest = found.group(1).lower(), found.group(2)
    if scheme in REFUSED_SCHEMES:
        raise ValueError("must not use a scheme that the browser handles itself")
    if scheme in WEB_SCHEMES and not rest.startswith("//"):
        raise ValueError("must be an absolute http(s) URL")
    if not rest.startswith("//"):
        return url  # a native app's URL without an authority: com.example.app:/callback
    authority = re.split(r"[/?]", rest[2:], maxsplit=1)[0]
    if "@" in authority:
        raise ValueError("must not contain user information")
    host, port = _split_port(authority)
    if port is not None and not (port.isdigit() and int(port) <= 65535):
        raise ValueError("has an invalid port")
    if scheme in WEB_SCHEMES and not host:
        raise ValueError("must name a host")
    if scheme == "http" and _is_plain_domain(host) and host.lower() != "localhost":
        raise ValueError(HTTP_HOSTS_RULE)
    return url


def _split_port(authority: str) -> tuple[str, str | None]:
    """``host`` and ``port`` (None when there is no ``:``); an IPv6 literal keeps its colons."""
    end = authority.rfind("]")
    colon = authority.find(":", end + 1)
    if colon < 0:
        return authority, None
    port = authority[colon + 1 :]
    return authority[:colon], port or None


def _is_plain_domain(host: str) -> bool:
    if _PLAIN_DOMAIN.fullmatch(host) is None:
        return False
    last = host.removesuffix(".").rsplit(".", 1)[-1]
    return _NUMBER_LABEL.fullmatch(last) is None
