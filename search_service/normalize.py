"""Turn a raw record (a dict as a reader found it) into a clean Article, or say why it cannot be one.

Rules, applied to every text field:

* Text that contains markup (a ``<`` followed by a letter, ``/`` or ``!``) is parsed with BeautifulSoup
  (``html.parser``): tags are dropped, block elements (``p``, ``div``, ``br``, ``li``, headings, ...) become
  line breaks, entities are decoded. ``script``, ``style``, ``noscript`` and ``template`` elements are markup
  *with their content*: a title such as ``"Lỗi <script> trong trang"`` is read as an unclosed script element
  and becomes ``"Lỗi"``. Text without markup only has its entities decoded (``&amp;`` → ``&``).
* Control characters are removed (``\\n`` is kept, ``\\t`` becomes a space, ``\\r\\n`` and ``\\r``
  become ``\\n``), as are zero-width spaces and byte-order marks.
* Runs of spaces, tabs and no-break spaces become one space; lines are stripped; runs of blank lines become
  one blank line; leading and trailing blank lines go.
* id, title, url, section, author, summary and each tag are single-line (line breaks become spaces).
* Everything ends NFC-normalised.

Dates: ISO 8601 (with or without zone), ``dd/mm/yyyy HH:MM[:SS]``, ``dd/mm/yyyy``, RFC 2822 and epoch seconds
(int/float). A time without zone is Hanoi time; a time with a zone is converted to Hanoi time (same instant).
A string without a four-digit year is refused rather than completed with today's date.
"""

from __future__ import annotations

import html
import re
import unicodedata
import warnings
from datetime import datetime

from bs4 import BeautifulSoup, Comment, MarkupResemblesLocatorWarning
from dateutil import parser as dateparser

from search_service.articles import HANOI, Article
from search_service.errors import BadRecord

MAX_ID_LENGTH = 512
MIN_YEAR, MAX_YEAR = 1900, 2100

_MARKUP = re.compile(r"<[A-Za-z/!]")
_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u2028\u2029\u2060\ufeff\ud800-\udfff]")
_FOUR_DIGIT_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)|\d{8}")
_SLASH_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}\b")

#: Elements whose content is not text for a reader.
_DROP_WITH_CONTENT = ("script", "style", "noscript", "template", "head")

#: Elements that start and end a line of text.
BLOCK_TAGS = frozenset(
    (
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "html",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    )
)


def _control_table() -> dict[int, str | None]:
    """Translation table: C0/C1 controls removed, tab to space, line/paragraph separators to newline."""
    table: dict[int, str | None] = {c: None for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)}
    table.update({c: None for c in range(0x7F, 0xA0)})
    table.update({0x09: " ", 0x0D: "\n", 0x2028: "\n", 0x2029: "\n", 0x0B: "\n", 0x0C: "\n", 0x85: "\n"})
    table.update({0x200B: None, 0xFEFF: None, 0x2060: None, 0x00AD: None})
    # Lone surrogates (JSON escapes such as \ud800) are not text and cannot be encoded: drop them.
    table.update({c: None for c in range(0xD800, 0xE000)})
    return table


_CONTROLS = _control_table()


def html_to_text(markup: object) -> str:
    """Visible text of an HTML string or a BeautifulSoup element, one line per block element."""
    if isinstance(markup, str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
            root = BeautifulSoup(markup, "html.parser")
    else:
        root = markup
    for element in root.find_all(_DROP_WITH_CONTENT):
        element.decompose()
    for comment in root.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    # Source line breaks inside a paragraph are plain whitespace: fold them before marking the block edges.
    for string in root.find_all(string=True):
        folded = " ".join(string.split())
        if string[:1].isspace():
            folded = " " + folded
        if string[-1:].isspace() and folded != " ":
            folded += " "
        if folded != string:
            string.replace_with(folded)
    for br in root.find_all("br"):
        br.replace_with("\n")
    for block in root.find_all(BLOCK_TAGS):
        block.insert_before("\n")
        block.insert_after("\n")
    text = root.get_text()
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def tidy_text(text: str, *, single_line: bool = False) -> str:
    """Clean one text value: markup, entities, controls, whitespace, NFC (see the module docstring)."""
    if _MARKUP.search(text):
        text = html_to_text(text)
    elif "&" in text:
        text = html.unescape(text)
    if _SPECIAL.search(text):  # translate() is slow on long non-ASCII text: only when needed
        text = text.replace("\r\n", "\n").translate(_CONTROLS)
    # str.split() without argument splits on every Unicode space (tab, nbsp, thin space...).
    lines = [" ".join(line.split()) for line in text.split("\n")]
    if single_line:
        text = " ".join(line for line in lines if line)
    else:
        kept: list[str] = []
        for line in lines:
            if line or (kept and kept[-1]):
                kept.append(line)
        while kept and not kept[-1]:
            kept.pop()
        text = "\n".join(kept)
    return unicodedata.normalize("NFC", text)


def _type_name(value: object) -> str:
    """JSON-ish name of a value's type, for messages."""
    names = {dict: "object", list: "array", tuple: "array", bool: "boolean", int: "number", float: "number"}
    return names.get(type(value), type(value).__name__)


def _short(value: object, limit: int = 60) -> str:
    """repr() of a value, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _optional_text(fields: dict, key: str, *, single_line: bool = True) -> str | None:
    """A tidy string field, or None when it is missing, null or blank."""
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRecord(f"{key} must be a string, got {_type_name(value)}")
    return tidy_text(value, single_line=single_line) or None


def _record_id(fields: dict) -> str:
    """The record's id as a tidy, non-empty string of bounded length."""
    value = fields.get("id")
    if value is None:
        raise BadRecord("missing id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRecord(f"id must be a string or an integer, got {_type_name(value)}")
    rid = tidy_text(str(value), single_line=True)
    if not rid:
        raise BadRecord("missing id")
    if len(rid) > MAX_ID_LENGTH:
        raise BadRecord(f"id too long ({len(rid)} characters, at most {MAX_ID_LENGTH})")
    return rid


def parse_published(value: object) -> datetime | None:
    """A timezone-aware publication time (Hanoi time) from a string or epoch seconds, or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadRecord(f"unparseable date: {_short(value)}")
    if isinstance(value, (int, float)):
        try:
            parsed = datetime.fromtimestamp(value, tz=HANOI)
        except (ValueError, OverflowError, OSError):
            raise BadRecord(f"unparseable date: {_short(value)}") from None
    elif isinstance(value, str):
        text = unicodedata.normalize("NFC", " ".join(value.split()))
        if not text:
            return None
        parsed = _parse_date_string(text)
        if parsed is None:
            raise BadRecord(f"unparseable date: {_short(value)}")
    else:
        raise BadRecord(f"published must be a string or a number, got {_type_name(value)}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=HANOI)
    else:
        parsed = parsed.astimezone(HANOI)
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise BadRecord(f"date out of range (year {parsed.year}): {_short(value)}")
    return parsed


def _parse_date_string(text: str) -> datetime | None:
    """Parse one date string; None when it is not a date this program accepts."""
    if not _FOUR_DIGIT_YEAR.search(text):
        return None  # dateutil would fill a missing year or day from today's date
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        pass
    try:
        if _SLASH_DATE.match(text):
            return dateparser.parse(text, dayfirst=True)
        return dateparser.parse(text, dayfirst=True, default=datetime(2000, 1, 1))
    except (ValueError, OverflowError, TypeError):
        return None


def parse_tags(value: object) -> tuple[str, ...]:
    """Tags from a list or a comma-separated string: tidy, no blanks, no case-insensitive repeats."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[object] = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise BadRecord(f"tags must be a list of strings or a string, got {_type_name(value)}")
    seen: set[str] = set()
    tags: list[str] = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise BadRecord(f"tags must be strings, got {_type_name(item)}")
        tag = tidy_text(str(item), single_line=True)
        key = tag.casefold()
        if tag and key not in seen:
            seen.add(key)
            tags.append(tag)
    return tuple(tags)


def to_article(fields: dict) -> Article:
    """Build a normalised Article from a raw record's fields; raise BadRecord with a plain reason."""
    if not isinstance(fields, dict):
        raise BadRecord(f"record must be an object, got {_type_name(fields)}")
    rid = _record_id(fields)
    title = _optional_text(fields, "title")
    if not title:
        raise BadRecord("missing title")
    return Article(
        id=rid,
        title=title,
        url=_optional_text(fields, "url"),
        section=_optional_text(fields, "section"),
        published=parse_published(fields.get("published")),
        author=_optional_text(fields, "author"),
        tags=parse_tags(fields.get("tags")),
        summary=_optional_text(fields, "summary"),
        body=_optional_text(fields, "body", single_line=False) or "",
    )
