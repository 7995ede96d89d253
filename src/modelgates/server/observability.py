"""One JSON log line per request, request ids, and Prometheus metrics (``outer.OuterLayer``
calls them for every request).

The log line carries the method, the path without its query (queries of ``/auth`` are harmless
but need not be kept), the status, the latency and a request id; never a header or a body, so no
key, code, verifier or password can reach the log through it. The id comes from a well-formed
``X-Request-Id`` header, or is made here, and is sent back in the answer.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import secrets
from datetime import datetime, timezone
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import Scope

from modelgates.models.endpoints import EXCHANGE_AUTH_CODE
from modelgates.server.services.ceiling import Settlement

access_log = logging.getLogger("modelgates.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


#: An exchange's outcome by its answer's status; any other status is "failed".
_EXCHANGE_OUTCOMES = {
    200: "issued",
    403: "refused",
    400: "invalid",
    429: "limited",
    503: "unavailable",
}


class Metrics:
    """The server's metrics, in a registry of their own (one per app, so tests stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelgates_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelgates_request_duration_seconds",
            "Time to answer a request, by route.",
            ["route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.exchanges = Counter(
            "modelgates_exchanges",
            "Code exchanges by outcome (issued, refused, invalid, limited, unavailable, failed).",
            ["outcome"],
            registry=self.registry,
        )

        # The gateway's completions, by the model's id (the catalogue's, so a bounded set) and
        # how they ended: completed, cancelled (the client left) or provider_error.
        self.completions = Counter(
            "modelgates_gateway_completions",
            "Chat completions the gateway settled, by model and status.",
            ["model", "status"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "modelgates_gateway_tokens",
            "Tokens of settled completions (the provider's count, or the estimate charged), "
            "by model, status and kind (prompt or completion).",
            ["model", "status", "kind"],
            registry=self.registry,
        )
        self.cost = Counter(
            "modelgates_gateway_cost_microdollars",
            "Micro-dollars (millionths of a USD) keys were charged for settled completions, "
            "by model and status.",
            ["model", "status"],
            registry=self.registry,
        )

        # The children that requests count in, found once per label set: ``labels()`` checks,
        # hashes and locks on every call. Routes, methods (httptools parses a fixed set) and
        # statuses are bounded, and the registry keeps each child anyway.
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}

    def request_answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count and time one answered request; ``route`` is its endpoint's name."""
        self._child(self.requests, route, method, str(status)).inc()
        self._child(self.latency, route).observe(seconds)
        if route == EXCHANGE_AUTH_CODE.operation_id:
            self._child(self.exchanges, _EXCHANGE_OUTCOMES.get(status, "failed")).inc()

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        child = self._children.get((metric, labels))
        if child is None:
            child = self._children[metric, labels] = metric.labels(*labels)
        return child

    def completion_settled(self, model: str, status: str, settlement: Settlement) -> None:
        """The gateway's meter (``Gateway(meter=...)``): called once a completion."""
        self.completions.labels(model, status).inc()
        self.tokens.labels(model, status, "prompt").inc(settlement.tokens_prompt)
        self.tokens.labels(model, status, "completion").inc(settlement.tokens_completion)
        self.cost.labels(model, status).inc(settlement.charged)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def request_id(scope: Scope) -> str:
    """The request's id: a well-formed ``X-Request-Id`` of the request's, else a new one."""
    given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
    return given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)


def log_request(scope: Scope, request_id: str, status: int, seconds: float) -> None:
    """The request's line in the access log."""
    access_log.info(
        json.dumps(
            {
                "at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "latency_ms": round(seconds * 1000, 2),
                "client": scope["client"][0] if scope.get("client") else None,
            }
        )
    )


class JsonLogFormatter(logging.Formatter):
    """Any other log line (uvicorn's, the server's warnings) as one JSON object, like the request
    log's, so that the server's whole log can be read by one JSON parser."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat()
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            # uvicorn logs everything, its start-up included, on "uvicorn.error".
            "logger": "uvicorn" if record.name == "uvicorn.error" else record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line)


#: The server's logging, as ``logging.config.dictConfig`` takes it. ``serve`` gives it to uvicorn
#: too (``log_config``), which applies it again in each worker process it spawns, before the
#: worker logs a line: uvicorn's own format ("INFO:     Started server process") would otherwise
#: be the one plain-text part of the log.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": f"{__name__}.JsonLogFormatter"},
        "request": {"format": "%(message)s"},  # the request log line is JSON already (outer.py)
    },
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
        "request": {
            "class": "logging.StreamHandler",
            "formatter": "request",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "modelgates.access": {"handlers": ["request"], "level": "INFO", "propagate": False},
        "modelgates.server": {"handlers": ["json"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["json"], "level": "INFO", "propagate": False},
        # outer.py logs every request; uvicorn's access log would be a second, plain line.
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def configure_logging() -> None:
    """Send the server's log lines (the JSON request lines, uvicorn's, warnings) to standard
    error, each a JSON object on a line of its own."""
    logging.config.dictConfig(LOG_CONFIG)
