"""The consent page's rules: reading ``GET /auth``'s query, describing who asks, the limit the
user settles on, approving and denying.

* The query obeys the create-code API's rules (the same wire model checks it), plus ``state``.
  Unknown and repeated parameters are refused, as unknown body fields are by the API.
* Without ``callback_url`` the request is *headless*: a ``code_challenge`` is then required, and
  approving shows the code instead of redirecting.
* The app is the callback URL's origin. The user may lower the limit the app asked for, or set
  one where it asked for none, never raise it: like scopes, a user grants at most what was asked.
* Approving creates the code through :func:`codes.create_code`, the API's own path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import TypeAdapter, ValidationError

from modelgates.models.base import Money
from modelgates.models.oauth import CreateAuthCodeRequest
from modelgates.models.problems import as_reported, describe, shown_name
from modelgates.server.services import apps, callbacks, codes
from modelgates.server.services.errors import InvalidInput, ServiceError
from modelgates.server.store import Store, Transaction

#: The app of every headless request: there is no callback to tell who is asking.
HEADLESS_APP = apps.AppIdentity(
    origin="urn:modelgates:headless",
    title=None,
    default_title="Headless sign-in",
    categories=None,
)
#: ``state`` is opaque to us: RFC 6749's VSCHAR (printable ASCII), up to this length.
MAX_STATE_LENGTH = 2048
_STATE = re.compile(r"[ -~]*")
_PARAMETERS = (*CreateAuthCodeRequest.model_fields, "state")
#: An amount as a URL or a person writes it: plain decimal digits (no exponent, no NaN).
_AMOUNT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)
# Only validates the other fields of a headless request; never stored nor shown.
_NO_CALLBACK = "http://localhost/"


class InvalidAuthRequest(ServiceError):
    """The app's request is malformed; each problem is ``(parameter, what is wrong)``."""

    status = 400

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        first = problems[0]
        super().__init__(f"Invalid request: {first[0]}: {first[1]}")
        self.problems = problems


@dataclass(frozen=True)
class AuthRequest:
    """A valid authorization request, as the app sent it."""

    #: What the app asks for, in the API's model. In headless mode its ``callback_url`` is a
    #: placeholder: read :attr:`callback_url`.
    request: CreateAuthCodeRequest
    #: The callback as a browser reads it; None when headless.
    callback: callbacks.Callback | None
    state: str | None

    @property
    def callback_url(self) -> str | None:
        return None if self.callback is None else self.callback.url

    @property
    def headless(self) -> bool:
        return self.callback_url is None


@dataclass(frozen=True)
class AppView:
    """Who is asking, as the consent screen shows it."""

    #: What to call the app: the operator's name for it, else the title this user's own keys
    #: claimed for it, else its host (always ``localhost:PORT`` on loopback).
    name: str
    #: ``scheme://host[:port]`` (a native app's ``scheme://authority``); None when headless.
    origin: str | None
    #: What kind of app the callback names; None when headless.
    kind: callbacks.CallbackKind | None
    #: Who gave :attr:`name`: ``"operator"``, ``"you"`` (this user's key) or None (the host).
    named_by: apps.NamedBy = None

    @property
    def loopback(self) -> bool:
        """The app runs on the user's own machine (its origin is a loopback host)."""
        return self.kind == "loopback"

    @property
    def scheme(self) -> str:
        """The scheme of the app's URL (a native app's own, such as ``vscode``)."""
        return (self.origin or "").partition(":")[0]


@dataclass(frozen=True)
class Approval:
    #: The code, for the headless page to show once.
    code: str = field(repr=False)
    #: Where to send the browser (the callback with ``code`` and ``state``); None when headless.
    redirect_to: str | None = field(repr=False)


def parse(
    query: Sequence[tuple[str, str]], now: datetime, *, allow_private_http: bool = False
) -> AuthRequest:
    """The authorization request in ``/auth``'s query, or InvalidAuthRequest naming each problem
    (never echoing a value). ``allow_private_http``: the operator's
    ``allow_private_http_callbacks``."""
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for name, value in query:
        if name not in _PARAMETERS:
            problems.append((shown_name(name), "is not a parameter of /auth"))
        elif name in values:
            problems.append((shown_name(name), "is given more than once"))
        else:
            values[name] = value
    state = values.pop("state", None)
    if state is not None and (len(state) > MAX_STATE_LENGTH or not _STATE.fullmatch(state)):
        problems.append(("state", f"must be at most {MAX_STATE_LENGTH} printable ASCII characters"))
    if "limit" in values:
        try:
            values["limit"] = parse_amount(values["limit"])
        except ValueError as error:
            problems.append(("limit", str(error)))
            del values["limit"]
    callback_url = values.get("callback_url")
    if callback_url is None:
        values["callback_url"] = _NO_CALLBACK
        if "code_challenge" not in values:
            problems.append(
                ("callback_url", "is required, unless code_challenge is given (headless mode)")
            )
    request: CreateAuthCodeRequest | None = None
    try:
        request = CreateAuthCodeRequest.model_validate(values)
    except ValidationError as error:
        problems.extend(as_reported(error, "query"))
    if request is not None and request.expires_at is not None and request.expires_at <= now:
        problems.append(("expires_at", "must be in the future"))
    callback: callbacks.Callback | None = None
    if request is not None and callback_url is not None:
        try:
            callback = callbacks.read(callback_url, allow_private_http=allow_private_http)
        except callbacks.CallbackRefused as refused:
            problems.append(("callback_url", str(refused)))
    if problems or request is None:
        raise InvalidAuthRequest(problems)
    return AuthRequest(request=request, callback=callback, state=state)


def parse_amount(text: str) -> Decimal:
    """An amount of USD typed by a person or put in a URL: ``5``, ``12.50``, ``$3``. Only the
    text's form is read here; whether the amount is one the API takes is the ``Money`` type's
    rule (the API's own), so the page refuses exactly what the API refuses."""
    text = text.strip().removeprefix("$").strip()
    if _AMOUNT.fullmatch(text) is None:
        raise ValueError("must be an amount in USD, like 5 or 12.50")
    try:
        return _MONEY.validate_python(Decimal(text))
    except ValidationError as error:
        first = error.errors(include_input=False, include_url=False)[0]
        raise ValueError(describe(first)) from None


def identity_of(auth: AuthRequest) -> apps.AppIdentity:
    """The app asking: the callback URL's origin (its title as recorded, if any)."""
    if auth.callback_url is None:
        return HEADLESS_APP
    return apps.identify(callback_url=auth.callback_url, title=None, categories=None)


async def describe_app(store: Store, auth: AuthRequest, user_id: str | None = None) -> AppView:
    """Who asks, as ``user_id`` (None: a visitor not signed in) is to be shown it."""
    identity = identity_of(auth)
    if auth.callback is None:
        return AppView(name=identity.default_title, origin=None, kind=None)
    kind = auth.callback.kind
    if apps.is_local(identity.origin):
        # Every machine has its own localhost, every network its own 192.168.1.20: a title
        # recorded for this origin, even by this user's keys, says nothing about the program
        # this user reaches there now.
        return AppView(name=identity.default_title, origin=identity.origin, kind=kind)

    def read(tx: Transaction) -> apps.NamedApp | None:
        recorded = tx.apps.by_origin(identity.origin)
        if recorded is None:
            return None
        claimed = None if user_id is None else tx.apps.claimed_titles(user_id, [recorded.id])
        return apps.named(recorded, None if claimed is None else claimed.get(recorded.id))

    shown = await store.run(read)
    if shown is None:
        return AppView(name=identity.default_title, origin=identity.origin, kind=kind)
    return AppView(name=shown.name, origin=identity.origin, kind=kind, named_by=shown.named_by)


def chosen_limit(auth: AuthRequest, typed: str | None) -> Decimal | None:
    """The limit the user settled on: at most what the app asked for; empty means none, which
    only an app that asked for no limit can get."""
    asked = auth.request.limit
    text = (typed or "").strip()
    if not text:
        if asked is not None:
            raise InvalidInput("limit", f"must be at most {format_usd(asked)}, as the app asked")
        return None
    try:
        amount = parse_amount(text)
    except ValueError as error:
        raise InvalidInput("limit", str(error)) from None
    if asked is not None and amount > asked:
        raise InvalidInput(
            "limit", f"must be at most {format_usd(asked)}; you can lower it, not raise it"
        )
    return amount


async def approve(
    store: Store,
    *,
    user_id: str,
    auth: AuthRequest,
    limit: Decimal | None,
    now: datetime,
    ttl: timedelta,
) -> Approval:
    """Create the code, exactly as the API would, for ``user_id``'s approval."""
    request = auth.request.model_copy(update={"limit": limit})
    created = await codes.create_code(
        store,
        user_id=user_id,
        request=request,
        app=identity_of(auth),
        now=now,
        ttl=ttl,
        headless=auth.headless,
    )
    if auth.callback_url is None:
        return Approval(code=created.code, redirect_to=None)
    return Approval(
        code=created.code,
        redirect_to=with_query(auth.callback_url, [("code", created.code)], auth.state),
    )


def denial_redirect(auth: AuthRequest) -> str | None:
    """Where Deny sends the browser: the callback with ``error=access_denied``; None if headless."""
    if auth.callback_url is None:
        return None
    return with_query(auth.callback_url, [("error", "access_denied")], auth.state)


def with_query(url: str, params: list[tuple[str, str]], state: str | None) -> str:
    """``url`` with ``params`` (and ``state``) added after its own query, which is kept as is."""
    if state is not None:
        params = [*params, ("state", state)]
    parts = urlsplit(url)
    added = urlencode(params)
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit(parts._replace(query=query))


def format_usd(amount: Decimal | float) -> str:
    """``$5``, ``$12.50``, ``$0.000001``: cents when there are any, more only when needed."""
    value = Decimal(str(amount))
    if value == value.to_integral_value():
        return f"${value:,.0f}"
    if value == value.quantize(Decimal("0.01")):
        return f"${value:,.2f}"
    return f"${value.normalize():,f}"
