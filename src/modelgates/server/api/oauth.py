"""``POST /api/v1/auth/keys/code`` and ``POST /api/v1/auth/keys``."""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.requests import Request

from modelgates.models import endpoints
from modelgates.models.oauth import (
    AuthCodeData,
    CreateAuthCodeRequest,
    CreateAuthCodeResponse,
    ExchangeAuthCodeRequest,
    ExchangeAuthCodeResponse,
)
from modelgates.server.api.bodies import BodyRejected, invalid_fields
from modelgates.server.api.context import client_address, limit_rate
from modelgates.server.api.routing import ApiCall, handles
from modelgates.server.services import apps, callbacks, codes


@handles(endpoints.CREATE_AUTH_CODE)
async def create_auth_code(call: ApiCall) -> CreateAuthCodeResponse:
    ctx = call.ctx
    # Per user: each key a user makes must not bring an allowance of its own.
    user_id = call.caller.user_id
    await limit_rate(ctx, ctx.settings.rate_limit_create_code, "create-code", user_id)
    idempotency_key = _idempotency_key(call.request)
    body = await call.body(CreateAuthCodeRequest)
    try:
        callbacks.read(
            body.callback_url, allow_private_http=ctx.settings.allow_private_http_callbacks
        )
    except callbacks.CallbackRefused as refused:
        raise invalid_fields([{"field": "callback_url", "message": str(refused)}]) from None
    app = apps.identify(
        callback_url=body.callback_url,
        title=call.header("x-modelgates-title") or call.header("x-title"),
        categories=call.header("x-modelgates-categories"),
    )
    if not await apps.is_known(ctx.store, app.origin):
        # Every new origin is a row of apps for good: how many a user may bring is bounded.
        await limit_rate(ctx, ctx.settings.rate_limit_create_app, "create-app", user_id)
    created = await codes.create_code(
        ctx.store,
        user_id=user_id,
        request=body,
        app=app,
        now=call.now,
        ttl=timedelta(seconds=ctx.settings.code_ttl_seconds),
        idempotency=None
        if idempotency_key is None
        else codes.Idempotency(key=idempotency_key, secret=ctx.secret),
        client_address=client_address(call.request),
    )
    data = AuthCodeData(id=created.code, app_id=created.app_id, created_at=created.created_at)
    return CreateAuthCodeResponse(data=data)


_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")


def _idempotency_key(request: Request) -> str | None:
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    if _IDEMPOTENCY_KEY.fullmatch(value) is None:
        raise BodyRejected(
            400,
            "Invalid request: Idempotency-Key: must be 1 to 255 printable ASCII characters",
            {"field": "Idempotency-Key"},
        )
    return value


@handles(endpoints.EXCHANGE_AUTH_CODE)
async def exchange_auth_code(call: ApiCall) -> ExchangeAuthCodeResponse:
    ctx = call.ctx
    address = client_address(call.request)
    await limit_rate(ctx, ctx.settings.rate_limit_exchange, "exchange", address or "unknown")
    body = await call.body(ExchangeAuthCodeRequest)
    exchanged = await codes.exchange(ctx.store, body, call.now, address)
    return ExchangeAuthCodeResponse(key=exchanged.key, user_id=exchanged.user_id)
