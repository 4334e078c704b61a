"""Posting lists as plain arrays, in a file beside each index segment.

Whoosh keeps a term's postings as pickled, zlib'd blocks of 128, positions pickled per posting:
reading one common term of a large archive costs milliseconds of unpickling, and a search reads
dozens. The index writer therefore also writes every term's document numbers, frequencies and
positions as little-endian arrays to ``<segment id>.vnpl`` (a name Whoosh's file cleaning treats
as the segment's own, so it goes when the segment goes). Searching reads a term with two or three
``pread`` calls and ``numpy.frombuffer``. For the fields of schema.POSTLIST_ONLY (the body text and
the pyvi words) these files are the only copy of the postings: every segment with documents has
one, written before any table of contents names the segment, and merging segments merges their
files (``merge``). A missing or unreadable file is a damaged index (PostingsMissing).

Layout: 8 bytes of magic, a little-endian uint32 header length, a JSON header (sizes, dtypes and
where each array starts), then the arrays, each 8-byte aligned:

- ``keys``: uint64, sorted: a 64-bit hash of (field name, term bytes) per term;
- ``post``: unsigned, one more than keys: where each term's postings start in ``ids`` / ``tfs``;
- ``pos``: unsigned, likewise in ``positions`` (a posting has ``tf`` positions when its field has them);
- ``ids``: segment-local document numbers; ``tfs``: term frequencies; ``positions``: token positions.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

EXTENSION = ".vnpl"
MAGIC = b"VNPL\x01\x00\x00\x00"
_HEAD = 12  # magic + header length


def term_key(fieldname: str, btext: bytes) -> int:
    """The 64-bit key of a term (field name, term bytes)."""
    digest = hashlib.blake2b(fieldname.encode("utf-8") + b"\x00" + btext, digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _smallest_uint(maximum: int) -> str:
    for dtype in ("<u2", "<u4"):
        if maximum <= np.iinfo(np.dtype(dtype)).max:
            return dtype
    return "<i8"


class PostingsMissing(Exception):
    """A segment's posting-list file is missing or unreadable: the index must be rebuilt."""

    def __init__(self, segment_id: str) -> None:
        super().__init__(f"the posting-list file of segment {segment_id} is missing or damaged")
        self.segment_id = segment_id


class PostingsCollector:
    """Gathers a segment's postings as the writer flushes them, a field at a time, then writes the file."""

    def __init__(self) -> None:
        self.keys: list[np.ndarray] = []  # per field: the terms' keys
        self.counts: list[np.ndarray] = []  # per field: postings per term
        self.npos: list[np.ndarray] = []  # per field: positions per term
        self.ids: list[np.ndarray] = []
        self.tfs: list[np.ndarray] = []
        self.positions: list[np.ndarray] = []

    def add_field(
        self, fieldname: str, terms: Mapping[bytes, tuple[Sequence[int], Sequence[float], Sequence]], positional: bool
    ) -> None:
        """A field's postings: term (bytes, or text) -> (documents, weights, values), documents ascending.

        Values of a positional field are each posting's positions: a list, or Whoosh's encoding
        of one (Positions.encode); other fields' frequencies are their weights (boosts are 1).
        Whole fields at a time: a few array conversions instead of several per term.
        """
        if not terms:
            return
        entries = list(terms.values())
        keys = np.fromiter(
            (term_key(fieldname, b if isinstance(b, bytes) else b.encode("utf-8")) for b in terms),
            dtype=np.uint64,
            count=len(entries),
        )
        counts = np.fromiter((len(e[0]) for e in entries), dtype=np.int64, count=len(entries))
        total = int(counts.sum())
        ids = np.fromiter(itertools.chain.from_iterable(e[0] for e in entries), dtype=np.int32, count=total)
        if positional:
            lists = [v if isinstance(v, list) else _decode_positions(v) for e in entries for v in e[2]]
            tfs = np.fromiter(map(len, lists), dtype=np.int32, count=total)
            ends = np.cumsum(tfs, dtype=np.int64)
            positions = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int32, count=int(ends[-1]))
            term_ends = ends[np.cumsum(counts) - 1]
            npos = np.diff(term_ends, prepend=0)
        else:
            flat_weights = np.fromiter(itertools.chain.from_iterable(e[1] for e in entries), np.float64, total)
            tfs = np.rint(flat_weights).astype(np.int32)
            positions = _NONE
            npos = np.zeros(len(entries), dtype=np.int64)
        self.keys.append(keys)
        self.counts.append(counts)
        self.npos.append(npos)
        self.ids.append(ids)
        self.tfs.append(tfs)
        self.positions.append(positions)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the file (terms sorted by key)."""
        _write_flat(path, self.flat())

    def flat(self) -> Flat:
        """The postings gathered so far as whole arrays, terms sorted by key."""
        if not self.keys:
            return Flat(np.zeros(0, np.uint64), np.zeros(1, np.int64), np.zeros(1, np.int64), _NONE, _NONE, _NONE)
        keys = np.concatenate(self.keys)
        counts = np.concatenate(self.counts)
        npos = np.concatenate(self.npos)
        order = np.argsort(keys, kind="stable")
        take = _runs((np.cumsum(counts) - counts)[order], counts[order])
        take_positions = _runs((np.cumsum(npos) - npos)[order], npos[order])
        return Flat(
            keys[order],
            np.concatenate([[0], np.cumsum(counts[order])]).astype(np.int64),
            np.concatenate([[0], np.cumsum(npos[order])]).astype(np.int64),
            np.concatenate(self.ids)[take],
            np.concatenate(self.tfs)[take],
            np.concatenate(self.positions)[take_positions],
        )


def _decode_positions(value: bytes) -> list[int]:
    # Whoosh's Positions format: a 4-byte count, then the pickled list of position deltas.
    return list(itertools.accumulate(pickle.loads(value[4:]))) if value else []


class Flat(NamedTuple):
    """A posting-list file's arrays, whole (see the layout above)."""

    keys: np.ndarray
    post: np.ndarray
    pos: np.ndarray
    ids: np.ndarray
    tfs: np.ndarray
    positions: np.ndarray


_NONE = np.zeros(0, dtype=np.int32)


def _write_flat(path: str | os.PathLike[str], flat: Flat) -> None:
    """Write a file's arrays, each in the smallest unsigned type that holds it."""
    arrays = {
        "keys": flat.keys.astype("<u8"),
        "post": flat.post.astype(_smallest_uint(int(flat.post[-1]))),
        "pos": flat.pos.astype(_smallest_uint(int(flat.pos[-1]))),
        "ids": flat.ids.astype(_smallest_uint(int(flat.ids.max(initial=0)))),
        "tfs": flat.tfs.astype(_smallest_uint(int(flat.tfs.max(initial=0)))),
        "positions": flat.positions.astype(_smallest_uint(int(flat.positions.max(initial=0)))),
    }
    write_arrays(path, arrays)


def _layout(spec: dict[str, tuple[int, np.dtype]], extra: dict | None = None) -> tuple[bytes, dict, int]:
    """(file head, {name: [offset, size, dtype]}, total bytes) for arrays of these sizes and dtypes."""
    # The header's size depends on the offsets it holds: lay the arrays out after a generous guess.
    sections: dict[str, list] = {}
    meta = dict(extra or {})
    head = len(json.dumps({"sections": {k: [2**40, 2**40, "<u8"] for k in spec}, "total": 2**40, **meta})) + 64
    offset = _HEAD + head
    for name, (size, dtype) in spec.items():
        offset = (offset + 7) // 8 * 8
        sections[name] = [offset, int(size), np.dtype(dtype).str]
        offset += int(size) * np.dtype(dtype).itemsize
    header = json.dumps({"sections": sections, "total": offset, **meta}).encode("utf-8").ljust(head)
    return MAGIC + len(header).to_bytes(4, "little") + header, sections, offset


def write_arrays(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], extra: dict | None = None) -> None:
    """Write named arrays in the layout above."""
    head, sections, total = _layout({k: (a.size, a.dtype) for k, a in arrays.items()}, extra)
    with open(path, "wb") as fh:
        fh.write(head)
        for name, a in arrays.items():
            fh.seek(sections[name][0])
            fh.write(np.ascontiguousarray(a).tobytes())
        fh.truncate(total)


class PostingsFile:
    """One segment's posting-list file, open for reading (thread-safe: only ``pread``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            head = os.pread(fd, _HEAD, 0)
            if len(head) != _HEAD or head[:8] != MAGIC:
                raise ValueError(f"{path}: not a posting-list file")
            header = json.loads(os.pread(fd, int.from_bytes(head[8:], "little"), _HEAD))
            if os.fstat(fd).st_size != header["total"]:
                raise ValueError(f"{path}: truncated")
            self.sections = {k: (int(o), int(n), np.dtype(t)) for k, (o, n, t) in header["sections"].items()}
            #: A combined file's segments, in index order: [(segment id, documents)]; [] for one segment's.
            self.segments = [(str(sid), int(n)) for sid, n in header.get("segments", [])]
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.keys = self._array("keys")
        self.post = self._array("post")
        self.pos = self._array("pos")
        self.nbytes = self.keys.nbytes + self.post.nbytes + self.pos.nbytes

    def __del__(self) -> None:
        fd = getattr(self, "fd", None)
        if fd is not None:
            os.close(fd)

    def _array(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        offset, size, dtype = self.sections[name]
        stop = size if stop is None else stop
        count = max(0, stop - start)
        raw = os.pread(self.fd, count * dtype.itemsize, offset + start * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise OSError(f"short read in a posting-list file ({name})")
        return np.frombuffer(raw, dtype=dtype)

    def find(self, key: int) -> int:
        """The term number of ``key``, or -1 when the segment does not have the term."""
        i = int(np.searchsorted(self.keys, np.uint64(key)))
        return i if i < self.keys.size and int(self.keys[i]) == key else -1

    def postings(self, term: int, tf_dtype: type = np.int32) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers as int32, frequencies as ``tf_dtype``) of a term."""
        a, b = int(self.post[term]), int(self.post[term + 1])
        return self._array("ids", a, b).astype(np.int32), self._array("tfs", a, b).astype(tf_dtype)

    def positions_at(self, term: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The positions of some of a term's postings, back to back; ``starts``/``ends`` (sorted)
        are where each one's positions start and end among the term's."""
        if not starts.size:
            return np.zeros(0, dtype=np.int64)
        base = int(self.pos[term])
        lo, hi = int(starts[0]), int(ends[-1])
        lengths = ends - starts
        if hi - lo <= max(8 * int(lengths.sum()), 65536):
            # One read of the span is cheaper than a read per posting unless they are far apart.
            span = self._array("positions", base + lo, base + hi)
            return span[_runs(starts - lo, lengths)].astype(np.int64)
        # One read per posting, joined before a single conversion (the per-read cost is Python's).
        offset, _size, dtype = self.sections["positions"]
        size = dtype.itemsize
        first = offset + base * size
        pread, fd = os.pread, self.fd
        wanted = (lengths * size).tolist()
        raw = b"".join([pread(fd, n, first + a * size) for a, n in zip(starts.tolist(), wanted, strict=True)])
        if len(raw) != sum(wanted):
            raise OSError("short read in a posting-list file (positions)")
        return np.frombuffer(raw, dtype=dtype).astype(np.int64)


def sidecar_path(folder: str | os.PathLike[str], segment_id: str) -> Path:
    """Where the posting-list file of a segment lives."""
    return Path(folder) / f"{segment_id}{EXTENSION}"


def open_postings(folder: str | os.PathLike[str], segment_id: str) -> PostingsFile | None:
    """The posting-list file of a segment, or None when it has none (or an unreadable one)."""
    path = sidecar_path(folder, segment_id)
    try:
        return PostingsFile(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError):
        return None


def read_flat(pf: PostingsFile) -> Flat:
    """All of a file's arrays (for merging the small segments a run leaves)."""
    return Flat(pf.keys, *(pf._array(name).astype(np.int64) for name in Flat._fields[1:]))


def merge(sources: list[tuple[Flat, np.ndarray | None]], path: str | os.PathLike[str]) -> None:
    """Write one segment's file from the postings of others, each renumbered by its ``docmap``
    (new document number per old one, -1 for a deleted document, whose postings are dropped;
    None keeps the numbers). New numbers must not overlap between sources."""
    keys = np.unique(np.concatenate([flat.keys for flat, _ in sources])) if sources else np.zeros(0, np.uint64)
    ranks, ids, tfs, npos, starts, positions = [], [], [], [], [], []
    pos_base = 0
    for flat, docmap in sources:
        per_term = np.diff(flat.post.astype(np.int64))
        positional = np.repeat(np.diff(flat.pos.astype(np.int64)) > 0, per_term)
        tf = flat.tfs.astype(np.int64)
        n = np.where(positional, tf, 0)  # a posting of a positional term has tf positions
        old = flat.ids.astype(np.int64)
        new = docmap[old] if docmap is not None else old
        keep = new >= 0
        ranks.append(np.repeat(np.searchsorted(keys, flat.keys), per_term)[keep])
        ids.append(new[keep])
        tfs.append(tf[keep])
        npos.append(n[keep])
        starts.append((pos_base + np.cumsum(n) - n)[keep])
        positions.append(flat.positions.astype(np.int64))
        pos_base += int(flat.positions.size)
    rank = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)
    new_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    order = np.lexsort((new_ids, rank))
    rank, new_ids = rank[order], new_ids[order]
    tf = np.concatenate(tfs)[order] if tfs else np.zeros(0, np.int64)
    n = np.concatenate(npos)[order] if npos else np.zeros(0, np.int64)
    all_positions = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    taken = all_positions[_runs(np.concatenate(starts)[order], n)] if starts else all_positions
    per_key = np.bincount(rank, minlength=keys.size)
    pos_per_key = np.bincount(rank, weights=n, minlength=keys.size).astype(np.int64)
    alive = per_key > 0  # a term only deleted documents had is gone
    _write_flat(
        path,
        Flat(
            keys[alive],
            np.concatenate([[0], np.cumsum(per_key[alive])]).astype(np.int64),
            np.concatenate([[0], np.cumsum(pos_per_key[alive])]).astype(np.int64),
            new_ids,
            tf,
            taken,
        ),
    )


# -- combined files ------------------------------------------------------------------------------
#
# A bulk load leaves dozens of segments, and a search reads each of its terms once per segment.
# After a run, the indexer combines the posting-list files of consecutive segments into one file
# with the same layout, as if those segments were one: document numbers follow on from segment to
# segment in index order. It is named after the first of its segments (so Whoosh's file cleaning
# removes it with that segment) and lists them all; searching uses it only while the index still
# has exactly those segments there, with those document counts, and the segments' own files
# otherwise.

COMBINED_EXTENSION = ".vnplm"
#: Postings plus positions moved at once while combining: bounds the memory a combine needs.
COMBINE_CHUNK = 2_000_000


def combined_path(folder: str | os.PathLike[str], first_segment_id: str) -> Path:
    """Where a combined file starting at this segment lives."""
    return Path(folder) / f"{first_segment_id}{COMBINED_EXTENSION}"


def open_combined(folder: str | os.PathLike[str], first_segment_id: str) -> PostingsFile | None:
    """The combined file that starts at this segment, or None."""
    path = combined_path(folder, first_segment_id)
    try:
        pf = PostingsFile(path)
    except (OSError, ValueError, KeyError):
        return None
    return pf if pf.segments else None


def combine(sources: list[PostingsFile], segments: list[tuple[str, int]], path: str | os.PathLike[str]) -> None:
    """Write one file with the postings of consecutive segments' files (see above)."""
    offsets = np.concatenate([[0], np.cumsum([n for _, n in segments], dtype=np.int64)])
    keys = np.unique(np.concatenate([pf.keys for pf in sources]))
    n_post = np.zeros(keys.size, dtype=np.int64)
    n_pos = np.zeros(keys.size, dtype=np.int64)
    where = []
    for pf in sources:
        idx = np.searchsorted(keys, pf.keys)
        where.append(idx)
        n_post[idx] += np.diff(pf.post.astype(np.int64))
        n_pos[idx] += np.diff(pf.pos.astype(np.int64))
    post = np.concatenate([[0], np.cumsum(n_post)]).astype(np.int64)
    pos = np.concatenate([[0], np.cumsum(n_pos)]).astype(np.int64)

    def widest(name: str) -> np.dtype:
        return max((pf.sections[name][2] for pf in sources), key=lambda d: d.itemsize)

    spec = {
        "keys": (keys.size, np.dtype("<u8")),
        "post": (post.size, np.dtype(_smallest_uint(int(post[-1])))),
        "pos": (pos.size, np.dtype(_smallest_uint(int(pos[-1])))),
        "ids": (int(post[-1]), np.dtype(_smallest_uint(int(offsets[-1])))),
        "tfs": (int(post[-1]), widest("tfs")),
        "positions": (int(pos[-1]), widest("positions")),
    }
    head, sections, total = _layout(spec, {"segments": [[sid, n] for sid, n in segments]})
    with open(path, "wb") as fh:
        fh.write(head)
        for name, values in (("keys", keys), ("post", post), ("pos", pos)):
            fh.seek(sections[name][0])
            fh.write(values.astype(spec[name][1]).tobytes())
        cum = post + pos
        a = 0
        while a < keys.size:
            b = int(np.searchsorted(cum, cum[a] + COMBINE_CHUNK, side="right")) - 1
            b = min(max(b, a + 1), keys.size)
            chunk = _combine_chunk(sources, where, offsets, a, b)
            for name, values in zip(("ids", "tfs", "positions"), chunk, strict=True):
                start = int(post[a] if name != "positions" else pos[a])
                fh.seek(sections[name][0] + start * spec[name][1].itemsize)
                fh.write(values.astype(spec[name][1]).tobytes())
            a = b
        fh.truncate(total)


def _combine_chunk(
    sources: list[PostingsFile], where: list[np.ndarray], offsets: np.ndarray, a: int, b: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, tfs, positions) of the combined terms a..b-1: per term, each source's in order."""
    ids, tfs, positions = [], [], []
    ranks, order_files, post_starts, post_lens, pos_starts, pos_lens = [], [], [], [], [], []
    post_base = pos_base = 0
    for f, pf in enumerate(sources):
        ta, tb = int(np.searchsorted(where[f], a)), int(np.searchsorted(where[f], b))
        if ta == tb:
            continue
        tpost = pf.post[ta : tb + 1].astype(np.int64)
        tpos = pf.pos[ta : tb + 1].astype(np.int64)
        ids.append(pf._array("ids", int(tpost[0]), int(tpost[-1])).astype(np.int64) + offsets[f])
        tfs.append(pf._array("tfs", int(tpost[0]), int(tpost[-1])))
        positions.append(pf._array("positions", int(tpos[0]), int(tpos[-1])))
        ranks.append(where[f][ta:tb])
        order_files.append(np.full(tb - ta, f))
        post_starts.append(post_base + tpost[:-1] - tpost[0])
        post_lens.append(np.diff(tpost))
        pos_starts.append(pos_base + tpos[:-1] - tpos[0])
        pos_lens.append(np.diff(tpos))
        post_base += int(tpost[-1] - tpost[0])
        pos_base += int(tpos[-1] - tpos[0])
    order = np.lexsort((np.concatenate(order_files), np.concatenate(ranks)))
    post_take = _runs(np.concatenate(post_starts)[order], np.concatenate(post_lens)[order])
    pos_take = _runs(np.concatenate(pos_starts)[order], np.concatenate(pos_lens)[order])
    return (
        np.concatenate(ids)[post_take],
        np.concatenate([t.astype(np.int64) for t in tfs])[post_take],
        np.concatenate([p.astype(np.int64) for p in positions])[pos_take],
    )


def _runs(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices of the runs starts[i] .. starts[i] + lengths[i], one after another."""
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(total)
