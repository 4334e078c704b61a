"""Domain errors, named after the operator's or the reader's problem.

The core raises these; only the edges (CLI, web) turn them into exit codes or HTTP statuses.
"""

from __future__ import annotations


class SearchServiceError(Exception):
    """Base class of every error this package raises on purpose."""


class IndexMissing(SearchServiceError):
    """There is no index where one was expected."""

    def __init__(self, index_dir: str) -> None:
        super().__init__(
            f"index not found in {index_dir}: run `search-service index PATH --index-dir {index_dir}` first"
        )
        self.index_dir = index_dir


class SchemaMismatch(SearchServiceError):
    """The index was built by another schema version: it must be rebuilt."""

    def __init__(self, index_dir: str, found: object, expected: object) -> None:
        super().__init__(
            f"index in {index_dir} has schema version {found}, this program needs {expected}: "
            f"reindex required: run `search-service reindex PATH --index-dir {index_dir}`"
        )
        self.index_dir = index_dir


class IndexCorrupt(SearchServiceError):
    """The index exists but cannot be read."""

    def __init__(self, index_dir: str, detail: str) -> None:
        super().__init__(
            f"index in {index_dir} cannot be read ({detail}): "
            f"rebuild it with `search-service reindex PATH --index-dir {index_dir}`"
        )
        self.index_dir = index_dir


class IndexLocked(SearchServiceError):
    """Another writer holds the index lock."""


class IndexWriteFailed(SearchServiceError):
    """A write could not complete (disk full, permissions); the last commit is intact."""


class BadQuery(SearchServiceError):
    """A search request has a bad parameter; `param` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


class ArticleNotFound(SearchServiceError):
    """No article has the requested id."""

    def __init__(self, article_id: str) -> None:
        super().__init__(f"no article with id {article_id!r}")
        self.article_id = article_id


class BadRecord(SearchServiceError):
    """An input record cannot become an Article; the message says why."""


class BadSource(SearchServiceError):
    """An input path cannot be read at all (missing, unknown format)."""
