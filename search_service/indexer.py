"""Ingest articles into an index: parallel analysis and segment writing, one committer.

The input is cut into batches of ``batch_size`` records. Each batch becomes one Whoosh segment,
analysed (normalisation, pyvi segmentation, postings) and written by a worker process in a private
folder; the parent, which holds the store's lock, adds the finished segments to the index in input
order, one commit per batch, deleting older copies of their articles. An interrupted run therefore
keeps what it committed, and running the same command again completes the job (re-ingesting an id
replaces it: the last copy wins, within a batch too).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import analysis
from .articles import Article, RawRecord, Rejection
from .errors import BadRecord, IndexWriteFailed
from .normalize import to_article
from .schema import article_to_document
from .store import (
    BUILD_PREFIX,
    BuiltSegment,
    IndexStore,
    SegmentBuilder,
    SegmentCommitter,
    combine_postings,
    is_disk_full,
    merge_small_segments,
    open_generation,
    open_writer,
    remove_builds,
)

DEFAULT_BATCH = 2000
POLL_SECONDS = 0.2  # how often the parent updates progress while workers write a batch

Item = RawRecord | Rejection


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


def to_article_or_rejection(item: Item) -> Article | Rejection:
    """Raw record -> Article, or a Rejection saying why not."""
    if isinstance(item, Rejection):
        return item
    try:
        return to_article(item.fields)
    except BadRecord as exc:
        rid = item.fields.get("id") if isinstance(item.fields, dict) else None
        return Rejection(item.origin, item.position, str(exc), str(rid) if rid is not None else None)


@dataclass
class _Batch:
    """What one batch of records became: a segment (None when every record was rejected)."""

    read: int
    accepted: int
    rejections: list[Rejection]
    built: BuiltSegment | None
    counted: bool = False  # True when the records were already counted in the report, one by one


class _BatchWriter:
    """Turns records into one segment, in whichever process runs it."""

    def __init__(self, schema: Any, folder: Path) -> None:
        self.schema = schema
        self.folder = folder
        self.builder: SegmentBuilder | None = None
        self.read = 0
        self.accepted = 0
        self.rejections: list[Rejection] = []

    def add(self, item: Item) -> Rejection | None:
        """Analyse and write one record; returns its Rejection when it has one."""
        self.read += 1
        got = to_article_or_rejection(item)
        if isinstance(got, Rejection):
            self.rejections.append(got)
            return got
        if self.builder is None:
            self.builder = SegmentBuilder(self.schema, self.folder)
        self.builder.add(got.id, article_to_document(got))
        self.accepted += 1
        return None

    def finish(self) -> _Batch:
        """Finish the segment (if any article was accepted)."""
        built = self.builder.finish() if self.builder is not None else None
        self.builder = None
        return _Batch(self.read, self.accepted, self.rejections, built)

    def cancel(self) -> None:
        """Abandon the segment being written."""
        if self.builder is not None:
            self.builder.cancel()
            self.builder = None


_worker: dict[str, Any] = {}


def _worker_init(schema: Any, gen_dir: Path, progress: Any, parent: int) -> None:
    # Ctrl-C goes to the whole process group: the parent alone decides what to do with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker.update(schema=schema, gen_dir=gen_dir, progress=progress, parent=parent, count=itertools.count())
    analysis.preload()


def _write_batch(batch: list[Item]) -> _Batch:
    """Worker: one batch of records -> one segment in a private folder of the generation."""
    folder = _worker["gen_dir"] / f"{BUILD_PREFIX}{os.getpid()}-{next(_worker['count'])}"
    writer = _BatchWriter(_worker["schema"], folder)
    progress = _worker["progress"]
    try:
        for item in batch:
            if os.getppid() != _worker["parent"]:
                # The parent was killed: stop now rather than finish a segment nobody will commit
                # (and keep holding the store's lock, whose file descriptor we inherited).
                writer.cancel()
                os._exit(1)
            writer.add(item)
            with progress.get_lock():
                progress.value += 1
        return writer.finish()
    except BaseException:
        writer.cancel()
        raise


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def _parallel_batches(
    items: Iterable[Item], schema: Any, gen_dir: Path, batch_size: int, jobs: int, report: IngestReport
) -> Iterator[_Batch | None]:
    """Batches written by ``jobs`` worker processes, in input order; None now and then (progress).

    At most ``jobs + 1`` batches are read ahead of the committer, so memory stays bounded on any
    input size; ``report.read`` counts the records the workers have analysed so far.
    """
    ctx = multiprocessing.get_context("fork")
    progress = ctx.Value("q", 0)
    analysis.preload()  # before forking, so that the workers share the model's pages
    pool = ctx.Pool(jobs, initializer=_worker_init, initargs=(schema, gen_dir, progress, os.getpid()))
    # imap's feeder thread reads ahead as fast as it can: on a large file it would hold the whole
    # input in memory. Keep a few batches on the way.
    slots = threading.BoundedSemaphore(jobs + 1)
    stop = threading.Event()

    def fed() -> Iterator[list[Item]]:
        for batch in _batches(items, batch_size):
            while not slots.acquire(timeout=0.1):
                if stop.is_set():  # the consumer is gone: let the pool's feeder thread end
                    return
            yield batch

    try:
        results = pool.imap(_write_batch, fed(), chunksize=1)
        while True:
            try:
                batch = results.next(timeout=POLL_SECONDS)
            except multiprocessing.TimeoutError:
                report.read = progress.value
                yield None
                continue
            except StopIteration:
                break
            slots.release()
            report.read = progress.value
            yield batch
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
                # One searcher for all the ids (Whoosh opens a new one per call otherwise); it sees
                # the deletions as they are made, so an id given twice is removed once.
                with writer.searcher() as searcher:
                    for article_id in ids:
                        n = writer.delete_by_term("id", article_id, searcher=searcher)
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
    gen_dir = Path(ix.storage.folder)
    remove_builds(gen_dir)  # we hold the lock: any build folder is a dead run's
    committer = SegmentCommitter(ix)
    stream: Iterator[_Batch | None] | None = None
    try:
        if jobs <= 1:
            stream = _serial_batches(items, committer.schema, gen_dir, batch_size, report, on_progress, on_reject)
        else:
            stream = _parallel_batches(items, committer.schema, gen_dir, batch_size, jobs, report)
        for batch in stream:
            if batch is not None:
                _commit(committer, batch, report, on_reject)
            if on_progress and jobs > 1:
                on_progress(report)
        if committer.commits:
            committer.close()
            merge_small_segments(ix)
            combine_postings(ix)
    except KeyboardInterrupt:
        report.interrupted = True
        report.indexed = report.committed
    except BaseException as exc:
        _raise_write_failure(exc, root, report)
        raise
    finally:
        if stream is not None:
            stream.close()  # stops the workers before their folders go
        committer.close()
        remove_builds(gen_dir)
        report.seconds = time.monotonic() - started
    return report


def _serial_batches(
    items: Iterable[Item],
    schema: Any,
    gen_dir: Path,
    batch_size: int,
    report: IngestReport,
    on_progress: Callable[[IngestReport], None] | None,
    on_reject: Callable[[Rejection], None] | None,
) -> Iterator[_Batch]:
    """Batches written in this process (``jobs=1``), reporting progress record by record."""
    count = itertools.count()

    def folder() -> Path:
        return gen_dir / f"{BUILD_PREFIX}{os.getpid()}-{next(count)}"

    writer = _BatchWriter(schema, folder())
    try:
        for item in items:
            rejection = writer.add(item)
            report.read += 1
            if rejection is not None:
                report.rejected += 1
                report.rejections.append(rejection)
                if on_reject:
                    on_reject(rejection)
            else:
                report.indexed += 1
            if writer.read >= batch_size:
                batch, writer = writer.finish(), _BatchWriter(schema, folder())
                batch.counted = True
                yield batch
            if on_progress:
                on_progress(report)
        if writer.read:
            batch = writer.finish()
            batch.counted = True
            yield batch
    finally:
        writer.cancel()


def _commit(
    committer: SegmentCommitter, batch: _Batch, report: IngestReport, on_reject: Callable[[Rejection], None] | None
) -> None:
    if not batch.counted:  # a worker's batch: its records are counted when it comes back
        report.indexed += batch.accepted
        for rejection in batch.rejections:
            report.rejected += 1
            report.rejections.append(rejection)
            if on_reject:
                on_reject(rejection)
    if batch.built is not None:
        report.replaced += committer.commit(batch.built)
    report.committed = report.indexed


def _raise_write_failure(exc: BaseException, root: Path, report: IngestReport | None = None) -> None:
    if isinstance(exc, OSError):
        kept = f"; the index keeps the {report.committed} articles committed before" if report else ""
        what = "disk full" if is_disk_full(exc) else (exc.strerror or str(exc))
        raise IndexWriteFailed(f"cannot write the index in {root}: {what}{kept}") from exc


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
