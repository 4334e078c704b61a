"""Segments written by the indexer's own writer are the ones stock Whoosh writes, byte for byte,
given the same postings: all but those of schema.POSTLIST_ONLY, which only the posting-list files
hold (test_postlists.py checks those), and the stored fields, compressed by LZ4 instead of zlib
(the same values, read back)."""

from __future__ import annotations

from pathlib import Path

from whoosh.filedb.filestore import FileStorage
from whoosh.writing import SegmentWriter

from search_service import store
from search_service.normalize import to_article
from search_service.schema import POSTLIST_ONLY, article_to_document, build_schema
from search_service.store import SegmentBuilder, SegmentCommitter, StoredLz4Codec

from .conftest import FIXTURE_ARTICLES, vntc_records


def documents() -> list[tuple[str, dict]]:
    # 300 real articles: common syllables have far more postings than one block (128) holds.
    articles = [to_article(r) for r in [*FIXTURE_ARTICLES, *vntc_records(300)]]
    return [(a.id, article_to_document(a)) for a in articles]


def stock_index(path: Path, docs: list[tuple[str, dict]]):
    path.mkdir()
    ix = FileStorage(str(path)).create_index(build_schema())
    writer = SegmentWriter(ix)
    add = writer.pool.add
    writer.pool.add = lambda item: None if item[0] in POSTLIST_ONLY else add(item)
    for _, doc in docs:
        writer.add_document(**doc)
    writer.commit(merge=False)
    return ix


def our_index(path: Path, docs: list[tuple[str, dict]]):
    path.mkdir()
    ix = FileStorage(str(path)).create_index(build_schema())
    builder = SegmentBuilder(ix.schema, path / ".build-test")
    for doc_id, doc in docs:
        builder.add(doc_id, doc)
    committer = SegmentCommitter(ix)
    committer.commit(builder.finish())
    committer.close()
    return ix


def segment_files(ix) -> dict[str, bytes]:
    (segment,) = ix._segments()
    compound = segment.open_compound_file(ix.storage)
    try:
        prefix = segment.segment_id()
        return {name.replace(prefix, "SEG"): compound.open_file(name).read() for name in compound.list()}
    finally:
        compound.close()


def test_our_segments_are_byte_for_byte_whooshs(tmp_path: Path):
    docs = documents()
    stock, ours = stock_index(tmp_path / "stock", docs), our_index(tmp_path / "ours", docs)
    try:
        a, b = segment_files(stock), segment_files(ours)
        assert sorted(a) == sorted(b)
        assert "SEG._stored.col" in a
        for name in a:
            if name != "SEG._stored.col":  # LZ4, not zlib: compared by value in the next test
                assert a[name] == b[name], name
        assert a["SEG._stored.col"] != b["SEG._stored.col"]
    finally:
        stock.close()
        ours.close()


def test_stock_whoosh_reads_the_same_postings_lengths_and_stored_fields(tmp_path: Path):
    docs = documents()
    stock, ours = stock_index(tmp_path / "stock", docs), our_index(tmp_path / "ours", docs)
    with stock.reader() as r1, ours.reader() as r2:
        assert r1.doc_count() == r2.doc_count() == len(docs)
        fields = sorted(r1.indexed_field_names())
        assert fields == sorted(r2.indexed_field_names())
        assert not set(fields) & POSTLIST_ONLY
        long_lists = 0
        for field in fields:
            terms = list(r1.lexicon(field))
            assert terms == list(r2.lexicon(field)), field
            for term in terms:
                i1, i2 = r1.term_info(field, term), r2.term_info(field, term)
                assert (i1.doc_frequency(), i1.weight(), i1.min_length(), i1.max_length(), i1.max_weight()) == (
                    i2.doc_frequency(), i2.weight(), i2.min_length(), i2.max_length(), i2.max_weight()
                ), (field, term)  # fmt: skip
                long_lists += i1.doc_frequency() > 128
                m1, m2 = r1.postings(field, term), r2.postings(field, term)
                while m1.is_active():
                    assert m2.is_active()
                    assert (m1.id(), m1.weight(), m1.value()) == (m2.id(), m2.weight(), m2.value()), (field, term)
                    m1.next()
                    m2.next()
                assert not m2.is_active()
        assert long_lists >= 3  # title syllables in more than one block of 128 postings
        for docnum in range(len(docs)):
            assert r1.stored_fields(docnum) == r2.stored_fields(docnum)
            for field in fields:
                assert r1.doc_field_length(docnum, field) == r2.doc_field_length(docnum, field)
    stock.close()
    ours.close()


def test_zlib_segments_still_read_and_merge_into_lz4(tmp_path: Path, monkeypatch):
    """An index written before stored fields were LZ4 (Whoosh's own codec, zlib) reads as before;
    new segments are LZ4, and merging rewrites the old ones."""
    docs = documents()
    path = tmp_path / "mixed"
    path.mkdir()
    ix = FileStorage(str(path)).create_index(build_schema())
    committer = SegmentCommitter(ix)
    for i, part in enumerate((docs[:150], docs[150:])):
        if i == 0:  # the first segment as the earlier indexer wrote it
            monkeypatch.setattr(store, "StoredLz4Codec", store.W3Codec)
        builder = SegmentBuilder(ix.schema, path / f".build-{i}")
        for doc_id, doc in part:
            builder.add(doc_id, doc)
        committer.commit(builder.finish())
        monkeypatch.undo()
    committer.close()
    ix = FileStorage(str(path)).open_index()
    codecs = [type(s.codec()) for s in ix._segments()]
    assert codecs == [store.W3Codec, StoredLz4Codec]
    expected = [doc["body"] for _, doc in docs]
    with ix.reader() as r:
        assert [r.stored_fields(n)["body"] for n in range(len(docs))] == expected
    store.open_writer(ix).commit(optimize=True)  # the merge path of merge_small_segments, forced
    ix = FileStorage(str(path)).open_index()
    assert [type(s.codec()) for s in ix._segments()] == [StoredLz4Codec]
    with ix.reader() as r:
        assert sorted(r.stored_fields(n)["body"] for n in range(len(docs))) == sorted(expected)
    ix.close()
