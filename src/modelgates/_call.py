"""One call of an operation: its request, its retry schedule and what its outcome means.

Everything here is shared by the sync and async send loops of ``ModelGatesCore``, which do
nothing but I/O: build the request once, then for each attempt ``started()``, send, report the
answer with ``answered()`` or the failure with ``failed()``, and either sleep the returned delay or,
on ``None``, return ``result()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Generic

import httpx
from pydantic import ValidationError

from modelgates import _logging, errors
from modelgates.models.endpoints import Endpoint, ResponseT
from modelgates.retries import Backoff, RetryConfig, is_retryable_status, parse_retry_after

#: What a send can raise that the SDK turns into its own errors: every exception class httpx
#: has but ``CookieConflict`` (raised only by ``Cookies.get``). ``StreamError`` is not an
#: ``HTTPError``; a caller's client raises it from a response hook that reads the body too soon.
HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)

# Failures of our own making: sending the same request again cannot help.
_NOT_RETRYABLE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
# Failures before a single byte of the request left: no connection was made (refused, unreachable,
# TLS handshake, connect timeout) or none came free in the pool. Anything later (a reset, a read
# timeout, a connection dropped without an answer) may come after the server did the work.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def transport_error(
    request: httpx.Request, exc: Exception, when: str = ""
) -> errors.ConnectionError:
    """The SDK's error for an httpx failure (a timeout is ``TimeoutError``), its cause kept."""
    kind = (
        errors.TimeoutError if isinstance(exc, httpx.TimeoutException) else errors.ConnectionError
    )
    error = kind(f"{request.method} {request.url}: {type(exc).__name__}{when}: {exc}")
    error.__cause__ = exc
    return error


class Call(Generic[ResponseT]):
    def __init__(
        self,
        endpoint: Endpoint[ResponseT],
        *,
        url: str,
        params: Mapping[str, str] | None,
        headers: httpx.Headers,
        content: bytes | None,
        timeout: httpx.Timeout | None,
        retry_config: RetryConfig,
        clock: Callable[[], float],
        rand: Callable[[], float],
        logger: _logging.DebugLog,
        on_retry: Callable[[str, float], None] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._url = url
        self._params = params
        self._headers = headers
        self._content = content
        self._timeout = timeout
        self._retry_config = retry_config
        self._clock = clock
        self._rand = rand
        self._logger = logger
        self._on_retry = on_retry
        self._request: httpx.Request | None = None
        self._backoff: Backoff | None = None
        self._attempt = 0
        self._first_started = 0.0
        self._started = 0.0
        self._outcome: httpx.Response | errors.ModelGatesError | None = None

    def build(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The request, built by the client so that a caller's client adds its own defaults."""
        try:
            self._request = client.build_request(
                self._endpoint.method,
                self._url,
                params=self._params,
                content=self._content,
                headers=self._headers,
                # None leaves the client's own timeout: a caller's client is used as given.
                timeout=httpx.USE_CLIENT_DEFAULT if self._timeout is None else self._timeout,
            )
        except httpx.InvalidURL as exc:
            raise errors.RequestValidationError.single("server_url", str(exc)) from exc
        return self._request

    def started(self) -> None:
        self._attempt += 1
        self._started = self._clock()
        if self._attempt == 1:  # the retry budget counts from the first attempt
            self._first_started = self._started
        _logging.log_request(self._logger, self._sent, self._attempt)

    def answered(self, response: httpx.Response) -> float | None:
        """Record an answer; return the delay before retrying, or ``None`` if it is final."""
        _logging.log_response(self._logger, response, self._clock() - self._started)
        self._outcome = response
        if not is_retryable_status(
            response.status_code, safe_to_retry=self._endpoint.safe_to_retry
        ):
            return None
        return self._retry_in(parse_retry_after(response.headers, time.time()))

    def failed(self, exc: Exception) -> float | None:
        """Record a failure to get an answer; return the delay before retrying, or ``None``."""
        _logging.log_failure(self._logger, self._sent, exc, self._clock() - self._started)
        self._outcome = transport_error(self._sent, exc)
        retryable = isinstance(exc, httpx.TransportError) and not isinstance(exc, _NOT_RETRYABLE)
        if not self._endpoint.safe_to_retry:
            retryable = isinstance(exc, _NOT_SENT)
        if not (retryable and self._retry_config.retry_connection_errors):
            return None
        return self._retry_in(None)

    def result(self) -> ResponseT:
        """The parsed answer of the last attempt, or raise its error."""
        outcome = self.opened()
        model = self._endpoint.response
        try:
            return model.model_validate_json(outcome.content)
        except ValidationError as exc:
            problems = exc.errors(include_url=False, include_input=False)
            where = ", ".join(".".join(str(p) for p in d["loc"]) or "(body)" for d in problems)
            raise errors.ResponseValidationError(
                f"the {outcome.status_code} answer of {self._endpoint.operation_id} does not match "
                f"{model.__name__} (at {where})",
                status_code=outcome.status_code,
                headers=outcome.headers,
                body=outcome.text,
            ) from exc

    def opened(self) -> httpx.Response:
        """The last attempt's successful answer (for a stream: still open, unread), or raise
        its error."""
        outcome = self._outcome
        if outcome is None:
            raise RuntimeError("result() before any attempt")
        if isinstance(outcome, errors.ModelGatesError):
            raise outcome
        # ``text`` only for an error: decoding it means parsing the charset of the Content-Type,
        # which costs more than validating a small answer.
        if not outcome.is_success:
            raise errors.error_from_response(outcome.status_code, outcome.headers, outcome.text)
        return outcome

    @property
    def _sent(self) -> httpx.Request:
        if self._request is None:
            raise RuntimeError("build() the request first")
        return self._request

    def _retry_in(self, requested: float | None) -> float | None:
        if self._backoff is None:  # made on the first retry: most calls never need one
            self._backoff = Backoff(
                self._retry_config,
                clock=self._clock,
                rand=self._rand,
                started=self._first_started,
            )
        delay = self._backoff.next_delay(requested)
        if delay is not None:
            _logging.log_retry(self._logger, self._sent, delay)
            if self._on_retry is not None:
                self._on_retry(self._what_went_wrong(), delay)
        return delay

    def _what_went_wrong(self) -> str:
        outcome = self._outcome
        if isinstance(outcome, httpx.Response):
            request = self._sent
            return f"{request.method} {request.url}: HTTP {outcome.status_code}"
        return str(outcome)
