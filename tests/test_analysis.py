"""Vietnamese analysis: offsets, folding, tone placement, segmentation parity with pyvi."""

from __future__ import annotations

import subprocess
import sys
import unicodedata

import pytest

from search_service import analysis
from search_service.analysis import VietnameseTokenizer, exact_form, fold, segment, syllables, words

from .conftest import vntc_records


@pytest.fixture(scope="module")
def real_texts() -> list[str]:
    return [r["title"] + "\n" + r["body"] for r in vntc_records(120)]


def test_syllable_offsets_point_at_surface_forms_on_real_articles(real_texts):
    checked = 0
    for text in real_texts:
        for form, start, end, surface in syllables(text):
            assert text[start:end] == surface
            assert form == exact_form(surface)
            checked += 1
    assert checked > 20_000


def test_word_offsets_point_at_surface_forms_on_real_articles(real_texts):
    compounds = 0
    for text in real_texts[:40]:
        for form, start, end, surface in words(text):
            assert text[start:end] == surface
            assert form == "_".join(f for f, *_ in syllables(surface))
            compounds += "_" in form
    assert compounds > 1000


def test_tokenizer_offsets_with_positions_and_chars(real_texts):
    text = real_texts[0]
    tokens = [(t.text, t.pos, t.startchar, t.endchar) for t in VietnameseTokenizer()(text, positions=True, chars=True)]
    for form, _pos, start, end in tokens:
        assert fold(text[start:end]) == fold(form)
    # exact and folded forms share a position: positions never skip
    positions = sorted({p for _, p, _, _ in tokens})
    assert positions == list(range(len(positions)))


def test_folding_handles_d_and_case():
    assert fold("ĐÀ NẴNG") == "da nang"
    assert fold("Đường") == "duong"
    assert [t.text for t in VietnameseTokenizer()("ĐÀ NẴNG")] == ["đà", "da", "nẵng", "nang"]


def test_old_and_new_tone_placement_are_one_word():
    for old, new in [("hòa", "hoà"), ("thủy", "thuỷ"), ("khỏe", "khoẻ"), ("Hóa", "hoá"), ("tùy", "tuỳ")]:
        assert exact_form(old) == exact_form(new)
    # but only in open syllables: "hoàng" and "toán" are untouched, and different tones stay different
    assert exact_form("hoàng") == "hoàng"
    assert exact_form("chó") != exact_form("chò")


def test_nfd_input_keeps_offsets():
    text = unicodedata.normalize("NFD", "Bình đẳng giới ở Hà Nội")
    for _form, start, end, surface in syllables(text, fold=True):
        assert text[start:end] == surface
    assert [f for f, *_ in syllables(text, fold=True)] == ["binh", "dang", "gioi", "o", "ha", "noi"]


def test_segmentation_joins_vietnamese_words():
    text = "Bình đẳng giới ở Hà Nội được quan tâm."
    assert [text[s:e] for s, e in segment(text)] == ["Bình đẳng", "giới", "ở", "Hà Nội", "được", "quan tâm"]
    word_forms = [t.text for t in VietnameseTokenizer(unit="word")(text)]
    assert word_forms == ["bình_đẳng", "hà_nội", "quan_tâm"]


def test_segmentation_never_joins_across_lines():
    text = "Hà\nNội"
    assert [text[s:e] for s, e in segment(text)] == ["Hà", "Nội"]


def test_fast_features_give_pyvis_own_labels(real_texts):
    from pyvi.ViTokenizer import ViTokenizer as vi  # pyvi itself, scikit-learn and all

    model = analysis._pyvi()
    assert (model.bi_grams, model.tri_grams) == (vi.bi_grams, vi.tri_grams)
    for text in real_texts[:60]:
        tokens = [m.group() for m in analysis._PYVI_PATTERN.finditer(text)]
        assert analysis._pyvi_labels(tokens) == vi.model.predict_single(vi.sent2features(tokens, False))


def test_the_model_loads_without_scikit_learn():
    # A worker's first answer waits for the model: pyvi's own module would import scikit-learn (2 s).
    code = (
        "import sys; from search_service import analysis; analysis.preload();"
        "print(analysis.segmented('Bình đẳng giới ở Hà Nội'));"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('sklearn', 'sklearn_crfsuite', 'scipy', 'pycrfsuite')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["Bình_đẳng giới ở Hà_Nội", "[]"]


def test_a_model_file_that_is_not_crfsuites_is_refused():
    model = analysis._pyvi()
    assert len(model.weights) > 6000 and model.labels == ("B_W", "I_W")
    for data in (b"", b"\0" * 64, b"lCRF" + b"\0" * 60):
        with pytest.raises(ValueError, match="not a crfsuite CRF model"):
            analysis._read_crfsuite(data)


def test_fast_postings_are_whooshs_own():
    from whoosh.formats import Frequency, Positions

    from search_service.analysis import SyllablePositions, WordFrequencies

    for r in vntc_records(30):
        text = r["title"] + "\n" + r["body"]
        syl, word = VietnameseTokenizer(), VietnameseTokenizer(unit="word")
        assert sorted(SyllablePositions().word_values(text, syl)) == sorted(Positions().word_values(text, syl))
        assert sorted(WordFrequencies().word_values(text, word)) == sorted(Frequency().word_values(text, word))


def test_odd_input_never_raises():
    for text in ["", " ", "\x00\x01", "😀 emoji 🇻🇳", "a" * 10_000, "̀́̃", "中文 русский عربى", "_-_-_"]:
        list(syllables(text))
        list(words(text))
        list(VietnameseTokenizer()(text, positions=True, chars=True))


def test_importing_the_package_loads_no_model():
    code = (
        "import sys, search_service, search_service.analysis, search_service.schema, search_service.cli, wsgi;"
        "print('pyvi' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=".")
    assert out.stdout.split() == ["False", "False"]
