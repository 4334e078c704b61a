"""Searching a real index: Vietnamese matching, ranking order, syntax, filters, facets, extras."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from search_service import searching
from search_service.errors import ArticleNotFound
from search_service.indexer import delete, ingest
from search_service.query import parse_request
from search_service.searching import SearchEngine
from search_service.sources import read_paths
from search_service.store import IndexStore

from .conftest import FIXTURE_ARTICLES, TTTD_PAGE, write_jsonl

TTTD_ID = "page:page-tttd-2022-11-14"


@pytest.fixture(scope="module")
def engine(index_store: IndexStore):
    eng = SearchEngine(index_store)
    yield eng
    eng.close()


def search(engine: SearchEngine, multi: dict | None = None, **params: str):
    return engine.search(parse_request(params, multi))


def ids(page) -> list[str]:
    return [h.id for h in page.results]


def marked(html: str) -> list[str]:
    return re.findall(r"<mark>(.*?)</mark>", html)


@pytest.mark.parametrize("q", ["bình đẳng giới", "binh dang gioi", "BÌNH ĐẲNG GIỚI", "Binh Dang Gioi"])
def test_accent_insensitive_search_finds_and_highlights(engine, q):
    page = search(engine, q=q)
    assert "fx-1" in ids(page)[:3]
    hit = next(h for h in page.results if h.id == "fx-1")
    assert marked(hit.title_html) == ["bình đẳng giới"]


@pytest.mark.skipif(not TTTD_PAGE.exists(), reason="shared data not present")
@pytest.mark.parametrize("q", ["bình đẳng giới", "binh dang gioi"])
def test_the_tttd_page_is_found_with_section_date_and_highlights(engine, q):
    page = search(engine, {"section": ["Xã hội"]}, q=q, **{"from": "2022-11-01", "to": "2022-11-30"})
    assert TTTD_ID in ids(page)
    hit = next(h for h in page.results if h.id == TTTD_ID)
    assert hit.section == "Xã hội" and hit.published.startswith("2022-11-14T12:48")
    assert "bình đẳng giới" in [m.lower() for m in marked(hit.snippet_html)]


def test_exact_diacritics_rank_above_folded_matches(engine):
    page = search(engine, q="chó")
    assert ids(page)[0] == "fx-3"
    assert marked(page.results[0].title_html) == ["chó"]


def test_tone_placement_variants_match(engine):
    for q in ["hoà giải", "hòa giải", "hoa giai"]:
        assert ids(search(engine, q=q))[0] == "fx-4"


def test_an_unknown_word_does_not_empty_the_page(engine):
    page = search(engine, q="bình đẳng giới xyzzyqq", size=50)
    full = search(engine, q="bình đẳng giới", size=50)
    assert page.total == full.total > 0
    assert "fx-1" in ids(page)[:3]


def _filler(i: int) -> dict:
    return {"id": f"filler-{i}", "title": f"Tin thời tiết số {i}", "body": "Trời nắng ráo, gió nhẹ. " * (i % 3 + 1)}


#: A weak match of every word of "tàu ngầm hạt nhân" (the words apart, once each, in a long body).
_SCATTERED = (
    "Con tàu cập bến sau nhiều ngày trên biển. Mạch nước ngầm dưới lòng đất vẫn đầy. "
    "Cuộc họp bàn về năng lượng hạt giống và điện nhân tạo kéo dài đến chiều. "
)


@pytest.fixture(scope="module")
def tier_engine(tmp_path_factory: pytest.TempPathFactory):
    """Complete-but-weak and partial-but-strong matches, with and without a page of complete ones."""
    records = [_filler(i) for i in range(30)]
    # "tàu ngầm hạt nhân": a page and more of weak complete matches, and one strong partial match.
    records += [
        {"id": f"sub-all-{i}", "title": f"Bản tin chiều {i}", "body": _SCATTERED * (2 + i % 3)} for i in range(12)
    ]
    records.append({"id": "sub-some", "title": "Tàu ngầm", "body": "Tàu ngầm lặn sâu. Tàu ngầm nổi lên. " * 3})
    # "chim cánh cụt ở nam cực": one weak complete match, and one strong partial match.
    records.append(
        {
            "id": "bird-all",
            "title": "Du lịch mùa hè",
            "body": "Đàn chim bay qua. Cánh đồng lúa chín. Con đường cụt ở phía nam. Thời tiết cực nóng. " * 4,
        }
    )
    records.append({"id": "bird-some", "title": "Chim cánh cụt", "body": "Chim cánh cụt sống thành đàn. " * 4})
    root = tmp_path_factory.mktemp("tiers")
    store = IndexStore(root / "index")
    ingest(store, read_paths([str(write_jsonl(root / "tiers.jsonl", records))]), jobs=1)
    eng = SearchEngine(store)
    yield eng
    eng.close()


def test_a_page_of_articles_with_every_word_comes_before_stronger_partial_matches(tier_engine):
    complete = {f"sub-all-{i}" for i in range(12)}
    page = search(tier_engine, q="tàu ngầm hạt nhân", size=20)
    order = ids(page)
    assert page.total == 13 and set(order[:12]) == complete and order[12] == "sub-some"
    scores = {h.id: h.score for h in page.results}
    assert scores["sub-some"] > max(scores[i] for i in complete)  # its place is the tier's doing
    # Pages follow on across the tiers.
    second = ids(search(tier_engine, q="tàu ngầm hạt nhân", size=10, page=2))
    assert second == order[10:13]


def test_with_few_articles_with_every_word_all_matches_rank_by_score(tier_engine, monkeypatch):
    order = ids(search(tier_engine, q="chim cánh cụt ở nam cực"))
    assert order[:2] == ["bird-some", "bird-all"]
    # The knob at 1: any article with every word comes first, however weak.
    monkeypatch.setattr("search_service.query.ALL_WORDS_FIRST_MIN", 1)
    again = tier_engine.search(parse_request({"q": "chim cánh cụt ở nam cực"}), use_cache=False)
    assert ids(again)[:2] == ["bird-all", "bird-some"]


_PETROL = {"title": "Giá xăng tăng", "body": "Giá xăng tăng từ chiều nay, theo liên bộ Công Thương."}


@pytest.fixture(scope="module")
def dated_store(tmp_path_factory: pytest.TempPathFactory) -> IndexStore:
    """The same article at different ages (and undated), beside unrelated fillers."""
    records = [_filler(i) for i in range(20)] + [
        {"id": "undated", **_PETROL},
        {"id": "years", **_PETROL, "published": "2021-05-31T08:00:00+07:00"},
        {"id": "month", **_PETROL, "published": "2024-05-01T08:00:00+07:00"},
        {"id": "newest", **_PETROL, "published": "2024-05-31T08:00:00+07:00"},
    ]
    root = tmp_path_factory.mktemp("dated")
    store = IndexStore(root / "index")
    ingest(store, read_paths([str(write_jsonl(root / "dated.jsonl", records))]), jobs=1)
    return store


def test_freshness_is_off_by_default_and_lifts_recent_articles_by_their_age(dated_store):
    plain = SearchEngine(dated_store)
    fresh = SearchEngine(dated_store, freshness_days=30)
    try:
        request = parse_request({"q": "giá xăng tăng"})
        off = {h.id: h.score for h in plain.search(request).results}
        assert len(set(off.values())) == 1  # the same text: the same score, whatever the date
        page = fresh.search(request)
        on = {h.id: h.score for h in page.results}
        assert [h.id for h in page.results][:2] == ["newest", "month"]
        # The newest article counts twice, one 30 days older 1.5 times, one years old or undated once.
        base = off["newest"]
        assert on["newest"] == pytest.approx(2 * base, rel=1e-3)
        assert on["month"] == pytest.approx(1.5 * base, rel=2e-2)  # 30 days apart, give or take the hour
        assert on["years"] == pytest.approx(base, rel=1e-3) and on["undated"] == pytest.approx(base, rel=1e-3)
    finally:
        plain.close()
        fresh.close()


def test_freshness_counts_ages_from_the_newest_article_still_indexed(tmp_path: Path):
    store = IndexStore(tmp_path / "index")
    records = [_filler(1), {"id": "a", **_PETROL, "published": "2024-01-01T08:00:00+07:00"}]
    records.append({"id": "b", **_PETROL, "published": "2024-03-01T08:00:00+07:00"})
    ingest(store, read_paths([str(write_jsonl(tmp_path / "a.jsonl", records))]), jobs=1)
    plain, fresh = SearchEngine(store), SearchEngine(store, freshness_days=30)
    request = parse_request({"q": "giá xăng"})
    try:
        base = plain.search(request, use_cache=False).results[0].score
        assert {h.id: h.score for h in fresh.search(request).results}["b"] == pytest.approx(2 * base, rel=1e-3)
        delete(store, ["b"])  # the newest one goes: "a" is now the newest
        base = plain.search(request, use_cache=False).results[0].score  # scores change with the index
        assert [(h.id, h.score) for h in fresh.search(request).results] == [("a", pytest.approx(2 * base, rel=1e-3))]
    finally:
        plain.close()
        fresh.close()


def test_freshness_reaches_the_web_app_from_its_setting(dated_store, monkeypatch):
    from search_service import create_app

    client = create_app({"INDEX_DIR": str(dated_store.root), "FRESHNESS_DAYS": 30}).test_client()
    data = client.get("/api/search", query_string={"q": "giá xăng tăng"}).get_json()
    assert [h["id"] for h in data["results"]][:2] == ["newest", "month"]
    monkeypatch.setenv("SEARCH_FRESHNESS_DAYS", "7")
    from search_service.web import build_app

    assert build_app().config["FRESHNESS_DAYS"] == 7


def test_words_standing_together_rank_higher(engine):
    order = ids(search(engine, q="bình đẳng giới", size=50))
    assert order.index("fx-1") < 3


def test_editor_syntax(engine):
    assert ids(search(engine, q='"Mỹ Đình"'))[0] == "fx-2"
    assert "fx-3" not in ids(search(engine, q="chó -mèo"))
    either = ids(search(engine, q="Thái OR chung", size=50))
    assert {"fx-2", "fx-3"} <= set(either)
    assert ids(search(engine, q="title:thuỷ"))[:9].count("fx-4") == 1  # "thủy" and "thuỷ" are one word
    assert ids(search(engine, q='title:"thuỷ chung"')) == ["fx-4"]
    assert "fx-4" not in ids(search(engine, q='title:"chung thuỷ"'))
    assert set(ids(search(engine, q='tag:"bóng đá"'))) == {"fx-2"}
    assert set(ids(search(engine, q='author:"nguyen thu ha"'))) == {"fx-1", "fx-4"}
    assert set(ids(search(engine, q="author:nguyễn gia đình"))) == {"fx-1"}


def test_filters_do_not_change_ranking(engine):
    plain = search(engine, q="hà nội", size=50)
    filtered = search(engine, {"section": ["Xã hội"]}, q="hà nội", size=50)
    expected = [h.id for h in plain.results if h.section == "Xã hội"]
    assert ids(filtered) == expected[: len(ids(filtered))]
    assert all(h.section == "Xã hội" for h in filtered.results)
    scores = {h.id: h.score for h in plain.results}
    assert all(scores[h.id] == h.score for h in filtered.results if h.id in scores)


def test_section_filter_is_accent_and_case_insensitive(engine):
    assert ids(search(engine, {"section": ["xa hoi"]}, q="chó")) == ids(
        search(engine, {"section": ["Xã hội"]}, q="chó")
    )


def test_date_range_is_inclusive_hanoi_time(engine):
    page = search(engine, **{"from": "2021-12-05", "to": "2021-12-05"})
    assert ids(page) == ["fx-2"]
    assert search(engine, **{"from": "2021-12-06", "to": "2022-01-01"}).total == 0


def test_empty_query_with_filters_lists_newest_first(engine):
    page = search(engine, {"section": ["Xã hội"]})
    dates = [h.published for h in page.results]
    assert dates == sorted(dates, reverse=True) and page.total >= 2


def test_sort_newest_and_oldest(engine):
    newest = search(engine, sort="newest", author="Nguyễn Thu Hà")
    oldest = search(engine, sort="oldest", author="nguyen thu ha")
    assert ids(newest) == ["fx-1", "fx-4"] and ids(oldest) == ["fx-4", "fx-1"]


def test_facets_count_sections_and_years(engine):
    page = search(engine, q="hà nội")
    assert sum(page.facets["section"].values()) == page.total
    assert page.facets["year"].get("2022", 0) >= 1


def test_pagination(engine):
    first = search(engine, q="việt nam", size=5)
    second = search(engine, q="việt nam", size=5, page=2)
    assert first.total == second.total > 10
    assert not set(ids(first)) & set(ids(second))
    both = search(engine, q="việt nam", size=10)
    assert ids(both) == ids(first) + ids(second)
    past = search(engine, q="việt nam", size=50, page=100)
    assert past.results == [] and past.total == first.total


def test_did_you_mean(engine):
    page = search(engine, q="bình đẳg giới")
    assert page.suggestion == "bình đẳng giới"
    assert search(engine, q="bình đẳng giới").suggestion is None


def test_related_and_suggest_and_get(engine):
    related = engine.related("fx-1", 5)
    assert related and "fx-1" not in [h.id for h in related]
    titles = [s["title"] for s in engine.suggest("binh dang g")]
    assert "Thúc đẩy bình đẳng giới trong gia đình" in titles
    assert engine.get("fx-2").section == "Thể thao"
    with pytest.raises(ArticleNotFound):
        engine.get("does-not-exist")


def test_repeated_query_is_served_from_cache(engine, monkeypatch):
    req = parse_request({"q": "thị trường"})
    first = engine.search(req)

    def no_search(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(engine, "_search", no_search)
    again = engine.search(req)
    assert [h.id for h in again.results] == [h.id for h in first.results] and again.total == first.total


@pytest.mark.parametrize("settled_ns", [searching.STAMP_SETTLED_NS, 0], ids=["listing", "stamp"])
def test_new_edited_and_deleted_articles_show_up_in_a_live_engine(tmp_path: Path, monkeypatch, settled_ns: int):
    # "stamp": the engine trusts the index folder's stamp at once, so only the stamp's change can
    # tell it about each write (a pause first: a change in the same clock tick is what settling guards).
    monkeypatch.setattr(searching, "STAMP_SETTLED_NS", settled_ns)
    store = IndexStore(tmp_path / "ix")
    ingest(store, read_paths([str(write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES))]), jobs=1)
    engine = SearchEngine(store)
    try:
        req = parse_request({"q": "bình đẳng giới"})
        assert "fx-1" in ids(engine.search(req, use_cache=False))
        assert "fx-1" in ids(engine.search(req, use_cache=False))  # the stamp is taken here
        time.sleep(0.05)
        delete(store, ["fx-1"])
        assert "fx-1" not in ids(engine.search(req))
        time.sleep(0.05)
        edited = dict(FIXTURE_ARTICLES[1], title="Bình đẳng giới trong thể thao")
        ingest(store, read_paths([str(write_jsonl(tmp_path / "b.jsonl", [edited]))]), jobs=1)
        found = ids(engine.search(req))
        assert found.count("fx-2") == 1 and "fx-1" not in found
        assert engine.get("fx-2").title == "Bình đẳng giới trong thể thao"
    finally:
        engine.close()


def test_a_settled_index_is_checked_by_its_stamp_and_a_recent_one_by_listing(tmp_path: Path, monkeypatch):
    store = IndexStore(tmp_path / "ix")
    ingest(store, read_paths([str(write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES))]), jobs=1)
    engine = SearchEngine(store, cache_size=0)
    try:
        req = parse_request({"q": "bình đẳng giới"})
        engine.search(req)
        handle = engine._local.handle
        listings = []
        real = handle.searcher.up_to_date
        monkeypatch.setattr(handle.searcher, "up_to_date", lambda: listings.append(1) or real())
        for _ in range(3):
            engine.search(req)
        assert len(listings) == 3  # just written: every search lists the folder
        monkeypatch.setattr(searching, "STAMP_SETTLED_NS", 0)
        for _ in range(3):
            engine.search(req)
        assert len(listings) == 4  # settled: listed once more, then the stamp says unchanged
        assert engine._local.handle is handle
    finally:
        engine.close()


def test_stats(engine):
    stats = engine.stats()
    assert stats["articles"] >= 304
    assert stats["sections"]["Xã hội"] >= 2
    assert stats["published_first"].startswith("2020-01-15")
    assert stats["size_bytes"] > 0


def test_pathological_queries_are_cut_off_by_the_time_budget(index_store: IndexStore):
    engine = SearchEngine(index_store, cache_size=0, time_budget=0.0)
    try:
        common = ["và", "của", "là", "có", "không", "người", "được", "cho", "những", "một"]
        words = " ".join(common * 20)  # ~200 common words
        page = engine.search(parse_request({"q": words}))  # answers (partially) instead of running on
        assert page.total >= 0
        full = SearchEngine(index_store, cache_size=0).search(parse_request({"q": "và của là"}))
        assert full.total > 0
    finally:
        engine.close()


def test_articles_without_a_body_do_not_break_scores(tmp_path: Path):
    import math

    records = [*FIXTURE_ARTICLES, {"id": "empty-1", "title": "Bình đẳng giới không có thân bài", "body": ""}]
    store = IndexStore(tmp_path / "ix")
    ingest(store, read_paths([str(write_jsonl(tmp_path / "a.jsonl", records))]), jobs=1)
    engine = SearchEngine(store)
    try:
        page = engine.search(parse_request({"q": "bình đẳng giới"}))
        assert page.results and all(math.isfinite(h.score) for h in page.results)
        assert ids(page)[:2] == ["fx-1", "empty-1"] or ids(page)[:2] == ["empty-1", "fx-1"]
    finally:
        engine.close()


# -- document sets agree with Whoosh; budgets; pages ------------------------------------------


def _whoosh_docs(store: IndexStore, q) -> set[int]:
    ix = store.open()
    try:
        with ix.searcher() as s:
            return set(s.docs_for_query(q))
    finally:
        ix.close()


def test_phrase_sets_and_positions_agree_with_whoosh(index_store: IndexStore):
    """Our phrase check and position reader give what Whoosh's own matchers give, on the titles
    (whose postings Whoosh keeps too; test_postlists checks the body text's against the analysis)."""
    import random

    from whoosh import query as wq

    from search_service.analysis import syllable_forms
    from search_service.docsets import DocSets

    ix = index_store.open()
    try:
        with ix.searcher() as s:
            ds = DocSets(s.reader())
            rng = random.Random(7)
            # Random documents plus some with the checked words, whatever the corpus holds (the
            # shared data may be absent: a random sample alone then held too few of them).
            having = {
                d for t in ("việt", "giá") if s.doc_frequency("title", t) for d in s.postings("title", t).all_ids()
            }
            docnums = sorted(set(rng.sample(range(ds.size), min(60, ds.size))) | set(sorted(having)[:20]))
            for term in ("của", "cua", "việt", "nam", "giá", "zzz"):
                expected = {}
                for d in docnums:
                    m = s.postings("title", term) if s.doc_frequency("title", term) else None
                    if m is not None:
                        m.skip_to(d)
                        if m.is_active() and m.id() == d:
                            expected[d] = m.value_as("positions")
                assert ds.positions("title", term, docnums) == expected, term
            assert sum(len(ds.positions("title", t, docnums)) for t in ("việt", "viet", "giá")) > 3
            checked = 0
            for d in docnums[:25]:
                forms = [f[1] for f in syllable_forms(s.stored_fields(d).get("title") or "")]
                if len(forms) < 4:
                    continue
                start = rng.randrange(len(forms) - 2)
                words = forms[start : start + rng.choice([2, 3])]
                for slop in (1, 2):
                    mask, late = ds.phrase("title", words, slop, ds.live)
                    whoosh = _whoosh_docs(index_store, wq.Phrase("title", words, slop=slop))
                    assert not late and set(map(int, mask.nonzero()[0])) == whoosh, (words, slop)
                    assert d in whoosh, (words, slop)  # the phrase was taken from this article
                checked += 1
            assert checked >= 10
    finally:
        ix.close()


def test_pages_follow_on_from_one_another(engine):
    """Page k of size 10 is exactly ranks 10(k-1)..10k of one long list, re-ranked window included."""
    whole = ids(search(engine, q="giá vàng tăng", size="50"))
    paged = [i for k in range(1, 6) for i in ids(search(engine, q="giá vàng tăng", page=str(k)))]
    assert len(whole) == 50 and paged == whole


def test_out_of_time_searches_answer_partial_results(index_store: IndexStore):
    """A search past its budget answers 200 with what it found, flagged partial; the page says so."""
    from search_service import create_app

    engine = SearchEngine(index_store, time_budget=0.0)
    try:
        page = engine.search(parse_request({"q": "thị trường chứng khoán việt nam"}), use_cache=False)
        assert page.partial and page.suggestion is None
        quick = SearchEngine(index_store).search(parse_request({"q": "thị trường chứng khoán việt nam"}))
        assert not quick.partial and quick.total >= page.total
    finally:
        engine.close()
    client = create_app({"INDEX_DIR": str(index_store.root), "TIME_BUDGET_MS": 0}).test_client()
    r = client.get("/api/search?q=b%C3%B3ng+%C4%91%C3%A1+vi%E1%BB%87t+nam")
    assert r.status_code == 200 and r.get_json()["partial"] is True
    html = client.get("/?q=b%C3%B3ng+%C4%91%C3%A1+vi%E1%BB%87t+nam").get_data(as_text=True)
    assert "trong thời gian cho phép" in html


def test_densest_window_counts_distinct_words_once():
    import numpy as np

    from search_service.searching import _densest

    def densest(events: list[tuple[int, int]], window: int, doc: int = 0) -> float:
        # (position, word) events of one document, as _phrase_bonus hands them over
        found = [np.array(sorted((doc << 32) + p for p, i in events if i == w), dtype=np.int64) for w in range(3)]
        return float(_densest(found, weights, window, doc + 1)[doc])

    weights = [1.0, 2.0, 4.0]
    # word 0 at 0 and 1, word 1 at 5, word 2 at 30: 0 and 1 within 12 positions, 2 alone
    assert densest([(0, 0), (1, 0), (5, 1), (30, 2)], 12) == 4.0
    assert densest([(0, 0), (1, 0), (5, 1)], 5) == 3.0
    assert densest([(0, 0), (1, 0), (5, 1)], 4) == 2.0
    assert densest([(0, 0), (10, 1), (11, 2)], 12) == 7.0
    assert densest([(0, 0), (12, 1)], 12) == 2.0
    assert densest([], 12) == 0.0
    # Documents apart: words in two documents never count together.
    found = [np.array([0 << 32 | 3]), np.array([1 << 32 | 4]), np.array([], dtype=np.int64)]
    assert _densest(found, weights, 12, 2).tolist() == [1.0, 2.0]


def test_columns_read_in_one_go_agree_with_whoosh(index_store: IndexStore):
    """Lengths, dates, years and sections read whole equal Whoosh's document-at-a-time answers."""
    from search_service.docsets import _int64_array, _read_column, _read_int64_column, _read_labels, _read_lengths

    ix = index_store.open()
    try:
        with ix.searcher() as s:
            for leaf, _offset in s.reader().leaf_readers():
                n = leaf.doc_count_all()
                for fieldname in ("title", "text", "words", "author"):
                    slow = [leaf.doc_field_length(d, fieldname, 0) or 0 for d in range(n)]
                    assert _read_lengths(leaf, fieldname).tolist() == slow, fieldname
                for fieldname in ("published_at", "year"):
                    slow = _read_column(leaf, fieldname, _int64_array).tolist()
                    assert _read_int64_column(leaf, fieldname).tolist() == slow, fieldname
                assert _read_labels(leaf, "section") == _read_column(leaf, "section", list, translate=True)
                assert -1 in _read_int64_column(leaf, "published_at").tolist()  # the undated fixture
    finally:
        ix.close()


def test_suggestions_put_the_words_in_the_order_typed_first(engine):
    from search_service.searching import _starts_sequence

    assert _starts_sequence("Giá vàng tăng mạnh", [("giá", True), ("v", False)])
    assert _starts_sequence("Giá vàng tăng mạnh", [("gia", False), ("vang", False), ("t", False)])
    assert not _starts_sequence("Vàng giá rẻ", [("giá", True), ("v", False)])
    assert not _starts_sequence("Giá vàng", [("gía", True), ("vàng", True)])
    found = engine.suggest("bình đẳng g")
    assert found and "bình đẳng giới" in found[0]["title"].lower()
    assert engine.suggest("") == [] and engine.suggest("!!!") == []


def test_related_articles_exclude_the_article_and_share_its_words(engine):
    page = search(engine, q="bình đẳng giới")
    first = page.results[0]
    related = engine.related(first.id, size=3)
    assert related and first.id not in [h.id for h in related] and len(related) <= 3
    assert all(h.score and h.score > 0 for h in related)


def test_found_in_agrees_with_isin():
    """The phrase evidence's membership test: np.isin's answer, for sorted second arrays."""
    import numpy as np

    from search_service.searching import _found_in

    rng = np.random.default_rng(3)
    for n, m in [(0, 5), (5, 0), (1, 1), (40, 7), (300, 300), (1000, 20)]:
        values = rng.integers(0, 200, n)
        sorted_values = np.sort(rng.integers(0, 200, m))
        assert _found_in(values, sorted_values).tolist() == np.isin(values, sorted_values).tolist()
    edge = np.array([0, 199, 200, 500])
    assert _found_in(edge, np.array([0, 200])).tolist() == [True, False, True, False]


def test_bm25_within_a_mask_scores_those_articles_as_the_whole_index_does(engine: SearchEngine):
    """Scoring only some articles (the page's candidates) gives them exactly their full scores,
    by a mask look-up per posting or, when they are few, a binary search each."""
    import numpy as np

    from search_service.docsets import _present

    with engine.searcher():
        ds = engine._local.handle.docsets
        terms = [("text", w, 1.0) for w in ("của", "và", "ha", "noi")]
        terms += [("title", "ha", 2.5), ("words", "hà_nội", 0.5)]
        full = ds.bm25(terms)
        assert (full > 0).sum() > 50
        rng = np.random.default_rng(1)
        for share in (0.5, 0.01, 0.0):
            within = (rng.random(ds.size) < share) & ds.live
            within[np.flatnonzero(full)[:1]] = share > 0
            part = ds.bm25(terms, within=within)
            assert np.array_equal(part[within], full[within])
            assert not part[~within].any()
    ids = np.array([2, 5, 9, 40], dtype=np.int32)
    assert ids[_present(ids, np.array([0, 5, 9, 41, 50]))].tolist() == [5, 9]


def test_densest_is_the_best_window_of_each_document():
    """Per document, the largest weight sum of distinct words found within the window, by brute force."""
    import numpy as np

    from search_service.searching import _densest

    rng = np.random.default_rng(7)
    n_docs, window = 6, 5
    occurrences, weights = [], [1.0, 2.5, 0.5]
    for _ in weights:
        docs = rng.integers(0, n_docs, 12)
        positions = rng.integers(0, 30, 12)
        occurrences.append(np.unique((docs << 32) + positions))
    expected = np.zeros(n_docs)
    for d in range(n_docs):
        for end in range(40):
            inside = [
                w for found, w in zip(occurrences, weights, strict=True)
                if any((f >> 32) == d and end - window < (f & 0xFFFFFFFF) <= end for f in found.tolist())
            ]
            at_end = any(int(f) == (d << 32) + end for found in occurrences for f in found)
            if at_end:
                expected[d] = max(expected[d], sum(inside))
    assert np.allclose(_densest(occurrences, weights, window, n_docs), expected)


@pytest.mark.parametrize("few_labels", [0, 32])
def test_section_counts_agree_with_the_stored_sections(engine: SearchEngine, few_labels: int, monkeypatch):
    """Facet counts (a mask per value, or picking the masked codes out) are the stored sections' and years'."""
    from collections import Counter

    import numpy as np

    from search_service import docsets

    monkeypatch.setattr(docsets, "FEW_LABELS", few_labels)
    with engine.searcher() as s:
        ds = engine._local.handle.docsets
        ds._code_masks.clear()
        mask = ds.live & (np.random.default_rng(2).random(ds.size) < 0.4)
        expected = Counter(s.stored_fields(int(d)).get("section") or "" for d in np.flatnonzero(mask))
        assert ds.count_by("section", mask) == {k: v for k, v in expected.items() if v}
        assert len(expected) > 2
        dated = mask & ds.dated()
        years = Counter(int(s.stored_fields(int(d))["published"][:4]) for d in np.flatnonzero(dated))
        assert ds.count_values("year", dated) == dict(years) and len(years) > 1
