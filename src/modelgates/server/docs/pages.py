"""The documentation's pages: the README's usage parts, every ``docs/*.md``, and the API
reference built from the OpenAPI document.

The Markdown ships inside the package (``modelgates/server/docs/_content``, put there by the
wheel's build configuration, pyproject.toml); run from a source checkout, the repository's own
``README.md`` and ``docs/`` are read instead, so an edit shows without a build. Pages are found,
not listed: a new ``docs/*.md`` is a new page.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelgates.server.docs import markdown, reference

#: The shipped copy (wheel installs), else the checkout this module lives in.
_SHIPPED = Path(__file__).resolve().parent / "_content"
_CHECKOUT = Path(__file__).resolve().parents[4]

#: The README's sections that are about this repository rather than about using ModelGates.
_README_SKIPPED = frozenset({"two commands", "layout"})
#: Pages shown first, in this order; the other docs/*.md follow alphabetically.
_FIRST = ("overview", "reference", "api")
#: Files of docs/ that pages may show (the README's screenshot).
ASSET_SUFFIXES = frozenset({".png", ".svg", ".jpg"})
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class Section:
    """A heading and the Markdown under it up to the next heading of the same or a higher
    level (its subsections included)."""

    anchor: str
    title: str
    level: int
    #: Lines ``[start, end)`` of the page's Markdown; ``own_end``: where its own text stops
    #: (the first subsection), for the search index.
    start: int
    end: int
    own_end: int


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    #: Where the Markdown comes from: a repository path, or ``openapi.json`` for the reference.
    source: str
    markdown: str
    summary: str
    sections: tuple[Section, ...]

    def section(self, anchor: str) -> Section | None:
        return next((s for s in self.sections if s.anchor == anchor), None)

    def section_markdown(self, section: Section, *, own: bool = False) -> str:
        lines = self.markdown.splitlines()
        return "\n".join(lines[section.start : section.own_end if own else section.end])


@dataclass(frozen=True)
class Library:
    pages: tuple[Page, ...]
    root: Path

    def page(self, slug: str) -> Page | None:
        return next((page for page in self.pages if page.slug == slug), None)

    def asset(self, name: str) -> Path | None:
        """A picture of docs/ by file name, or None."""
        path = self.root / "docs" / name
        if path.suffix in ASSET_SUFFIXES and "/" not in name and path.is_file():
            return path
        return None

    def href(self, path: str, fragment: str, prefix: str = "/docs") -> str | None:
        """The ``/docs`` address of a repository path that a page links to, or None when the
        package does not ship that file."""
        anchor = f"#{fragment}" if fragment else ""
        if path == "README.md":
            return f"{prefix}/overview{anchor}"
        folder, _, name = path.rpartition("/")
        if folder != "docs":
            return None
        stem, dot, suffix = name.rpartition(".")
        if suffix == "md" and self.page(stem) is not None:
            return f"{prefix}/{stem}{anchor}"
        if dot and f".{suffix}" in ASSET_SUFFIXES and self.asset(name) is not None:
            return f"{prefix}/_assets/{name}"
        return None


def content_root() -> Path:
    return _SHIPPED if _SHIPPED.is_dir() else _CHECKOUT


@functools.cache
def library() -> Library:
    """Every page, read and parsed once per process."""
    return load_library(content_root())


def load_library(root: Path) -> Library:
    """The pages of the ``README.md`` and ``docs/*.md`` found under ``root``."""
    return Library(pages=tuple(_ordered(_read_pages(root))), root=root)


def _read_pages(root: Path) -> Iterator[Page]:
    readme = root / "README.md"
    if readme.is_file():
        text = _usage_parts(readme.read_text(encoding="utf-8"))
        # Its heading is the project's name; among the pages it is the overview.
        yield make_page("overview", "README.md", text, title="Overview")
    yield make_page("reference", "openapi.json", reference.markdown())
    for path in sorted((root / "docs").glob("*.md")):
        slug = path.stem.lower()
        if _SLUG.fullmatch(slug) and slug not in _FIRST[:2]:
            yield make_page(slug, f"docs/{path.name}", path.read_text(encoding="utf-8"))


def _ordered(pages: Iterator[Page]) -> list[Page]:
    found = list(pages)
    first = [page for slug in _FIRST for page in found if page.slug == slug]
    return first + sorted((p for p in found if p not in first), key=lambda p: p.slug)


def _usage_parts(readme: str) -> str:
    """The README without its sections about working on the repository."""
    kept: list[str] = []
    skipping = False
    fenced = False
    for line in readme.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            skipping = line[3:].strip().lower() in _README_SKIPPED
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def make_page(slug: str, source: str, text: str, title: str | None = None) -> Page:
    tokens = markdown.parse(text)
    headings = [
        (int(token.tag[1]), markdown.inline_text(tokens[i + 1]), token.map[0] if token.map else 0)
        for i, token in enumerate(tokens)
        if token.type == "heading_open"
    ]
    anchors = markdown.unique_slugs([title for _, title, _ in headings])
    line_count = len(text.splitlines())
    sections = []
    for i, ((level, text_of_heading, start), anchor) in enumerate(
        zip(headings, anchors, strict=True)
    ):
        later = headings[i + 1 :]
        end = next((line for lvl, _, line in later if lvl <= level), line_count)
        own_end = later[0][2] if later else line_count
        sections.append(Section(anchor, text_of_heading, level, start, end, own_end))
    heading = next((s.title for s in sections if s.level == 1), slug.replace("-", " ").title())
    return Page(slug, title or heading, source, text, _summary(tokens), tuple(sections))


def _summary(tokens: list[markdown.Token]) -> str:
    """The page's first paragraph, as text: what the index says of it."""
    for i, token in enumerate(tokens):
        if token.type == "paragraph_open" and tokens[i + 1].type == "inline":
            text = " ".join(markdown.inline_text(tokens[i + 1]).split())
            return text if len(text) <= 280 else text[:277].rsplit(" ", 1)[0] + "…"
    return ""
