"""The evaluation harness: metrics on hand-made rankings, every engine on a tiny collection, the query file."""

from __future__ import annotations

import importlib.util
import json
import math
import random
import sys
from types import ModuleType

import pytest

from .conftest import REPO, SHARED

QUERY_FILE = REPO / "data" / "eval" / "news-vntc-queries.jsonl"


def load(name: str) -> ModuleType:
    """Import a script from scripts/ as a module."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ev() -> ModuleType:
    """scripts/eval.py."""
    return load("eval")


@pytest.fixture(scope="module")
def mq() -> ModuleType:
    """scripts/make_news_queries.py."""
    return load("make_news_queries")


TINY = [
    {"id": "a", "title": "Thúc đẩy bình đẳng giới trong gia đình", "body": "Hội thảo ở Hà Nội về bình đẳng giới."},
    {"id": "b", "title": "Đội tuyển Việt Nam thắng Thái Lan", "body": "Trận đấu ở sân Mỹ Đình, Hà Nội."},
    {"id": "c", "title": "Nuôi chó mèo ở chung cư", "body": "Cho đến nay chưa có vụ việc nào. Cây chò trong sân."},
    {"id": "d", "title": "Giá vàng tăng mạnh", "body": "Thị trường vàng trong nước biến động."},
]


def test_metrics_on_hand_made_rankings(ev):
    rel = frozenset({"x"})
    marks = ev.judged(["a", "x", "b"], rel)
    assert marks == [False, True, False]
    assert ev.reciprocal_rank(marks) == 0.5
    assert ev.recall(marks, 1) == 1.0
    assert ev.ndcg(marks, 1) == pytest.approx(1 / math.log2(3))
    # beyond the cut-off nothing counts
    late = ev.judged([*"abcdefghij", "x"], rel)
    assert ev.reciprocal_rank(late) == 0.0 and ev.recall(late, 1) == 0.0 and ev.ndcg(late, 1) == 0.0
    # two relevant documents, one found at rank 1
    two = ev.judged(["x", "a"], frozenset({"x", "y"}))
    assert ev.recall(two, 2) == 0.5
    assert ev.ndcg(two, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_known_item_copies_count_once(ev):
    rel = frozenset({"x", "x-copy"})
    marks = ev.judged(["x-copy", "x", "a"], rel, known_item=True)
    assert marks == [True, False, False]
    scores = ev.score_runs([["x-copy", "x"], []], [ev.Query("1", "q", rel), ev.Query("2", "q", rel)], known_item=True)
    assert scores.mrr == 0.5 and scores.recall == 0.5 and scores.ndcg == 0.5
    assert scores.no_result == 0.5 and scores.queries == 2


def test_remove_diacritics(ev, mq):
    for f in (ev.remove_diacritics, mq.remove_diacritics):
        assert f("Đường Hà Nội, bình đẳng giới") == "Duong Ha Noi, binh dang gioi"
        assert f("hoà HÒA") == "hoa HOA"


def test_reference_engines_on_a_tiny_collection(ev):
    for make in (ev.Fts5Engine, ev.TantivyEngine):
        engine = make()
        engine.build(TINY)
        try:
            assert engine.search("bình đẳng giới")[0] == "a"
            assert engine.search("")[:1] == []
            assert engine.search('giá "vàng" OR (tăng) -x:y *')[0] == "d"  # query syntax is neutralised
        finally:
            engine.close()
    # FTS5 strips the acute itself (remove_diacritics 2); only đ, which it does not fold, is mapped
    assert ev.Fts5Engine.match_expression('đá "bóng" ?') == '"dá" OR """bóng"""'
    assert ev.TantivyEngine.query_string('a"b c\\ AND') == '"a b" "c" "AND"'


def test_fts5_folds_dd_and_tantivy_does_not_fold(ev):
    fts, tan = ev.Fts5Engine(), ev.TantivyEngine()
    fts.build(TINY)
    tan.build(TINY)
    try:
        assert fts.search("doi tuyen")[0] == "b"
        assert tan.search("doi tuyen") == []
    finally:
        fts.close()
        tan.close()


def test_our_engine_through_the_pipeline(ev, tmp_path):
    engine = ev.ServiceEngine(jobs=1, cache_dir=tmp_path)
    engine.build(TINY)
    try:
        assert engine.search("bình đẳng giới")[0] == "a"
        assert engine.search("binh dang gioi")[0] == "a"
        assert engine.search("chó")[0] == "c"
        qs = ev.QuerySet("tiny", TINY, [ev.Query("1", "bình đẳng giới", frozenset({"a"}))])
        rows = ev.run_engine(engine, qs)
        assert [r.form for r in rows] == ["accented", "unaccented"]
        assert all(r.scores.mrr == 1.0 for r in rows)
        assert "search_service" in ev.format_table("tiny", rows)
    finally:
        engine.close()
    assert len(list(tmp_path.iterdir())) == 1  # the cached index


def test_headline_ties(ev):
    records = [
        {"id": "a", "title": "Giá vàng tăng mạnh", "body": ""},
        {"id": "b", "title": "Giá vàng giảm", "body": ""},
        {"id": "c", "title": "Bão số 5", "body": ""},
    ]
    queries = [ev.Query("1", "giá vàng", frozenset({"a"})), ev.Query("2", "bão số", frozenset({"c"}))]
    tied, mrr = ev.headline_ties(ev.QuerySet("t", records, queries, known_item=True))
    assert tied == 1 and mrr == pytest.approx((0.75 + 1.0) / 2)
    assert ev.headline_ties(ev.QuerySet("t", records, [ev.Query("1", "gia vang", frozenset({"a"}))]), fold=True)[0] == 1


def test_prototype_variants_run(ev, tmp_path, monkeypatch):
    from search_service import searching

    monkeypatch.setattr(searching, "_phrase_bonus", searching._phrase_bonus)
    ev.apply_variants(["skip-compound-pairs"])
    engine = ev.ServiceEngine(jobs=1, cache_dir=tmp_path)
    engine.build(TINY)
    try:
        assert engine.search("bình đẳng giới ở hà nội")[0] == "a"
        assert "b" in engine.search("bình đẳng giới ở hà nội")  # some words: in the same list
    finally:
        engine.close()
    with pytest.raises(SystemExit):
        ev.apply_variants(["no-such-variant"])


def test_collection_sample_holds_every_answer(ev):
    records = [{"id": f"r{i}", "title": f"t{i}", "body": ""} for i in range(50)] + [{"id": "n", "title": None}]
    sample = ev.sample_collection(records, {"r3", "r40"}, 10, seed=1)
    ids = [r["id"] for r in sample]
    assert len(ids) == 10 and {"r3", "r40"} <= set(ids) and "n" not in ids
    assert ids == sorted(ids, key=lambda i: int(i[1:]))  # corpus order
    assert ev.sample_collection(records, {"r3", "r40"}, 10, seed=1) == sample


def test_knob_overrides(ev):
    from search_service import query

    before = query.TITLE_WEIGHT, query.PHRASE_SLOP
    try:
        knobs = ev.set_knobs(["TITLE_WEIGHT=3", "PHRASE_SLOP=2"])
        assert knobs["TITLE_WEIGHT"] == 3.0 and query.PHRASE_SLOP == 2 and isinstance(query.PHRASE_SLOP, int)
        with pytest.raises(SystemExit):
            ev.set_knobs(["NOT_A_KNOB=1"])
    finally:
        ev.set_knobs([f"TITLE_WEIGHT={before[0]}", f"PHRASE_SLOP={before[1]}"])


def test_query_fragments_follow_the_rule(mq):
    title = "Đội tuyển Việt Nam thắng Thái Lan ở Mỹ Đình: chiến thắng của người hâm mộ"
    rng = random.Random(3)
    for _ in range(20):
        words = mq.pick_fragment(title, rng)
        assert words is not None and 2 <= len(words) <= 5
        assert words[0].lower() not in mq.FUNCTION_WORDS and words[-1].lower() not in mq.FUNCTION_WORDS
        assert " ".join(words) in title  # consecutive, within one clause
    assert mq.pick_fragment("Hà Nội", random.Random(1)) is None


def test_make_queries_is_deterministic_and_handles_copies(mq):
    records = [
        {"id": "1", "title": "Giá vàng hôm nay tăng mạnh", "body": "x"},
        {"id": "2", "title": "Giá vàng hôm nay tăng mạnh", "body": "x"},  # a copy: same story
        {"id": "3", "title": "Bão số 5 đổ bộ vào miền Trung", "body": "y"},
        {"id": "4", "title": "Bão số 5 đổ bộ vào miền Trung", "body": "z"},  # same headline, other story
        {"id": "5", "title": "Ngắn", "body": "w"},
    ]
    items = mq.make_queries(records, 10, seed=7)
    assert [it["answer"] for it in items] == ["1"]
    assert items[0]["relevant"] == ["1", "2"]
    assert items == mq.make_queries(records, 10, seed=7)
    assert items[0]["query_unaccented"] == mq.remove_diacritics(items[0]["query"])


def test_committed_query_file():
    rows = [json.loads(line) for line in QUERY_FILE.read_text(encoding="utf-8").splitlines()]
    meta, items = rows[0]["meta"], rows[1:]
    assert meta["queries"] == len(items) == 500 and meta["seed"]
    assert len({it["qid"] for it in items}) == 500
    for it in items:
        assert set(it) == {"qid", "query", "query_unaccented", "answer", "relevant"}
        assert it["answer"] in it["relevant"] and 2 <= len(it["query"].split()) <= 15
        assert it["query"] == it["query"].lower()


@pytest.mark.skipif(not (SHARED / "qrels-xquad-vi.jsonl.gz").exists(), reason="shared data not present")
def test_xquad_loads(ev):
    qs = ev.load_xquad()
    assert len(qs.records) == 240 and len(qs.queries) == 1190
    assert all(len(q.relevant) == 1 for q in qs.queries)
