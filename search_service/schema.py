"""The index schema: the one place where analyzers are bound to fields.

Text is indexed as syllables with positions (``title``; ``text`` = summary + body), each syllable
as its exact form plus, at the same position, its accent-folded form (see
analysis.VietnameseTokenizer), so phrases and proximity work with or without diacritics; and as
pyvi's multi-syllable words (``words``) to lift precise matches. Three dense fields rather than
one per form: fewer postings to write and to read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from .analysis import (
    DocPostings,
    SyllablePositionLists,
    SyllablePositions,
    VietnameseTokenizer,
    WordFrequencies,
    fold,
)
from .articles import HANOI, Article

#: Bump when the fields or the analysis change: an index of another version must be rebuilt.
SCHEMA_VERSION = 3

#: Fields whose postings are kept only in the posting-list files (postlists.py), not in Whoosh's
#: own: the body text and the pyvi words are nearly all of an index's postings, writing them as
#: Whoosh's pickled blocks cost the indexer a third of its time, and searching never reads them
#: there. Titles and authors keep both (suggestions expand a title prefix through Whoosh's terms).
POSTLIST_ONLY = frozenset({"text", "words"})


def build_schema() -> Schema:
    """A fresh Whoosh schema for articles."""
    return Schema(
        id=ID(stored=True, unique=True),
        url=STORED(),
        title=_syllable_field(stored=True),
        text=_syllable_field(postlist_only="text" in POSTLIST_ONLY),
        words=_word_field(),
        author=_syllable_field(stored=True),
        author_key=ID(),
        section=ID(stored=True, sortable=True),
        section_key=ID(),
        tags=STORED(),
        tag=KEYWORD(commas=True, scorable=True),
        published=STORED(),
        published_at=DATETIME(sortable=True),
        year=NUMERIC(sortable=True, signed=False, bits=32),
        summary=STORED(),
        body=STORED(),
    )


def _syllable_field(stored: bool = False, postlist_only: bool = False) -> TEXT:
    field = (PostlistText if postlist_only else TEXT)(analyzer=VietnameseTokenizer(), stored=stored)
    kind = SyllablePositionLists if postlist_only else SyllablePositions
    field.format = kind(field_boost=field.format.field_boost)
    return field


def _word_field() -> TEXT:
    kind = PostlistText if "words" in POSTLIST_ONLY else TEXT
    field = kind(analyzer=VietnameseTokenizer(unit="word"), phrase=False)
    field.format = WordFrequencies(field_boost=field.format.field_boost)
    return field


class PostlistText(TEXT):
    """A text field whose postings only the posting-list files hold (POSTLIST_ONLY): ``index``
    hands over a document's postings as one item, which the index's own writer takes apart
    (store._TermPool), instead of one item per term through Whoosh's pool.

    Keep this class at this import path: Whoosh pickles it into the index's schema.
    """

    def index(self, value: str, **kwargs: object) -> Iterator[tuple[bytes, int, float, DocPostings]]:
        """One (b"", field length, 0, the document's postings) item, or none for empty text."""
        postings, length = self.format.doc_postings(value)
        if length:
            yield b"", length, 0.0, postings


def key(value: str) -> str:
    """Filter key for sections, authors and tags: folded, lower case, single spaces."""
    return " ".join(fold(value).split())


def article_to_document(article: Article) -> dict:
    """The Whoosh document that stores and indexes ``article``."""
    text = "\n".join(part for part in (article.summary, article.body) if part)
    doc: dict = {
        "id": article.id,
        "title": article.title,
        "text": text,
        "words": f"{article.title}\n{text}",
        "tags": list(article.tags),
        "summary": article.summary,
        "body": article.body,
    }
    if article.url:
        doc["url"] = article.url
    if article.author:
        doc["author"] = article.author
        doc["author_key"] = key(article.author)
    if article.section:
        doc["section"] = article.section
        doc["section_key"] = key(article.section)
    if article.tags:
        doc["tag"] = ",".join(key(t).replace(",", " ") for t in article.tags)
    if article.published:
        doc["published"] = article.published.isoformat()
        doc["published_at"] = to_index_time(article.published)
        doc["year"] = article.published.astimezone(HANOI).year
    return doc


def to_index_time(moment: datetime) -> datetime:
    """Whoosh stores naive datetimes: ours are UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def stored_to_article(stored: dict) -> Article:
    """Rebuild an Article from a document's stored fields."""
    published = stored.get("published")
    return Article(
        id=stored["id"],
        title=stored.get("title") or "",
        url=stored.get("url"),
        section=stored.get("section"),
        published=datetime.fromisoformat(published) if published else None,
        author=stored.get("author"),
        tags=tuple(stored.get("tags") or ()),
        summary=stored.get("summary"),
        body=stored.get("body") or "",
    )
