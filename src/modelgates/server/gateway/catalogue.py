"""The gateway's records as the API shows them: the model list and generations."""

from __future__ import annotations

from decimal import Decimal

from modelgates.models.chat import Generation, ModelInfo, ModelList, Pricing
from modelgates.server.gateway.providers import Catalogue
from modelgates.server.services import money
from modelgates.server.store import GenerationRow


def per_token_usd(per_million: Decimal) -> str:
    """USD per token as a plain decimal string ("0.00000015"), as OpenRouter writes prices."""
    text = format(per_million.scaleb(-6).normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".") or "0"


def model_list(catalogue: Catalogue) -> ModelList:
    return ModelList(
        data=[
            ModelInfo(
                id=model.id,
                name=model.name,
                context_length=model.context_length,
                max_output_tokens=model.max_output_tokens,
                pricing=Pricing(
                    prompt=per_token_usd(model.input_per_million),
                    completion=per_token_usd(model.output_per_million),
                ),
            )
            for model in catalogue.models.values()
        ]
    )


def generation_of(row: GenerationRow) -> Generation:
    return Generation(
        id=row.id,
        model=row.model,
        created_at=row.created_at,
        tokens_prompt=row.tokens_prompt,
        tokens_completion=row.tokens_completion,
        total_cost=money.to_usd(row.charged_micros),
        streamed=row.streamed,
        cancelled=row.status == "cancelled",
        usage_estimated=row.usage_estimated,
        status=row.status,
        app_id=row.app_id,
    )
