"""The pages' routes. Thin: the rules live in services/consent, sessions and account."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib import resources
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelgates.server.services import account, apps, consent, sessions
from modelgates.server.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from modelgates.server.web.pages import (
    PageError,
    Visitor,
    error_page,
    forget_session,
    read_form,
    redirect,
    render,
    safe_next,
    set_session,
    visitor_of,
)

logger = logging.getLogger("modelgates.server")

Handler = Callable[[Request, Visitor], Awaitable[Response]]
_STATIC = resources.files("modelgates.server.web") / "static"
_STYLESHEET = (_STATIC / "modelgates.css").read_bytes()
_COPY_SCRIPT = (_STATIC / "copy.js").read_bytes()
# An origin that can stand in a CSP source list as it is (no IPv6 literal, no odd characters).
_CSP_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(?::[0-9]{1,5})?")


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


# --- /auth: the consent page ---------------------------------------------------------------


def _auth_request(request: Request, visitor: Visitor) -> consent.AuthRequest:
    try:
        return consent.parse(request.query_params.multi_items(), visitor.ctx.now())
    except consent.InvalidAuthRequest as error:
        raise _InvalidRequest(error.problems) from None


class _InvalidRequest(Exception):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("invalid authorization request")
        self.problems = problems


def _invalid_request_page(visitor: Visitor, problems: list[tuple[str, str]]) -> Response:
    return error_page(
        visitor,
        400,
        "This sign-in link is not valid",
        "The app that sent you here made a mistake in its request, so ModelGates cannot go on. "
        "Nothing was shared with the app. You can close this page.",
        problems,
    )


def _this_auth_url(request: Request) -> str:
    query = request.url.query
    return f"/auth?{query}" if query else "/auth"


async def _auth_page(request: Request, visitor: Visitor) -> Response:
    try:
        auth = _auth_request(request, visitor)
    except _InvalidRequest as error:
        return _invalid_request_page(visitor, error.problems)
    app = await consent.describe_app(visitor.ctx.store, auth)
    if visitor.user is None:
        return _sign_in_form(visitor, next_url=_this_auth_url(request), app=app)
    return _consent_form(request, visitor, auth, app)


def _consent_form(
    request: Request,
    visitor: Visitor,
    auth: consent.AuthRequest,
    app: consent.AppView,
    *,
    status: int = 200,
    typed_limit: str | None = None,
    limit_error: str | None = None,
) -> Response:
    asked = auth.request.limit
    shown_limit = typed_limit
    if shown_limit is None:
        shown_limit = "" if asked is None else format(asked.normalize(), "f")
    return render(
        visitor,
        "consent.html",
        status=status,
        form_action=_callback_source(auth),
        title=f"Authorize {app.name}",
        app=app,
        auth=auth,
        ask=auth.request,
        action=_this_auth_url(request),
        limit_value=shown_limit,
        limit_error=limit_error,
    )


def _callback_source(auth: consent.AuthRequest) -> str | None:
    """What CSP's ``form-action`` must also allow: browsers apply it to the redirect that
    follows Approve or Deny."""
    if auth.callback_url is None:
        return None
    origin = apps.origin_of(auth.callback_url)
    if origin is not None and _CSP_ORIGIN.fullmatch(origin):
        return origin
    return f"{urlsplit(auth.callback_url).scheme}:"


async def _auth_decide(request: Request, visitor: Visitor) -> Response:
    try:
        auth = _auth_request(request, visitor)
    except _InvalidRequest as error:
        return _invalid_request_page(visitor, error.problems)
    ctx = visitor.ctx
    form = await read_form(request, ctx.settings.max_body_bytes)
    if visitor.user is None:
        app = await consent.describe_app(ctx.store, auth)
        return _sign_in_form(
            visitor,
            next_url=_this_auth_url(request),
            app=app,
            notice="You were signed out. Sign in again to continue; nothing was approved yet.",
        )
    visitor.check_session_form(form)
    decision = form.get("decision")
    if decision == "deny":
        target = consent.denial_redirect(auth)
        if target is None:
            return render(visitor, "denied.html", title="Request denied")
        return redirect(visitor, target)
    if decision != "approve":
        raise PageError(400, "Unknown choice", "Choose Approve or Deny.")
    try:
        limit = consent.chosen_limit(auth, form.get("limit"))
    except InvalidInput as error:
        app = await consent.describe_app(ctx.store, auth)
        return _consent_form(
            request,
            visitor,
            auth,
            app,
            status=400,
            typed_limit=form.get("limit", ""),
            limit_error=f"The limit {_first_message(error)}.",
        )
    try:
        approval = await consent.approve(
            ctx.store,
            user_id=visitor.user.id,
            auth=auth,
            limit=limit,
            now=ctx.now(),
            ttl=timedelta(seconds=ctx.settings.code_ttl_seconds),
        )
    except Conflict:
        raise PageError(
            409,
            "This request was approved already",
            "Each sign-in request can be approved once. Go back to the app and start again.",
        ) from None
    if approval.redirect_to is None:
        return render(
            visitor,
            "code.html",
            scripts=True,
            title="Your authorization code",
            code=approval.code,
            code_minutes=max(1, ctx.settings.code_ttl_seconds // 60),
        )
    return redirect(visitor, approval.redirect_to)


def _first_message(error: InvalidInput) -> str:
    errors = (error.metadata or {}).get("errors") or [{"message": error.message}]
    return str(errors[0]["message"])


# --- signing in, up and out ----------------------------------------------------------------


def _sign_in_form(
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


async def _sign_in_page(request: Request, visitor: Visitor) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if visitor.user is not None:
        return redirect(visitor, visitor.root + next_url)
    return _sign_in_form(visitor, next_url=next_url)


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


async def _sign_in(request: Request, visitor: Visitor) -> Response:
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
        return _sign_in_form(
            visitor, next_url=next_url, status=400, email=email, error=refused.message
        )
    except sessions.TooManyAttempts as limited:
        return _sign_in_form(
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


async def _sign_up_page(request: Request, visitor: Visitor) -> Response:
    _require_signup(visitor)
    return _sign_up_form(visitor, next_url=safe_next(request.query_params.get("next")))


async def _sign_up(request: Request, visitor: Visitor) -> Response:
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
        message = f"The {'email' if field == 'email' else 'password'} {_first_message(invalid)}."
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


async def _sign_out(request: Request, visitor: Visitor) -> Response:
    form = await read_form(request, visitor.ctx.settings.max_body_bytes)
    next_url = safe_next(form.get("next"))
    if visitor.user is not None:
        visitor.check_session_form(form)
        await sessions.sign_out(visitor.ctx.store, visitor.session_token)
    response = redirect(visitor, visitor.root + next_url)
    forget_session(visitor, response)
    return response


# --- /account --------------------------------------------------------------------------------


def _require_user(visitor: Visitor) -> str:
    if visitor.user is None:
        raise PageError(403, "You are signed out", "Sign in and try again. Nothing was changed.")
    return visitor.user.id


async def _signed_in_form(request: Request, visitor: Visitor) -> tuple[str, dict[str, str]]:
    """The signed-in user's id and the form they posted, its CSRF token checked."""
    user_id = _require_user(visitor)
    form = await read_form(request, visitor.ctx.settings.max_body_bytes)
    visitor.check_session_form(form)
    return user_id, form


async def _account_form(
    visitor: Visitor, *, status: int = 200, name_error: str | None = None
) -> Response:
    user_id = _require_user(visitor)
    ctx = visitor.ctx
    overview = await account.overview(ctx.store, user_id, ctx.now())
    return render(
        visitor,
        "account.html",
        status=status,
        title="Your account",
        overview=overview,
        name_error=name_error,
    )


async def _account_page(_request: Request, visitor: Visitor) -> Response:
    if visitor.user is None:
        return _sign_in_form(visitor, next_url="/account")
    return await _account_form(visitor)


async def _create_key(request: Request, visitor: Visitor) -> Response:
    user_id, form = await _signed_in_form(request, visitor)
    ctx = visitor.ctx
    try:
        issued = await account.create_management_key(
            ctx.store, user_id, form.get("name", ""), ctx.now()
        )
    except InvalidInput as invalid:
        return await _account_form(
            visitor, status=400, name_error=f"The name {_first_message(invalid)}."
        )
    return render(
        visitor, "new_key.html", scripts=True, title="Your new key", key=issued.key, row=issued.row
    )


async def _confirm_revoke_key(request: Request, visitor: Visitor) -> Response:
    """What Revoke on a key leads to: the key named, and the form that revokes it. A GET, so
    that following the link changes nothing."""
    if visitor.user is None:
        return _sign_in_form(visitor, next_url="/account")
    ctx = visitor.ctx
    try:
        key = await account.key_view(
            ctx.store, visitor.user.id, request.path_params["hash"], ctx.now()
        )
    except NotFound:
        raise PageError(404, "No such key", "It may have been revoked already.") from None
    return render(
        visitor,
        "confirm_revoke.html",
        title=f"Revoke the key “{key.record.label}”?",
        action=f"/account/keys/{key.hash}/revoke",
        key=key,
        access=None,
    )


async def _confirm_revoke_app(request: Request, visitor: Visitor) -> Response:
    if visitor.user is None:
        return _sign_in_form(visitor, next_url="/account")
    ctx = visitor.ctx
    app_id = request.path_params["app_id"]
    try:
        access = await account.app_keys(ctx.store, visitor.user.id, app_id, ctx.now())
    except NotFound:
        raise PageError(404, "No such app", "It may hold no key of yours any more.") from None
    return render(
        visitor,
        "confirm_revoke.html",
        title=f"Revoke access for {access.app.title}?",
        action=f"/account/apps/{access.app.id}/revoke",
        key=None,
        access=access,
    )


async def _revoke_key(request: Request, visitor: Visitor) -> Response:
    user_id, _form = await _signed_in_form(request, visitor)
    ctx = visitor.ctx
    try:
        await account.revoke_key(ctx.store, user_id, request.path_params["hash"], ctx.now())
    except NotFound:
        raise PageError(404, "No such key", "It may have been revoked already.") from None
    return redirect(visitor, visitor.root + "/account")


async def _revoke_app(request: Request, visitor: Visitor) -> Response:
    user_id, _form = await _signed_in_form(request, visitor)
    ctx = visitor.ctx
    try:
        await account.revoke_app(ctx.store, user_id, request.path_params["app_id"], ctx.now())
    except NotFound:
        raise PageError(404, "No such app", "It may hold no key of yours any more.") from None
    return redirect(visitor, visitor.root + "/account")


# --- the rest ----------------------------------------------------------------------------------


async def _home(_request: Request, visitor: Visitor) -> Response:
    return redirect(visitor, visitor.root + "/account")


async def _post_only(_request: Request, visitor: Visitor) -> Response:
    """A GET where only a form's POST acts: refused, so that no link can act for the user."""
    return error_page(
        visitor,
        405,
        "Use the form",
        "This address only accepts the form on its page.",
        headers={"Allow": "POST"},
    )


async def _stylesheet(_request: Request) -> Response:
    return Response(_STYLESHEET, media_type="text/css")


async def _copy_script(_request: Request) -> Response:
    return Response(_COPY_SCRIPT, media_type="text/javascript")


def routes() -> list[BaseRoute]:
    acting = [("/sign-out", _sign_out), ("/account/keys", _create_key)]
    # Revoking is a GET that asks, then the POST of the page it showed.
    revoking = [
        ("/account/keys/{hash}/revoke", _confirm_revoke_key, _revoke_key),
        ("/account/apps/{app_id:int}/revoke", _confirm_revoke_app, _revoke_app),
    ]
    return [
        Route("/", page(_home), methods=["GET"]),
        Route("/auth", page(_auth_page), methods=["GET"]),
        Route("/auth", page(_auth_decide), methods=["POST"]),
        Route("/sign-in", page(_sign_in_page), methods=["GET"]),
        Route("/sign-in", page(_sign_in), methods=["POST"]),
        Route("/sign-up", page(_sign_up_page), methods=["GET"]),
        Route("/sign-up", page(_sign_up), methods=["POST"]),
        Route("/account", page(_account_page), methods=["GET"]),
        *(Route(path, page(handler), methods=["POST"]) for path, handler in acting),
        *(Route(path, page(_post_only), methods=["GET"]) for path, _ in acting),
        *(Route(path, page(ask), methods=["GET"]) for path, ask, _ in revoking),
        *(Route(path, page(act), methods=["POST"]) for path, _, act in revoking),
        Route("/static/modelgates.css", _stylesheet, methods=["GET"]),
        Route("/static/copy.js", _copy_script, methods=["GET"]),
    ]
