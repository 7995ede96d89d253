"""The router's 404 and 405 over HTTP: the pages' error page for a browser, the contract's JSON
for the API and for clients that do not ask for HTML."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from modelgates.server.settings import Settings
from tests.conftest import free_port, start_server
from tests.server.test_api_oauth import assert_error
from tests.server.test_web_consent import PAGE_HEADERS

#: What Chromium sends when it navigates to a page.
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)


def _serve(database_url: str) -> Iterator[str]:
    port = free_port()
    server, thread = start_server(Settings(database_url=database_url, host="127.0.0.1", port=port))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def site(new_database: Callable[[str], str]) -> Iterator[str]:
    # SQLite only: what is under test never reaches the database (see the outage test).
    yield from _serve(new_database("sqlite"))


def get(
    url: str, accept: str | None, method: str = "GET", cookies: dict[str, str] | None = None
) -> httpx.Response:
    headers = {} if accept is None else {"Accept": accept}
    return httpx.request(method, url, headers=headers, cookies=cookies)


def assert_page(response: httpx.Response, status: int, heading: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    for name, value in PAGE_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["vary"] == "Accept"
    # The pages' own design: the base template and its stylesheet.
    assert '<link rel="stylesheet" href="/static/modelgates.css">' in response.text
    assert "ModelGates</a>" in response.text
    assert f"<h1>{heading}</h1>" in response.text


@pytest.mark.parametrize("path", ["/no-such-page", "/account/nothing", "/static/missing.css"])
def test_a_browser_gets_the_not_found_page(site: str, path: str) -> None:
    page = get(site + path, BROWSER_ACCEPT)
    assert_page(page, 404, "Page not found")
    assert '<a href="/account">Go to your account</a>' in page.text
    assert "set-cookie" not in page.headers  # answered without reading or making a visitor


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "text/html;q=0.5, application/json",  # prefers JSON
        "text/html;q=0",  # refuses HTML
        "text/css,*/*;q=0.1",  # a stylesheet the page asked for
    ],
)
def test_other_clients_get_the_error_shape(site: str, accept: str | None) -> None:
    response = get(f"{site}/no-such-page", accept)
    assert_error(response, 404)
    assert response.headers["vary"] == "Accept"


def test_the_api_answers_json_even_to_a_browser(site: str) -> None:
    assert_error(get(f"{site}/api/v1/no-such-endpoint", BROWSER_ACCEPT), 404)
    wrong_method = get(f"{site}/api/v1/auth/keys", BROWSER_ACCEPT)
    assert_error(wrong_method, 405)
    assert wrong_method.headers["allow"] == "POST"


def test_a_method_a_page_does_not_take_is_a_405_page_for_a_browser(site: str) -> None:
    page = get(f"{site}/account", BROWSER_ACCEPT, method="POST")
    assert_page(page, 405, "This address does not take that request")
    assert page.headers["allow"] == "GET, HEAD"
    as_json = get(f"{site}/account", "application/json", method="POST")
    assert_error(as_json, 405)
    assert as_json.headers["allow"] == "GET, HEAD"


def test_the_not_found_page_needs_no_database() -> None:
    # Nothing listens on this port: every query fails, as in an outage.
    for base in _serve(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"):
        session = {"mg_session": "a" * 43}  # a page looks its session up
        assert get(f"{base}/account", BROWSER_ACCEPT, cookies=session).status_code == 503
        page = get(f"{base}/no-such-page", BROWSER_ACCEPT, cookies=session)
        assert_page(page, 404, "Page not found")
