"""Who is asking: an app's identity from its attribution headers or its callback URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelgates.models.oauth import LOOPBACK_HOSTS

_CATEGORY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MAX_CATEGORIES = 10
_MAX_CATEGORY_LENGTH = 40
_MAX_TITLE_LENGTH = 100
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class AppIdentity:
    origin: str
    #: The title the app gave in its headers, if any.
    title: str | None
    #: What to call the app when it never gave a title: "localhost:PORT", else its host.
    default_title: str
    #: Comma-joined valid categories, or None when the app sent none.
    categories: str | None


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased, default port left out."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    shown_host = f"[{host}]" if ":" in host else host
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{shown_host}"
    return f"{parts.scheme}://{shown_host}:{port}"


def identify(
    *,
    callback_url: str | None,
    http_referer: str | None,
    title: str | None,
    categories: str | None,
) -> AppIdentity:
    """The app is its ``HTTP-Referer``'s origin when that is a usable URL, else the callback's."""
    origin = (origin_of(http_referer) if http_referer else None) or (
        origin_of(callback_url) if callback_url else None
    )
    if origin is None:
        origin = "urn:modelgates:unidentified-app"
    return AppIdentity(
        origin=origin,
        title=_clean_title(title),
        default_title=_default_title(origin),
        categories=_clean_categories(categories),
    )


def _default_title(origin: str) -> str:
    parts = urlsplit(origin)
    if parts.hostname in LOOPBACK_HOSTS:
        return parts.netloc  # localhost:PORT
    return parts.hostname or origin


def _clean_title(title: str | None) -> str | None:
    if title is None:
        return None
    printable = "".join(ch for ch in title if ch.isprintable()).strip()
    return printable[:_MAX_TITLE_LENGTH] or None


def _clean_categories(raw: str | None) -> str | None:
    """Keep the well-formed entries, in order, once each; malformed ones are dropped, not fatal."""
    if raw is None:
        return None
    kept: list[str] = []
    for entry in raw.split(","):
        entry = entry.strip()
        valid = len(entry) <= _MAX_CATEGORY_LENGTH and _CATEGORY.fullmatch(entry) is not None
        if valid and entry not in kept:
            kept.append(entry)
    return ",".join(kept[:_MAX_CATEGORIES]) or None
