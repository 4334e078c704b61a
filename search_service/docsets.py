"""Document sets as numpy masks: matching, scoring, counting, facets, filters and date sorting.

Whoosh answers "which documents match" one document at a time in Python, which is what made
totals, facet counts and newest-first lists slow on a large archive. Here a term's postings over
the whole index are read once per searcher into arrays from the posting-list files of
postlists.py (the only copy of the body text's postings). A query's matches are then whole-array
operations over a boolean mask of the index's documents, and BM25 a sum of per-term arrays kept
with the term."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN
from whoosh.reading import IndexReader
from whoosh.util.numeric import byte_to_length

from .postlists import (
    COMBINED_EXTENSION,
    EXTENSION,
    PostingsFile,
    PostingsMissing,
    open_combined,
    open_postings,
    term_key,
)

#: Bytes of per-segment columns (field lengths, sort keys) kept across all searchers of a process.
CACHE_BYTES = 64 * 1024 * 1024
#: Bytes of whole-index term arrays a searcher keeps (the terms of recent queries). The 300 distinct
#: queries of the benchmark's log read 134 MB of them on VNTC: with 64 MB, replaying the log evicted
#: each term before its next use and searches took 10% longer. A worker stays under 300 MB RSS.
TERM_CACHE_BYTES = 160 * 1024 * 1024
FEW_LABELS = 32  # a column with at most this many values (sections, years) keeps a mask per value


class _SegmentCache:
    """Arrays of immutable segments, keyed by (segment id, what), bounded in bytes."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit = limit
        self.size = 0
        self.items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> np.ndarray | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: tuple, value: np.ndarray) -> None:
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.size += value.nbytes
            while self.size > self.limit and self.items:
                _, old = self.items.popitem(last=False)
                self.size -= old.nbytes


_CACHE = _SegmentCache()
_FILES: dict[tuple[str, str], tuple[tuple | None, PostingsFile | None]] = {}
_FILES_LOCK = threading.Lock()


def _postings_parts(folder: str, leaves: list[tuple[IndexReader, int, object]]) -> list[_Part]:
    """The index as parts read with one posting-list file each: a combined file covering several
    segments, or a segment's own. PostingsMissing when a segment with documents has neither."""
    ids = [_segment_id(leaf) for leaf, _, _ in leaves]
    counts = [leaf.doc_count_all() for leaf, _, _ in leaves]
    parts: list[_Part] = []
    with _FILES_LOCK:
        used = set()
        i = 0
        while i < len(leaves):
            _leaf, offset, _seg = leaves[i]
            sid = ids[i]
            if sid is None:
                if counts[i]:
                    raise PostingsMissing("?")
                i += 1  # an empty index's reader: no segment, nothing to read
                continue
            combined = _cached_file(folder, sid, COMBINED_EXTENSION, open_combined)
            if combined is not None:
                n = len(combined.segments)
                if combined.segments == list(zip(ids[i : i + n], counts[i : i + n], strict=True)):
                    used.add((folder, sid + COMBINED_EXTENSION))
                    parts.append(_Part(offset, combined))
                    i += n
                    continue
            used.add((folder, f"{sid}{EXTENSION}"))
            pf = _cached_file(folder, sid, EXTENSION, open_postings)
            if pf is None:
                if counts[i]:
                    raise PostingsMissing(sid)
            else:
                parts.append(_Part(offset, pf))
            i += 1
        # Files of segments that are gone (merged away, an old generation) are closed with them.
        for key in [k for k in _FILES if k not in used and not os.path.exists(os.path.join(k[0], k[1]))]:
            del _FILES[key]
    return parts


def _cached_file(
    folder: str, sid: str, extension: str, opener: Callable[[str, str], PostingsFile | None]
) -> PostingsFile | None:
    # Checked against the file on disk each time: a run may write a combined file after a searcher
    # looked for it, or replace one (same name, more segments).
    key = (folder, sid + extension)
    try:
        st = os.stat(os.path.join(folder, sid + extension))
        ident: tuple | None = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        ident = None
    cached = _FILES.get(key)
    if cached is None or cached[0] != ident:
        cached = _FILES[key] = (ident, opener(folder, sid) if ident is not None else None)
    return cached[1]


class _Part:
    """Documents from ``offset`` on whose postings come from one posting-list file."""

    def __init__(self, offset: int, pf: PostingsFile) -> None:
        self.offset = offset
        self.pf = pf


_BYTE_TO_LENGTH = np.array([0] + [byte_to_length(b) for b in range(1, 256)], dtype=np.float32)


class _Term:
    """A term's postings over the whole index: sorted global document numbers and frequencies."""

    def __init__(self, ids: np.ndarray, tf: np.ndarray, where: list[int]) -> None:
        self.ids = ids  # int32
        self.tf = tf  # float32
        self.where = where  # per part: the term's number in its posting-list file (-1: none)
        self.nbytes = ids.nbytes + tf.nbytes + 8 * len(where) + 200
        self._bounds: np.ndarray | None = None
        self.scores: tuple[tuple[float, float], np.ndarray] | None = None  # ((k1, b), BM25 per posting)
        self.bits: np.ndarray | None = None  # the documents as packed bits, for common terms (DocSets.any_of)

    def leaf_bounds(self, offsets: np.ndarray) -> np.ndarray:
        """Where each part's postings start in ``ids`` (and, last, where they end)."""
        if self._bounds is None:
            self._bounds = np.searchsorted(self.ids, offsets)
        return self._bounds


class DocSets:
    """Masks over one reader's documents (global document numbers)."""

    def __init__(self, reader: IndexReader, folder: str | None = None) -> None:
        self.reader = reader
        self.size = reader.doc_count_all()
        self.leaves = [(leaf, offset, _segment_key(leaf)) for leaf, offset in reader.leaf_readers()]
        if folder is None:
            folder = _folder(reader)
        self.parts = _postings_parts(folder, self.leaves)
        live = np.zeros(self.size, dtype=bool)
        for leaf, offset, _seg in self.leaves:
            n = leaf.doc_count_all()
            if leaf.has_deletions():
                ids = np.fromiter(leaf.all_doc_ids(), dtype=np.int64)
                live[offset + ids] = True
            else:
                live[offset : offset + n] = True
        self.live = live
        self.n_live = max(1, int(live.sum()))
        self._columns: dict[str | tuple, np.ndarray] = {}
        self._labels: dict[str, list] = {}
        self._averages: dict[str, float] = {}
        self._code_masks: dict[str, list[np.ndarray]] = {}
        self._newest: tuple[int | None] | None = None  # (moment,) once looked up
        self._terms: OrderedDict[tuple[str, str], _Term] = OrderedDict()
        self._terms_bytes = 0
        self.offsets = np.array([part.offset for part in self.parts] + [self.size], dtype=np.int64)

    # -- terms ---------------------------------------------------------------------------------

    def _term(self, fieldname: str, text: str) -> _Term:
        """A term's postings over the whole index, read once per searcher (LRU, bounded in bytes)."""
        key = (fieldname, text)
        entry = self._terms.get(key)
        if entry is not None:
            self._terms.move_to_end(key)
            return entry
        hashed = self._term_key(fieldname, text)
        ids_parts, tf_parts, where = [], [], []
        for part in self.parts:
            found = part.pf.find(hashed)
            where.append(found)
            if found < 0:
                continue
            ids, tfs = part.pf.postings(found, np.float32)
            if ids.size:
                if part.offset:
                    ids += np.int32(part.offset)
                ids_parts.append(ids)
                tf_parts.append(tfs)
        if ids_parts:
            # No copies beyond the conversions: a term read afresh costs about half as much.
            one = len(ids_parts) == 1
            ids = ids_parts[0] if one else np.concatenate(ids_parts)
            entry = _Term(ids, tf_parts[0] if one else np.concatenate(tf_parts), where)
        else:
            entry = _Term(np.zeros(0, np.int32), np.zeros(0, np.float32), where)
        self._terms[key] = entry
        self._terms_bytes += entry.nbytes
        while self._terms_bytes > TERM_CACHE_BYTES and len(self._terms) > 1:
            _, old = self._terms.popitem(last=False)
            self._terms_bytes -= old.nbytes
        return entry

    def _term_key(self, fieldname: str, text: str | bytes) -> int:
        btext = text if isinstance(text, bytes) else self.reader.schema[fieldname].to_bytes(text)
        return term_key(fieldname, btext)

    def term(self, fieldname: str, text: str) -> np.ndarray:
        """Mask of the documents that contain a term."""
        return self.any_of([(fieldname, text)])

    def any_of(self, terms: Iterable[tuple]) -> np.ndarray:
        """Mask of the documents that contain at least one of the (field, text, ...) terms."""
        bits: np.ndarray | None = None
        scattered = []
        for fieldname, text, *_ in terms:
            entry = self._term(fieldname, text)
            if entry.ids.size * 32 < self.size:
                scattered.append(entry.ids)  # fewer postings than a bit set has bytes
                continue
            if entry.bits is None:
                # A common term's documents as bits, kept with its postings: OR-ing and unpacking
                # them is several times cheaper than marking tens of thousands of documents.
                entry.bits = _bit_set(entry.ids, self.size)
                entry.nbytes += entry.bits.nbytes
                self._terms_bytes += entry.bits.nbytes
            bits = entry.bits.copy() if bits is None else np.bitwise_or(bits, entry.bits, out=bits)
        mask = np.zeros(self.size, dtype=bool) if bits is None else np.unpackbits(bits, count=self.size).view(bool)
        for ids in scattered:
            mask[ids] = True
        return mask

    def doc_frequency(self, fieldname: str, text: str) -> int:
        """How many documents (deleted ones included, as in Whoosh) contain a term."""
        return int(self._term(fieldname, text).ids.size)

    # -- scoring -------------------------------------------------------------------------------

    def postings(self, fieldname: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(global document numbers, term frequencies) of a term."""
        entry = self._term(fieldname, text)
        return entry.ids.astype(np.int64), entry.tf

    def positions(self, fieldname: str, text: str, docnums: list[int]) -> dict[int, list[int]]:
        """Positions of a term in each of the (sorted) documents that contain it."""
        docs, positions = self.positions_flat(fieldname, text, docnums)
        if not docs.size:
            return {}
        cuts = np.flatnonzero(np.diff(docs)) + 1
        return {
            int(d[0]): p.tolist()
            for d, p in zip(np.split(docs, cuts), np.split(positions, cuts), strict=True)
        }  # fmt: skip

    def positions_flat(self, fieldname: str, text: str, docnums: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """(document, position) of each occurrence of a term in the (sorted) documents, as two
        arrays ordered by document, then position."""
        entry = self._term(fieldname, text)
        wanted = np.asarray(list(docnums) if not isinstance(docnums, np.ndarray) else docnums, dtype=np.int64)
        nothing = np.zeros(0, dtype=np.int64)
        if not wanted.size or not entry.ids.size:
            return nothing, nothing
        k = _present(entry.ids, wanted)
        if not k.size:
            return nothing, nothing
        # Where each wanted posting's positions start among the term's (sums of the frequencies
        # before it), and where each part's start: without a running sum over every posting.
        lengths = entry.tf[k].astype(np.int64)
        if len(self.parts) == 1:  # one file (a combined index): no parts to tell apart
            pf, term = self.parts[0].pf, entry.where[0]
            total = float(pf.pos[term + 1] - pf.pos[term])  # positions of the term: a bound on the sums
            starts = _prefix_sums(entry.tf, k, total)
            positions = pf.positions_at(term, starts, starts + lengths)
            return np.repeat(entry.ids[k].astype(np.int64), lengths), positions
        bounds = entry.leaf_bounds(self.offsets)
        parts = np.searchsorted(bounds, k, side="right") - 1
        found = np.unique(parts)
        at = np.union1d(k, bounds[found])
        sums = _prefix_sums(entry.tf, at)
        starts = sums[np.searchsorted(at, k)]
        present, part_firsts = found.tolist(), sums[np.searchsorted(at, bounds[found])].tolist()
        docs_parts, pos_parts = [], []
        for li, first in zip(present, part_firsts, strict=True):
            if entry.where[li] < 0:
                continue
            here = parts == li
            # The term's positions in this part start after those of its earlier postings here.
            here_starts = starts[here] - first
            here_ends = here_starts + lengths[here]
            pos_parts.append(self.parts[li].pf.positions_at(entry.where[li], here_starts, here_ends))
            docs_parts.append(np.repeat(entry.ids[k[here]].astype(np.int64), lengths[here]))
        if not pos_parts:
            return nothing, nothing
        return np.concatenate(docs_parts), np.concatenate(pos_parts)

    def phrase(
        self, fieldname: str, words: list[str], slop: int, mask: np.ndarray, deadline: float | None = None
    ) -> tuple[np.ndarray, bool]:
        """Documents of ``mask`` where ``words`` stand in this order, each at most ``slop`` positions
        after the one before (1: next to it), and whether ``deadline`` cut the check short."""
        candidates = mask.copy()
        for word in dict.fromkeys(words):
            if deadline is not None and time.monotonic() > deadline:
                return np.zeros(self.size, dtype=bool), True
            candidates &= self.term(fieldname, word)
        # Where the phrase so far ends in each candidate, narrowed word by word.
        docnums = np.flatnonzero(candidates).tolist()
        current = self.positions(fieldname, words[0], docnums) if docnums else {}
        for word in words[1:]:
            if not current:
                break
            if deadline is not None and time.monotonic() > deadline:
                return np.zeros(self.size, dtype=bool), True
            following = self.positions(fieldname, word, sorted(current))
            nxt: dict[int, list[int]] = {}
            for d, ends in current.items():
                ends_set = set(ends)
                hits = [p for p in following.get(d, ()) if any(p - k in ends_set for k in range(1, slop + 1))]
                if hits:
                    nxt[d] = hits
            current = nxt
        out = np.zeros(self.size, dtype=bool)
        if current:
            out[np.fromiter(current, dtype=np.int64)] = True
        return out, False

    def idf(self, fieldname: str, text: str) -> float:
        """BM25's inverse document frequency of a term."""
        df = self.doc_frequency(fieldname, text)
        return float(np.log(1.0 + (self.n_live - df + 0.5) / (df + 0.5))) if df else 0.0

    def lengths(self, fieldname: str) -> np.ndarray:
        """Each document's length (in tokens) of a field, as Whoosh stored it."""
        key_ = "len:" + fieldname
        values = self._columns.get(key_)
        if values is None:
            parts = []
            for leaf, _offset, seg in self.leaves:
                key = (seg, "l", fieldname)
                part = _CACHE.get(key) if seg is not None else None
                if part is None:
                    part = _read_lengths(leaf, fieldname)
                    if seg is not None:
                        _CACHE.put(key, part)
                parts.append(part)
            values = np.concatenate(parts) if parts else np.zeros(0, np.float32)
            self._columns[key_] = values
        return values

    def _average_length(self, fieldname: str) -> float:
        key = "avg:" + fieldname
        if key not in self._averages:
            lengths = self.lengths(fieldname)
            average = float(lengths[self.live].mean()) if self.live.any() else 0.0
            self._averages[key] = average if np.isfinite(average) and average > 0 else 1.0
        return self._averages[key]

    def bm25(
        self,
        terms: Iterable[tuple[str, str, float]],
        k1: float = 1.2,
        b: float = 0.75,
        deadline: float | None = None,
        within: np.ndarray | None = None,
    ) -> np.ndarray:
        """BM25 score of every document for weighted (field, term, weight) terms, summed.

        With ``within`` (a mask) only those documents are scored, the others get 0: the same
        scores for far less work when they are few (the articles with all the words).
        Past ``deadline`` (a time.monotonic() moment) the remaining terms are left out.
        """
        ids_parts, score_parts = [], []
        wanted = np.flatnonzero(within) if within is not None else None
        for fieldname, text, weight in terms:
            if deadline is not None and time.monotonic() > deadline:
                break
            entry = self._term(fieldname, text)
            if not entry.ids.size:
                continue
            cached = entry.scores is not None and entry.scores[0] == (k1, b)
            if within is not None:
                if wanted.size * 32 < entry.ids.size:
                    keep = _present(entry.ids, wanted)
                else:  # indices, not the mask: numpy picks by a scattered mask several times slower
                    keep = np.flatnonzero(within[entry.ids])
                ids = entry.ids[keep]
                if cached:
                    scores = entry.scores[1][keep]  # type: ignore[index]
                else:
                    scores = self._term_scores(fieldname, entry.ids.size, ids, entry.tf[keep], k1, b)
            else:
                if not cached:
                    # A term's BM25 per document: fixed for this searcher, kept with the term.
                    entry.scores = ((k1, b), self._term_scores(fieldname, entry.ids.size, entry.ids, entry.tf, k1, b))
                    entry.nbytes += entry.scores[1].nbytes
                    self._terms_bytes += entry.scores[1].nbytes
                ids, scores = entry.ids, entry.scores[1]  # type: ignore[index]
            ids_parts.append(ids)
            score_parts.append(np.float32(weight) * scores if weight != 1 else scores)
        if not ids_parts:
            return np.zeros(self.size, dtype=np.float32)
        # One pass over all the terms' postings (a scatter-add per term costs more).
        ids = np.concatenate(ids_parts)
        return np.bincount(ids, weights=np.concatenate(score_parts), minlength=self.size).astype(np.float32)

    def _term_scores(
        self, fieldname: str, df: int, ids: np.ndarray, tf: np.ndarray, k1: float, b: float
    ) -> np.ndarray:
        """A term's unweighted BM25 in the documents ``ids`` (with frequencies ``tf``)."""
        idf = np.log(1.0 + (self.n_live - df + 0.5) / (df + 0.5))
        return (np.float32(idf) * (tf * (k1 + 1.0) / (tf + self._norms(fieldname, k1, b)[ids]))).astype(np.float32)

    def _norms(self, fieldname: str, k1: float, b: float) -> np.ndarray:
        """BM25's length normalisation of every document for a field, worked out once per searcher."""
        key = ("norm", fieldname, k1, b)
        norms = self._columns.get(key)
        if norms is None:
            norms = k1 * ((1.0 - b) + b * self.lengths(fieldname) / self._average_length(fieldname))
            norms.flags.writeable = False  # shared by every search on this searcher
            self._columns[key] = norms
        return norms

    def from_docnums(self, docnums: Iterable[int]) -> np.ndarray:
        """Mask from document numbers (e.g. Whoosh's docs_for_query)."""
        mask = np.zeros(self.size, dtype=bool)
        ids = np.fromiter(docnums, dtype=np.int64)
        if ids.size:
            mask[ids] = True
        return mask

    # -- columns -------------------------------------------------------------------------------

    def column(self, fieldname: str) -> np.ndarray:
        """The raw sortable column of a field as an int64 array (for dates and years)."""
        values = self._columns.get(fieldname)
        if values is None:
            parts = []
            for leaf, _offset, seg in self.leaves:
                key = (seg, "c", fieldname)
                part = _CACHE.get(key) if seg is not None else None
                if part is None:
                    part = _read_int64_column(leaf, fieldname)
                    if seg is not None:
                        _CACHE.put(key, part)
                parts.append(part)
            values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            self._columns[fieldname] = values
        return values

    def dated(self) -> np.ndarray:
        """Mask of the articles that have a publication date (undated ones hold the column default)."""
        values = self._columns.get("dated")
        if values is None:
            years = self.column("year")
            values = self._columns["dated"] = (years >= 1000) & (years <= 9999)
            values.flags.writeable = False  # shared by every search on this searcher
        return values

    def newest(self) -> int | None:
        """Publication moment of the newest live dated article (the column's units), None if none."""
        if self._newest is None:
            dated = self.dated() & self.live
            self._newest = (int(self.column("published_at")[dated].max()) if dated.any() else None,)
        return self._newest[0]

    def codes(self, fieldname: str) -> tuple[np.ndarray, list]:
        """A text column as (integer code per document, label per code)."""
        if fieldname not in self._labels:
            labels: dict = {}
            parts = []
            for leaf, _offset, _seg in self.leaves:
                raw = _read_labels(leaf, fieldname)
                parts.append(np.array([labels.setdefault(v, len(labels)) for v in raw], dtype=np.int32))
            self._columns["codes:" + fieldname] = np.concatenate(parts) if parts else np.zeros(0, np.int32)
            self._labels[fieldname] = list(labels)
        return self._columns["codes:" + fieldname], self._labels[fieldname]

    def count_by(self, fieldname: str, mask: np.ndarray) -> dict:
        """{label: number of masked documents} for a text column."""
        codes, labels = self.codes(fieldname)
        counts = self._count_codes(fieldname, codes, len(labels), mask)
        return {labels[i]: n for i, n in enumerate(counts) if n}

    def count_values(self, fieldname: str, mask: np.ndarray) -> dict:
        """{value: number of masked documents} for a numeric column (years: a few values)."""
        key = "values:" + fieldname
        if key not in self._labels:
            found, codes = np.unique(self.column(fieldname), return_inverse=True)
            self._columns[key] = codes.astype(np.int32)
            self._labels[key] = [int(v) for v in found]
        values = self._labels[key]
        counts = self._count_codes(key, self._columns[key], len(values), mask)
        return {values[i]: n for i, n in enumerate(counts) if n}

    def _count_codes(self, key: str, codes: np.ndarray, n_codes: int, mask: np.ndarray) -> list[int]:
        """How many masked documents have each code."""
        if n_codes <= FEW_LABELS:
            # One mask per code, kept: an AND and a count each, about 5 times faster than picking
            # the masked codes out when the mask holds many documents (a search for common words).
            per_code = self._code_masks.get(key)
            if per_code is None:
                per_code = self._code_masks[key] = [codes == i for i in range(n_codes)]
            return [int(np.count_nonzero(mask & m)) for m in per_code]
        return np.bincount(codes[np.flatnonzero(mask)], minlength=n_codes).tolist()


def _bit_set(ids: np.ndarray, size: int) -> np.ndarray:
    """The documents ``ids`` of ``size`` as packed bits (numpy's packbits order)."""
    mask = np.zeros(size, dtype=bool)
    mask[ids] = True
    return np.packbits(mask)


def _prefix_sums(values: np.ndarray, at: np.ndarray, total: float = math.inf) -> np.ndarray:
    """sum(values[:a]) for each ``a`` of the strictly increasing ``at``, as int64: one reduce
    over the runs between them (4 times faster than numpy's running sum on these sizes).

    ``values`` are whole numbers (frequencies); with their ``total`` under 2**24 the runs are
    summed in float32, exactly and twice as fast; otherwise in float64."""
    out = np.zeros(at.size, dtype=np.float64)
    if at.size:
        out[0] = values[: at[0]].sum(dtype=np.float64)
        if at.size > 1:
            exact32 = values.dtype == np.float32 and total < 2**24
            runs = np.add.reduceat(values[: at[-1]], at[:-1], dtype=np.float32 if exact32 else np.float64)
            out[1:] = out[0] + np.cumsum(runs, dtype=np.float64)
    return out.astype(np.int64)  # whole numbers: the float sums are exact


def _present(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where the (sorted) ``wanted`` documents stand in a term's sorted ``ids`` (those that have
    it): a binary search each, cheaper than a mask look-up per posting when they are few."""
    # In the postings' own dtype: searchsorted would otherwise convert all of ``ids`` (4x slower).
    at = np.searchsorted(ids, wanted.astype(ids.dtype, copy=False))
    at = at[at < ids.size]  # wanted is sorted: the ones past the end are the last ones
    return at[ids[at] == wanted[: at.size]]


def _int64_array(values: Iterable[int]) -> np.ndarray:
    """Raw column values as int64; a missing value (the column's unsigned maximum) becomes -1."""
    return np.array([v if v < 2**63 else -1 for v in values], dtype=np.int64)


def _folder(reader: IndexReader) -> str:
    """The folder of a reader's index (where the posting-list files are)."""
    for leaf, _offset in reader.leaf_readers():
        storage = getattr(leaf, "_storage", None)
        # A compound segment reads through an OverlayStorage of its file over the index's folder.
        folder = getattr(storage, "folder", None) or getattr(getattr(storage, "b", None), "folder", None)
        if folder is not None:
            return folder
    if reader.doc_count_all():
        raise PostingsMissing("?")  # an index not on disk has no posting-list files
    return ""


def _segment_id(leaf: IndexReader) -> str | None:
    segment = leaf.segment() if hasattr(leaf, "segment") else None
    return segment.segment_id() if segment is not None else None


def _segment_key(leaf: IndexReader) -> object:
    segment = leaf.segment() if hasattr(leaf, "segment") else None
    if segment is None:
        return None
    # A segment's deletions change over time, its postings and columns never do.
    return (segment.segment_id(), leaf.doc_count_all())


# Whoosh reads a column one document at a time (a seek and a read each): on a whole archive that
# made the first search after start-up or a commit take seconds. Its fixed-width and reference
# columns are read here in one go instead; anything else falls back to Whoosh's reader.


def _fixed_column(reader: object) -> np.ndarray | None:
    """A fixed-width numeric column (Whoosh's NumericColumn) as one array, padded with its default."""
    try:
        typecode, doccount, count = reader._typecode, reader._doccount, reader._count  # type: ignore[attr-defined]
        raw = reader._dbfile.get(reader._basepos, count * reader._fixedlen)  # type: ignore[attr-defined]
        default = reader._default  # type: ignore[attr-defined]
    except AttributeError:
        return None
    if hasattr(reader, "_uniques") or getattr(reader, "_reverse", False):
        return None
    values = np.frombuffer(raw, dtype=np.dtype(">" + typecode))
    if count < doccount:
        values = np.concatenate([values, np.full(doccount - count, default, dtype=values.dtype)])
    return values[:doccount]


def _read_lengths(leaf: IndexReader, fieldname: str) -> np.ndarray:
    """Each document's length of a field (Whoosh's one-byte approximation, 0 when absent)."""
    n = leaf.doc_count_all()
    perdoc = getattr(leaf, "_perdoc", None)
    reader = None
    if perdoc is not None and hasattr(perdoc, "_cached_reader"):
        reader = perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        if reader is None:
            return np.zeros(n, dtype=np.float32)
    codes = _fixed_column(reader) if reader is not None else None
    if codes is None or codes.size != n:
        # Whoosh answers None (not the default) for a document without the field.
        return np.array([leaf.doc_field_length(d, fieldname, 0) or 0 for d in range(n)], dtype=np.float32)
    return _BYTE_TO_LENGTH[codes.astype(np.intp)]


def _read_int64_column(leaf: IndexReader, fieldname: str) -> np.ndarray:
    """A sortable numeric column as int64; a missing value (the unsigned maximum) becomes -1."""
    n = leaf.doc_count_all()
    if not leaf.has_column(fieldname):
        return np.zeros(n, dtype=np.int64)
    values = _fixed_column(leaf.column_reader(fieldname, translate=False))
    if values is None or values.size != n:
        return _read_column(leaf, fieldname, _int64_array)  # type: ignore[return-value]
    out = values.astype(np.int64)
    if values.dtype.kind == "u" and values.dtype.itemsize == 8:
        out[values >= 2**63] = -1
    return out


def _read_labels(leaf: IndexReader, fieldname: str) -> list:
    """A text column's value for each document, each distinct value translated once."""
    n = leaf.doc_count_all()
    if not leaf.has_column(fieldname):
        return [None] * n
    reader = leaf.column_reader(fieldname, translate=False)
    try:  # Whoosh's VarBytesColumn: the values back to back, with their offsets and lengths
        offsets, lengths = reader._offsets, reader._lengths  # type: ignore[attr-defined]
        end = offsets[-1] + lengths[-1] if n else 0
        data = reader._dbfile.get(reader._basepos, end)  # type: ignore[attr-defined]
    except AttributeError:
        return _read_column(leaf, fieldname, list, translate=True)  # type: ignore[return-value]
    if len(offsets) != n:
        return _read_column(leaf, fieldname, list, translate=True)  # type: ignore[return-value]
    translate = leaf.schema[fieldname].from_column_value
    labels: dict[bytes, object] = {}
    out = []
    for offset, length in zip(offsets, lengths, strict=True):
        value = data[offset : offset + length]
        label = labels.get(value, labels)
        if label is labels:
            label = labels[value] = translate(value)
        out.append(label)
    return out


def _read_column(leaf: IndexReader, fieldname: str, convert: Callable, translate: bool = False) -> object:
    n = leaf.doc_count_all()
    if not leaf.has_column(fieldname):
        return convert([None if translate else 0] * n)
    col = leaf.column_reader(fieldname, translate=translate)
    return convert(col[i] for i in range(n))
