"""What every page handler needs: who the visitor is, reading a form, rendering, cookies, and
:func:`page`, which turns any refusal into the error page."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from modelgates.models.base import MAX_KEY_LABEL_LENGTH
from modelgates.server.api.context import AppContext, client_address, context_of
from modelgates.server.services import consent, sessions
from modelgates.server.services.errors import InvalidInput, ServiceError
from modelgates.server.store import UserRow
from modelgates.server.web import chart
from modelgates.server.web.headers import csp

logger = logging.getLogger("modelgates.server")

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("modelgates.server.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# The wire models' limits, for the forms' own attributes (maxlength).
_env.globals["max_key_label_length"] = MAX_KEY_LABEL_LENGTH


def _when(value: datetime | None) -> str:
    if value is None:
        return "Never"
    value = value.astimezone(timezone.utc)
    return f"{value.day} {value:%b %Y, %H:%M} UTC"


def _usd(value: Decimal | float | None) -> str:
    return "No limit" if value is None else consent.format_usd(value)


def micros_usd(value: float) -> str:
    """Micro-dollars (a chart's half of an odd one too) as USD."""
    return consent.format_usd(Decimal(value).scaleb(-6))


def day_label(value: date) -> str:
    return f"{value.day} {value:%b}"


_env.globals["bar"] = chart.bar
_env.filters["when"] = _when
_env.filters["usd"] = _usd
_env.filters["micros"] = micros_usd
_env.filters["day"] = day_label

_MAX_FORM_FIELDS = 20
#: Where signing in may send the browser afterwards: our own pages only (no open redirector).
_NEXT = re.compile(r"/(?:auth|account)(?:\?[!-\"$-\[\]-~]*)?")


class PageError(Exception):
    """Answer with the error page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


@dataclass
class Visitor:
    """The browser behind a request: its cookies, and the user it is signed in as."""

    ctx: AppContext
    secure: bool
    root: str
    client_address: str
    session_token: str | None
    user: UserRow | None
    browser_secret: str
    #: The browser had no (valid) per-browser secret yet: the response must set it.
    new_browser_secret: bool
    #: The browser sent a session cookie that signs nobody in: the response clears it.
    stale_session: bool
    #: The device cookie an earlier sign-in left in this browser, if any (checked at sign-in).
    device: str | None = None

    @property
    def session_cookie(self) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only and
        # for the whole site, so a sibling subdomain cannot plant one.
        return "__Host-mg_session" if self.secure else "mg_session"

    @property
    def browser_cookie(self) -> str:
        return "__Host-mg_browser" if self.secure else "mg_browser"

    @property
    def device_cookie(self) -> str:
        return _device_cookie_name(self.secure)

    def session_csrf(self) -> str:
        if self.session_token is None:
            raise RuntimeError("a session's CSRF token for a visitor without a session")
        return sessions.csrf_token(self.session_token)

    def browser_csrf(self) -> str:
        return sessions.csrf_token(self.browser_secret)

    def check_session_form(self, form: dict[str, str]) -> None:
        """Refuse a signed-in form whose token is not this session's."""
        if self.user is None or not sessions.csrf_valid(self.session_token, form.get("csrf")):
            raise _forged()

    def check_browser_form(self, form: dict[str, str]) -> None:
        """Refuse a sign-in or sign-up form whose token is not this browser's."""
        if self.new_browser_secret or not sessions.csrf_valid(
            self.browser_secret, form.get("csrf")
        ):
            raise _forged()


def _forged() -> PageError:
    return PageError(
        403,
        "This form cannot be accepted",
        "It was not sent from this page in this browser, or it has expired. Nothing was changed. "
        "Go back, reload the page and try again.",
    )


async def visitor_of(request: Request) -> Visitor:
    ctx = context_of(request)
    secure = request.url.scheme == "https"
    session_name = "__Host-mg_session" if secure else "mg_session"
    browser_name = "__Host-mg_browser" if secure else "mg_browser"
    token = request.cookies.get(session_name) or None
    user = await sessions.user_of(ctx.store, token, ctx.now())
    secret = request.cookies.get(browser_name, "")
    fresh = not (20 <= len(secret) <= 100)
    return Visitor(
        ctx=ctx,
        secure=secure,
        root=request.scope.get("root_path", "").rstrip("/"),
        client_address=client_address(request) or "unknown",
        session_token=token if user is not None else None,
        user=user,
        browser_secret=sessions.new_browser_secret() if fresh else secret,
        new_browser_secret=fresh,
        stale_session=token is not None and user is None,
        device=request.cookies.get(_device_cookie_name(secure)) or None,
    )


def _device_cookie_name(secure: bool) -> str:
    return "__Host-mg_device" if secure else "mg_device"


async def read_form(request: Request, max_bytes: int) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind our forms send)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise PageError(415, "Unsupported form", "This page accepts only its own forms.")
    raw = bytearray()
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > max_bytes:
                raise PageError(413, "Form too large", "The form sent was too large.")
    except ClientDisconnect:
        raise PageError(400, "Form cut short", "The form arrived incomplete.") from None
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "Unreadable form", "The form sent could not be read.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def safe_next(value: str | None, default: str = "/account") -> str:
    """``value`` if it is one of our pages (``/auth?…`` or ``/account``), else ``default``."""
    if value and _NEXT.fullmatch(value):
        return value
    return default


def render(
    visitor: Visitor,
    template: str,
    *,
    status: int = 200,
    form_action: str | None = None,
    scripts: bool = False,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    html = _env.get_template(template).render(
        root=visitor.root,
        user=visitor.user,
        session_csrf=visitor.session_csrf() if visitor.user is not None else "",
        browser_csrf=visitor.browser_csrf(),
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers["content-security-policy"] = csp(form_action, scripts=scripts)
    return finish(visitor, response)


def render_anonymous(
    request: Request,
    template: str,
    *,
    status: int,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    """A page rendered as for a signed-out browser, without a :class:`Visitor`: it reads no
    cookie and no store and sets nothing, so that answering any address (a scanner's, or a
    404 while the database is down) costs no query. It must carry no form."""
    html = _env.get_template(template).render(
        root=request.scope.get("root_path", "").rstrip("/"),
        user=None,
        session_csrf="",
        browser_csrf="",
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers["content-security-policy"] = csp()
    return response


def redirect(visitor: Visitor, url: str) -> Response:
    return finish(visitor, RedirectResponse(url, status_code=303))


def error_page(
    visitor: Visitor,
    status: int,
    title: str,
    message: str,
    problems: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        visitor,
        "error.html",
        status=status,
        title=title,
        message=message,
        problems=problems or [],
        headers=headers,
    )


def finish(visitor: Visitor, response: Response) -> Response:
    """Set the per-browser cookie if it is new; clear a session cookie that no longer works."""
    if visitor.new_browser_secret:
        response.set_cookie(
            visitor.browser_cookie,
            visitor.browser_secret,
            max_age=180 * 24 * 3600,
            path="/",
            secure=visitor.secure,
            httponly=True,
            samesite="lax",
        )
    if visitor.stale_session:
        forget_session(visitor, response)
    return response


def set_session(visitor: Visitor, response: Response, session: sessions.Session) -> None:
    response.set_cookie(
        visitor.session_cookie,
        session.token,
        max_age=int(sessions.SESSION_TTL.total_seconds()),
        path="/",
        secure=visitor.secure,
        httponly=True,
        samesite="lax",
    )


def set_device(visitor: Visitor, response: Response, cookie: str) -> None:
    """Keep the browser known to the account it signed in to (sessions.DEVICE_TTL); signing
    out keeps it, as the browser stays the owner's."""
    response.set_cookie(
        visitor.device_cookie,
        cookie,
        max_age=int(sessions.DEVICE_TTL.total_seconds()),
        path="/",
        secure=visitor.secure,
        httponly=True,
        samesite="lax",
    )


def forget_session(visitor: Visitor, response: Response) -> None:
    response.delete_cookie(
        visitor.session_cookie, path="/", secure=visitor.secure, httponly=True, samesite="lax"
    )


# --- what the handlers share ---------------------------------------------------------------------

Handler = Callable[[Request, Visitor], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Run ``handler`` with the visitor; any refusal becomes the error page, never JSON."""

    async def endpoint(request: Request) -> Response:
        visitor = await visitor_of(request)
        try:
            return await handler(request, visitor)
        except PageError as error:
            return error_page(visitor, error.status, error.title, error.message)
        except ServiceError as error:
            return error_page(visitor, error.status, "This did not work", error.message)
        except Exception:
            logger.exception("unhandled error on %s %s", request.method, request.url.path)
            return error_page(
                visitor, 500, "Something went wrong", "Nothing was changed. Please try again."
            )

    return endpoint


def require_user(visitor: Visitor) -> str:
    if visitor.user is None:
        raise PageError(403, "You are signed out", "Sign in and try again. Nothing was changed.")
    return visitor.user.id


async def signed_in_form(request: Request, visitor: Visitor) -> tuple[str, dict[str, str]]:
    """The signed-in user's id and the form they posted, its CSRF token checked."""
    user_id = require_user(visitor)
    form = await read_form(request, visitor.ctx.settings.max_body_bytes)
    visitor.check_session_form(form)
    return user_id, form


def first_message(error: InvalidInput) -> str:
    errors = (error.metadata or {}).get("errors") or [{"message": error.message}]
    return str(errors[0]["message"])


async def post_only(_request: Request, visitor: Visitor) -> Response:
    """A GET where only a form's POST acts: refused, so that no link can act for the user."""
    return error_page(
        visitor,
        405,
        "Use the form",
        "This address only accepts the form on its page.",
        headers={"Allow": "POST"},
    )
