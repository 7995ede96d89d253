"""Text that pretends to be other text: letters of another script that look Latin (Cyrillic
``\u0430`` for ``a``), and names that read as ours. Shared by e-mail addresses and app titles.

The data (Unicode's confusables and script tables) is ``confusable-homoglyphs``'s; the rules are
ours and deliberately narrow, so that names written wholly in one script (``мария``, ``日本語``,
``Bücher``) pass."""

from __future__ import annotations

import functools
import unicodedata

from confusable_homoglyphs import categories, confusables

#: Scripts that are not a script of their own: digits, punctuation, combining marks.
_NEUTRAL = frozenset({"COMMON", "INHERITED"})
#: Spellings of our name once lookalikes are undone; "modelgate" catches "Model-Gate" too.
_OUR_NAME = "modelgate"
#: Lookalikes within ASCII itself, which Unicode's table (about single characters) lacks.
_ASCII_LOOKALIKES = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("|", "l"), ("i", "l"))


def mixes_lookalike_scripts(text: str) -> bool:
    r"""Some word of ``text`` mixes Latin letters with letters of another script that can pass
    for Latin ones: the mark of a spoofed name (``p\u0430ypal``), never of an honest one."""
    for word in text.split():
        scripts = {_script(ch) for ch in word} - _NEUTRAL
        if len(scripts) > 1 and "LATIN" in scripts and confusables.is_dangerous(word):
            return True
    return False


def reads_as_our_name(text: str) -> bool:
    r"""``text`` spells "ModelGates" once case, compatibility forms, other scripts' lookalikes,
    spaces and punctuation are set aside (``M\u043edel Gates``, fullwidth ``MODELGATES``,
    ``🔒 Verified by Model-Gates``, ``rnodelgates``)."""
    folded = "".join(_latin_lookalike(ch) for ch in unicodedata.normalize("NFKC", text))
    folded = folded.casefold()
    letters = "".join(ch for ch in folded if ch.isalnum() or ch == "|")
    for lookalike, letter in _ASCII_LOOKALIKES:
        letters = letters.replace(lookalike, letter)
    return _OUR_NAME in letters


def _script(ch: str) -> str:
    return str(categories.alias(ch))


@functools.lru_cache(maxsize=4096)
def _latin_lookalike(ch: str) -> str:
    """The ASCII letter ``ch`` passes for, when it is not one and passes for one."""
    if ch.isascii():
        return ch
    found = confusables.is_confusable(ch, greedy=True, preferred_aliases=[])
    for entry in found or []:
        for glyph in entry["homoglyphs"]:
            if glyph["c"].isascii() and glyph["c"].isalnum():
                return str(glyph["c"])
    return ch
