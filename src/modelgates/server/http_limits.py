"""Bounds on a request's head (its request line and headers), enforced while it is parsed.

uvicorn's httptools protocol buffers a head of any size and any number of headers: a 32 MB
header was read whole, and a million small ones held the event loop for half a second. This
protocol counts the head's bytes as they arrive and its headers as they are parsed, and answers
``431 Request Header Fields Too Large`` (RFC 6585) and closes the connection past either bound,
before the application sees the request. ``modelgates serve`` runs it (``http=`` of uvicorn's
Config); docs/deploy.md says what a proxy in front should bound too.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: The most bytes a request line and its headers may take together. Our largest legitimate
#: heads are a consent-page URL (a 2,048-character callback, percent-encoded, plus the rest of
#: its query) with cookies: well under this. nginx's default allows 4 lines of 8 KiB.
MAX_HEAD_BYTES = 32 * 1024
#: The most header fields a request may carry (Apache's LimitRequestFields default).
MAX_HEADERS = 100

_REFUSAL = b"Request header fields too large."


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with :data:`MAX_HEAD_BYTES` and :data:`MAX_HEADERS`."""

    #: Bytes received since the current request began, while its head is incomplete (else
    #: None). httptools keeps a header's pieces until it is whole, so a huge header must be
    #: stopped as it streams in, before it is parsed.
    _received: int | None = 0
    #: The parsed head's size and field count: exact, where a chunk also held the body.
    _parsed = 0
    _fields = 0
    _too_large = False

    def data_received(self, data: bytes) -> None:
        if self._received is not None:
            if self._received > MAX_HEAD_BYTES:
                self._refuse()
                return
            self._received += len(data)
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._received, self._parsed, self._fields = 0, 0, 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url), 0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, 1)  # with ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._received = None
        super().on_headers_complete()

    def _count(self, size: int, fields: int) -> None:
        self._parsed += size
        self._fields += fields
        if self._parsed > MAX_HEAD_BYTES or self._fields > MAX_HEADERS:
            # httptools turns this into its callback error, which uvicorn answers with 400
            # through send_400_response: answered 431 there instead.
            self._too_large = True
            raise ValueError("request head too large")

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _refuse(self) -> None:
        if self.transport.is_closing():
            return
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(_REFUSAL)).encode("ascii") + b"\r\n"
            b"connection: close\r\n\r\n" + _REFUSAL
        )
        self.transport.close()
