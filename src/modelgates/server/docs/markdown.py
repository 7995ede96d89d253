"""Markdown, read and written with markdown-it-py: headings with the anchors GitHub gives them,
links between the pages rewritten to ``/docs/...``, and no raw HTML ever passed through.

CommonMark with tables, raw HTML off (``html=False`` escapes any tag a page contains), and
markdown-it's own link check, which refuses ``javascript:``, ``vbscript:``, ``file:`` and most
``data:`` targets.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

__all__ = ["Token", "inline_text", "link_target", "parse", "plain_text", "render", "slugify"]

_md = MarkdownIt("commonmark", {"html": False}).enable("table")

#: What GitHub keeps of a heading's text in its anchor: letters, digits, ``-``, ``_``, spaces.
_NOT_IN_SLUG = re.compile(r"[^\w\- ]", re.UNICODE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

#: Where a link inside the docs points, as ``(source path, fragment)`` -> href, or None to keep
#: only the link's text (a file of the repository that the package does not ship).
Resolver = Callable[[str, str], "str | None"]


def parse(markdown: str) -> list[Token]:
    return _md.parse(markdown)


def inline_text(token: Token) -> str:
    """The text of an inline token as a reader sees it: code spans without their backticks."""
    parts = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def slugify(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return _NOT_IN_SLUG.sub("", title.strip().lower()).replace(" ", "-")


def unique_slugs(titles: Sequence[str]) -> list[str]:
    """Anchors for headings in page order; a repeated one gets ``-1``, ``-2``, … as on GitHub."""
    seen: dict[str, int] = {}
    slugs = []
    for title in titles:
        slug = slugify(title)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        slugs.append(slug if count == 0 else f"{slug}-{count}")
    return slugs


def plain_text(markdown: str) -> str:
    """The words of some Markdown, for the search index: prose, inline code and code blocks."""
    words = []
    for token in parse(markdown):
        if token.type == "inline":
            words.append(inline_text(token))
        elif token.type in ("fence", "code_block"):
            # The block's language too: "in Python" finds the sections that show Python.
            words.append(f"{token.info}\n{token.content}")
    return "\n".join(words)


def link_target(source: str, href: str) -> tuple[str, str] | None:
    """A relative link of the page at ``source`` (a repository path such as ``docs/api.md``) as
    the repository path it names and its fragment; None for an absolute or in-page link."""
    if href.startswith("#") or href.startswith("//") or _SCHEME.match(href):
        return None
    path, _, fragment = href.partition("#")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
    return resolved, fragment


def _heading_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return self.renderToken(tokens, idx, options, env)


def _heading_close(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # The heading's own link sits inside it, after its text: a reader copies the address from it.
    slug = tokens[idx].meta.get("slug")
    mark = ""
    if slug:
        href = escapeHtml(f"#{slug}")
        mark = f' <a class="anchor" href="{href}" aria-label="Link to this section">#</a>'
    return f"{mark}</{tokens[idx].tag}>\n"


_md.add_render_rule("heading_open", _heading_open)
_md.add_render_rule("heading_close", _heading_close)


def render(markdown: str, source: str, resolve: Resolver) -> str:
    """``markdown`` (the page at repository path ``source``) as HTML: every heading with its
    anchor, links between pages pointing at their ``/docs`` addresses."""
    tokens = parse(markdown)
    headings = [i for i, token in enumerate(tokens) if token.type == "heading_open"]
    slugs = unique_slugs([inline_text(tokens[i + 1]) for i in headings])
    for index, slug in zip(headings, slugs, strict=True):
        tokens[index].attrSet("id", slug)
        tokens[index + 2].meta = {"slug": slug}
    for token in tokens:
        if token.type == "inline" and token.children:
            token.children = _relinked(token.children, source, resolve)
    env: dict[str, Any] = {}
    html: str = _md.renderer.render(tokens, _md.options, env)
    return html


def _relinked(children: list[Token], source: str, resolve: Resolver) -> list[Token]:
    kept: list[Token] = []
    dropped = 0  # nesting of link_open tokens removed, whose link_close must go too
    for child in children:
        if child.type in ("link_open", "image"):
            attr = "href" if child.type == "link_open" else "src"
            target = link_target(source, str(child.attrGet(attr) or ""))
            if target is not None:
                href = resolve(*target)
                if href is None:
                    if child.type == "link_open":
                        dropped += 1
                        continue
                    kept.append(_text(child.content))  # an image not shipped: its alt text
                    continue
                child.attrSet(attr, href)
        elif child.type == "link_close" and dropped:
            dropped -= 1
            continue
        kept.append(child)
    return kept


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token
