"""``/account``: the account page, a new management key, and revoking a key or an app's access
(a GET that asks, then the POST of the page it showed). Thin: the rules live in
services/account."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from modelgates.models.base import RowId
from modelgates.server.api.context import limit_rate
from modelgates.server.services import account, spending
from modelgates.server.services.errors import InvalidInput, NotFound
from modelgates.server.store import Store
from modelgates.server.web import chart, pages
from modelgates.server.web.pages import (
    Handler,
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
    now = ctx.now()
    overview = await account.overview(ctx.store, user_id, now)
    spent = await spending.spending(ctx.store, user_id, now)
    return render(
        visitor,
        "account.html",
        status=status,
        title="Your account",
        overview=overview,
        spending=spent,
        chart=_daily_chart(spent),
        name_error=name_error,
    )


def _daily_chart(spent: spending.Spending) -> chart.Chart:
    """Each day's spend, stacked by app."""
    labels = {series.index: series.label for series in spent.series}
    busiest = max(spent.days, key=lambda day: day.micros)
    return chart.stacked_columns(
        [
            chart.Column(
                pages.day_label(day.day),
                [chart.Segment(index, micros, labels[index]) for index, micros in day.parts],
            )
            for day in spent.days
        ],
        element_id="spend-chart",
        title=f"Spend per day, {pages.day_label(spent.since)} to {pages.day_label(spent.until)}",
        desc=(
            f"Spend per UTC day, one column a day, stacked by app: {pages.micros_usd(spent.micros)}"
            f" in all; the most on one day was {pages.micros_usd(busiest.micros)}, on "
            f"{pages.day_label(busiest.day)}. The tables below give every figure."
        ),
        amount=pages.micros_usd,
    )


async def account_page(_request: Request, visitor: Visitor) -> Response:
    if visitor.user is None:
        return sign_in_form(visitor, next_url="/account")
    return await _account_form(visitor)


async def create_key(request: Request, visitor: Visitor) -> Response:
    user_id, form = await signed_in_form(request, visitor)
    ctx = visitor.ctx
    # The API's allowance: keys made here and through /api/v1/keys count alike.
    await limit_rate(ctx, ctx.settings.rate_limit_create_key, "create-key", user_id)
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


# --- revoking: a GET that asks, then the POST of the page it showed ----------------------------

Found = TypeVar("Found")
Id = TypeVar("Id")


@dataclass(frozen=True)
class _Revocable(Generic[Found, Id]):
    """A key, or an app's access: what its confirmation page and its revoking differ in."""

    #: The path parameter that names it, and how its text is read (NotFound if it names nothing).
    param: str
    parse: Callable[[str], Id]
    #: The 404's title and message when it is not (or no longer) the user's to revoke.
    missing: tuple[str, str]
    find: Callable[[Store, str, Id, datetime], Awaitable[Found]]
    revoke: Callable[[Store, str, Id, datetime], Awaitable[object]]
    #: The confirmation page's title, its form's action, and what it shows (key or access).
    confirmation: Callable[[Found], dict[str, Any]]


_ROW_ID: TypeAdapter[int] = TypeAdapter(RowId)


def _row_id(text: str) -> int:
    # Starlette's int convertor takes any run of digits, and a number past the column's range
    # reached the database (OverflowError from sqlite3, "out of range" from PostgreSQL): a 500.
    try:
        return _ROW_ID.validate_python(text)
    except ValidationError:
        raise NotFound("No such id.") from None


_KEY = _Revocable(
    param="hash",
    parse=str,
    missing=("No such key", "It may have been revoked already."),
    find=account.key_view,
    revoke=account.revoke_key,
    confirmation=lambda key: {
        "title": f"Revoke the key “{key.record.label}”?",
        "action": f"/account/keys/{key.hash}/revoke",
        "key": key,
        "access": None,
    },
)
_APP = _Revocable(
    param="app_id",
    parse=_row_id,
    missing=("No such app", "It may hold no key of yours any more."),
    find=account.app_keys,
    revoke=account.revoke_app,
    confirmation=lambda access: {
        "title": f"Revoke access for {access.app.name}?",
        "action": f"/account/apps/{access.app.id}/revoke",
        "key": None,
        "access": access,
    },
)


def _confirm(what: _Revocable[Found, Id]) -> Handler:
    async def confirm(request: Request, visitor: Visitor) -> Response:
        """What Revoke leads to: what it revokes, named, and the form that revokes it. A GET,
        so that following the link changes nothing."""
        if visitor.user is None:
            return sign_in_form(visitor, next_url="/account")
        ctx = visitor.ctx
        try:
            named = what.parse(request.path_params[what.param])
            found = await what.find(ctx.store, visitor.user.id, named, ctx.now())
        except NotFound:
            raise PageError(404, *what.missing) from None
        return render(visitor, "confirm_revoke.html", **what.confirmation(found))

    return confirm


def _revoke(what: _Revocable[Found, Id]) -> Handler:
    async def revoke(request: Request, visitor: Visitor) -> Response:
        user_id, _form = await signed_in_form(request, visitor)
        ctx = visitor.ctx
        try:
            named = what.parse(request.path_params[what.param])
            await what.revoke(ctx.store, user_id, named, ctx.now())
        except NotFound:
            raise PageError(404, *what.missing) from None
        return redirect(visitor, visitor.root + "/account")

    return revoke


confirm_revoke_key = _confirm(_KEY)
revoke_key = _revoke(_KEY)
confirm_revoke_app = _confirm(_APP)
revoke_app = _revoke(_APP)
