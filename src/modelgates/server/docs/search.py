"""Ranked full-text search over the pages' sections: SQLite's FTS5, in memory, built once.

Each section (a heading and its own text, without its subsections) is a row. A question is
cut into words, the common words dropped, and the rest OR-ed, so that a question phrased as a
person asks it still matches; bm25 ranks the rows, a word in a section's heading weighing more
than one in its text, and each row's score is scaled by the share of the question's words it
contains, so that a section about all of the question beats one that says a single word of it
often ("sign a user in from a terminal app": the section on terminal apps, not the one on
apps). Porter stemming makes "exchanging" find "exchange". ``tests/docs/test_docs_search.py``
holds the ranking to a table of questions.
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
    "SELECT rowid, bm25(sections, 8.0, 2.0, 1.0), page, anchor, page_title, heading, "
    "snippet(sections, 2, '**', '**', '…', 40) "
    "FROM sections WHERE sections MATCH ? ORDER BY 2 LIMIT ?"
)
_ROWS_WITH = "SELECT rowid FROM sections WHERE sections MATCH ?"
#: How many of bm25's best rows are ranked again by their share of the question's words.
_CANDIDATES = 100
_STOPWORDS = frozenset(
    """a about an and any are as at be by can do does for from has have how i if in into is it
    its like look looks me mean means my need of on or should so that the there this to use
    using want what when where which who why will with you your""".split()
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
                own = page.section_markdown(section, own=True).split("\n", 1)[1:]
                text = markdown.plain_text("".join(own))  # its text, below its heading
                if not text.strip():
                    continue  # a heading over subsections only: they are the rows
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
        terms = [f'"{word}"' for word in dict.fromkeys(words)]  # quoted: words, not syntax
        with self._lock:
            rows = self._db.execute(_SEARCH, (" OR ".join(terms), _CANDIDATES)).fetchall()
            shares: dict[int, int] = {}
            for term in terms:
                for (rowid,) in self._db.execute(_ROWS_WITH, (term,)):
                    shares[rowid] = shares.get(rowid, 0) + 1
        # bm25 is negative, lower is better: a row with half the words keeps half its score.
        rows.sort(key=lambda row: row[1] * shares.get(row[0], 0) / len(terms))
        return [
            Hit(page, anchor, page_title, heading or page_title, " ".join(passage.split()))
            for _, _, page, anchor, page_title, heading, passage in rows[: max(1, min(limit, 20))]
        ]
