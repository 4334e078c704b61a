"""Highlighted titles and snippets: the only place where markup is produced.

Matches are found by running the same syllable analysis as the index over the stored text, so
``<mark>`` lands on exactly the characters the reader sees, also when the query had no
diacritics and the text has them. Everything else is HTML-escaped. There is no length limit:
long articles are highlighted to the end.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape

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


@lru_cache(maxsize=1)
def _spellings() -> dict[str, str]:
    """For each folded character, a regex class of the characters that fold to it (a, à, Ạ...)."""
    groups: dict[str, set[str]] = {}
    for code in itertools.chain(range(0x20, 0x250), range(0x1E00, 0x1F00)):
        folded = _FOLD_TABLE[code]
        if len(folded) == 1:
            groups.setdefault(folded, {folded}).add(chr(code))
    return {f: "[" + "".join(re.escape(c) for c in sorted(chars)) + "]" for f, chars in groups.items()}


@lru_cache(maxsize=8192)
def _pattern(folded: str) -> re.Pattern:
    """Any spelling of a folded syllable, as a whole syllable, in the original (unfolded) text.

    Kept per syllable, for any later search that has it: compiling costs about 0.3 ms per
    letter (re builds a table for each class of spellings), so a pattern per set of terms made
    a new search pay more to compile it than to scan a page of results with it (300 logged
    queries on the full corpus: 2.2 ms of highlighting for a first search instead of 5.0; 2.1
    instead of 1.6 when repeated).
    """
    spellings = _spellings()
    first, *rest = [spellings.get(ch, "[" + re.escape(ch) + "]") for ch in folded]
    # The pattern starts with a class, so re skips ahead to the next such letter in C (a
    # leading look-behind stops that: 1.5 to 3.5 times slower on news bodies). Then
    # (?<![^\W_].): the letter just matched does not continue a word (a syllable starts there).
    return re.compile(rf"{first}(?<![^\W_].){''.join(rest)}(?![^\W_])")


_COMBINING = re.compile("[\u0300-\u036f]")


def find_matches(text: str, terms: Sequence[Term]) -> list[tuple[int, int, int]]:
    """(start, end, term index) of each syllable of ``text`` that matches a term.

    A term typed with diacritics marks exact matches; if the text has none of them, its folded
    matches are marked instead (the article was found through them).
    """
    if not text or not terms:
        return []
    if _COMBINING.search(text):  # combining marks (NFD input): the slow, general way
        candidates = ((start, end, surface) for _, start, end, surface in syllables(text))
        folded_terms = {t.folded for t in terms}
        candidates = ((a, b, srf) for a, b, srf in candidates if fold(srf) in folded_terms)
    else:
        # A compiled regex per term finds every candidate syllable, whatever its marks and case.
        folded = tuple(sorted({t.folded for t in terms if t.folded}))
        if not folded:
            return []
        found = itertools.chain.from_iterable(_pattern(t).finditer(text) for t in folded)
        candidates = ((m.start(), m.end(), m.group()) for m in found)
    exact_terms = {t.exact: i for i, t in enumerate(terms) if t.exact is not None}
    folded_index: dict[str, list[int]] = {}
    for i, t in enumerate(terms):
        folded_index.setdefault(t.folded, []).append(i)
    exact_hits: list[tuple[int, int, int]] = []
    folded_hits: list[tuple[int, int, int]] = []
    for start, end, surface in candidates:
        form = exact_form(surface)
        if form in exact_terms:
            exact_hits.append((start, end, exact_terms[form]))
            continue
        for i in folded_index.get(fold(surface), ()):
            folded_hits.append((start, end, i))
            break
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
