"""Search quality: questions a developer would ask, each answered first by the right page."""

from __future__ import annotations

import pytest

from modelgates.server.docs.pages import library
from modelgates.server.docs.search import SearchIndex

#: A question, and the page whose section must come first.
QUESTIONS = [
    ("How do I exchange an authorization code in Python?", "overview"),
    ("How do I sign a user in from a terminal app?", "overview"),
    ("How do I create and list keys with a management key in Python?", "overview"),
    ("How do I add the MCP server to Claude Code?", "overview"),
    ("Which fields does the request body of createAuthCode take?", "reference"),
    ("What happens when a spent code is presented again?", "api"),
    ("How do I run several replicas behind a load balancer?", "deploy"),
    ("How fast is the exchange compared with django-oauth-toolkit?", "performance"),
    ("How is the code laid out into routes, services and the store?", "architecture"),
    ("How is a stolen authorization code stopped?", "security"),
    ("Why must an S256 challenge be canonical base64url?", "decisions"),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex(library())


@pytest.mark.parametrize(("question", "page"), QUESTIONS)
def test_the_right_page_comes_first(index: SearchIndex, question: str, page: str) -> None:
    hits = index.search(question)
    assert hits, question
    assert hits[0].page == page, [hit.path for hit in hits]


def test_the_exchange_is_found_by_its_plain_name(index: SearchIndex) -> None:
    top = index.search("exchange a code for a key")[0]
    assert top.path in {
        "/docs/reference#exchange-an-authorization-code-and-its-pkce-verifier-for-an-api-key",
        "/docs/api#post-apiv1authkeys",
    }
    assert "**" in top.passage


def test_stemming_and_questions_of_common_words(index: SearchIndex) -> None:
    assert index.search("revoking")[0].path == index.search("revoke")[0].path
    assert index.search("how do I do it?") == []
    # FTS5's query syntax in a question is only words: no error, no injection.
    assert index.search('code" OR NEAR(x) *') != []
