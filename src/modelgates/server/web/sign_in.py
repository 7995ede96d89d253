"""Signing in, up and out: ``/sign-in``, ``/sign-up`` and ``/sign-out``. Thin: the rules (rate
limits, the audit of failures, CSRF) live in services/sessions.

Signing in and signing up are one form (an e-mail and a password) with one pair of handlers;
what differs between them is a :class:`_Door`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from modelgates.server.services import consent, sessions
from modelgates.server.services.errors import InvalidInput, ServiceError
from modelgates.server.web.pages import (
    Handler,
    PageError,
    Visitor,
    first_message,
    forget_session,
    read_form,
    redirect,
    render,
    safe_next,
    set_device,
    set_session,
)


@dataclass(frozen=True)
class _Door:
    """What differs between signing in and signing up."""

    template: str
    title: str
    #: ``sessions.sign_in`` or ``sessions.sign_up``, which take the same arguments: a new
    #: session, None (sign-up: the sign-in form follows, whether or not the e-mail was new), or
    #: a refusal. The rules, rate limits and audit events are theirs.
    start: Callable[..., Awaitable[sessions.Session | None]]
    #: What ``start`` refuses that the form shows again (400) with ``message(refusal)``; a rate
    #: limit (429) is shown the same way by both.
    refusals: tuple[type[ServiceError], ...]
    message: Callable[[ServiceError], str]
    #: Offered only where the operator allows sign-up (else 404, before the form is read).
    needs_signup_allowed: bool
    #: A signed-in visitor asking for the form goes on to ``next`` instead.
    skips_signed_in: bool


def _sign_up_refusal(refusal: ServiceError) -> str:
    if not isinstance(refusal, InvalidInput):  # the door's refusals are InvalidInput alone
        return refusal.message
    field = (refusal.metadata or {}).get("field", "")
    return f"The {'email' if field == 'email' else 'password'} {first_message(refusal)}."


#: What a sign-up is answered with, whether the e-mail was new or had an account already.
SIGNED_UP = (
    "If this email was new here, its account is ready: sign in with it to continue. "
    "If it had an account already, sign in with that account's password."
)


_SIGN_IN = _Door(
    template="sign_in.html",
    title="Sign in",
    start=sessions.sign_in,
    refusals=(sessions.SignInRefused,),
    message=lambda refusal: refusal.message,
    needs_signup_allowed=False,
    skips_signed_in=True,
)
_SIGN_UP = _Door(
    template="sign_up.html",
    title="Create an account",
    start=sessions.sign_up,
    refusals=(InvalidInput,),
    message=_sign_up_refusal,
    needs_signup_allowed=True,
    skips_signed_in=False,
)


def _form(
    visitor: Visitor,
    door: _Door,
    *,
    next_url: str,
    app: consent.AppView | None = None,
    status: int = 200,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    # sign_up.html shows neither an app, a notice nor a link to itself.
    return render(
        visitor,
        door.template,
        status=status,
        headers=headers,
        title=door.title,
        app=app,
        next_url=next_url,
        email=email,
        error=error,
        notice=notice,
        allow_signup=visitor.ctx.settings.allow_signup,
    )


def sign_in_form(
    visitor: Visitor,
    *,
    next_url: str,
    app: consent.AppView | None = None,
    notice: str | None = None,
) -> Response:
    """The sign-in form, for a signed-out visitor of a page that needs a user."""
    return _form(visitor, _SIGN_IN, next_url=next_url, app=app, notice=notice)


def _check_offered(door: _Door, visitor: Visitor) -> None:
    if door.needs_signup_allowed and not visitor.ctx.settings.allow_signup:
        raise PageError(
            404, "No sign-up here", "This server's operator creates accounts; ask them for one."
        )


def _show(door: _Door) -> Handler:
    async def show(request: Request, visitor: Visitor) -> Response:
        _check_offered(door, visitor)
        next_url = safe_next(request.query_params.get("next"))
        if door.skips_signed_in and visitor.user is not None:
            return redirect(visitor, visitor.root + next_url)
        return _form(visitor, door, next_url=next_url)

    return show


async def _credentials(request: Request, visitor: Visitor) -> tuple[str, str, str]:
    """The form's destination, e-mail and password, once its CSRF token checks out."""
    form = await read_form(request, visitor.ctx.settings.max_body_bytes)
    visitor.check_browser_form(form)
    return safe_next(form.get("next")), form.get("email", "")[:320], form.get("password", "")


def _submit(door: _Door) -> Handler:
    async def submit(request: Request, visitor: Visitor) -> Response:
        _check_offered(door, visitor)
        ctx = visitor.ctx
        next_url, email, password = await _credentials(request, visitor)
        try:
            session = await door.start(
                ctx.store,
                ctx.limiter,
                email=email,
                password=password,
                client_address=visitor.client_address,
                now=ctx.now(),
                server_secret=ctx.secret,
                device_cookie=visitor.device,
            )
        except sessions.TooManyAttempts as limited:
            return _form(
                visitor,
                door,
                next_url=next_url,
                status=429,
                email=email,
                error=limited.message,
                headers=limited.headers,
            )
        except door.refusals as refusal:
            return _form(
                visitor,
                door,
                next_url=next_url,
                status=400,
                email=email,
                error=door.message(refusal),
            )
        if session is None:  # signed up, or not: the same answer
            return _form(visitor, _SIGN_IN, next_url=next_url, email=email, notice=SIGNED_UP)
        visitor.stale_session = False
        response = redirect(visitor, visitor.root + next_url)
        set_session(visitor, response, session)
        if session.device_cookie is not None:
            set_device(visitor, response, session.device_cookie)
        return response

    return submit


sign_in_page = _show(_SIGN_IN)
sign_in = _submit(_SIGN_IN)
sign_up_page = _show(_SIGN_UP)
sign_up = _submit(_SIGN_UP)


async def sign_out(request: Request, visitor: Visitor) -> Response:
    form = await read_form(request, visitor.ctx.settings.max_body_bytes)
    next_url = safe_next(form.get("next"))
    if visitor.user is not None:
        visitor.check_session_form(form)
        await sessions.sign_out(visitor.ctx.store, visitor.session_token)
    response = redirect(visitor, visitor.root + next_url)
    forget_session(visitor, response)
    return response
