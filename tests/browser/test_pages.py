"""Pages in Chromium beyond the sign-in path: the not-found page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Site


def test_an_unknown_address_shows_the_not_found_page(page: Page, site: Site) -> None:
    response = page.goto(f"{site.base_url}/acount")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("link", name="Go to your account").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
