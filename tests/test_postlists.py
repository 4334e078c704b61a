"""The posting-list files beside each segment hold exactly the postings of the analysis."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from whoosh.formats import Positions

from search_service import docsets
from search_service import store as store_module
from search_service.docsets import DocSets
from search_service.errors import IndexCorrupt
from search_service.indexer import delete, ingest
from search_service.postlists import COMBINED_EXTENSION, EXTENSION, open_postings, sidecar_path
from search_service.query import SearchRequest
from search_service.schema import POSTLIST_ONLY, article_to_document, stored_to_article
from search_service.searching import SearchEngine
from search_service.sources.reader import read_paths
from search_service.store import IndexStore, open_writer

from .conftest import FIXTURE_ARTICLES, vntc_records, write_jsonl


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each DocSets reads the index itself (the process-wide caches would hide which path read it)."""
    monkeypatch.setattr(docsets, "_CACHE", docsets._SegmentCache())
    monkeypatch.setattr(docsets, "_FILES", {})


def small_index(tmp_path: Path, batch_size: int = 2000, records: list[dict] | None = None) -> IndexStore:
    records = records if records is not None else [*FIXTURE_ARTICLES, *vntc_records(300)]
    store = IndexStore(tmp_path / "index")
    source = write_jsonl(tmp_path / "in.jsonl", records)
    report = ingest(store, read_paths([str(source)]), jobs=1, batch_size=batch_size)
    assert report.indexed == len(records)
    return store


def combine_now(store: IndexStore) -> int:
    """Combine posting lists as the end of a run does (under the store's lock)."""
    with store.lock():
        ix = store.open()
        try:
            return store_module.combine_postings(ix)
        finally:
            ix.close()


def sidecars(store: IndexStore) -> set[str]:
    return {p.name.removesuffix(EXTENSION) for p in store.current_path().glob(f"*{EXTENSION}")}


def segment_ids(store: IndexStore) -> set[str]:
    ix = store.open()
    try:
        return {s.segment_id() for s in ix._segments()}
    finally:
        ix.close()


#: Fields analysed from the article's text (the others are ids and keys Whoosh's own postings hold too).
ANALYSED = ("title", "text", "words", "author")


def analysed_postings(reader) -> dict[tuple[str, str], dict[int, tuple[int, list[int] | None]]]:
    """(field, term) -> {document: (frequency, positions or None)}, from each stored article
    analysed again through the schema's formats, independently of the writer and its files."""
    expected: dict[tuple[str, str], dict[int, tuple[int, list[int] | None]]] = defaultdict(dict)
    for docnum in range(reader.doc_count_all()):
        doc = article_to_document(stored_to_article(reader.stored_fields(docnum)))
        for fieldname in ANALYSED:
            if not doc.get(fieldname):
                continue
            field = reader.schema[fieldname]
            positional = isinstance(field.format, Positions)
            for term, freq, _weight, value in field.format.word_values(doc[fieldname], field.analyzer):
                positions = None
                if positional:
                    positions = value if isinstance(value, list) else field.format.decode_positions(value)
                expected[(fieldname, term)][docnum] = (freq, positions)
    return expected


def check_files(store: IndexStore, every: int = 1) -> int:
    """Every term of the index reads from the posting-list files as the analysis (text fields) or
    Whoosh (the rest) has it, positions included; nothing else is in the files. Terms checked."""
    ix = store.open()
    try:
        with ix.searcher() as s:
            reader = s.reader()
            ours = DocSets(reader, str(store.current_path()))
            everything = list(range(reader.doc_count_all()))
            expected = analysed_postings(reader)
            checked = 0
            for n, ((fieldname, term), docs) in enumerate(sorted(expected.items())):
                if n % every:
                    continue
                ids, tfs = ours.postings(fieldname, term)
                assert ids.tolist() == sorted(docs), (fieldname, term)
                assert tfs.tolist() == [docs[d][0] for d in sorted(docs)], (fieldname, term)
                if fieldname in ("title", "text") and n % (5 * every) == 0:
                    assert ours.positions(fieldname, term, everything) == {d: p for d, (_f, p) in docs.items()}
                checked += 1
            kept = [(f, t) for f, t in reader.all_terms() if f not in ANALYSED]
            assert not any(f in POSTLIST_ONLY for f, _ in reader.all_terms())  # Whoosh has none of theirs
            for n, (fieldname, btext) in enumerate(kept):
                if n % every == 0:
                    ids, tfs = ours.postings(fieldname, btext)
                    m = reader.postings(fieldname, btext)
                    assert ids.tolist() == list(m.all_ids()), (fieldname, btext)
                    checked += 1
            if len(ours.parts) == 1:
                assert ours.parts[0].pf.keys.size == len(expected) + len(kept)
            return checked
    finally:
        ix.close()


def test_the_files_hold_every_posting_of_the_analysis_and_whoosh_none_of_the_text(tmp_path: Path, fresh_cache: None):
    store = small_index(tmp_path)
    assert sidecars(store) == segment_ids(store) != set()
    assert check_files(store) > 10_000


def test_document_masks_from_bits_and_from_postings_agree(tmp_path: Path, fresh_cache: None):
    """Common terms' masks come from kept bit sets, rare ones from their postings, mixed in one OR."""
    store = small_index(tmp_path, batch_size=120)  # several segments
    ix = store.open()
    with ix.searcher() as s:
        ds = DocSets(s.reader(), str(store.current_path()))
        words = ["của", "và", "người", "bình", "đẳng", "giới", "hà", "nội", "không-có-từ-này"]
        terms = [(field, w) for field in ("text", "title") for w in words]
        sizes = {t: ds.postings(*t)[0].size for t in terms}
        assert any(n * 32 >= ds.size for n in sizes.values()) and any(0 < n * 32 < ds.size for n in sizes.values())
        for _ in range(2):  # bit sets made on the first pass, reused on the second
            union = np.zeros(ds.size, dtype=bool)
            for t in terms:
                expected = np.zeros(ds.size, dtype=bool)
                expected[ds.postings(*t)[0]] = True
                assert np.array_equal(ds.term(*t), expected), t
                union |= expected
            assert np.array_equal(ds.any_of(terms), union)
            assert not ds.any_of([]).any() and ds.any_of([]).size == ds.size
    ix.close()


def test_positions_of_some_documents_only(tmp_path: Path, fresh_cache: None):
    store = small_index(tmp_path)
    ix = store.open()
    with ix.searcher() as s:
        ds = DocSets(s.reader(), str(store.current_path()))
        ids, tfs = ds.postings("text", "của")
        assert ids.size > 100  # a common word: positions far apart in the file
        wanted = [int(ids[0]), int(ids[57]), int(ids[-1]), int(ids[-1]) + 1 if ids[-1] + 1 not in ids else 0]
        found = ds.positions("text", "của", wanted)
        assert set(found) == {int(ids[0]), int(ids[57]), int(ids[-1])}
        for d, positions in found.items():
            assert len(positions) == int(tfs[ids.tolist().index(d)])
            assert positions == sorted(positions)
        assert ds.positions("text", "không-có-từ-này", wanted) == {}
    ix.close()


def test_merged_segments_get_their_file_and_the_merged_away_ones_lose_theirs(tmp_path: Path, fresh_cache: None):
    records = [*FIXTURE_ARTICLES, *vntc_records(300)]
    store = small_index(tmp_path, batch_size=40, records=records)
    before = segment_ids(store)
    assert len(before) > 2 and sidecars(store) == before
    # Deleted articles' postings must go with them, and the others be renumbered.
    gone = [records[i]["id"] for i in (0, 5, 41, 42, 43, 100, 250, len(records) - 1)]
    assert delete(store, gone) == (len(gone), [])
    with store.lock():
        ix = store.open()
        open_writer(ix).commit(optimize=True)  # Whoosh's merge, through the index's own writer
        ix.close()
    after = segment_ids(store)
    assert len(after) == 1 and not after & before
    assert sidecars(store) == after
    assert check_files(store) > 10_000
    engine = SearchEngine(store, cache_size=0)
    try:
        title = records[41]["title"]
        hits = [h.id for h in engine.search(SearchRequest(q=f'"{title}"'), use_cache=False).results]
        assert records[41]["id"] not in hits
    finally:
        engine.close()


def test_a_missing_or_damaged_file_is_a_damaged_index_that_names_the_fix(tmp_path: Path, fresh_cache: None):
    store = small_index(tmp_path, batch_size=120)
    request = SearchRequest(q="bóng đá")

    def search() -> list[str]:
        engine = SearchEngine(store, cache_size=0)
        try:
            return [h.id for h in engine.search(request, use_cache=False).results]
        finally:
            engine.close()

    expected = search()
    assert expected
    files = sorted(store.current_path().glob(f"*{EXTENSION}"))
    good = files[0].read_bytes()
    for damage in (lambda f: f.write_bytes(good[:-10]), lambda f: f.write_bytes(os.urandom(5000)), Path.unlink):
        damage(files[0])
        assert open_postings(files[0].parent, files[0].name.removesuffix(EXTENSION)) is None
        with pytest.raises(IndexCorrupt, match=r"posting-list file of segment \w+ is missing or damaged.*reindex"):
            search()
        files[0].write_bytes(good)
        assert search() == expected


def test_an_index_with_nothing_committed_yet_answers_with_no_results(tmp_path: Path, fresh_cache: None):
    """As when the first batch of a first run is still being analysed (or the run was killed)."""
    store = IndexStore(tmp_path / "index")
    with store.lock():
        store.open_or_create().close()
    engine = SearchEngine(store, cache_size=0)
    try:
        page = engine.search(SearchRequest(q="bóng đá"), use_cache=False)
        assert (page.total, page.results) == (0, [])
        assert engine.suggest("bóng") == []
    finally:
        engine.close()


def test_the_file_is_beside_the_segment(tmp_path: Path):
    store = small_index(tmp_path, records=FIXTURE_ARTICLES)
    (sid,) = segment_ids(store)
    path = sidecar_path(store.current_path(), sid)
    assert path.exists()
    pf = open_postings(path.parent, sid)
    assert pf is not None and pf.keys.size > 0
    assert np.all(np.diff(pf.keys.astype(np.float64)) >= 0)


def test_a_run_of_segments_is_combined_into_one_file_read_like_the_segments(
    tmp_path: Path, fresh_cache: None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(store_module, "SMALL_SEGMENT", 1)  # keep the small segments: nothing merged
    records = [*FIXTURE_ARTICLES, *vntc_records(300)]
    store = small_index(tmp_path, batch_size=40, records=records)
    ids = segment_ids(store)
    assert len(ids) == 8 and sidecars(store) == ids
    combined = list(store.current_path().glob(f"*{COMBINED_EXTENSION}"))
    assert len(combined) == 1

    def compare(expected_parts: int) -> None:
        ix = store.open()
        with ix.searcher() as s:
            parts = DocSets(s.reader(), str(store.current_path())).parts
            assert len(parts) == expected_parts
        ix.close()
        assert check_files(store, every=13) > 500

    compare(expected_parts=1)
    # A later run adds a segment: the combined file still covers the first eight.
    more = write_jsonl(tmp_path / "more.jsonl", [dict(r, id=f"more-{i}") for i, r in enumerate(records[:30])])
    ingest(store, read_paths([str(more)]), jobs=1)
    compare(expected_parts=2)
    # Merging the segments away makes the combined file stale: it is not used, and goes with them.
    with store.lock():
        ix = store.open()
        open_writer(ix).commit(optimize=True)
        ix.close()
    compare(expected_parts=1)
    assert not list(store.current_path().glob(f"*{COMBINED_EXTENSION}"))


def test_a_combined_file_that_no_longer_fits_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from whoosh.reading import SegmentReader

    monkeypatch.setattr(store_module, "SMALL_SEGMENT", 1)
    store = small_index(tmp_path, batch_size=40)
    (combined,) = store.current_path().glob(f"*{COMBINED_EXTENSION}")

    def keep_first_merge_rest(writer, segments):
        for segment in segments[1:]:
            reader = SegmentReader(writer.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        return segments[:1]

    with store.lock():
        ix = store.open()
        open_writer(ix).commit(mergetype=keep_first_merge_rest)
        assert len(ix._segments()) == 2 and combined.exists()  # its first segment is still there
        assert store_module.combine_postings(ix) == 0  # two segments: too few to combine
        ix.close()
    assert not combined.exists()
    assert sidecars(store) == segment_ids(store)


def test_a_searcher_opened_later_uses_a_combined_file_written_after_the_first_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(store_module, "SMALL_SEGMENT", 1)
    monkeypatch.setattr(store_module, "COMBINE_MIN_SEGMENTS", 100)  # nothing combined by the runs
    store = small_index(tmp_path, batch_size=40)

    def parts() -> int:
        ix = store.open()
        with ix.searcher() as s:
            n = len(DocSets(s.reader(), str(store.current_path())).parts)
        ix.close()
        return n

    assert parts() == 8
    monkeypatch.setattr(store_module, "COMBINE_MIN_SEGMENTS", 4)
    assert combine_now(store) == 1
    assert parts() == 1  # the process had looked for the file before it existed
    # Another run adds four segments, combined in a file of their own.
    more = write_jsonl(tmp_path / "more.jsonl", [dict(r, id=f"more-{i}") for i, r in enumerate(vntc_records(160))])
    monkeypatch.setattr(store_module, "COMBINE_MIN_SEGMENTS", 100)
    ingest(store, read_paths([str(more)]), jobs=1, batch_size=40)
    assert parts() == 5
    monkeypatch.setattr(store_module, "COMBINE_MIN_SEGMENTS", 4)
    assert combine_now(store) == 1
    assert parts() == 2
    # A file replaced under the same name (here: all twelve segments in one) is read anew.
    for path in store.current_path().glob(f"*{COMBINED_EXTENSION}"):
        path.unlink()
    assert combine_now(store) == 1
    assert parts() == 1


def test_positions_far_apart_are_read_one_posting_at_a_time_and_agree(tmp_path: Path):
    """A common term's positions in a few documents far apart: one read per posting, the same
    positions as reading the whole term."""
    from search_service.postlists import PostingsCollector, PostingsFile

    docs = list(range(3000))
    positions = [[d * 7 + k for k in range(1 + d % 50)] for d in docs]  # 76,500 positions
    collector = PostingsCollector()
    collector.add_field("text", {b"cua": (docs, [float(len(p)) for p in positions], positions)}, positional=True)
    path = tmp_path / "seg.vnpl"
    collector.write(path)
    pf = PostingsFile(path)
    term = pf.find(docsets.term_key("text", b"cua"))
    ends = np.cumsum([len(p) for p in positions])
    starts = ends - [len(p) for p in positions]
    pick = np.array([0, 1, 1499, 2998, 2999])
    got = pf.positions_at(term, starts[pick], ends[pick])
    assert int(ends[-1]) > 8 * int((ends[pick] - starts[pick]).sum())  # the far-apart path
    assert got.tolist() == [p for d in pick.tolist() for p in positions[d]]
    whole = pf.positions_at(term, starts[:3], ends[:3])  # the one-read path
    assert whole.tolist() == positions[0] + positions[1] + positions[2]


def test_prefix_sums_are_the_running_sum_at_the_asked_places():
    from search_service.docsets import _prefix_sums

    values = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.float32)
    running = np.concatenate([[0], np.cumsum(values)]).astype(np.int64)
    for at in ([0], [8], [0, 8], [1, 2, 3], [0, 4, 5, 7, 8], [], [6]):
        for total in (float(values.sum()), float("inf")):  # float32 runs, float64 runs
            assert _prefix_sums(values, np.array(at, dtype=np.int64), total).tolist() == running[at].tolist()
    # Frequencies whose sums pass 2**24 (where float32 stops counting by ones) stay exact.
    rng = np.random.default_rng(5)
    big = rng.integers(1, 4000, 20_000).astype(np.float32)
    at = np.array([3, 19_990])  # one run between them, summing past 2**24
    exact = np.concatenate([[0], np.cumsum(big.astype(np.int64))])[at]
    assert exact[1] - exact[0] > 2**24
    assert _prefix_sums(big, at, float(big.sum(dtype=np.float64))).tolist() == exact.tolist()
