"""The pages: found (not listed), rendered safely, linked to each other; and served at /docs."""

from __future__ import annotations

from pathlib import Path

import httpx

from modelgates.server.docs import markdown, reference
from modelgates.server.docs.pages import library, load_library


def render(text: str, source: str = "docs/x.md") -> str:
    return markdown.render(text, source, lambda path, fragment: f"/docs/{path}#{fragment}")


def test_raw_html_and_script_links_do_not_pass_through() -> None:
    html = render(
        "# Title\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[click](javascript:alert(1)) and [data](data:text/html,hi)\n"
    )
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript:' not in html and 'href="data:' not in html


def test_headings_get_githubs_anchors_each_once() -> None:
    html = render("# A page\n\n## `POST /api/v1/auth/keys`\n\n## Again\n\n## Again\n")
    assert '<h2 id="post-apiv1authkeys">' in html
    assert '<h2 id="again">' in html and '<h2 id="again-1">' in html
    assert '<a class="anchor" href="#again-1" aria-label="Link to this section">#</a>' in html


def test_a_new_page_in_docs_appears_with_its_links_rewritten(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# Project\n\nSee [the guide](docs/guide.md#setup) and [code](src/x.py).\n\n"
        "## Two commands\n\nrepository only\n\n## Using it\n\n![shot](docs/missing.png)\n",
        encoding="utf-8",
    )
    (tmp_path / "docs" / "guide.md").write_text(
        "# The guide\n\nFirst words.\n\n## Setup\n\nBack to [the README](../README.md).\n",
        encoding="utf-8",
    )
    docs = load_library(tmp_path)
    assert [page.slug for page in docs.pages] == ["overview", "reference", "guide"]
    guide = docs.page("guide")
    assert guide is not None
    assert (guide.title, guide.summary) == ("The guide", "First words.")
    assert [s.anchor for s in guide.sections] == ["the-guide", "setup"]

    overview = docs.page("overview")
    assert overview is not None
    assert "repository only" not in overview.markdown  # a section about the repository
    html = markdown.render(overview.markdown, overview.source, docs.href)
    assert '<a href="/docs/guide#setup">the guide</a>' in html
    assert "src/x.py" not in html and ">code<" not in html.replace("code>", "")
    assert "shot" in html and "<img" not in html  # a picture not shipped: its words
    guide_html = markdown.render(guide.markdown, guide.source, docs.href)
    assert '<a href="/docs/overview">the README</a>' in guide_html


def test_the_reference_has_every_operation_of_the_openapi_document() -> None:
    page = library().page("reference")
    assert page is not None
    for method, path, operation in reference.operations():
        assert f"`{method} {path}` · operation `{operation['operationId']}`" in page.markdown
        assert page.section(markdown.slugify(operation["summary"])) is not None


def test_every_docs_file_of_the_repository_is_a_page() -> None:
    repository = Path(__file__).resolve().parents[2]
    slugs = {page.slug for page in library().pages}
    assert {path.stem for path in (repository / "docs").glob("*.md")} <= slugs


def test_pages_are_served_with_the_pages_headers(base_url: str) -> None:
    for page in library().pages:
        answer = httpx.get(f"{base_url}/docs/{page.slug}")
        assert answer.status_code == 200, page.slug
        assert answer.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert "script-src" not in answer.headers["content-security-policy"]
    index = httpx.get(f"{base_url}/docs")
    assert index.status_code == 200
    assert f"{base_url}/docs/_mcp/server" in index.text


def test_unknown_pages_and_files_are_not_found(base_url: str) -> None:
    for path in ("/docs/nothing", "/docs/_assets/api.md", "/docs/_assets/..%2FREADME.md"):
        answer = httpx.get(f"{base_url}{path}")
        assert answer.status_code == 404, path
    picture = httpx.get(f"{base_url}/docs/_assets/consent.png")
    assert (picture.status_code, picture.headers["content-type"]) == (200, "image/png")
