"""Signing in, up and out: ``/sign-in``, ``/sign-up`` and ``/sign-out``. Thin: the rules (rate
limits, the audit of failures, CSRF) live in services/sessions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelgates.server.services import consent, sessions
from modelgates.server.services.errors import Conflict, InvalidInput
from modelgates.server.web.pages import (
    PageError,
    Visitor,
    first_message,
    forget_session,
    read_form,
    redirect,
    render,
    safe_next,
    set_session,
)


def sign_in_form(
    visitor: Visitor,
    *,
    next_url: str,
    app: consent.AppView | None = None,
    status: int = 200,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        visitor,
        "sign_in.html",
        status=status,
        headers=headers,
        title="Sign in",
        app=app,
        next_url=next_url,
        email=email,
        error=error,
        notice=notice,
        allow_signup=visitor.ctx.settings.allow_signup,
    )


async def sign_in_page(request: Request, visitor: Visitor) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if visitor.user is not None:
        return redirect(visitor, visitor.root + next_url)
    return sign_in_form(visitor, next_url=next_url)


async def _credentials(request: Request, visitor: Visitor) -> tuple[str, str, str]:
    """The sign-in or sign-up form's destination, e-mail and password, once its CSRF token
    checks out."""
    form = await read_form(request, visitor.ctx.settings.max_body_bytes)
    visitor.check_browser_form(form)
    return safe_next(form.get("next")), form.get("email", "")[:320], form.get("password", "")


def _signed_in(visitor: Visitor, session: sessions.Session, next_url: str) -> Response:
    visitor.stale_session = False
    response = redirect(visitor, visitor.root + next_url)
    set_session(visitor, response, session)
    return response


async def sign_in(request: Request, visitor: Visitor) -> Response:
    ctx = visitor.ctx
    next_url, email, password = await _credentials(request, visitor)
    try:
        session = await sessions.sign_in(
            ctx.store,
            ctx.limiter,
            email=email,
            password=password,
            client_address=visitor.client_address,
            now=ctx.now(),
        )
    except sessions.SignInRefused as refused:
        return sign_in_form(
            visitor, next_url=next_url, status=400, email=email, error=refused.message
        )
    except sessions.TooManyAttempts as limited:
        return sign_in_form(
            visitor,
            next_url=next_url,
            status=429,
            email=email,
            error=limited.message,
            headers=limited.headers,
        )
    return _signed_in(visitor, session, next_url)


def _sign_up_form(
    visitor: Visitor,
    *,
    next_url: str,
    status: int = 200,
    email: str = "",
    error: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        visitor,
        "sign_up.html",
        status=status,
        headers=headers,
        title="Create an account",
        next_url=next_url,
        email=email,
        error=error,
    )


def _require_signup(visitor: Visitor) -> None:
    if not visitor.ctx.settings.allow_signup:
        raise PageError(
            404, "No sign-up here", "This server's operator creates accounts; ask them for one."
        )


async def sign_up_page(request: Request, visitor: Visitor) -> Response:
    _require_signup(visitor)
    return _sign_up_form(visitor, next_url=safe_next(request.query_params.get("next")))


async def sign_up(request: Request, visitor: Visitor) -> Response:
    _require_signup(visitor)
    ctx = visitor.ctx
    next_url, email, password = await _credentials(request, visitor)
    try:
        session = await sessions.sign_up(
            ctx.store,
            ctx.limiter,
            email=email,
            password=password,
            client_address=visitor.client_address,
            now=ctx.now(),
        )
    except InvalidInput as invalid:
        field = (invalid.metadata or {}).get("field", "")
        message = f"The {'email' if field == 'email' else 'password'} {first_message(invalid)}."
        return _sign_up_form(visitor, next_url=next_url, status=400, email=email, error=message)
    except Conflict:
        return _sign_up_form(
            visitor,
            next_url=next_url,
            status=400,
            email=email,
            error="An account with this email exists already. Sign in instead.",
        )
    except sessions.TooManyAttempts as limited:
        return _sign_up_form(
            visitor,
            next_url=next_url,
            status=429,
            email=email,
            error=limited.message,
            headers=limited.headers,
        )
    return _signed_in(visitor, session, next_url)


async def sign_out(request: Request, visitor: Visitor) -> Response:
    form = await read_form(request, visitor.ctx.settings.max_body_bytes)
    next_url = safe_next(form.get("next"))
    if visitor.user is not None:
        visitor.check_session_form(form)
        await sessions.sign_out(visitor.ctx.store, visitor.session_token)
    response = redirect(visitor, visitor.root + next_url)
    forget_session(visitor, response)
    return response
