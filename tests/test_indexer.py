"""Ingestion: replace by id, delete, rejects, commits as it goes, locks, atomic reindex."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from search_service.errors import IndexLocked, IndexMissing, SchemaMismatch
from search_service.indexer import delete, ingest, reindex
from search_service.query import parse_request
from search_service.searching import SearchEngine
from search_service.sources import read_paths
from search_service.store import META, IndexStore

from .conftest import FIXTURE_ARTICLES, vntc_records, write_jsonl


def ids_in(store: IndexStore) -> list[str]:
    ix = store.open()
    try:
        with ix.searcher() as s:
            return sorted(d["id"] for d in s.all_stored_fields())
    finally:
        ix.close()


def test_ingest_replace_and_delete(tmp_path: Path):
    store = IndexStore(tmp_path / "ix")
    src = write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES)
    report = ingest(store, read_paths([str(src)]), jobs=1)
    assert (report.read, report.indexed, report.replaced, report.rejected) == (4, 4, 0, 0)
    assert ids_in(store) == ["fx-1", "fx-2", "fx-3", "fx-4"]

    edited = dict(FIXTURE_ARTICLES[0], title="Tiêu đề đã sửa")
    report = ingest(store, read_paths([str(write_jsonl(tmp_path / "b.jsonl", [edited]))]), jobs=1)
    assert (report.indexed, report.replaced) == (1, 1)
    assert ids_in(store) == ["fx-1", "fx-2", "fx-3", "fx-4"]
    engine = SearchEngine(store)
    assert engine.get("fx-1").title == "Tiêu đề đã sửa"
    engine.close()

    removed, missing = delete(store, ["fx-2", "nope"])
    assert (removed, missing) == (1, ["nope"])
    assert ids_in(store) == ["fx-1", "fx-3", "fx-4"]
    removed, missing = delete(store, ["fx-3", "fx-4", "fx-3"])
    assert (removed, missing) == (2, ["fx-3"])
    assert ids_in(store) == ["fx-1"]


def test_same_id_twice_in_one_batch_is_kept_once(tmp_path: Path):
    store = IndexStore(tmp_path / "ix")
    twice = [FIXTURE_ARTICLES[0], dict(FIXTURE_ARTICLES[0], title="Bản thứ hai")]
    report = ingest(store, read_paths([str(write_jsonl(tmp_path / "a.jsonl", twice))]), jobs=1)
    assert (report.indexed, report.replaced) == (2, 1)
    assert ids_in(store) == ["fx-1"]


def test_bad_records_are_reported_and_the_rest_indexed(tmp_path: Path):
    src = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(FIXTURE_ARTICLES[0], ensure_ascii=False),
        "{not json",
        json.dumps({"id": "no-title", "body": "x"}),
        json.dumps({"title": "Không có id"}, ensure_ascii=False),
        json.dumps(dict(FIXTURE_ARTICLES[1], published="ngày mai")),
        json.dumps(FIXTURE_ARTICLES[2], ensure_ascii=False),
    ]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open(src, "ab") as fh:
        fh.write(b'{"id": "bad-utf8", "title": "\xff\xfe"}\n')
    store = IndexStore(tmp_path / "ix")
    report = ingest(store, read_paths([str(src)]), jobs=1)
    assert (report.read, report.indexed, report.rejected) == (7, 2, 5)
    where = {(r.position, r.reason.split(":")[0]) for r in report.rejections}
    assert {p for p, _ in where} == {2, 3, 4, 5, 7}
    assert all(r.origin == str(src) for r in report.rejections)
    assert ids_in(store) == ["fx-1", "fx-3"]


def test_parallel_segmentation_builds_the_same_index(tmp_path: Path):
    src = write_jsonl(tmp_path / "v.jsonl", vntc_records(60))
    one, two = IndexStore(tmp_path / "one"), IndexStore(tmp_path / "two")
    ingest(one, read_paths([str(src)]), jobs=1)
    ingest(two, read_paths([str(src)]), jobs=2, batch_size=25)
    assert ids_in(one) == ids_in(two)
    req = parse_request({"q": "thị trường chứng khoán"})
    e1, e2 = SearchEngine(one), SearchEngine(two)
    try:
        assert [h.id for h in e1.search(req).results] == [h.id for h in e2.search(req).results]
        assert e1.search(req).total == e2.search(req).total > 0
    finally:
        e1.close()
        e2.close()


def test_interrupted_run_keeps_committed_batches_and_rerun_completes(tmp_path: Path):
    records = vntc_records(50)
    src = write_jsonl(tmp_path / "v.jsonl", records)
    store = IndexStore(tmp_path / "ix")

    def stop_after_23(report):
        if report.read == 23:
            raise KeyboardInterrupt

    report = ingest(store, read_paths([str(src)]), jobs=1, batch_size=10, on_progress=stop_after_23)
    assert report.interrupted and report.committed == 20
    assert len(ids_in(store)) == 20  # the last committed batch, readable
    again = ingest(store, read_paths([str(src)]), jobs=1, batch_size=10)
    assert not again.interrupted and again.replaced == 20
    assert ids_in(store) == sorted(r["id"] for r in records)


def test_second_writer_waits_or_stops_with_a_clear_message(tmp_path: Path):
    store = IndexStore(tmp_path / "ix")
    src = write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES)
    ingest(store, read_paths([str(src)]), jobs=1)
    held = threading.Event()
    release = threading.Event()

    def hold():
        with store.lock():
            held.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    with pytest.raises(IndexLocked, match="another process"):
        ingest(store, read_paths([str(src)]), jobs=1)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    report = ingest(store, read_paths([str(src)]), jobs=1, lock_timeout=10)
    assert report.indexed == 4 and time.monotonic() - started >= 0.2
    t.join()
    assert ids_in(store) == ["fx-1", "fx-2", "fx-3", "fx-4"]


def test_reindex_switches_atomically_and_removes_the_old_generation(tmp_path: Path):
    store = IndexStore(tmp_path / "ix")
    ingest(store, read_paths([str(write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES))]), jobs=1)
    old = store.current_name()
    engine = SearchEngine(store)
    assert engine.search(parse_request({"q": "chó mèo"})).results[0].id == "fx-3"
    report = reindex(store, read_paths([str(write_jsonl(tmp_path / "b.jsonl", FIXTURE_ARTICLES[:2]))]), jobs=1)
    assert report.indexed == 2
    assert store.current_name() != old
    assert not (store.root / old).exists()
    assert ids_in(store) == ["fx-1", "fx-2"]
    # a live engine picks up the switch at its next request
    assert "fx-3" not in [h.id for h in engine.search(parse_request({"q": "chó mèo"})).results]
    engine.close()


def test_interrupted_reindex_leaves_the_live_index_untouched(tmp_path: Path):
    store = IndexStore(tmp_path / "ix")
    ingest(store, read_paths([str(write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES))]), jobs=1)
    live = store.current_name()

    def interrupt(report):
        raise KeyboardInterrupt

    report = reindex(
        store, read_paths([str(write_jsonl(tmp_path / "b.jsonl", vntc_records(5)))]), jobs=1, on_progress=interrupt
    )
    assert report.interrupted
    assert store.current_name() == live
    assert [p.name for p in store.root.glob("gen-*")] == [live]
    assert ids_in(store) == ["fx-1", "fx-2", "fx-3", "fx-4"]


def test_missing_and_outdated_indexes_say_what_to_run(tmp_path: Path):
    store = IndexStore(tmp_path / "none")
    with pytest.raises(IndexMissing, match="search-service index"):
        store.open()
    store = IndexStore(tmp_path / "ix")
    ingest(store, read_paths([str(write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES[:1]))]), jobs=1)
    meta = store.current_path() / META
    meta.write_text(json.dumps({"schema_version": 0}), encoding="utf-8")
    with pytest.raises(SchemaMismatch, match="reindex required"):
        store.open()


def test_parallel_reading_does_not_run_ahead_of_the_writer(tmp_path: Path):
    from search_service import indexer
    from search_service.articles import RawRecord
    from search_service.indexer import IngestReport
    from search_service.schema import build_schema

    pulled = 0
    record = FIXTURE_ARTICLES[0]

    def endless():
        nonlocal pulled
        while True:
            pulled += 1
            yield RawRecord(dict(record, id=f"x{pulled}"), "mem", pulled)

    jobs, batch = 2, 20
    stream = indexer._parallel_batches(endless(), build_schema(), tmp_path, batch, jobs, IngestReport())
    try:
        while next(stream) is None:
            pass
        time.sleep(1.0)  # the feeder would read on and on if nothing held it back
        # jobs + 1 batches on the way, the one handed over, and the one read while waiting for a slot
        assert pulled <= (jobs + 3) * batch
    finally:
        stream.close()


def segment_count(store: IndexStore) -> int:
    ix = store.open()
    try:
        return len(ix._segments())
    finally:
        ix.close()


def test_workers_replace_ids_across_and_within_batches_last_wins(tmp_path: Path):
    records = vntc_records(30)
    edited = [dict(records[3], title="Bản sửa thứ nhất"), dict(records[3], title="Bản sửa cuối")]
    src = write_jsonl(tmp_path / "v.jsonl", [*records[:20], edited[0], *records[20:], edited[1], records[5]])
    store = IndexStore(tmp_path / "ix")
    report = ingest(store, read_paths([str(src)]), jobs=2, batch_size=7)
    assert (report.read, report.indexed, report.replaced) == (33, 33, 3)
    assert ids_in(store) == sorted(r["id"] for r in records)
    engine = SearchEngine(store)
    try:
        assert engine.get(records[3]["id"]).title == "Bản sửa cuối"
    finally:
        engine.close()
    again = ingest(store, read_paths([str(src)]), jobs=2, batch_size=7)
    assert (again.indexed, again.replaced) == (33, 33)
    assert ids_in(store) == sorted(r["id"] for r in records)


def test_leftovers_of_a_killed_run_are_cleaned_and_harmless(tmp_path: Path):
    store = IndexStore(tmp_path / "ix")
    src = write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES)
    ingest(store, read_paths([str(src)]), jobs=1)
    gen = store.current_path()
    (gen / ".build-999-0").mkdir()
    (gen / ".build-999-0" / "MAIN_deadbeef.seg").write_bytes(b"half a segment")
    (gen / "MAIN_0123456789abcdef.seg").write_bytes(b"moved in, never committed")
    (gen / ".build-combine-999.vnplm").write_bytes(b"half a combined posting-list file")
    ingest(store, read_paths([str(src)]), jobs=2, batch_size=2)
    assert ids_in(store) == ["fx-1", "fx-2", "fx-3", "fx-4"]
    assert not list(gen.glob(".build-*"))
    assert not (gen / "MAIN_0123456789abcdef.seg").exists()


def test_many_small_runs_do_not_pile_up_segments(tmp_path: Path):
    store = IndexStore(tmp_path / "ix")
    records = vntc_records(30)
    for i, record in enumerate(records):
        ingest(store, read_paths([str(write_jsonl(tmp_path / f"{i}.jsonl", [record]))]), jobs=1)
    assert ids_in(store) == sorted(r["id"] for r in records)
    assert segment_count(store) <= 8
