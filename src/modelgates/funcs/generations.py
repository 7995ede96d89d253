"""The calling key's records of its completions as standalone functions: ``(core, ...) ->
Result``, never raising."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelgates.core import ModelGatesCore
from modelgates.funcs._common import RequestOptions, call, call_async
from modelgates.models.chat import GenerationResponse
from modelgates.models.endpoints import GET_GENERATION
from modelgates.result import Result

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["GenerationParams", "generations_get", "generations_get_async"]


class GenerationParams(RequestOptions, total=True):
    #: The completion's ``id`` (``gen-...``), as its answer (or any of its chunks) gave it.
    id: str


def generations_get(
    core: ModelGatesCore, **params: Unpack[GenerationParams]
) -> Result[GenerationResponse]:
    """``GET /generation?id=``: the calling key's record of one of its completions (``.data``:
    ``model``, ``tokens_prompt``, ``tokens_completion``, ``total_cost``, ``streamed``,
    ``cancelled``, ``status``, ...). Another key's, or an unknown id, is
    ``NotFoundResponseError`` (404)."""
    return call(core, GET_GENERATION, params)


async def generations_get_async(
    core: ModelGatesCore, **params: Unpack[GenerationParams]
) -> Result[GenerationResponse]:
    """The async twin of ``generations_get``."""
    return await call_async(core, GET_GENERATION, params)
