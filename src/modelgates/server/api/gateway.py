"""The gateway's routes: chat completions, the model list and generation records."""

from __future__ import annotations

import anyio
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from modelgates.models import endpoints
from modelgates.models.callbacks import MAX_CALLBACK_URL_LENGTH
from modelgates.models.chat import GenerationQuery, GenerationResponse, ModelList
from modelgates.server.api.bodies import read_json_bytes
from modelgates.server.api.routing import ApiCall, handles
from modelgates.server.gateway import catalogue as catalogue_views
from modelgates.server.gateway.completions import Answer, StreamedAnswer
from modelgates.server.services import apps, ceiling, keys
from modelgates.server.services.errors import ServiceError


@handles(endpoints.CHAT_COMPLETIONS, looks_up_key=True)
async def chat_completions(call: ApiCall) -> Response:
    gateway = call.ctx.gateway
    try:
        raw = await read_json_bytes(call.request, call.ctx.settings.max_chat_body_bytes)
        request = gateway.read(raw)
    except ServiceError:
        # A refused key is said before anything about the request, as on every endpoint.
        await keys.authenticate(call.ctx.store, call.credential, call.now)
        raise
    referer = call.header("http-referer")
    origin = apps.origin_of(referer) if referer else None
    answer = await gateway.complete(
        call.ctx.store,
        call.credential,
        request,
        now=call.now,
        clock=call.ctx.now,
        # Recorded when it is text a URL may be (the column's length, nothing unprintable).
        referer_origin=origin
        if origin is not None and len(origin) <= MAX_CALLBACK_URL_LENGTH and origin.isprintable()
        else None,
    )
    if isinstance(answer, Answer):
        return Response(answer.body, answer.status, answer.headers, media_type="application/json")
    return EventStream(answer)


@handles(endpoints.LIST_MODELS)
async def list_models(call: ApiCall) -> ModelList:
    return catalogue_views.model_list(call.ctx.gateway.catalogue)


@handles(endpoints.GET_GENERATION)
async def get_generation(call: ApiCall) -> GenerationResponse:
    query = call.query(GenerationQuery)
    row = await ceiling.generation_of(call.ctx.store, call.caller, query.id)
    return GenerationResponse(data=catalogue_views.generation_of(row))


class EventStream(StreamingResponse):
    """Server-sent events sent as they come, while listening for the client leaving: then the
    events are closed at once (which cancels the provider's request and settles the charge),
    whether they were waiting for the provider or for the client to read."""

    media_type = "text/event-stream"

    def __init__(self, answer: StreamedAnswer) -> None:
        super().__init__(answer.events, 200, {**answer.headers, "Cache-Control": "no-store"})
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                try:
                    await send(
                        {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                    )
                    async for event in self.answer.events:
                        await send({"type": "http.response.body", "body": event, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                finally:
                    with anyio.CancelScope(shield=True):
                        await self.answer.aclose()
                group.cancel_scope.cancel()

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(stream)
            group.start_soon(watch)
