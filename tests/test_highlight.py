"""Highlighting: marks on exactly the right characters, everything else escaped."""

from __future__ import annotations

import re
import unicodedata

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


def test_fast_patterns_find_what_the_syllable_analysis_finds():
    """The compiled patterns mark the same spans as analysing every syllable (the NFD path)."""
    import gzip
    import json
    import random
    from pathlib import Path

    from search_service.analysis import fold, syllables

    sample = Path(__file__).resolve().parents[1] / "data" / "sample-vntc.jsonl.gz"
    with gzip.open(sample, "rt", encoding="utf-8") as fh:
        texts = [json.loads(line).get("body", "")[:3000] for _, line in zip(range(40), fh, strict=False)]
    texts.append("Erdoğan, Ångström, x_y_z, 2007-2008, C++ và ĐĂNG đăng ký; a-b a.b")
    words = sorted({fold(s) for t in texts for _, _, _, s in syllables(t)})
    rng = random.Random(5)
    for _ in range(200):
        chosen = [Term(None, w) for w in rng.sample(words, rng.randint(1, 5))]
        chosen += [Term(None, x) for x in rng.sample(["a", "d", "dang", "erdogan", "angstrom", "y", "2007"], 2)]
        folded = {t.folded for t in chosen}
        for text in rng.sample(texts, 5):
            expected = [(a, b) for _, a, b, s in syllables(text) if fold(s) in folded]
            assert [(a, b) for a, b, _ in find_matches(text, chosen)] == expected, (folded, text[:80])


def test_folded_text_keeps_every_offset_or_declines():
    """The UTF-16 table fold is the character-by-character fold, also beside characters outside the
    BMP; text it cannot fold one for one (combining marks, a NUL, lone surrogates that would pair
    up) is left to the syllable-by-syllable way, which still marks it."""
    from search_service.analysis import fold
    from search_service.highlight import _folded_text

    text = "“Hà Nội” – 漢字 ﬁn ĐÀ NẴNG 𝐀😀 Đắk Lắk\tthuỷ\n" * 3
    expected = "".join(fold(ch) if len(fold(ch)) == 1 else ch for ch in text)
    assert _folded_text(text) == expected
    assert len(expected) == len(text) and "ha noi" in expected and "dak lak" in expected
    for odd in ("Ha\u0300 No\u0323i", "a\x00b", "x\ud83d\ude00y"):
        assert _folded_text(odd) is None, repr(odd)
    decomposed = unicodedata.normalize("NFD", "Hà Nội")  # 9 characters: the marks are their own
    spans = find_matches(decomposed, terms(("ha", "ha", False), ("noi", "noi", False)))
    assert [(a, b) for a, b, _ in spans] == [(0, 3), (4, 9)]


def test_folded_text_search_agrees_with_the_syllable_analysis_on_exact_and_folded_terms():
    """The folded-text search (same offsets as the original) and the syllable-by-syllable way mark
    the same spans, for terms typed with and without marks, in any case, beside characters the
    fold table does not cover (quotes, CJK, ligatures)."""
    import gzip
    import json
    import random
    from pathlib import Path

    from search_service.analysis import exact_form, fold, syllables
    from search_service.highlight import _folded_text, _matches_in_syllables

    sample = Path(__file__).resolve().parents[1] / "data" / "sample-vntc.jsonl.gz"
    with gzip.open(sample, "rt", encoding="utf-8") as fh:
        texts = [json.loads(line).get("body", "")[:2000] for _, line in zip(range(30), fh, strict=False)]
    texts += [t.upper() for t in texts[:5]]
    texts += [t[:90] for t in texts[:10]]  # headline lengths
    texts.append("“Hà Nội” – 漢字 ﬁn ĐÀ NẴNG, Đà Nẵng; hòa/hoà THỦY thuỷ 𝐀 Ωmega")
    texts.append(texts[-1] * 4)
    surfaces = sorted({s for t in texts for _, _, _, s in syllables(t)})
    rng = random.Random(11)
    for _ in range(150):
        chosen = []
        for s in rng.sample(surfaces, rng.randint(1, 5)):
            accented = rng.random() < 0.6
            chosen.append(Term(exact_form(s) if accented else None, fold(s)))
        for text in rng.sample(texts, 4):
            assert _folded_text(text) is not None and len(_folded_text(text)) == len(text)
            assert find_matches(text, chosen) == _matches_in_syllables(text, chosen), (chosen, text[:80])
