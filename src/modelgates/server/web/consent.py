"""``/auth``: the consent page (GET) and its Approve or Deny (POST). Thin: the rules live in
services/consent."""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from modelgates.server.services import consent
from modelgates.server.services.errors import Conflict, InvalidInput
from modelgates.server.web.pages import (
    PageError,
    Visitor,
    error_page,
    first_message,
    read_form,
    redirect,
    render,
)
from modelgates.server.web.sign_in import sign_in_form

# An origin that can stand in a CSP source list as it is (no IPv6 literal, no odd characters).
_CSP_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(?::[0-9]{1,5})?")


def _auth_request(request: Request, visitor: Visitor) -> consent.AuthRequest:
    try:
        return consent.parse(
            request.query_params.multi_items(),
            visitor.ctx.now(),
            allow_private_http=visitor.ctx.settings.allow_private_http_callbacks,
        )
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


async def auth_page(request: Request, visitor: Visitor) -> Response:
    try:
        auth = _auth_request(request, visitor)
    except _InvalidRequest as error:
        return _invalid_request_page(visitor, error.problems)
    app = await consent.describe_app(
        visitor.ctx.store, auth, visitor.user.id if visitor.user else None
    )
    if visitor.user is None:
        return sign_in_form(visitor, next_url=_this_auth_url(request), app=app)
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
    if auth.callback is None:
        return None
    origin = auth.callback.origin
    if _CSP_ORIGIN.fullmatch(origin):
        return origin
    # A scheme source: a native app's (vscode:), or http: for an IPv6 literal's origin.
    return origin.partition(":")[0] + ":"


async def auth_decide(request: Request, visitor: Visitor) -> Response:
    try:
        auth = _auth_request(request, visitor)
    except _InvalidRequest as error:
        return _invalid_request_page(visitor, error.problems)
    ctx = visitor.ctx
    form = await read_form(request, ctx.settings.max_body_bytes)
    if visitor.user is None:
        app = await consent.describe_app(ctx.store, auth)  # signed out: no one's own titles
        return sign_in_form(
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
        app = await consent.describe_app(ctx.store, auth, visitor.user.id)
        return _consent_form(
            request,
            visitor,
            auth,
            app,
            status=400,
            typed_limit=form.get("limit", ""),
            limit_error=f"The limit {first_message(error)}.",
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
