"""Ranked full-text search over the pages' sections: SQLite's FTS5, in memory, built once.

Each section (a heading and its own text, without its subsections) is a row. A question is
cut into words, the common words dropped, and the rest OR-ed, so that a question phrased as a
person asks it still matches; bm25 ranks the rows, a word in a section's heading weighing more
than one in its text. Porter stemming makes "exchanging" find "exchange".
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass

from modelgates.server.docs import markdown
from modelgates.server.docs.pages import Library

_WORD = re.compile(r"\w+", re.UNICODE)
#: Words that say how a question is asked, not what it is about.
#: bm25's weights are those of the columns: a section's heading 8, its page's title 2, text 1.
_SEARCH = (
    "SELECT page, anchor, page_title, heading, snippet(sections, 2, '**', '**', '…', 40) "
    "FROM sections WHERE sections MATCH ? ORDER BY bm25(sections, 8.0, 2.0, 1.0) LIMIT ?"
)
_STOPWORDS = frozenset(
    """a an and are as at be by can do does for from how i if in into is it its me my of on or
    should so that the this to use using what when where which who why will with you your""".split()
)


@dataclass(frozen=True)
class Hit:
    page: str
    anchor: str
    page_title: str
    section_title: str
    #: The matching passage, the question's words between ``**``.
    passage: str

    @property
    def path(self) -> str:
        return f"/docs/{self.page}#{self.anchor}" if self.anchor else f"/docs/{self.page}"


class SearchIndex:
    def __init__(self, library: Library) -> None:
        # One connection, used under a lock: a search takes well under a millisecond, and a
        # connection per thread would hold the index once per thread.
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute(
            "CREATE VIRTUAL TABLE sections USING fts5("
            "heading, page_title, body, page UNINDEXED, anchor UNINDEXED, "
            "tokenize = 'porter unicode61')"
        )
        rows = []
        for page in library.pages:
            lead = page.markdown.splitlines()[: page.sections[0].start] if page.sections else []
            if lead:  # text above the first heading
                rows.append(("", page.title, markdown.plain_text("\n".join(lead)), page.slug, ""))
            for section in page.sections:
                text = markdown.plain_text(page.section_markdown(section, own=True))
                heading = "" if section.level == 1 else section.title
                anchor = "" if section.level == 1 else section.anchor
                rows.append((heading, page.title, text, page.slug, anchor))
        self._db.executemany("INSERT INTO sections VALUES (?, ?, ?, ?, ?)", rows)
        self._db.commit()

    def search(self, question: str, limit: int = 5) -> list[Hit]:
        """The sections that best answer ``question``, best first (none for a question of
        common words alone)."""
        words = [w for w in _WORD.findall(question.lower()) if w not in _STOPWORDS]
        if not words:
            return []
        query = " OR ".join(f'"{word}"' for word in dict.fromkeys(words))
        with self._lock:
            rows = self._db.execute(_SEARCH, (query, max(1, min(limit, 20)))).fetchall()
        return [
            Hit(page, anchor, page_title, heading or page_title, " ".join(passage.split()))
            for page, anchor, page_title, heading, passage in rows
        ]
