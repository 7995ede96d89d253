"""Who is asking: an app's identity, and what each user is shown as its name.

* The app **is** the origin its callback URL sends the browser to (:func:`origin_of`): what the
  browser will visit, not what a caller says it is. ``HTTP-Referer`` names nothing: anyone can
  send any referer, so it would let one caller file codes under another app.
* A title claimed with ``X-ModelGates-Title`` is recorded for the key's owner only and shown to
  them alone, marked as theirs. The name every user sees is the operator's
  (``modelgates apps title``), marked as such; without one, an app is called by its host.
* Titles that read as ModelGates, or mix Latin with lookalike letters of another script, are
  refused wherever they come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from modelgates.models.callbacks import check_callback_url
from modelgates.server.services import callbacks, lookalikes
from modelgates.server.services.errors import InvalidInput
from modelgates.server.store import AppRow, Store

_CATEGORY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MAX_CATEGORIES = 10
_MAX_CATEGORY_LENGTH = 40
MAX_TITLE_LENGTH = 100
#: Where an API call claims a title.
TITLE_HEADER = "X-ModelGates-Title"
#: Who gave the name a user is shown: the operator, the user's own key, or nobody (the host).
NamedBy = Literal["operator", "you"] | None


@dataclass(frozen=True)
class AppIdentity:
    origin: str
    #: The title the app claimed in its headers, if any (for the calling key's owner only).
    title: str | None
    #: What to call the app when it never gave a title: "localhost:PORT", else its host.
    default_title: str
    #: Comma-joined valid categories, or None when the app sent none.
    categories: str | None


@dataclass(frozen=True)
class NamedApp:
    """An app as one user is shown it."""

    id: int
    origin: str
    name: str
    named_by: NamedBy


def origin_of(url: str) -> str | None:
    """The app a callback URL names, read as a browser reads it (:mod:`callbacks`): a web app's
    ``scheme://host[:port]``, lower-cased, default port left out; a native app's
    ``scheme://authority`` (or ``scheme:``). None for a URL that is no callback.

    The one derivation of an app's identity from its callback URL: the consent page, the API and
    the operator's commands all call this, so how the URL is parsed is decided here alone. Whether
    a private address may be a callback was decided before (it is the operator's setting)."""
    try:
        return callbacks.read(check_callback_url(url.strip()), allow_private_http=True).origin
    except ValueError:  # CallbackRefused is one too
        return None


def identify(*, callback_url: str | None, title: str | None, categories: str | None) -> AppIdentity:
    """The app the callback URL sends the browser to, and what the caller claims it is called
    (InvalidInput naming :data:`TITLE_HEADER` for a title that impersonates)."""
    origin = origin_of(callback_url) if callback_url else None
    if origin is None:
        origin = "urn:modelgates:unidentified-app"
    return AppIdentity(
        origin=origin,
        title=None if title is None else check_title(title, TITLE_HEADER),
        default_title=default_title(origin),
        categories=_clean_categories(categories),
    )


def is_local(origin: str) -> bool:
    """Every machine has its own localhost, every network its own 192.168.1.20: a name recorded
    for such an origin says nothing about the program a given user reaches there."""
    return callbacks.kind_of(origin) in ("loopback", "private_network")


def default_title(origin: str) -> str:
    """What an app is called when no one named it: ``localhost:PORT`` (``192.168.1.20:8000``),
    a native app's authority (``saoudrizwan.claude-dev``, else its scheme), else its host."""
    kind = callbacks.kind_of(origin)
    if kind == "native":
        return origin.partition("://")[2] or origin.removesuffix(":")
    parts = urlsplit(origin)
    if kind in ("loopback", "private_network"):
        return parts.netloc  # localhost:PORT
    return parts.hostname or origin


def named(app: AppRow, claimed: str | None) -> NamedApp:
    """``app`` as the user whose keys claimed ``claimed`` for it is shown it."""
    if app.operator_title and not is_local(app.origin):
        return NamedApp(app.id, app.origin, app.operator_title, "operator")
    if claimed:
        return NamedApp(app.id, app.origin, claimed, "you")
    return NamedApp(app.id, app.origin, default_title(app.origin), None)


def check_title(title: str, field: str) -> str | None:
    """A title as recorded: printable characters, at most :data:`MAX_TITLE_LENGTH`; None when
    nothing is left. One that reads as ModelGates or mixes lookalike scripts is InvalidInput."""
    printable = "".join(ch for ch in title if ch.isprintable()).strip()[:MAX_TITLE_LENGTH]
    if lookalikes.reads_as_our_name(printable) or lookalikes.mixes_lookalike_scripts(printable):
        raise InvalidInput(
            field, "must not read as ModelGates nor mix Latin with lookalike letters"
        )
    return printable or None


async def name_app(store: Store, url: str, title: str | None, now: datetime) -> AppRow:
    """The operator names the app at ``url``'s origin for every user (None: no longer)."""
    origin = origin_of(url)
    if origin is None:
        raise InvalidInput(
            "ORIGIN", "must be a callback URL: https, http on a local host, or an app's own scheme"
        )
    checked = None if title is None else check_title(title, "NAME")
    if title is not None and checked is None:
        raise InvalidInput("NAME", f"must be 1 to {MAX_TITLE_LENGTH} printable characters")
    return await store.run(lambda tx: tx.apps.set_operator_title(origin, checked, now))


async def is_known(store: Store, origin: str) -> bool:
    """Whether an app with this origin is recorded already."""
    return await store.run(lambda tx: tx.apps.by_origin(origin) is not None)


async def list_apps(store: Store) -> list[AppRow]:
    return await store.run(lambda tx: tx.apps.all())


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
