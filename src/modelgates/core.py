"""``ModelGatesCore``: the client options, the HTTP clients, and the one place requests are sent.

Transport policy lives here once (headers, timeouts, retries, error mapping, debug logging); the
operations in ``modelgates.funcs`` only say which endpoint, which body and which response model.
HTTP clients are made on first use. A client passed in by the caller is used as given and never
closed; clients the core made are closed by ``close()`` / ``aclose()`` or by leaving a ``with`` /
``async with`` block.

httpx, pydantic and the wire models are imported on the first request, not with this module:
they are most of an application's start-up cost, and making a client must not pay it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from modelgates import _logging, errors
from modelgates.retries import RetryConfig

if TYPE_CHECKING:
    import ssl

    import httpx
    from pydantic import BaseModel
    from typing_extensions import Self

    from modelgates._call import Call
    from modelgates.models.endpoints import Endpoint
    from modelgates.streams import AsyncStream, Stream

__all__ = ["DEFAULT_SERVER_URL", "CallOptions", "ModelGatesCore", "resolve_server_url", "site_root"]

DEFAULT_SERVER_URL = "https://modelgates.ai/api/v1"
API_PATH = "/api/v1"
#: How long ``check_reachable`` waits for any answer: long enough for a slow network, short
#: enough that a person about to be sent to a browser is not left staring at nothing.
REACHABLE_TIMEOUT_MS = 5000

# RFC 9110 §5.6.2 token; anything else would be refused by h11 only after the call had started.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\r\n\x00]")
_TRUE = frozenset({"1", "true", "yes", "on"})
# What json.dumps(..., separators=(",", ":")) uses, made once: dumps builds a new encoder on every
# call that passes an option. Stateless between calls, so threads may share it.
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"))

T = TypeVar("T")
ResponseT = TypeVar("ResponseT", bound="BaseModel")
EventT = TypeVar("EventT", bound="BaseModel")


@dataclass(frozen=True)
class CallOptions:
    """Per-call options. ``None`` means "as configured on the core"; ``""`` omits a header."""

    http_referer: str | None = None
    app_title: str | None = None
    app_categories: str | Sequence[str] | None = None
    retries: RetryConfig | None = None
    timeout_ms: float | None = None
    http_headers: Mapping[str, str] | None = None
    server_url: str | None = None


class Closing:
    """``with`` and ``async with`` for anything with ``close()`` and ``aclose()``."""

    def close(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class ModelGatesCore(Closing):
    """Configuration and transport shared by every operation.

    ``server_url`` defaults to ``$MODELGATES_BASE_URL``, else ``https://modelgates.ai/api/v1``;
    a bare origin (``http://127.0.0.1:8080``) means its ``/api/v1`` (see ``resolve_server_url``).
    ``timeout_ms`` replaces the default timeouts (connect 5 s, read 60 s) as a whole.
    ``debug=True`` (or ``MODELGATES_DEBUG=1``) logs this client's requests to the ``modelgates``
    logger, or ``debug_logger``, at DEBUG, leaving the logger's level as it is; configure a
    handler to see the records.
    ``on_retry`` (also an attribute) is called before each retry's wait with what went wrong, in
    one line without secrets, and the seconds it will wait: a program with a person watching can
    say why nothing seems to happen.
    """

    def __init__(
        self,
        api_key: str = "",
        *,
        http_referer: str | None = None,
        app_title: str | None = None,
        app_categories: str | Sequence[str] | None = None,
        server_url: str | None = None,
        retry_config: RetryConfig | None = None,
        timeout_ms: float | None = None,
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        debug: bool | None = None,
        debug_logger: logging.Logger | None = None,
        on_retry: Callable[[str, float], None] | None = None,
    ) -> None:
        self._api_key = api_key
        self.http_referer = http_referer
        self.app_title = app_title
        self.app_categories = app_categories
        self.server_url = resolve_server_url(server_url)
        self.retry_config = retry_config or RetryConfig()
        self.on_retry = on_retry
        self.timeout_ms = _check_timeout(timeout_ms)
        self._client = client
        self._owns_client = client is None
        self._async_client = async_client
        self._owns_async_client = async_client is None
        self._lock = threading.Lock()
        # The validated headers every call starts from, and what they were made from: see
        # ``_headers``. One (inputs, headers) pair, replaced whole, so threads need no lock.
        self._header_cache: tuple[tuple[object, ...], httpx.Headers] | None = None
        self.logger = debug_logger or _logging.logger
        if debug is None:
            debug = os.environ.get("MODELGATES_DEBUG", "").lower() in _TRUE
        self._debug_log = _logging.DebugLog(self.logger, always=debug)
        # Seams for tests, so that retry schedules can be checked without waiting them out.
        self._clock: Callable[[], float] = time.monotonic
        self._rand: Callable[[], float] = random.random
        self._sleep: Callable[[float], None] = time.sleep
        self._async_sleep: Callable[[float], Awaitable[None]] = _anyio_sleep

    def __repr__(self) -> str:  # deliberately without the api_key
        return f"{type(self).__name__}(server_url={self.server_url!r})"

    # -- sending ------------------------------------------------------------------------------

    def send(
        self,
        endpoint: Endpoint[ResponseT],
        body: BaseModel | None = None,
        options: CallOptions | None = None,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> ResponseT:
        """Send ``body`` (``None``: no body) to ``endpoint`` with retries; return the parsed
        answer or raise.

        ``path_params`` fill the placeholders of ``endpoint.path``, percent-encoded; ``query``
        is the query string. Callers validate both; this only makes them URL-safe.
        """
        call = self._prepare(endpoint, body, options or CallOptions(), path_params, query)
        self._attempt(call, self._get_client(), stream=False)
        return call.result()

    async def send_async(
        self,
        endpoint: Endpoint[ResponseT],
        body: BaseModel | None = None,
        options: CallOptions | None = None,
        *,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> ResponseT:
        """The async twin of ``send``."""
        call = self._prepare(endpoint, body, options or CallOptions(), path_params, query)
        await self._attempt_async(call, self._get_async_client(), stream=False)
        return call.result()

    def stream(
        self,
        endpoint: Endpoint[Any],
        event: type[EventT],
        body: BaseModel | None = None,
        options: CallOptions | None = None,
    ) -> Stream[EventT]:
        """Send ``body`` to ``endpoint`` as ``send`` does (the same retries: a stream is
        retried only on what ``send`` would retry before an answer), and return its answer's
        server-sent events as ``event`` models, read as they come, or raise its error status."""
        from modelgates.streams import Stream

        call = self._prepare(endpoint, body, options or CallOptions(), None, None, stream=True)
        self._attempt(call, self._get_client(), stream=True)
        return Stream(call.opened(), event, endpoint.operation_id, self._debug_log)

    async def stream_async(
        self,
        endpoint: Endpoint[Any],
        event: type[EventT],
        body: BaseModel | None = None,
        options: CallOptions | None = None,
    ) -> AsyncStream[EventT]:
        """The async twin of ``stream``."""
        from modelgates.streams import AsyncStream

        call = self._prepare(endpoint, body, options or CallOptions(), None, None, stream=True)
        await self._attempt_async(call, self._get_async_client(), stream=True)
        return AsyncStream(call.opened(), event, endpoint.operation_id, self._debug_log)

    def _attempt(self, call: Call[Any], client: httpx.Client, *, stream: bool) -> None:
        """Send ``call`` until its outcome is final. With ``stream``, a success is left open for
        its reader, and an error's body (small) is read and the response closed."""
        # Not "from modelgates._call import ...": on every call, CPython 3.11 then looks for a
        # __path__ on the module and makes and drops an AttributeError, which costs ~0.4 us.
        import modelgates._call as _call

        request = call.build(client)
        while True:
            call.started()
            try:
                response = client.send(request, stream=stream)
                if stream and not response.is_success:
                    try:
                        response.read()
                    finally:
                        response.close()
            except _call.HTTPX_ERRORS as exc:
                delay = call.failed(exc)
            else:
                delay = call.answered(response)
            if delay is None:
                return
            self._sleep(delay)

    async def _attempt_async(
        self, call: Call[Any], client: httpx.AsyncClient, *, stream: bool
    ) -> None:
        """The async twin of ``_attempt``."""
        import modelgates._call as _call

        request = call.build(client)
        while True:
            call.started()
            try:
                response = await client.send(request, stream=stream)
                if stream and not response.is_success:
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
            except _call.HTTPX_ERRORS as exc:
                delay = call.failed(exc)
            else:
                delay = call.answered(response)
            if delay is None:
                return
            await self._async_sleep(delay)

    def check_reachable(self, timeout_ms: float = REACHABLE_TIMEOUT_MS) -> None:
        """Raise ``ConnectionError`` (``TimeoutError`` after ``timeout_ms``) unless the server
        answers at all: for failing in one line before asking a person to do anything (``login``
        calls it before opening the browser) rather than after the first call's retries.

        One ``GET /healthz`` beside the API, never retried and without the key; any answer,
        whatever its status, means the server is reachable.
        """
        import modelgates._call as _call

        client = self._get_client()
        request = self._probe(client, timeout_ms)
        started = self._clock()
        try:
            response = client.send(request)
        except _call.HTTPX_ERRORS as exc:
            raise self._unreachable(request, exc, timeout_ms, started) from exc
        _logging.log_response(self._debug_log, response, self._clock() - started)

    async def check_reachable_async(self, timeout_ms: float = REACHABLE_TIMEOUT_MS) -> None:
        """The async twin of ``check_reachable``."""
        import modelgates._call as _call

        client = self._get_async_client()
        request = self._probe(client, timeout_ms)
        started = self._clock()
        try:
            response = await client.send(request)
        except _call.HTTPX_ERRORS as exc:
            raise self._unreachable(request, exc, timeout_ms, started) from exc
        _logging.log_response(self._debug_log, response, self._clock() - started)

    def _probe(self, client: httpx.Client | httpx.AsyncClient, timeout_ms: float) -> httpx.Request:
        import httpx

        _check_timeout(timeout_ms)
        try:
            request = client.build_request(
                "GET",
                f"{site_root(self.server_url)}/healthz",
                headers={"User-Agent": _user_agent(), "Accept": "application/json"},
                timeout=httpx.Timeout(timeout_ms / 1000),
            )
        except httpx.InvalidURL as exc:
            raise errors.RequestValidationError.single("server_url", str(exc)) from exc
        _logging.log_request(self._debug_log, request, 1)
        return request

    def _unreachable(
        self, request: httpx.Request, exc: Exception, timeout_ms: float, started: float
    ) -> errors.ConnectionError:
        import httpx

        _logging.log_failure(self._debug_log, request, exc, self._clock() - started)
        if isinstance(exc, httpx.TimeoutException):
            return errors.TimeoutError(
                f"the ModelGates server at {self.server_url} did not answer within "
                f"{timeout_ms / 1000:g} s"
            )
        reason = str(exc) or type(exc).__name__
        return errors.ConnectionError(
            f"cannot reach the ModelGates server at {self.server_url}: {reason}"
        )

    def _prepare(
        self,
        endpoint: Endpoint[ResponseT],
        body: BaseModel | None,
        options: CallOptions,
        path_params: Mapping[str, str] | None,
        query: Mapping[str, str] | None,
        *,
        stream: bool = False,
    ) -> Call[ResponseT]:
        import httpx

        import modelgates._call as _call

        server_url = self.server_url
        if options.server_url:
            server_url = resolve_server_url(options.server_url)
        timeout_ms = _first(_check_timeout(options.timeout_ms), self.timeout_ms)
        timeout = None if timeout_ms is None else httpx.Timeout(timeout_ms / 1000)
        content = None
        if body is not None:
            if endpoint.partial_body:
                payload = body.model_dump(mode="json", exclude_unset=True)
            else:
                payload = body.model_dump(mode="json", exclude_none=True)
            content = _JSON_ENCODER.encode(payload).encode()
        return _call.Call(
            endpoint,
            url=server_url + _expand_path(endpoint.path, path_params or {}),
            params=query or None,
            headers=self._headers(endpoint, options, has_body=content is not None, stream=stream),
            content=content,
            timeout=timeout,
            retry_config=options.retries or self.retry_config,
            clock=self._clock,
            rand=self._rand,
            logger=self._debug_log,
            on_retry=self.on_retry,
        )

    def _headers(
        self,
        endpoint: Endpoint[ResponseT],
        options: CallOptions,
        *,
        has_body: bool,
        stream: bool = False,
    ) -> httpx.Headers:
        import httpx

        categories = _first(options.app_categories, self.app_categories)
        if categories is not None and not isinstance(categories, str):
            categories = ",".join(category.strip() for category in categories)
        inputs = (
            has_body,
            self._api_key,
            _first(options.http_referer, self.http_referer),
            _first(options.app_title, self.app_title),
            categories,
        )
        # Checking and encoding the same headers on every call costs microseconds for nothing:
        # they change only when the client's attributes or a call's options do, which the inputs
        # compare. Headers(...) copies the list and, unlike .copy(), leaves the encoding unset,
        # so the headers added below are encoded as before (UTF-8, not ASCII).
        base = self._header_cache
        if base is None or base[0] != inputs:
            base = self._header_cache = (inputs, _base_headers(*inputs))
        headers = httpx.Headers(base[1])
        if endpoint.idempotency_key:
            import uuid

            headers["Idempotency-Key"] = str(uuid.uuid4())
        if stream:
            headers["Accept"] = "text/event-stream"
        # Last, so that a caller can replace anything, e.g. bring a durable Idempotency-Key.
        for name, value in (options.http_headers or {}).items():
            _set_header(headers, name, value, "http_headers")
        return headers

    # -- clients ------------------------------------------------------------------------------

    def _get_client(self) -> httpx.Client:
        client = self._client
        if client is not None:  # made already: the lock only guards making one
            return client
        with self._lock:  # two threads' first calls must not both make (and leak) a client
            if self._client is None:
                import httpx

                self._client = httpx.Client(timeout=_default_timeout(), verify=_ssl_context())
            return self._client

    def _get_async_client(self) -> httpx.AsyncClient:
        client = self._async_client
        if client is not None:
            return client
        with self._lock:
            if self._async_client is None:
                import httpx

                self._async_client = httpx.AsyncClient(
                    timeout=_default_timeout(), verify=_ssl_context()
                )
            return self._async_client

    def close(self) -> None:
        """Close the sync client if the core made it. An async client needs ``aclose()``."""
        with self._lock:
            client, self._client = (self._client, None) if self._owns_client else (None, None)
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close every client the core made, sync and async."""
        self.close()
        with self._lock:
            if self._owns_async_client:
                client, self._async_client = self._async_client, None
            else:
                client = None
        if client is not None:
            await client.aclose()


def _first(call_value: T | None, default: T | None) -> T | None:
    return default if call_value is None else call_value


def _base_headers(
    has_body: bool,
    api_key: str,
    http_referer: str | None,
    app_title: str | None,
    categories: str | None,
) -> httpx.Headers:
    import httpx

    headers = httpx.Headers({"User-Agent": _user_agent(), "Accept": "application/json"})
    if has_body:
        headers["Content-Type"] = "application/json"
    if api_key:
        _set_header(headers, "Authorization", f"Bearer {api_key}", "api_key")
    for name, value, field in (
        ("HTTP-Referer", http_referer, "http_referer"),
        ("X-ModelGates-Title", app_title, "app_title"),
        ("X-ModelGates-Categories", categories, "app_categories"),
    ):
        if value:
            _set_header(headers, name, value, field)
    return headers


def _set_header(headers: httpx.Headers, name: str, value: str, field: str) -> None:
    if _HEADER_NAME.fullmatch(name) is None:
        raise errors.RequestValidationError.single(field, f"{name!r} is not a valid header name")
    if _HEADER_VALUE_FORBIDDEN.search(value):
        raise errors.RequestValidationError.single(field, f"{name} contains a line break or NUL")
    headers[name] = value  # httpx encodes str as UTF-8 here, so a non-ASCII title is fine


def _expand_path(template: str, path_params: Mapping[str, str]) -> str:
    return template.format_map({name: _segment(value) for name, value in path_params.items()})


def _segment(value: str) -> str:
    # safe="": a "/" or "?" in a value stays inside its segment rather than adding one or ending
    # the path; and "." or ".." would be resolved away as a dot-segment (RFC 3986 §5.2.4).
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def resolve_server_url(server_url: str | None) -> str:
    """The API's base URL that ``server_url`` names: the one rule wherever a server URL comes
    from (``server_url=``, a call's ``server_url``, ``$MODELGATES_BASE_URL``, the CLI's
    ``--server``).

    Not given (``None`` or ``""``): ``$MODELGATES_BASE_URL``, else ``DEFAULT_SERVER_URL``. A bare
    origin, with or without a trailing ``/``, means its ``/api/v1``: the origin is what
    ``modelgates serve`` prints first and what people copy. Any other path is the API's, as
    given (a server under a path prefix), without a trailing ``/``.
    """
    url = server_url or os.environ.get("MODELGATES_BASE_URL") or DEFAULT_SERVER_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.RequestValidationError.single("server_url", "must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise errors.RequestValidationError.single(
            "server_url", "must not have a query or fragment"
        )
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path=API_PATH))
    return url.rstrip("/")


def site_root(server_url: str) -> str:
    """Where the server's pages are (``/auth``, ``/healthz``), for a resolved API URL: beside an
    API at ``.../api/v1`` (a server under a path prefix keeps the prefix), else the origin."""
    parts = urlsplit(server_url)
    path = parts.path.rstrip("/")
    prefix = path[: -len(API_PATH)] if path.endswith(API_PATH) else ""
    return f"{parts.scheme}://{parts.netloc}{prefix}"


def _check_timeout(timeout_ms: float | None) -> float | None:
    if timeout_ms is not None and not timeout_ms > 0:
        raise errors.RequestValidationError.single("timeout_ms", "must be positive")
    return timeout_ms


@functools.cache
def _user_agent() -> str:
    # On the first request, not at import: the version is read from the package's metadata,
    # and importing importlib.metadata costs more than the rest of `import modelgates`.
    from modelgates import __version__

    return f"modelgates-python/{__version__}"


@functools.cache
def _default_timeout() -> httpx.Timeout:
    # For clients the SDK makes; a caller's client keeps its own unless ``timeout_ms`` is set.
    import httpx

    return httpx.Timeout(60.0, connect=5.0)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~50 ms; an app that makes a client per request (or per test)
    # should pay it once. A context is safe to share between clients and threads.
    import httpx

    return httpx.create_ssl_context()


async def _anyio_sleep(seconds: float) -> None:
    # Imported on the first async retry only: `import modelgates` stays cheap, and anyio sleeps
    # under asyncio and trio alike.
    import anyio

    await anyio.sleep(seconds)
