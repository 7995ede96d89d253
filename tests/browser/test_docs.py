"""``/docs`` in Chromium (JavaScript off): the index, a page, a deep link, the API reference,
a phone's width, and the links to it from the consent and account pages.

Set ``MODELGATES_TEST_SCREENSHOTS=DIR`` to keep a picture of each step there, to look at.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from modelgates import pkce
from tests.browser.conftest import PHONE, Site
from tests.browser.test_consent_flow import sign_in
from tests.conftest import Account, new_account

SHOTS = os.environ.get("MODELGATES_TEST_SCREENSHOTS")
EXCHANGE = "exchange-an-authorization-code-and-its-pkce-verifier-for-an-api-key"


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"docs-{name}.png"), full_page=full_page)


@pytest.fixture(scope="module")
def user(site: Site) -> Account:
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API keeps a loop in this thread
        return thread.submit(new_account, site.database_url).result()


def test_the_index_lists_every_page_and_the_mcp_address(page: Page, site: Site) -> None:
    page.goto(f"{site.base_url}/docs")
    expect(page.get_by_role("heading", name="Documentation", exact=True)).to_be_visible()
    index = page.locator("article")
    for title in ("API reference", "The ModelGates API", "Architecture", "Security"):
        expect(index.get_by_role("link", name=title)).to_be_visible()
    expect(page.get_by_text(f"{site.base_url}/docs/_mcp/server")).to_be_visible()
    shot(page, "index")
    index.get_by_role("link", name="The ModelGates API").click()
    expect(page).to_have_url(f"{site.base_url}/docs/api")
    expect(page.get_by_role("heading", name="The ModelGates API", level=1)).to_be_visible()


def test_a_page_has_headings_to_link_to_and_code_blocks(page: Page, site: Site) -> None:
    page.goto(f"{site.base_url}/docs/overview")
    expect(page).to_have_title("Overview · ModelGates")
    heading = page.get_by_role("heading", name="Terminal apps")
    anchor = heading.get_by_role("link", name="Link to this section")
    expect(anchor).to_have_attribute("href", "#terminal-apps")
    code = page.locator("pre code.language-python").first
    expect(code).to_contain_text("from modelgates import ModelGates")
    # The README's links to docs/ lead to their pages, and its picture is shown.
    expect(page.locator("article a[href='/docs/api']").first).to_be_visible()
    picture = page.locator("article img").first
    expect(picture).to_have_attribute("src", "/docs/_assets/consent.png")
    assert picture.evaluate("img => img.naturalWidth") > 0
    # The page's own sections are listed beside it.
    expect(page.locator("nav").get_by_role("link", name="Terminal apps")).to_be_visible()
    shot(page, "page")


def test_a_deep_link_opens_at_its_section(page: Page, site: Site) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{site.base_url}/docs/overview#keys-that-mean-something")
    heading = page.get_by_role("heading", name="Keys that mean something")
    expect(heading).to_be_in_viewport()
    expect(page.get_by_role("heading", name="A first flow, by hand")).not_to_be_in_viewport()
    shot(page, "deep-link")


def test_the_api_reference_is_the_openapi_documents(page: Page, site: Site) -> None:
    page.goto(f"{site.base_url}/docs/reference#{EXCHANGE}")
    section = page.get_by_role("heading", name="Exchange an authorization code", exact=False)
    expect(section).to_be_in_viewport()
    expect(page.get_by_text("POST /api/v1/auth/keys", exact=True).first).to_be_visible()
    fields = page.locator("table").filter(has_text="code_verifier").first
    expect(fields).to_contain_text("^[A-Za-z0-9._~-]{43,128}$")
    shot(page, "reference")


def test_on_a_phone_the_page_fits_its_width(page: Page, site: Site) -> None:
    page.set_viewport_size(PHONE)
    for path in ("/docs", "/docs/reference", "/docs/overview"):
        page.goto(f"{site.base_url}{path}")
        # Nothing wider than the screen: wide tables and code scroll inside their card.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
        shot(page, f"phone{path.replace('/', '-')}")
    expect(page.locator("article")).to_be_visible()
    nav_box = page.locator("nav").bounding_box()
    article_box = page.locator("article").bounding_box()
    assert nav_box and article_box and nav_box["y"] < article_box["y"]  # stacked


def test_the_consent_and_account_pages_link_to_the_docs(
    page: Page, site: Site, user: Account
) -> None:
    query = urlencode(
        {
            "callback_url": "https://app.example/cb",
            "code_challenge": pkce.s256_challenge(pkce.create_verifier()),
            "code_challenge_method": "S256",
        }
    )
    page.goto(f"{site.base_url}/auth?{query}")
    sign_in(page, user)
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    footer = page.get_by_role("contentinfo")
    expect(footer.get_by_role("link", name="Documentation")).to_have_attribute("href", "/docs")
    shot(page, "consent-footer", full_page=True)
    page.goto(f"{site.base_url}/account")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_role("contentinfo").get_by_role("link", name="Documentation").click()
    expect(page).to_have_url(f"{site.base_url}/docs")
