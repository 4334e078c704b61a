"""Where indexes live on disk: open, create, lock and atomically switch them.

Layout of an index directory (``--index-dir``, default ``./index``)::

    index/
      CURRENT          name of the live generation, replaced atomically (rename)
      gen-<stamp>/     a Whoosh index plus META.json (schema version, creation time)
      write.lock       held (flock) by whoever writes; released by the kernel if it dies

A reindex builds a new generation beside the live one and then rewrites CURRENT, so a reader
sees either the old complete index or the new complete one, never a half-built one.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import lz4.block
import numpy as np
from whoosh import columns
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec, W3PerDocReader, W3PerDocWriter
from whoosh.filedb.filestore import FileStorage
from whoosh.formats import Characters, Positions
from whoosh.reading import SegmentReader
from whoosh.writing import MERGE_SMALL, SegmentWriter

from .analysis import DocPostings
from .errors import IndexCorrupt, IndexLocked, IndexMissing, IndexWriteFailed, SchemaMismatch
from .postlists import (
    COMBINED_EXTENSION,
    Flat,
    PostingsCollector,
    PostingsFile,
    PostingsMissing,
    combine,
    combined_path,
    merge,
    open_combined,
    open_postings,
    read_flat,
    sidecar_path,
)
from .schema import POSTLIST_ONLY, SCHEMA_VERSION, build_schema

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
META = "META.json"
LOCK = "write.lock"
GEN_PREFIX = "gen-"
#: Folders inside a generation where segments are written before they join the index. The leading
#: dot keeps Whoosh's file cleaning (which would delete a segment that is not yet in the TOC) away.
BUILD_PREFIX = ".build-"


class Stamp(NamedTuple):
    """CURRENT's and the live generation folder's identity and last change (IndexStore.stamp)."""

    current_inode: int
    current_mtime_ns: int
    current_size: int
    folder_inode: int
    folder_mtime_ns: int

    def last_change_ns(self) -> int:
        """When either last changed (nanoseconds since the epoch)."""
        return max(self.current_mtime_ns, self.folder_mtime_ns)


class IndexStore:
    """An index directory: its live generation, its lock, its generations."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"IndexStore({str(self.root)!r})"

    # -- reading ------------------------------------------------------------------------------

    def current_name(self) -> str | None:
        """Name of the live generation, or None when there is no index yet."""
        try:
            name = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IndexCorrupt(str(self.root), f"cannot read {CURRENT}: {exc.strerror}") from exc
        return name or None

    def stamp(self, generation: str) -> Stamp | None:
        """What changes whenever the live index does: the identity of CURRENT (replaced by a
        switch) and the last change of the generation's folder (each commit adds a table of
        contents); None when either cannot be read."""
        try:
            current = os.stat(self.root / CURRENT)
            folder = os.stat(self.root / generation)
        except (OSError, ValueError):
            return None
        return Stamp(current.st_ino, current.st_mtime_ns, current.st_size, folder.st_ino, folder.st_mtime_ns)

    def current_path(self) -> Path:
        """Directory of the live generation; IndexMissing when there is none."""
        name = self.current_name()
        if name is None:
            raise IndexMissing(str(self.root))
        path = self.root / name
        if not path.is_dir():
            raise IndexCorrupt(str(self.root), f"{CURRENT} names {name}, which does not exist")
        return path

    def exists(self) -> bool:
        """True when there is a live generation."""
        return self.current_name() is not None

    def open(self) -> whoosh_index.Index:
        """Open the live index for reading, checking its schema version."""
        return open_generation(self.current_path(), str(self.root))

    # -- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, timeout: float = 0.0) -> Iterator[None]:
        """Hold the write lock, waiting up to ``timeout`` seconds for another writer."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise IndexWriteFailed(f"cannot create the index directory {self.root}: {exc.strerror}") from exc
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
                        raise IndexLocked(
                            f"index in {self.root} is being written by another process (pid {holder}); "
                            "wait for it to finish, or pass --wait SECONDS to wait for the lock"
                        ) from None
                    time.sleep(0.1)
            with contextlib.suppress(OSError):  # the pid is for the message only; a full disk is no reason to fail
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def create_generation(self) -> Path:
        """Create an empty index in a new generation directory (not yet live)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.root / f"{GEN_PREFIX}{stamp}"
        try:
            path.mkdir(parents=True)
            FileStorage(str(path)).create_index(build_schema())
            write_json_atomic(
                path / META,
                {"schema_version": SCHEMA_VERSION, "created": datetime.now(UTC).isoformat()},
            )
        except OSError as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise IndexWriteFailed(f"cannot create an index in {path}: {exc.strerror}") from exc
        return path

    def switch_to(self, path: Path) -> None:
        """Make ``path`` the live generation (atomic rename), then remove the others."""
        try:
            write_text_atomic(self.root / CURRENT, path.name + "\n")
        except OSError as exc:
            raise IndexWriteFailed(f"cannot switch the index in {self.root}: {exc.strerror}") from exc
        self.remove_stale(keep=path.name)

    def remove_stale(self, keep: str) -> None:
        """Remove every generation but ``keep`` (old ones and abandoned half-built ones).

        Readers that still have an old generation open keep reading it: on POSIX an unlinked
        file lives on while it is open.
        """
        for child in self.root.glob(f"{GEN_PREFIX}*"):
            if child.name != keep and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)

    def open_or_create(self) -> whoosh_index.Index:
        """The live index for writing, creating a first generation when there is none."""
        if self.current_name() is None:
            self.switch_to(self.create_generation())
        return self.open()

    def size_bytes(self) -> int:
        """Bytes on disk of the live generation."""
        return sum(f.stat().st_size for f in self.current_path().iterdir() if f.is_file())

    def last_modified(self) -> datetime:
        """When the live generation last committed."""
        path = self.current_path()
        tocs = list(path.glob("*.toc")) or [path]
        return datetime.fromtimestamp(max(p.stat().st_mtime for p in tocs), UTC)


class _TermPool:
    """Postings grouped by field and term as they are added, instead of one list sorted at flush.

    Documents get increasing numbers, so each term's postings arrive in order: flushing only sorts
    the terms. Stands in for Whoosh's PostingPool (``add``, ``cleanup``, ``fieldnames``), which
    checks, sizes and later sorts every posting of the segment one by one.
    """

    def __init__(self) -> None:
        self.fields: dict[str, dict[bytes, tuple[list[int], list[float], list[bytes]]]] = {}
        self.fieldnames: set[str] = set()

    def add(self, item: tuple[str, bytes, int, float, Any]) -> None:
        """Add one (field name, term bytes, docnum, weight, value bytes) posting, or a document's
        postings in a POSTLIST_ONLY field (value: DocPostings), kept by term text."""
        fieldname, btext, docnum, weight, vbytes = item
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
            self.fieldnames.add(fieldname)
        if type(vbytes) is DocPostings:
            # A positional field keeps (documents, None, position lists): a frequency is the length
            # of its list. Another keeps (documents, frequencies, None).
            positional = vbytes.positional
            for term, value in vbytes.terms.items():
                postings = terms.get(term)
                if postings is None:
                    postings = terms[term] = ([], None if positional else [], [] if positional else None)
                postings[0].append(docnum)
                if positional:
                    postings[2].append(value)
                else:
                    postings[1].append(value)
            return
        postings = terms.get(btext)
        if postings is None:
            postings = terms[btext] = ([], [], [])
        postings[0].append(docnum)
        postings[1].append(weight)
        postings[2].append(vbytes or b"")

    def cleanup(self) -> None:
        """Nothing on disk to remove."""
        self.fields = {}


def _write_postings(
    fieldwriter: Any,
    schema: Any,
    lengths: Any,
    pool: _TermPool,
    collector: PostingsCollector,
    merged_from: int | None = None,
) -> None:
    """Hand a pool's postings to ``collector`` for the segment's posting-list file, and write those
    of the fields Whoosh keeps too (all but POSTLIST_ONLY) through Whoosh's field writer, in the
    blocks it would write itself.

    Postings of documents numbered ``merged_from`` and up come from merged segments: their
    posting-list files are merged instead (see _Writer.add_reader), so the collector skips them.

    The same calls and block contents as FieldWriter.add_postings feeding W3PostingsWriter.add_posting
    (blocks of ``blocklimit`` postings, the last one flagged, per-block weight and length bounds),
    with the per-posting work done a block at a time.
    """
    for fieldname in sorted(pool.fields):
        terms = pool.fields[fieldname]
        positional = isinstance(schema[fieldname].format, Positions)
        if merged_from is None:
            collector.add_field(fieldname, terms, positional)
        else:
            cut = {b: bisect.bisect_left(d, merged_from) for b, (d, _w, _v) in terms.items()}
            own = {b: tuple(x[: cut[b]] if x is not None else None for x in e) for b, e in terms.items() if cut[b]}
            collector.add_field(fieldname, own, positional)
        if fieldname in POSTLIST_ONLY:
            continue
        fieldwriter.start_field(fieldname, schema[fieldname])
        known: dict[int, int] = {}
        for btext in sorted(terms):
            docs, weights, values = terms[btext]
            fieldwriter.start_term(btext)
            pw = fieldwriter._postwriter
            limit = pw._blocklimit
            if lengths is not None:
                lens = []
                for docnum in docs:
                    n = known.get(docnum)
                    if n is None:
                        n = known[docnum] = lengths.doc_field_length(docnum, fieldname, 0)
                    lens.append(n)
            else:
                lens = [0] * len(docs)
            for start in range(0, len(docs), limit):
                end = start + limit
                pw._ids = array("I", docs[start:end])
                block_weights = weights[start:end]
                pw._weights = array("f", block_weights)
                pw._values = [v for v in values[start:end] if v]
                pw._maxweight = max(0, *block_weights)
                nonzero = [n for n in lens[start:end] if n]
                pw._minlength = min(nonzero) if nonzero else None
                pw._maxlength = max(nonzero) if nonzero else 0
                if end < len(docs):
                    pw._write_block()
            fieldwriter.finish_term()  # writes the last block, flagged as last
        fieldwriter.finish_field()


class _Lz4BytesColumn(columns.VarBytesColumn):
    """Whoosh's variable-length bytes column with each value compressed by LZ4."""

    class Writer(columns.VarBytesColumn.Writer):
        def add(self, docnum: int, v: bytes) -> None:
            super().add(docnum, lz4.block.compress(v))

    class Reader(columns.VarBytesColumn.Reader):
        def __getitem__(self, docnum: int) -> bytes:
            v = super().__getitem__(docnum)
            return lz4.block.decompress(v) if v else v

        def __iter__(self) -> Iterator[bytes]:
            for v in super().__iter__():
                yield lz4.block.decompress(v) if v else v

        def load(self) -> list[bytes]:
            return list(self)


_STORED_COLUMN = columns.PickleColumn(_Lz4BytesColumn())


class _PerDocWriter(W3PerDocWriter):
    def _create_column(self, fieldname: str, column: Any) -> None:
        super()._create_column(fieldname, _STORED_COLUMN if fieldname == "_stored" else column)


class _PerDocReader(W3PerDocReader):
    def stored_fields(self, docnum: int) -> dict:
        return self._cached_reader("_stored", _STORED_COLUMN)[docnum] or {}


class StoredLz4Codec(W3Codec):
    """Whoosh's codec with the stored fields compressed by LZ4 instead of zlib: reading an
    article's fields (every hit shown) takes 3 us of decompression instead of 40, for a stored
    column a third larger. Each segment keeps the codec that wrote it (Whoosh pickles it into the
    table of contents), so segments written by zlib still read; merging rewrites them in LZ4.

    Keep this class at this import path: Whoosh pickles it into the index's table of contents.
    """

    def per_document_writer(self, storage: Any, segment: Any) -> W3PerDocWriter:
        return _PerDocWriter(self, storage, segment)

    def per_document_reader(self, storage: Any, segment: Any) -> W3PerDocReader:
        return _PerDocReader(storage, segment)


class _Writer(SegmentWriter):
    """Whoosh's SegmentWriter with a cheaper posting pool and flush, which also writes the
    segment's posting-list file (the only copy of the POSTLIST_ONLY fields' postings)."""

    def __init__(self, ix: whoosh_index.Index, **kwargs: Any) -> None:
        kwargs.setdefault("codec", StoredLz4Codec())
        super().__init__(ix, **kwargs)
        for name, field in self.schema.items():
            # The pool below carries neither spelling words nor vectors, and the posting-list file
            # reads positions as Whoosh's Positions format writes them.
            if field.separate_spelling() or field.vector or isinstance(field.format, Characters):
                raise ValueError(f"field {name}: spelling, vectors and characters are not supported")
        self.pool.cleanup()
        self.pool = _TermPool()
        self._postlists = PostingsCollector()
        #: Segments merged into this one: their posting-list files, and new document numbers.
        self._merged: list[tuple[Flat, np.ndarray]] = []
        self._merged_from: int | None = None

    def add_reader(self, reader: Any) -> None:
        """Add a segment's live documents (a merge), with the postings of its posting-list file."""
        start = self.docnum
        segment_id = reader.segment().segment_id()
        pf = open_postings(self.storage.folder, segment_id)
        if pf is None:
            raise IndexCorrupt(str(Path(self.storage.folder).parent), str(PostingsMissing(segment_id)))
        super().add_reader(reader)
        live = np.fromiter(reader.all_doc_ids(), dtype=np.int64)
        docmap = np.full(reader.doc_count_all(), -1, dtype=np.int64)
        docmap[live] = start + np.arange(live.size)
        self._merged.append((read_flat(pf), docmap))
        if self._merged_from is None:
            self._merged_from = start

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None
        try:
            _write_postings(self.fieldwriter, self.schema, pdr, self.pool, self._postlists, self._merged_from)
            self.fieldwriter.close()
        finally:
            if pdr:
                pdr.close()

    def _finalize_segment(self) -> Any:
        segment = super()._finalize_segment()
        # After the compound file is assembled (it would take the file in), before any TOC names
        # the segment: a reader never sees the segment without its file.
        path = sidecar_path(self.storage.folder, segment.segment_id())
        if self._merged:
            merge([(self._postlists.flat(), None), *self._merged], path)
        else:
            self._postlists.write(path)
        self._postlists = PostingsCollector()
        self._merged = []
        return segment


def open_writer(ix: whoosh_index.Index, limitmb: int = 256) -> SegmentWriter:
    """A writer on ``ix`` (the caller holds the store's lock)."""
    return _Writer(ix, limitmb=limitmb)


# -- segments written in parallel ----------------------------------------------------------------
#
# A bulk ingest has worker processes write whole segments (one per batch) in private folders inside
# the generation; the process holding the store's lock then adds each finished segment to the index
# in input order, one commit per batch (see SegmentCommitter). This is Whoosh's own multi-segment
# scheme (whoosh.multiproc.MpWriter with multisegment=True), minus its shared temporary folder and
# its file cleaning racing with segments that are still being written.


@dataclass
class BuiltSegment:
    """A finished segment, written in ``folder`` but not yet part of any index (picklable)."""

    segment: Any
    folder: str
    #: article id -> document number of its live copy in the segment, in input order
    docs: dict[str, int]
    #: articles that replaced an earlier copy written to the same segment
    replaced: int


class SegmentBuilder:
    """Writes one new segment for an index's schema in a private folder (see BuiltSegment)."""

    def __init__(self, schema: Any, folder: Path, limitmb: int = 256) -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        # An empty private index: SegmentWriter reads its schema and TOC from one, and its temporary
        # files then live in this folder too, out of every other writer's way.
        private = FileStorage(str(folder)).create_index(schema)
        self._writer = _Writer(private, limitmb=limitmb, _lk=False)
        self._docs: dict[str, int] = {}
        self._replaced = 0

    def __len__(self) -> int:
        return self._writer.doc_count()

    def add(self, doc_id: str, doc: dict) -> None:
        """Add a document; an earlier copy of ``doc_id`` in this segment is deleted (last wins)."""
        earlier = self._docs.pop(doc_id, None)
        if earlier is not None:
            self._writer.newsegment.delete_document(earlier)
            self._replaced += 1
        self._docs[doc_id] = self._writer.docnum
        self._writer.add_document(**doc)

    def finish(self) -> BuiltSegment:
        """Write the postings and assemble the segment file."""
        segment = self._writer._finalize_segment()
        self._writer._finish()
        return BuiltSegment(segment, str(self.folder), self._docs, self._replaced)

    def cancel(self) -> None:
        """Abandon the segment and its folder."""
        with contextlib.suppress(Exception):
            self._writer.cancel()
        shutil.rmtree(self.folder, ignore_errors=True)


class SegmentCommitter:
    """Adds built segments to an index, one commit each, deleting older copies of their articles.

    The caller holds the store's lock for the committer's whole life, so the table of contents read
    at the start stays the truth and is only changed here.
    """

    def __init__(self, ix: whoosh_index.Index) -> None:
        self.storage = ix.storage
        self.indexname = ix.indexname
        toc = ix._read_toc()
        self.schema = toc.schema
        self.generation = toc.generation
        self.segments = list(toc.segments)
        self.commits = 0
        # Segments from before this run are searched for each new id; the ones this run added are
        # not: which ids they hold is known.
        self._readers = [SegmentReader(self.storage, self.schema, s) for s in self.segments if s.doc_count()]
        self._latest: dict[str, tuple[Any, int]] = {}

    def commit(self, built: BuiltSegment) -> int:
        """Make ``built`` part of the index; returns how many articles it replaced (its own too)."""
        replaced = built.replaced
        for doc_id in built.docs:
            replaced += self._delete_older(doc_id)
        folder = Path(built.folder)
        target = Path(self.storage.folder)
        for name in built.segment.list_files(FileStorage(str(folder))):
            os.rename(folder / name, target / name)
        shutil.rmtree(folder, ignore_errors=True)
        segments = [*self.segments, built.segment]
        generation = self.generation + 1
        whoosh_index.TOC(self.schema, segments, generation).write(self.storage, self.indexname)
        self.segments, self.generation = segments, generation
        self.commits += 1
        for doc_id, docnum in built.docs.items():
            self._latest[doc_id] = (built.segment, docnum)
        whoosh_index.clean_files(self.storage, self.indexname, generation, segments)
        return replaced

    def _delete_older(self, doc_id: str) -> int:
        found = self._latest.get(doc_id)
        if found is not None:
            segment, docnum = found
            if segment.is_deleted(docnum):
                return 0
            segment.delete_document(docnum)
            return 1
        deleted = 0
        for reader in self._readers:
            if ("id", doc_id) in reader:
                segment = reader.segment()
                for docnum in reader.postings("id", doc_id).all_ids():
                    if not segment.is_deleted(docnum):
                        segment.delete_document(docnum)
                        deleted += 1
        return min(deleted, 1)

    def close(self) -> None:
        """Close the readers of the segments that were there before."""
        for reader in self._readers:
            reader.close()
        self._readers = []


#: Segments this small are merged at the end of a run (Whoosh's policy, applied to them only).
SMALL_SEGMENT = 1000


def _merge_only_small(writer: SegmentWriter, segments: list) -> list:
    # Whoosh's MERGE_SMALL over all segments would, on a bulk load, merge half the batches again in
    # this one process (18 segments, 26,000 articles on VNTC); small runs' segments are what need it.
    large = [s for s in segments if s.doc_count_all() >= SMALL_SEGMENT]
    return large + MERGE_SMALL(writer, [s for s in segments if s.doc_count_all() < SMALL_SEGMENT])


def merge_small_segments(ix: whoosh_index.Index) -> None:
    """Merge the small segments that many small runs leave, so that they stay few."""
    writer = open_writer(ix)
    try:
        writer.commit(mergetype=_merge_only_small)
    except BaseException:
        with contextlib.suppress(Exception):
            writer.cancel()
        raise


#: A run of at least this many consecutive segments without a combined posting-list file gets one.
COMBINE_MIN_SEGMENTS = 4


def combine_postings(ix: whoosh_index.Index) -> int:
    """Combine the posting-list files of runs of segments that are not yet in a combined file
    (see postlists.py); returns how many files were written. The caller holds the store's lock.

    Searching works without these files, only slower: a failure here (a full disk) is logged and
    leaves the index as it was.
    """
    folder = Path(ix.storage.folder)
    segments = ix._segments()
    ids = [s.segment_id() for s in segments]
    counts = [s.doc_count_all() for s in segments]
    runs: list[list[int]] = []
    run: list[int] = []
    valid: set[str] = set()
    i = 0
    while i < len(segments):
        combined = open_combined(folder, ids[i])
        n = len(combined.segments) if combined is not None else 0
        if combined is not None and combined.segments == list(zip(ids[i : i + n], counts[i : i + n], strict=True)):
            valid.add(ids[i])
            runs.append(run)
            run = []
            i += n
            continue
        if sidecar_path(folder, ids[i]).exists():
            run.append(i)
        else:
            runs.append(run)
            run = []
        i += 1
    runs.append(run)
    written = 0
    for run in runs:
        if len(run) < COMBINE_MIN_SEGMENTS:
            continue
        sources = [open_postings(folder, ids[i]) for i in run]
        if any(pf is None for pf in sources):
            continue
        tmp = folder / f"{BUILD_PREFIX}combine-{os.getpid()}{COMBINED_EXTENSION}"
        try:
            combine([pf for pf in sources if isinstance(pf, PostingsFile)], [(ids[i], counts[i]) for i in run], tmp)
            os.replace(tmp, combined_path(folder, ids[run[0]]))
            valid.add(ids[run[0]])
            written += 1
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.warning(
                "could not combine the posting lists of %d segments (%s): searches read them one by one", len(run), exc
            )
    # A combined file whose segments changed (some merged away or emptied) is of no use any more.
    for path in folder.glob(f"*{COMBINED_EXTENSION}"):
        if path.name.removesuffix(COMBINED_EXTENSION) not in valid and not path.name.startswith("."):
            path.unlink(missing_ok=True)
    return written


def remove_builds(path: Path) -> None:
    """Remove the private segment folders (and files) that a killed or failed run left in a generation."""
    for child in path.glob(f"{BUILD_PREFIX}*"):
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def open_generation(path: Path, root: str) -> whoosh_index.Index:
    """Open one generation directory, turning Whoosh's errors into ours."""
    try:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaMismatch(root, "unknown (no META.json)", SCHEMA_VERSION) from None
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(root, f"unreadable {META}: {exc}") from exc
    found = meta.get("schema_version") if isinstance(meta, dict) else None
    if found != SCHEMA_VERSION:
        raise SchemaMismatch(root, found, SCHEMA_VERSION)
    try:
        # No mmap: a segment file truncated under a running worker would kill it with SIGBUS.
        return FileStorage(str(path), supports_mmap=False).open_index()
    except whoosh_index.EmptyIndexError:
        # The generation is there but its table of contents is not: only a rebuild helps.
        raise IndexCorrupt(root, "the live generation has no table of contents") from None
    except Exception as exc:  # Whoosh raises bare pickling/IO/struct errors on damaged files
        raise IndexCorrupt(root, f"{type(exc).__name__}: {exc}") from exc


def write_text_atomic(path: Path, text: str) -> None:
    """Write a small file so that readers see the old content or the new, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON atomically (see write_text_atomic)."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def is_disk_full(exc: BaseException) -> bool:
    """True for 'no space left' and 'quota exceeded' errors."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
