"""``POST /api/v1/auth/keys/code`` and ``POST /api/v1/auth/keys``."""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from modelgates.models.oauth import (
    AuthCodeData,
    CreateAuthCodeRequest,
    CreateAuthCodeResponse,
    ExchangeAuthCodeRequest,
    ExchangeAuthCodeResponse,
)
from modelgates.server.api.bodies import BodyRejected, read_model
from modelgates.server.api.context import client_address, context_of, limit_rate
from modelgates.server.api.responses import ModelResponse
from modelgates.server.services import apps, codes, keys


async def create_auth_code(request: Request) -> Response:
    ctx = context_of(request)
    now = ctx.now()
    caller = await keys.authenticate(ctx.store, request.headers.get("authorization"), now)
    codes.require_code_creator(caller)
    await limit_rate(ctx, ctx.settings.rate_limit_create_code, "create-code", caller.hash)
    idempotency_key = _idempotency_key(request)
    body = await read_model(request, CreateAuthCodeRequest, ctx.settings.max_body_bytes)
    app = apps.identify(
        callback_url=body.callback_url,
        http_referer=_header(request, "http-referer"),
        title=_header(request, "x-modelgates-title") or _header(request, "x-title"),
        categories=_header(request, "x-modelgates-categories"),
    )
    created = await codes.create_code(
        ctx.store,
        user_id=caller.user_id,
        request=body,
        app=app,
        now=now,
        ttl=timedelta(seconds=ctx.settings.code_ttl_seconds),
        idempotency=None
        if idempotency_key is None
        else codes.Idempotency(key=idempotency_key, secret=ctx.secret),
        client_address=client_address(request),
    )
    data = AuthCodeData(id=created.code, app_id=created.app_id, created_at=created.created_at)
    return ModelResponse(CreateAuthCodeResponse(data=data))


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


def _header(request: Request, name: str) -> str | None:
    """A header as text: clients (the SDK among them) send non-ASCII titles as UTF-8, which
    Starlette hands over decoded as Latin-1."""
    value = request.headers.get(name)
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return value


async def exchange_auth_code(request: Request) -> Response:
    # No authentication: an Authorization header, valid or not, is ignored here.
    ctx = context_of(request)
    address = client_address(request)
    await limit_rate(ctx, ctx.settings.rate_limit_exchange, "exchange", address or "unknown")
    body = await read_model(request, ExchangeAuthCodeRequest, ctx.settings.max_body_bytes)
    exchanged = await codes.exchange(ctx.store, body, ctx.now(), address)
    return ModelResponse(ExchangeAuthCodeResponse(key=exchanged.key, user_id=exchanged.user_id))
