"""The one error body every endpoint answers with, whatever the status."""

from __future__ import annotations

from typing import Any

from modelgates.models.base import ResponseModel


class ErrorBody(ResponseModel):
    code: int
    message: str
    metadata: dict[str, Any] | None = None


class ErrorResponse(ResponseModel):
    """``{"error": {"code": <http status>, "message": "...", "metadata": {...} | null}}``"""

    error: ErrorBody
