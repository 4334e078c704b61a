"""Highlighted titles and snippets: the only place where markup is produced.

Matches are whole syllables of the stored text, found by the same folding as the index's (the
text is folded character for character, so offsets stay those of the original) and then told
exact or folded like the index's forms, so ``<mark>`` lands on exactly the characters the reader
sees, also when the query had no diacritics and the text has them. Everything else is
HTML-escaped. There is no length limit: long articles are highlighted to the end.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape

import numpy as np

from .analysis import exact_form, fold, syllables

SNIPPET_CHARS = 240


@dataclass(frozen=True)
class Term:
    """What to mark: an exact form when the reader typed diacritics, else a folded form."""

    exact: str | None
    folded: str


def terms_for(syllables_: Iterable) -> list[Term]:
    """Highlight terms from query syllables (objects with exact, folded, accented)."""
    seen: dict[tuple, Term] = {}
    for s in syllables_:
        t = Term(s.exact if s.accented else None, s.folded)
        seen.setdefault((t.exact, t.folded), t)
    return list(seen.values())


class _FoldTable(dict):
    """str.translate table folding one character to one character (marks stripped, đ -> d)."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        folded = fold(ch)
        value = folded if len(folded) == 1 else ("" if unicodedata.combining(ch) else ch)
        self[code] = value
        return value


_FOLD_TABLE = _FoldTable()


# Characters folded through a table (Latin and Vietnamese letters); others stand for themselves.
_FOLDED_RANGES = (range(0x20, 0x250), range(0x1E00, 0x1F00))
_COMBINING = range(0x300, 0x370)
_MARKER = 0  # what combining marks (and NUL) become in the table: the text is then folded another way


@lru_cache(maxsize=1)
def _fold_units() -> np.ndarray:
    """UTF-16 code unit -> code unit of its folded, lower-case form (one for one, over the BMP)."""
    table = np.arange(0x10000, dtype=np.uint16)
    for code in itertools.chain(*_FOLDED_RANGES):
        folded = _FOLD_TABLE[code]
        if len(folded) == 1:
            table[code] = ord(folded)
    table[_COMBINING.start : _COMBINING.stop] = _MARKER
    return table


def _folded_text(text: str) -> str | None:
    """``text`` folded character for character (same offsets), or None if it has combining marks.

    A table look-up over its UTF-16 code units in numpy: 5 to 10 times faster than
    ``str.translate`` on an article body, and every Vietnamese letter is one unit (surrogate pairs
    map to themselves). The syllables can then be found by their folded spelling (a plain string
    search) instead of a class of spellings per letter (2 to 3 times slower).
    """
    units = np.frombuffer(text.encode("utf-16-le", "surrogatepass"), dtype=np.uint16)
    folded = _fold_units()[units].tobytes().decode("utf-16-le", "surrogatepass")
    # A marker is a combining mark (or a NUL, rare enough to take the slow way too); a length
    # change is two lone surrogates that paired up in UTF-16.
    if chr(_MARKER) in folded or len(folded) != len(text):
        return None
    return folded


@lru_cache(maxsize=8192)
def _pattern(folded: str) -> re.Pattern:
    """A folded syllable, as a whole syllable, in folded text."""
    literal = re.escape(folded)
    # The literal first, so re jumps between its occurrences; then, looking back over it, the
    # letter before is not part of the word, nor the one after.
    return re.compile(rf"{literal}(?<![^\W_]{literal})(?![^\W_])")


def find_matches(text: str, terms: Sequence[Term]) -> list[tuple[int, int, int]]:
    """(start, end, term index) of each syllable of ``text`` that matches a term.

    A term typed with diacritics marks exact matches; if the text has none of them, its folded
    matches are marked instead (the article was found through them).
    """
    if not text or not terms:
        return []
    plain = _folded_text(text)
    if plain is None:  # combining marks (NFD input): the slow, general way
        return _matches_in_syllables(text, terms)
    exact_hits: list[tuple[int, int, int]] = []
    folded_hits: list[tuple[int, int, int]] = []
    for pattern, exact, first in _searches(tuple(terms)):
        # The folded text has the original's offsets: a match there is the original's syllable.
        for m in pattern.finditer(plain):
            start, end = m.span()
            i = exact.get(exact_form(text[start:end])) if exact else None
            if i is not None:
                exact_hits.append((start, end, i))
            else:
                folded_hits.append((start, end, first))
    return _preferred(terms, exact_hits, folded_hits)


@lru_cache(maxsize=256)
def _searches(terms: tuple[Term, ...]) -> list[tuple[re.Pattern, dict[str, int], int]]:
    """Per folded form of the terms: its pattern, the exact forms typed for it (term index by
    form) and the first term that has it. Worked out once for the titles and snippets of a page."""
    out = []
    for form in sorted({t.folded for t in terms if t.folded}):
        exact = {t.exact: i for i, t in enumerate(terms) if t.folded == form and t.exact is not None}
        first = next(i for i, t in enumerate(terms) if t.folded == form)
        out.append((_pattern(form), exact, first))
    return out


def _matches_in_syllables(text: str, terms: Sequence[Term]) -> list[tuple[int, int, int]]:
    """find_matches on text with combining marks, syllable by syllable."""
    exact_terms = {t.exact: i for i, t in enumerate(terms) if t.exact is not None}
    folded_index: dict[str, int] = {}
    for i, t in enumerate(terms):
        folded_index.setdefault(t.folded, i)
    exact_hits: list[tuple[int, int, int]] = []
    folded_hits: list[tuple[int, int, int]] = []
    for _, start, end, surface in syllables(text):
        form = exact_form(surface)
        if form in exact_terms:
            exact_hits.append((start, end, exact_terms[form]))
        elif fold(surface) in folded_index:
            folded_hits.append((start, end, folded_index[fold(surface)]))
    return _preferred(terms, exact_hits, folded_hits)


def _preferred(
    terms: Sequence[Term], exact_hits: list[tuple[int, int, int]], folded_hits: list[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """The exact matches, and the folded matches of terms typed without marks or not found exactly."""
    found_exact = {i for _, _, i in exact_hits}
    hits = exact_hits + [h for h in folded_hits if terms[h[2]].exact is None or h[2] not in found_exact]
    hits.sort()
    return hits


def mark(text: str, spans: Sequence[tuple[int, int, int]], start: int = 0, end: int | None = None) -> str:
    """Escape ``text[start:end]`` and wrap the spans in <mark>; neighbours separated by spaces merge."""
    end = len(text) if end is None else end
    out: list[str] = []
    pos = start
    merged: list[list[int]] = []
    for s, e, _ in spans:
        if s < start or e > end:
            continue
        if merged and not text[merged[-1][1] : s].strip():
            merged[-1][1] = e
        else:
            merged.append([s, e])
    for s, e in merged:
        out.append(escape(text[pos:s], quote=False))
        out.append("<mark>" + escape(text[s:e], quote=False) + "</mark>")
        pos = e
    out.append(escape(text[pos:end], quote=False))
    return "".join(out)


def highlight_title(title: str, terms: Sequence[Term]) -> str:
    """The whole title, escaped, with matches marked."""
    return mark(title, find_matches(title, terms))


def snippet(text: str, terms: Sequence[Term], max_chars: int = SNIPPET_CHARS) -> tuple[str, int]:
    """The best window of ``text`` (the most distinct terms, then the most matches), marked.

    Returns (html, number of distinct terms in it). Without matches, the start of the text.
    """
    hits = find_matches(text, terms)
    if not hits:
        return _window_html(text, 0, min(len(text), max_chars), []), 0
    best = (-1, -1, 0)
    j = 0
    inside: dict[int, int] = {}  # term -> matches of it in hits[i:j], the window sliding along
    for i, (s, _, _) in enumerate(hits):
        while j < len(hits) and hits[j][1] - s <= max_chars:
            inside[hits[j][2]] = inside.get(hits[j][2], 0) + 1
            j += 1
        score = (len(inside), j - i, -s)
        if score > best:
            best, first, last = score, i, j
        term = hits[i][2]
        if j > i:
            inside[term] -= 1
            if not inside[term]:
                del inside[term]
        else:
            j = i + 1  # a single match longer than the window: it is the window
    window = hits[first:last]
    span_start, span_end = window[0][0], window[-1][1]
    # Centre the matches in the window, then snap the edges to whitespace.
    slack = max(0, max_chars - (span_end - span_start))
    start = max(0, span_start - slack // 3)
    end = min(len(text), max(span_end, start + max_chars))
    start = _snap_left(text, start, span_start)
    end = _snap_right(text, end, span_end)
    return _window_html(text, start, end, window), best[0]


def _snap_left(text: str, start: int, limit: int) -> int:
    if start == 0:
        return 0
    space = text.find(" ", start, limit)
    return space + 1 if space != -1 else start


def _snap_right(text: str, end: int, limit: int) -> int:
    if end >= len(text):
        return len(text)
    space = text.rfind(" ", limit, end)
    return space if space != -1 else end


def _window_html(text: str, start: int, end: int, spans: Sequence[tuple[int, int, int]]) -> str:
    body = mark(text, spans, start, end).replace("\n", " ")
    return ("…" if start > 0 else "") + body.strip() + ("…" if end < len(text) else "")
