"""Plain-text page exports: an article page saved as its visible text (e.g. page-tttd-2022-11-14.txt).

The layout, top to bottom, and the heuristics that read it (no outlet-specific strings):

* Page furniture lines anywhere (a ``Tag`` label, the ``aa`` font-size widget, share buttons, any line of at
  most three characters without digits) are ignored. A ``Tag: a, b`` line gives tags.
* The *dateline* is the first line within the first 30 lines of the form ``<section> dd/mm/yyyy[ HH:MM]``
  (section: at most 8 words, may be empty). The headline is the last other line before it. Without a
  dateline the headline is the first line, and section and date are unknown.
  The date becomes ISO 8601 in Hanoi time (``2022-11-14T12:48:00+07:00``).
* The article ends at the first "read more" line after the dateline (``Đọc thêm``, ``Xem thêm``,
  ``Tin liên quan``, ...): the related-article list after it is dropped.
* Lines are grouped into blocks separated by blank lines. The first line after the dateline is the lead
  (summary). The last line before the end, alone in its block and shaped like a name (1-6 capitalised words,
  no digits, no final punctuation), is the author.
* Image captions: two adjacent lines that are near-duplicates (a crawler saves the alt text and the caption)
  are both dropped, like ``<figcaption>`` in HTML pages. Inside a block of several lines, a line without
  final punctuation is a caption or an inline related-article headline and is dropped; a line alone in its
  block is kept even without final punctuation (a subheading). A line equal to the headline is dropped.
* The export has no URL: the id is ``page:<file stem>`` (``page:page-tttd-2022-11-14``) given by the caller.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

DATELINE_SEARCH_LINES = 30
CAPTION_SIMILARITY = 0.75

_DATELINE = re.compile(
    r"^(?P<section>\D{0,80}?)[\s,|\-–]*"
    r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})"
    r"(?:[\s,|\-–]+(?P<H>\d{1,2})[:hg](?P<M>\d{2}))?\s*(?:\(?GMT\+7\)?)?$"
)
_TAG_LINE = re.compile(r"^tags?\s*:\s*(?P<tags>.+)$", re.IGNORECASE)
_FINAL_PUNCTUATION = re.compile(r"[.!?…:;][\"'”’»)\]]*$")

END_MARKERS = frozenset(
    (
        "đọc thêm",
        "xem thêm",
        "tin liên quan",
        "bài liên quan",
        "bài viết liên quan",
        "tin cùng chuyên mục",
        "tin khác",
        "các tin khác",
        "có thể bạn quan tâm",
        "tin mới",
        "tin mới nhất",
        "đọc tiếp",
    )
)
FURNITURE = frozenset(
    (
        "tag",
        "tags",
        "aa",
        "a a",
        "a- a+",
        "a+ a-",
        "chia sẻ",
        "in bài",
        "bình luận",
        "lưu",
        "theo dõi",
        "share",
    )
)


def _key(line: str) -> str:
    """A line folded for comparisons with the marker sets."""
    return " ".join(line.casefold().rstrip(":").split())


def _is_furniture(line: str) -> bool:
    """Whether a line is a page widget rather than text."""
    key = _key(line)
    return key in FURNITURE or (len(key) <= 3 and not any(c.isdigit() for c in key))


def _is_end_marker(line: str) -> bool:
    """Whether a line starts the related-articles part of the page."""
    return _key(line) in END_MARKERS


def _looks_like_name(line: str) -> bool:
    """Whether a line is shaped like an author's name."""
    words = line.split()
    return (
        1 <= len(words) <= 6
        and len(line) <= 60
        and not any(c.isdigit() for c in line)
        and not _FINAL_PUNCTUATION.search(line)
        and all(w[0].isupper() for w in words)
    )


def _near_duplicates(a: str, b: str) -> bool:
    """Whether two lines say almost the same thing (word-level similarity)."""
    if a == b:
        return True
    words_a, words_b = a.casefold().split(), b.casefold().split()
    return SequenceMatcher(None, words_a, words_b, autojunk=False).ratio() >= CAPTION_SIMILARITY


def _dateline(line: str) -> re.Match[str] | None:
    """The match of a ``<section> dd/mm/yyyy HH:MM`` line, if the line is one."""
    match = _DATELINE.match(line)
    if match is None:
        return None
    section = match.group("section").strip()
    if len(section.split()) > 8 or _FINAL_PUNCTUATION.search(section):
        return None
    return match


def _iso_date(match: re.Match[str]) -> str:
    """The dateline's date as ISO 8601 in Hanoi time, or as written when it is not a valid date."""
    d, m, y = int(match.group("d")), int(match.group("m")), int(match.group("y"))
    hour, minute = int(match.group("H") or 0), int(match.group("M") or 0)
    if not (1 <= d <= 31 and 1 <= m <= 12 and hour < 24 and minute < 60):
        return match.group(0)[match.start("d") :].strip()  # let normalisation reject it with its reason
    return f"{y:04d}-{m:02d}-{d:02d}T{hour:02d}:{minute:02d}:00+07:00"


def _blocks(lines: list[str]) -> list[list[str]]:
    """Non-blank lines grouped by the blank lines between them."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _drop_captions(block: list[str]) -> list[str]:
    """A block without near-duplicate adjacent line pairs (image alt text + caption)."""
    kept: list[str] = []
    i = 0
    while i < len(block):
        if i + 1 < len(block) and _near_duplicates(block[i], block[i + 1]):
            i += 2
            continue
        kept.append(block[i])
        i += 1
    return kept


def parse_text_page(text: str, page_id: str) -> dict:
    """Raw article fields of a plain-text page export, with the same keys as the JSON format."""
    text = unicodedata.normalize("NFC", text.lstrip("\ufeff"))
    tags: list[str] = []
    lines: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split())
        tag_match = _TAG_LINE.match(line)
        if tag_match:
            tags.extend(t.strip() for t in tag_match.group("tags").split(",") if t.strip())
            continue
        if line and _is_furniture(line):
            continue
        lines.append(line)

    title = section = published = None
    start = 0
    for index, line in enumerate(lines[:DATELINE_SEARCH_LINES]):
        if _is_end_marker(line):
            break
        match = _dateline(line)
        if match and any(lines[:index]):
            title = next(x for x in reversed(lines[:index]) if x)
            section = match.group("section").strip(" ,|-–") or None
            published = _iso_date(match)
            start = index + 1
            break
    if title is None:
        for index, line in enumerate(lines):
            if line and not _is_end_marker(line):
                title, start = line, index + 1
                break

    end = next((i for i in range(start, len(lines)) if _is_end_marker(lines[i])), len(lines))
    blocks = _blocks(lines[start:end])

    author = None
    if blocks and len(blocks[-1]) == 1 and _looks_like_name(blocks[-1][0]) and len(blocks) > 1:
        author = blocks.pop()[0]

    # A block's size is taken before the lead leaves the first block: the lines after the lead are furniture.
    sized = [(block, len(block) > 1) for block in blocks]
    summary = sized[0][0].pop(0) if sized else None

    body: list[str] = []
    for block, several in sized:
        for line in _drop_captions(block):
            if line == title:
                continue
            if several and not _FINAL_PUNCTUATION.search(line):
                continue
            body.append(line)
    return {
        "id": page_id,
        "url": None,
        "title": title,
        "section": section,
        "published": published,
        "author": author,
        "tags": tags,
        "summary": summary,
        "body": "\n".join(body),
    }
