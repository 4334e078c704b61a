"""The posting-list files beside each segment hold exactly what Whoosh's postings hold."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from search_service import docsets
from search_service import store as store_module
from search_service.docsets import DocSets
from search_service.indexer import ingest
from search_service.postlists import COMBINED_EXTENSION, EXTENSION, open_postings, sidecar_path
from search_service.query import SearchRequest
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


def test_every_term_reads_the_same_from_the_file_and_from_whoosh(tmp_path: Path, fresh_cache: None):
    store = small_index(tmp_path)
    folder = str(store.current_path())
    assert sidecars(store) == segment_ids(store) != set()
    ix = store.open()
    with ix.searcher() as s:
        reader = s.reader()
        ours = DocSets(reader, folder)
        assert all(part.pf is not None for part in ours.parts)
        docsets._CACHE = docsets._SegmentCache()
        whoosh = DocSets(reader)  # no folder: Whoosh's postings
        assert all(part.pf is None for part in whoosh.parts)
        everything = list(range(reader.doc_count_all()))
        checked = positioned = 0
        for fieldname, text in reader.all_terms():
            a_ids, a_tf = ours.postings(fieldname, text)
            docsets._CACHE = docsets._SegmentCache()
            b_ids, b_tf = whoosh.postings(fieldname, text)
            assert np.array_equal(a_ids, b_ids) and np.array_equal(a_tf, b_tf), (fieldname, text)
            assert a_ids.size > 0
            if fieldname in ("title", "text") and checked % 7 == 0:
                a_pos = ours.positions(fieldname, text, everything)
                docsets._CACHE = docsets._SegmentCache()
                assert a_pos == whoosh.positions(fieldname, text, everything), (fieldname, text)
                assert sorted(a_pos) == a_ids.tolist()
                positioned += 1
            checked += 1
        assert checked > 10_000 and positioned > 1_000
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
    store = small_index(tmp_path, batch_size=40)
    before = segment_ids(store)
    assert len(before) > 2 and sidecars(store) == before
    with store.lock():
        ix = store.open()
        open_writer(ix).commit(optimize=True)  # Whoosh's merge, through the index's own writer
        ix.close()
    after = segment_ids(store)
    assert len(after) == 1 and not after & before
    assert sidecars(store) == after
    ix = store.open()
    with ix.searcher() as s:
        reader = s.reader()
        ours = DocSets(reader, str(store.current_path()))
        assert ours.parts[0].pf is not None
        for fieldname, text in list(reader.all_terms())[::50]:
            a = ours.postings(fieldname, text)
            docsets._CACHE = docsets._SegmentCache()
            b = DocSets(reader).postings(fieldname, text)
            assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), (fieldname, text)
            if fieldname == "text":
                docs = a[0].tolist()
                assert ours.positions(fieldname, text, docs) == DocSets(reader).positions(fieldname, text, docs)
    ix.close()


def test_search_is_the_same_without_the_files_or_with_a_damaged_one(tmp_path: Path, fresh_cache: None):
    store = small_index(tmp_path, batch_size=120)
    requests = [SearchRequest(q=q) for q in ("hòa giải", "binh dang", '"thủy chung"', "bóng đá", "của và")]

    def answers() -> list:
        docsets._CACHE = docsets._SegmentCache()
        docsets._FILES.clear()
        engine = SearchEngine(store, cache_size=0)
        try:
            return [[(h.id, h.score) for h in engine.search(r, use_cache=False).results] for r in requests]
        finally:
            engine.close()

    expected = answers()
    assert any(expected)
    files = sorted(store.current_path().glob(f"*{EXTENSION}"))
    assert len(files) >= 2
    files[0].write_bytes(files[0].read_bytes()[:-10])  # truncated
    files[1].write_bytes(os.urandom(5000))  # garbage
    for f in files[:2]:
        assert open_postings(f.parent, f.name.removesuffix(EXTENSION)) is None
    assert answers() == expected
    for f in files:
        f.unlink()
    assert answers() == expected


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
            reader = s.reader()
            ours = DocSets(reader, str(store.current_path()))
            assert len(ours.parts) == expected_parts and all(p.pf is not None for p in ours.parts)
            whoosh = DocSets(reader)
            everything = list(range(reader.doc_count_all()))
            for n, (fieldname, text) in enumerate(reader.all_terms()):
                if n % 13:
                    continue
                a, b = ours.postings(fieldname, text), whoosh.postings(fieldname, text)
                assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), (fieldname, text)
                if fieldname in ("title", "text"):
                    assert ours.positions(fieldname, text, everything) == whoosh.positions(
                        fieldname, text, everything
                    ), (fieldname, text)
        ix.close()

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
