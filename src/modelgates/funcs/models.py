"""The gateway's model catalogue as standalone functions: ``(core, ...) -> Result``, never
raising."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelgates.core import ModelGatesCore
from modelgates.funcs._common import RequestOptions, call, call_async
from modelgates.models.chat import ModelList
from modelgates.models.endpoints import LIST_MODELS
from modelgates.result import Result

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["models_list", "models_list_async"]


def models_list(core: ModelGatesCore, **params: Unpack[RequestOptions]) -> Result[ModelList]:
    """``GET /models``: the models the server's providers serve (``.data``: each ``id``, to
    pass as ``model``, its ``name``, ``context_length``, ``max_output_tokens`` and ``pricing``,
    USD per token as decimal strings). Public: no key needed."""
    return call(core, LIST_MODELS, params)


async def models_list_async(
    core: ModelGatesCore, **params: Unpack[RequestOptions]
) -> Result[ModelList]:
    """The async twin of ``models_list``."""
    return await call_async(core, LIST_MODELS, params)
