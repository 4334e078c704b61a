"""Ingest articles into an index: parallel normalisation and segmentation, one writer.

Worker processes turn raw records into Articles and analyse them (pyvi segmentation and the
fields' postings, with the schema's own formats and analyzers); the parent hands the postings to
the formats (analysis.prime_postings) and is the only writer. It commits every ``batch_size``
articles, so an interrupted run keeps what it committed and running the same command again
completes the job (re-ingesting an id replaces it).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import analysis
from .articles import Article, RawRecord, Rejection
from .errors import BadRecord, IndexWriteFailed
from .normalize import to_article
from .schema import PRIMED_FIELDS, article_to_document, build_schema
from .store import IndexStore, is_disk_full, open_generation, open_writer

DEFAULT_BATCH = 2000
CHUNK = 8  # records sent to a worker at a time
MAX_IN_FLIGHT = 512  # records read ahead of the writer, at most

Item = RawRecord | Rejection
_Prepared = tuple[Article, dict[str, list[analysis.Posting]]] | Rejection


@dataclass
class IngestReport:
    """What an ingest did, for the summary line and the exit status."""

    read: int = 0
    indexed: int = 0
    replaced: int = 0
    rejected: int = 0
    committed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Articles indexed per second."""
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line for the operator."""
        state = "interrupted: " if self.interrupted else ""
        return (
            f"{state}read {self.read}, indexed {self.indexed} ({self.replaced} replaced), "
            f"rejected {self.rejected}, {self.seconds:.1f} s, {self.rate:.0f} articles/s"
        )

    def to_dict(self) -> dict:
        """Plain data for --json."""
        return {
            "read": self.read,
            "indexed": self.indexed,
            "replaced": self.replaced,
            "rejected": self.rejected,
            "committed": self.committed,
            "seconds": round(self.seconds, 3),
            "articles_per_second": round(self.rate, 1),
            "interrupted": self.interrupted,
        }


_schema = None


def _fields():
    global _schema
    if _schema is None:
        _schema = build_schema()
    return _schema


def prepare(item: Item) -> _Prepared:
    """Raw record -> (Article, postings of its text fields), or a Rejection saying why."""
    if isinstance(item, Rejection):
        return item
    try:
        article = to_article(item.fields)
    except BadRecord as exc:
        rid = item.fields.get("id") if isinstance(item.fields, dict) else None
        return Rejection(item.origin, item.position, str(exc), str(rid) if rid is not None else None)
    doc = article_to_document(article)
    schema = _fields()
    postings = {}
    for name in PRIMED_FIELDS:
        if doc.get(name):
            f = schema[name]
            postings[name] = list(f.format.word_values(doc[name], f.analyzer, mode="index"))
    return article, postings


def _worker_init() -> None:
    # Ctrl-C goes to the whole process group: the parent alone decides what to do with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    analysis.preload()


def _prepared_stream(items: Iterable[Item], jobs: int) -> Iterator[_Prepared]:
    if jobs <= 1:
        for item in items:
            yield prepare(item)
        return
    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(jobs, initializer=_worker_init)
    # imap's feeder thread reads ahead as fast as it can: on a large file it would hold the whole
    # input (and the workers' postings) in memory. Keep at most MAX_IN_FLIGHT records on the way.
    slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
    stop = threading.Event()

    def fed() -> Iterator[Item]:
        for item in items:
            while not slots.acquire(timeout=0.1):
                if stop.is_set():  # the consumer is gone: let the pool's feeder thread end
                    return
            yield item

    try:
        for prepared in pool.imap(prepare, fed(), chunksize=CHUNK):
            slots.release()
            yield prepared
        pool.close()
    finally:
        stop.set()
        pool.terminate()
        pool.join()


def ingest(
    store: IndexStore,
    items: Iterable[Item],
    *,
    batch_size: int = DEFAULT_BATCH,
    jobs: int | None = None,
    lock_timeout: float = 0.0,
    on_progress: Callable[[IngestReport], None] | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> IngestReport:
    """Add or replace articles in the live index (creating it if needed)."""
    with store.lock(lock_timeout):
        ix = store.open_or_create()
        try:
            return _write(ix, store.root, items, batch_size, jobs, on_progress, on_reject)
        finally:
            ix.close()


def reindex(
    store: IndexStore,
    items: Iterable[Item],
    *,
    batch_size: int = DEFAULT_BATCH,
    jobs: int | None = None,
    lock_timeout: float = 0.0,
    on_progress: Callable[[IngestReport], None] | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> IngestReport:
    """Build a complete new index beside the live one and switch to it atomically.

    If the build fails or is interrupted the new generation is removed and the live index is
    untouched.
    """
    with store.lock(lock_timeout):
        path = store.create_generation()
        switched = False
        try:
            ix = open_generation(path, str(store.root))
            try:
                report = _write(ix, store.root, items, batch_size, jobs, on_progress, on_reject)
            finally:
                ix.close()
            if not report.interrupted:
                store.switch_to(path)
                switched = True
            return report
        finally:
            if not switched:
                _remove_tree(path)


def delete(store: IndexStore, ids: Iterable[str], *, lock_timeout: float = 0.0) -> tuple[int, list[str]]:
    """Remove articles by id; returns (number removed, ids that were not there)."""
    missing: list[str] = []
    removed = 0
    with store.lock(lock_timeout):
        ix = store.open()
        try:
            writer = open_writer(ix)
            try:
                for article_id in ids:
                    n = writer.delete_by_term("id", article_id)
                    removed += n
                    if not n:
                        missing.append(article_id)
                writer.commit(merge=False)
            except BaseException as exc:
                writer.cancel()
                _raise_write_failure(exc, store.root)
                raise
        finally:
            ix.close()
    return removed, missing


def _write(
    ix,
    root: Path,
    items: Iterable[Item],
    batch_size: int,
    jobs: int | None,
    on_progress: Callable[[IngestReport], None] | None,
    on_reject: Callable[[Rejection], None] | None,
) -> IngestReport:
    report = IngestReport()
    started = time.monotonic()
    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    writer = None
    in_batch: set[str] = set()
    try:
        for prepared in _prepared_stream(items, jobs):
            report.read += 1
            if isinstance(prepared, Rejection):
                report.rejected += 1
                report.rejections.append(prepared)
                if on_reject:
                    on_reject(prepared)
            else:
                article, postings = prepared
                if article.id in in_batch:
                    # Whoosh cannot delete from the segment it is still writing: commit first.
                    _commit(writer, report, root)
                    writer, in_batch = None, set()
                if writer is None:
                    writer = open_writer(ix)
                doc = article_to_document(article)
                for name, field_postings in postings.items():
                    analysis.prime_postings(ix.schema[name].format.kind, doc[name], field_postings)
                if writer.delete_by_term("id", article.id):
                    report.replaced += 1
                writer.add_document(**doc)
                in_batch.add(article.id)
                report.indexed += 1
                if len(in_batch) >= batch_size:
                    _commit(writer, report, root)
                    writer, in_batch = None, set()
            if on_progress:
                on_progress(report)
        if writer is not None:
            _commit(writer, report, root)
            writer = None
    except KeyboardInterrupt:
        report.interrupted = True
        report.indexed = report.committed
    except BaseException as exc:
        _raise_write_failure(exc, root, report)
        raise
    finally:
        if writer is not None:
            writer.cancel()
        analysis.clear_primed()
        report.seconds = time.monotonic() - started
    return report


def _commit(writer, report: IngestReport, root: Path) -> None:
    if writer is None:
        return
    writer.commit()
    report.committed = report.indexed


def _raise_write_failure(exc: BaseException, root: Path, report: IngestReport | None = None) -> None:
    if isinstance(exc, OSError):
        kept = f"; the index keeps the {report.committed} articles committed before" if report else ""
        what = "disk full" if is_disk_full(exc) else (exc.strerror or str(exc))
        raise IndexWriteFailed(f"cannot write the index in {root}: {what}{kept}") from exc


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
