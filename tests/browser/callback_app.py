"""A stand-in for an app that uses "Sign in with ModelGates": a real HTTP server on a free
loopback port, with a page linking to the consent page and a callback that records what it got."""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class CallbackApp:
    def __init__(self) -> None:
        self.authorization_url = ""
        #: What the callback answers: a plain page, or (a single-page app's) one with a script.
        self.callback_page = "<h1>Callback received</h1>"
        #: The query of each request the callback received.
        self.received: list[dict[str, list[str]]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/":
                    link = html.escape(app.authorization_url)
                    body = f'<h1>Test app</h1><a href="{link}">Sign in with ModelGates</a>'
                elif parts.path == "/callback":
                    app.received.append(parse_qs(parts.query))
                    body = app.callback_page
                else:
                    self.send_error(404)
                    return
                data = f"<!doctype html><title>Test app</title>{body}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # codes stay out of logs
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        #: The app's address as the user's browser sees it (a different site from ModelGates).
        self.origin = f"http://localhost:{self.port}"
        self.callback_url = f"{self.origin}/callback"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
