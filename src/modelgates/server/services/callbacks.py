"""A callback URL read as a browser reads it, and what kind of app it names.

The wire model has already refused what needs no parser (``models/callbacks.py``). Here the URL
is parsed with ada, a WHATWG URL parser (the one Node.js uses), so the host checked, recorded
and shown is the host the browser will visit: ``https://evil%2eexample/cb`` goes to
``evil.example``, ``http://0x7f.1/cb`` to ``127.0.0.1``, and ``http://[::1]evil.example/cb`` or
``https://[v1.secret]/cb`` go nowhere, so they are refused. ``urllib.parse`` disagrees with
browsers on each of these. Messages never echo the URL.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from ada_url import URL, HostType

from modelgates.models.callbacks import HTTP_HOSTS_RULE, LOOPBACK_HOSTS, WEB_SCHEMES

#: ``web``: an https site; ``loopback``: a program on the user's machine (on localhost);
#: ``private_network``: http on a private address, where the operator allows it; ``native``: an
#: app on the user's device, reached through its own URI scheme (RFC 8252 §7.1).
CallbackKind = Literal["web", "loopback", "private_network", "native"]

#: RFC 1918, RFC 4193 (unique local) and link-local (RFC 3927, RFC 4291).
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)


class CallbackRefused(ValueError):
    """The URL is not a callback this server sends codes to; the message says why, not what."""


@dataclass(frozen=True)
class Callback:
    #: As the app sent it: where Approve and Deny send the browser.
    url: str
    kind: CallbackKind
    #: The app's identity: ``scheme://host[:port]`` (lower-cased, default port left out) of a
    #: web URL; a native app's ``scheme://authority``, or ``scheme:`` when it has none.
    origin: str


def read(url: str, *, allow_private_http: bool) -> Callback:
    """The callback ``url`` (already accepted by the wire model), or CallbackRefused."""
    try:
        parsed = URL(url)
    except ValueError:
        raise CallbackRefused("must be a URL that a browser can follow") from None
    if parsed.username or parsed.password:
        raise CallbackRefused("must not contain user information")
    scheme = parsed.protocol.removesuffix(":")
    if scheme not in WEB_SCHEMES:
        return Callback(url=url, kind="native", origin=_native_origin(parsed, scheme))
    origin = _web_origin(parsed)
    if parsed.hostname in LOOPBACK_HOSTS:
        return Callback(url=url, kind="loopback", origin=origin)
    if scheme == "https":
        return Callback(url=url, kind="web", origin=origin)
    if allow_private_http and _is_private_address(parsed):
        return Callback(url=url, kind="private_network", origin=origin)
    raise CallbackRefused(HTTP_HOSTS_RULE)


def kind_of(origin: str) -> CallbackKind:
    """The kind of app an origin made by :func:`read` names (any private address counts as
    ``private_network``: only a server that allows them records such an origin)."""
    try:
        parsed = URL(origin)
    except ValueError:
        return "native"  # nothing a browser reads as a web origin
    scheme = parsed.protocol.removesuffix(":")
    if scheme not in WEB_SCHEMES:
        return "native"
    if parsed.hostname in LOOPBACK_HOSTS:
        return "loopback"
    if scheme == "http" and _is_private_address(parsed):
        return "private_network"
    return "web"


def _is_private_address(parsed: URL) -> bool:
    if parsed.host_type == HostType.IPV4:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(
            parsed.hostname
        )
    elif parsed.host_type == HostType.IPV6:
        address = ipaddress.IPv6Address(parsed.hostname.strip("[]"))
    else:
        return False
    return any(address in network for network in PRIVATE_NETWORKS)


def _web_origin(parsed: URL) -> str:
    # WHATWG's origin: ada has lower-cased the scheme and host, decoded and IDNA-encoded the
    # host, written an IPv4 address in dotted decimal and an IPv6 one compressed, and dropped
    # the default port.
    return str(parsed.origin)


def _native_origin(parsed: URL, scheme: str) -> str:
    if parsed.href.startswith(f"{scheme}://"):
        # An opaque host keeps the app's case; identities should not differ by it.
        return f"{scheme}://{parsed.host.lower()}"
    return f"{scheme}:"
