"""``/account``: the account page, a new management key, and revoking a key or an app's access
(a GET that asks, then the POST of the page it showed). Thin: the rules live in
services/account."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelgates.server.services import account
from modelgates.server.services.errors import InvalidInput, NotFound
from modelgates.server.web.pages import (
    PageError,
    Visitor,
    first_message,
    redirect,
    render,
    require_user,
    signed_in_form,
)
from modelgates.server.web.sign_in import sign_in_form


async def home(_request: Request, visitor: Visitor) -> Response:
    return redirect(visitor, visitor.root + "/account")


async def _account_form(
    visitor: Visitor, *, status: int = 200, name_error: str | None = None
) -> Response:
    user_id = require_user(visitor)
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


async def account_page(_request: Request, visitor: Visitor) -> Response:
    if visitor.user is None:
        return sign_in_form(visitor, next_url="/account")
    return await _account_form(visitor)


async def create_key(request: Request, visitor: Visitor) -> Response:
    user_id, form = await signed_in_form(request, visitor)
    ctx = visitor.ctx
    try:
        issued = await account.create_management_key(
            ctx.store, user_id, form.get("name", ""), ctx.now()
        )
    except InvalidInput as invalid:
        return await _account_form(
            visitor, status=400, name_error=f"The name {first_message(invalid)}."
        )
    return render(
        visitor, "new_key.html", scripts=True, title="Your new key", key=issued.key, row=issued.row
    )


async def confirm_revoke_key(request: Request, visitor: Visitor) -> Response:
    """What Revoke on a key leads to: the key named, and the form that revokes it. A GET, so
    that following the link changes nothing."""
    if visitor.user is None:
        return sign_in_form(visitor, next_url="/account")
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


async def confirm_revoke_app(request: Request, visitor: Visitor) -> Response:
    if visitor.user is None:
        return sign_in_form(visitor, next_url="/account")
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


async def revoke_key(request: Request, visitor: Visitor) -> Response:
    user_id, _form = await signed_in_form(request, visitor)
    ctx = visitor.ctx
    try:
        await account.revoke_key(ctx.store, user_id, request.path_params["hash"], ctx.now())
    except NotFound:
        raise PageError(404, "No such key", "It may have been revoked already.") from None
    return redirect(visitor, visitor.root + "/account")


async def revoke_app(request: Request, visitor: Visitor) -> Response:
    user_id, _form = await signed_in_form(request, visitor)
    ctx = visitor.ctx
    try:
        await account.revoke_app(ctx.store, user_id, request.path_params["app_id"], ctx.now())
    except NotFound:
        raise PageError(404, "No such app", "It may hold no key of yours any more.") from None
    return redirect(visitor, visitor.root + "/account")
