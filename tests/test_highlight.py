"""Highlighting: marks on exactly the right characters, everything else escaped."""

from __future__ import annotations

import re

from search_service.highlight import Term, find_matches, highlight_title, mark, snippet, terms_for
from search_service.query import Syllable


def terms(*pairs: tuple[str, str, bool]) -> list[Term]:
    return terms_for(Syllable(e, f, a) for e, f, a in pairs)


BDG = terms(("bình", "binh", True), ("đẳng", "dang", True), ("giới", "gioi", True))
BDG_PLAIN = terms(("binh", "binh", False), ("dang", "dang", False), ("gioi", "gioi", False))


def test_accented_query_marks_the_phrase():
    assert highlight_title("Thúc đẩy bình đẳng giới", BDG) == "Thúc đẩy <mark>bình đẳng giới</mark>"


def test_unaccented_query_marks_the_accented_text():
    html = highlight_title("Bình đẳng giới ở Hà Nội", BDG_PLAIN)
    assert html == "<mark>Bình đẳng giới</mark> ở Hà Nội"


def test_marked_characters_are_exactly_the_matches():
    text = "Nói về BÌNH ĐẲNG, bình đẳng giới và thế giới."
    for start, end, _ in find_matches(text, BDG):
        assert text[start:end].lower() in {"bình", "đẳng", "giới"}


def test_accented_term_prefers_exact_matches():
    t = terms(("chó", "cho", True))
    assert highlight_title("Cho chó ăn", t) == "Cho <mark>chó</mark> ăn"
    # without any exact match the folded ones are shown (the article was found through them)
    assert highlight_title("Cho ăn", t) == "<mark>Cho</mark> ăn"


def test_everything_else_is_escaped():
    t = terms(("script", "script", False))
    html = highlight_title('<script>alert("x")</script> & "><img onerror=1>', t)
    assert "<script>" not in html and "<img" not in html
    assert html.startswith("&lt;<mark>script</mark>&gt;")
    assert "&amp;" in html
    assert re.sub(r"</?mark>", "", html).count("<") == 0


def test_snippet_finds_the_best_window_far_into_a_long_article():
    filler = "Một câu không liên quan gì cả. " * 3000  # ~90 KB, well past 32 KiB
    text = filler + "Cuối cùng là bình đẳng giới trong gia đình. " + filler
    html, found = snippet(text, BDG)
    assert found == 3
    assert "<mark>bình đẳng giới</mark>" in html
    assert html.startswith("…") and html.endswith("…")
    assert len(re.sub(r"</?mark>", "", html)) <= 260


def test_snippet_without_matches_is_the_start():
    html, found = snippet("Đầu bài. " * 100, BDG)
    assert found == 0 and html.startswith("Đầu bài.")


def test_mark_merges_neighbours_only_across_spaces():
    text = "bình, đẳng"
    spans = [(0, 4, 0), (6, 10, 1)]
    assert mark(text, spans) == "<mark>bình</mark>, <mark>đẳng</mark>"
