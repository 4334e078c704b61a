"""The article record that every stage of the pipeline passes on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

#: Vietnam has one time zone and no daylight saving time: a fixed offset is exact.
HANOI = timezone(timedelta(hours=7), "ICT")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as a reader found it, before normalisation."""

    fields: dict
    origin: str  # file path, or "-" for standard input
    position: int  # line number (JSON Lines) or record number (JSON, pages), 1-based


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record (or a whole file) that could not be used, and why."""

    origin: str
    position: int  # 0 when the whole file is rejected
    reason: str
    record_id: str | None = None

    def describe(self) -> str:
        """Say where and why, in one line, for the operator."""
        where = self.origin if self.position == 0 else f"{self.origin}:{self.position}"
        rid = f" [{self.record_id}]" if self.record_id else ""
        return f"{where}{rid}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Article:
    """A normalised news article: NFC text, tidy whitespace, no HTML, tz-aware date."""

    id: str
    title: str
    url: str | None = None
    section: str | None = None
    published: datetime | None = None  # always timezone-aware
    author: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    summary: str | None = None
    body: str = ""

    def to_dict(self) -> dict:
        """Plain JSON-ready data (dates as ISO 8601 strings)."""
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "section": self.section,
            "published": self.published.isoformat() if self.published else None,
            "author": self.author,
            "tags": list(self.tags),
            "summary": self.summary,
            "body": self.body,
        }
