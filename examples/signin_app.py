"""A small web app with "Sign in with ModelGates", on the standard library and the SDK.

    python examples/signin_app.py --modelgates http://127.0.0.1:8080 --port 8000

Open http://localhost:8000, press "Sign in with ModelGates", approve on the consent page, and the
app comes back holding an API key of yours, limited to what you approved. The whole flow:

1. /login makes a PKCE verifier and a random ``state``, keeps both (the state also in a cookie,
   so that only this browser can finish the flow) and redirects to ModelGates' consent page.
2. ModelGates redirects back to /callback with ``code`` and ``state`` (or ``error``).
3. /callback checks the state and exchanges code + verifier for the key, server to server.

Keys live in this process's memory only; a real app would keep them encrypted at rest.
"""

from __future__ import annotations

import argparse
import html
import http.cookies
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx

from modelgates import ModelGates
from modelgates.errors import APIError

PENDING: dict[str, str] = {}  # state -> PKCE verifier, until the callback
KEYS: dict[str, str] = {}  # this app's session id -> the user's ModelGates key


def make_handler(modelgates_url: str, port: int, limit: float) -> type[BaseHTTPRequestHandler]:
    api_url = f"{modelgates_url.rstrip('/')}/api/v1"
    app_url = f"http://localhost:{port}"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            if parts.path == "/":
                self.home()
            elif parts.path == "/login":
                self.login()
            elif parts.path == "/callback":
                self.callback(query)
            else:
                self.send_error(404)

        def home(self) -> None:
            key = KEYS.get(self.cookie("session") or "")
            if key is None:
                self.page(
                    "Not connected",
                    '<p><a class="button" href="/login">Sign in with ModelGates</a></p>',
                )
                return
            record = httpx.get(f"{api_url}/key", headers={"Authorization": f"Bearer {key}"})
            if record.status_code != 200:  # revoked on the account page, for instance
                self.page("Disconnected", '<p><a href="/login">Sign in again</a></p>')
                return
            data = record.json()["data"]
            limit_text = "none" if data["limit"] is None else f"${data['limit']:g}"
            self.page(
                "Connected",
                f"<p>Key <code>{html.escape(key[:12])}…{html.escape(key[-4:])}</code>"
                f" ({html.escape(data['label'])})</p><p>Limit: {limit_text}</p>",
            )

        def login(self) -> None:
            with ModelGates(server_url=api_url) as mg:
                pair = mg.o_auth.create_sha256_code_challenge()
                state = secrets.token_urlsafe(16)
                PENDING[state] = pair.code_verifier
                url = mg.o_auth.create_authorization_url(
                    callback_url=f"{app_url}/callback",
                    code_challenge=pair.code_challenge,
                    code_challenge_method="S256",
                    limit=limit,
                    state=state,
                )
            self.redirect(url, cookie=f"pending={state}; HttpOnly; SameSite=Lax; Path=/")

        def callback(self, query: dict[str, str]) -> None:
            state = query.get("state", "")
            if not state or state != self.cookie("pending") or state not in PENDING:
                self.page("Unexpected callback", "<p>This sign-in was not started here.</p>", 400)
                return
            verifier = PENDING.pop(state)
            if "error" in query:
                self.page("Not connected", "<p>You declined. <a href='/'>Back</a></p>")
                return
            try:
                with ModelGates(
                    server_url=api_url, http_referer=app_url, app_title="Example"
                ) as mg:
                    result = mg.o_auth.exchange_auth_code_for_api_key(
                        code=query.get("code", ""),
                        code_verifier=verifier,
                        code_challenge_method="S256",
                    )
            except APIError as error:
                self.page("Sign-in failed", f"<p>{html.escape(str(error))}</p>", 502)
                return
            session = secrets.token_urlsafe(16)
            KEYS[session] = result.key
            self.redirect("/", cookie=f"session={session}; HttpOnly; SameSite=Lax; Path=/")

        # --- plumbing ---

        def cookie(self, name: str) -> str | None:
            jar = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
            return jar[name].value if name in jar else None

        def redirect(self, location: str, cookie: str) -> None:
            self.send_response(303)
            self.send_header("Location", location)
            self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def page(self, title: str, body: str, status: int = 200) -> None:
            data = (
                f"<!doctype html><meta charset='utf-8'><title>{title}</title><h1>{title}</h1>{body}"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            # The default log prints request lines, and /callback's carries the code: print less.
            print(f"{self.command} {urlsplit(self.path).path}")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modelgates", default="http://127.0.0.1:8080", help="server origin")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--limit", type=float, default=5.0, help="credit limit to ask for (USD)")
    args = parser.parse_args()
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), make_handler(args.modelgates, args.port, args.limit)
    )
    print(
        f"Example app on http://localhost:{args.port} (ModelGates at {args.modelgates})", flush=True
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
