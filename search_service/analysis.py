"""Vietnamese analysis: syllables, pyvi words, tone and accent normalisation, with offsets.

This is the only module that reads pyvi's model, and it does so lazily (on first use, or in
``preload``). Every token carries its character offsets in the text it was cut from, so highlighting
lands on exactly the characters the reader sees: ``text[start:end]`` is the token's surface form.

>>> [(t, text) for t, s, e, text in syllables("Bình đẳng giới", fold=True)]
[('binh', 'Bình'), ('dang', 'đẳng'), ('gioi', 'giới')]
>>> exact_form("Hòa"), exact_form("HOÀ"), fold("ĐÀ NẴNG")
('hoà', 'hoà', 'da nang')
"""

from __future__ import annotations

import importlib.util
import itertools
import pickle
import re
import string
import struct
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from whoosh.analysis import Token, Tokenizer
from whoosh.formats import Frequency, Positions

#: A syllable: letters and digits, with any combining marks (so NFD input stays one syllable).
_SYLLABLE_RE = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")

#: Longest token kept in the index; longer runs (base64, hashes) are not words anyone types.
MAX_TOKEN_CHARS = 64

# pyvi's own syllabisation pattern (pyvi.ViTokenizer.sylabelize), kept identical so that the CRF
# sees the tokens it was trained on, but matched with finditer so that we keep offsets.
_PYVI_PATTERN = re.compile(
    "("
    + "|".join(
        [
            r"[A-ZĐ]+\.",
            r"Tp\.",
            r"Mr\.",
            r"Mrs\.",
            r"Ms\.",
            r"Dr\.",
            r"ThS\.",
            r"==>",
            r"->",
            r"\.\.\.",
            r">>",
            r"\n",
            r"\w+://[^\s]+",
            r"([a-zA-Z0-9_.+-]+@([a-zA-Z0-9-]+\.)+[a-zA-Z0-9-]+)",
            r"\d+([\.,_]\d+)+",
            r"[^\w\s]",
            r"\w+",
        ]
    )
    + ")",
    re.UNICODE,
)

# Old ("hòa", "thủy") and new ("hoà", "thuỷ") tone placement in open syllables oa, oe, uy are the
# same word; the index keeps the new placement.
_TONE_MOVES = {
    old: new
    for olds, news, tail in (
        ("òóỏõọ", "àáảãạ", "a"),
        ("òóỏõọ", "èéẻẽẹ", "e"),
        ("ùúủũụ", "ỳýỷỹỵ", "y"),
    )
    for old, new in zip(
        [o + tail for o in olds],
        [("o" if tail in "ae" else "u") + n for n in news],
        strict=True,
    )
}

_exact_cache: dict[str, str] = {}
_fold_cache: dict[str, str] = {}
_CACHE_LIMIT = 500_000


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare).replace("đ", "d").replace("Đ", "D")


def exact_form(surface: str) -> str:
    """The indexed form of a syllable or word: NFC, lower case, one tone placement."""
    form = _exact_cache.get(surface)
    if form is None:
        form = unicodedata.normalize("NFC", surface).lower()
        if len(form) >= 2 and form[-2:] in _TONE_MOVES:
            form = form[:-2] + _TONE_MOVES[form[-2:]]
        if len(_exact_cache) > _CACHE_LIMIT:
            _exact_cache.clear()
        _exact_cache[surface] = form
    return form


def fold(surface: str) -> str:
    """The accent-insensitive form: lower case, no tone or vowel marks, đ → d."""
    form = _fold_cache.get(surface)
    if form is None:
        form = _strip_marks(surface.lower())
        if len(_fold_cache) > _CACHE_LIMIT:
            _fold_cache.clear()
        _fold_cache[surface] = form
    return form


def has_diacritics(surface: str) -> bool:
    """True when the text carries Vietnamese marks (so the reader typed them)."""
    return fold(surface) != surface.lower()


_forms_cache: dict[str, tuple[str, str]] = {}


def forms(surface: str) -> tuple[str, str]:
    """(exact form, folded form) of a syllable; equal when it carries no marks."""
    pair = _forms_cache.get(surface)
    if pair is None:
        exact = exact_form(surface)
        pair = (exact, fold(exact))
        if len(_forms_cache) > _CACHE_LIMIT:
            _forms_cache.clear()
        _forms_cache[surface] = pair
    return pair


def syllable_forms(text: str) -> Iterator[tuple[str, str, int, int]]:
    """Yield (exact form, folded form, start, end) for each syllable of ``text``."""
    for m in _SYLLABLE_RE.finditer(text):
        surface = m.group()
        if len(surface) <= MAX_TOKEN_CHARS:
            exact, folded = forms(surface)
            if folded:
                yield exact, folded, m.start(), m.end()


def syllables(text: str, fold: bool = False) -> Iterator[tuple[str, int, int, str]]:
    """Yield (indexed form, start, end, surface) for each syllable of ``text``."""
    form_of = _fold_form if fold else exact_form
    for m in _SYLLABLE_RE.finditer(text):
        surface = m.group()
        if len(surface) > MAX_TOKEN_CHARS:
            continue
        form = form_of(surface)
        if form:
            yield form, m.start(), m.end(), surface


def _fold_form(surface: str) -> str:
    # The module-level name ``fold`` is shadowed by the keyword argument inside syllables().
    return fold(surface)


# --- word segmentation (pyvi) ---------------------------------------------------------------


class _Pyvi(NamedTuple):
    """pyvi's CRF, as weights read from its crfsuite model file, and pyvi's word lists."""

    labels: tuple[str, str]  # B_W (a word begins), I_W (the word goes on)
    weights: dict[str, tuple[float, float]]  # attribute -> its weight for each label
    transitions: tuple[float, float, float, float]  # B_W->B_W, B_W->I_W, I_W->B_W, I_W->I_W
    bi_grams: frozenset[str]
    tri_grams: frozenset[str]
    tri_gram_heads: frozenset[str]  # the first two words of each tri-gram


_model: _Pyvi | None = None


class _Captured:
    """Stands in for the classes of pyvi's pickled model: keeps their state only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ModelUnpickler(pickle.Unpickler):
    """Unpickles pyvi's model (a sklearn-crfsuite CRF, with python-crfsuite's training log)
    without importing either, or scikit-learn."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] in ("sklearn_crfsuite", "sklearn", "pycrfsuite"):
            return type(name, (_Captured,), {})
        return super().find_class(module, name)


def _pyvi() -> _Pyvi:
    """pyvi's model, read from the pyvi package's own files on first use.

    pyvi.ViTokenizer would import scikit-learn to unpickle its model and run it through
    python-crfsuite (3.5 s and 85 MB to load on this machine). The pickle holds crfsuite's model
    file, whose weights are read here instead (_read_crfsuite): a first-order CRF with two labels,
    which _pyvi_labels decodes itself. The word lists are pyvi's words.txt, read as pyvi reads it.
    tests/test_analysis.py checks the labels against pyvi's own.
    """
    global _model
    if _model is None:
        folder = Path(importlib.util.find_spec("pyvi").submodule_search_locations[0]) / "models"
        with open(folder / "pyvi3.pkl", "rb") as fh:
            crf = _ModelUnpickler(fh).load()
        labels, attributes, features = _read_crfsuite(crf.state["modelfile"].state["__FILE_RESOURCE_DATA__"])
        if labels != ["B_W", "I_W"]:
            raise ValueError(f"pyvi's model has labels {labels}, not B_W and I_W")
        weights: dict[str, list[float]] = {}
        transitions = [0.0] * 4
        for kind, source, target, weight in features:
            if kind == 0:  # a state feature: an attribute's weight for a label
                weights.setdefault(attributes[source], [0.0, 0.0])[target] = weight
            else:  # a transition from one label to the next
                transitions[2 * source + target] = weight
        lines = (folder / "words.txt").read_text(encoding="utf-8").split("\n")
        grams = [line for line in lines if len(line.split(" ")) in (2, 3)]
        _model = _Pyvi(
            ("B_W", "I_W"),
            {a: (w[0], w[1]) for a, w in weights.items()},
            tuple(transitions),  # type: ignore[arg-type]
            frozenset(g for g in grams if len(g.split(" ")) == 2),
            frozenset(g for g in grams if len(g.split(" ")) == 3),
            frozenset(g.rsplit(" ", 1)[0] for g in grams if len(g.split(" ")) == 3),
        )
    return _model


def _read_crfsuite(data: bytes) -> tuple[list[str], list[str], list[tuple[int, int, int, float]]]:
    """(labels, attributes, features as (type, source, target, weight)) of a crfsuite model file.

    crfsuite's layout (lib/crf/src/crf1d_model.c), little-endian: a header of offsets; the
    features, 20 bytes each (type 0: attribute -> label, type 1: label -> label); the label and
    attribute names in CQDB string tables.
    """
    try:
        magic, _, kind, _, _, n_labels, n_attributes, at_features, at_labels, at_attributes = struct.unpack_from(
            "<4sI4sIIIIIII", data, 0
        )
        chunk, _, n_features = struct.unpack_from("<4sII", data, at_features)
        if (magic, kind, chunk) != (b"lCRF", b"FOMC", b"FEAT"):
            raise ValueError("pyvi's model is not a crfsuite CRF model")
        first = at_features + 12
        features = list(struct.iter_unpack("<IIId", data[first : first + 20 * n_features]))
        return _cqdb_strings(data, at_labels, n_labels), _cqdb_strings(data, at_attributes, n_attributes), features
    except (struct.error, UnicodeDecodeError) as exc:  # cut short or damaged
        raise ValueError(f"pyvi's model is not a crfsuite CRF model ({exc})") from None


def _cqdb_strings(data: bytes, at: int, count: int) -> list[str]:
    """The strings of ids 0 .. count-1 of a CQDB table (its backward array points at each record:
    the id, the size of the string with its NUL, the string)."""
    chunk, _, _, _, _, backward = struct.unpack_from("<4sIIIII", data, at)
    if chunk != b"CQDB":
        raise ValueError("pyvi's model is not a crfsuite CRF model")
    out = []
    for i, (record,) in enumerate(struct.iter_unpack("<I", data[at + backward : at + backward + 4 * count])):
        number, size = struct.unpack_from("<iI", data, at + record)
        if number != i:
            raise ValueError("pyvi's model is not a crfsuite CRF model")
        out.append(data[at + record + 8 : at + record + 7 + size].decode("utf-8"))
    return out


def preload() -> None:
    """Load the segmentation model now (before forking workers, so they share its pages)."""
    _pyvi()


_Weights = tuple[float, float]
_Info = tuple[str, _Weights, _Weights, _Weights]
_token_info_cache: dict[str, _Info] = {}
_NONE = (0.0, 0.0)


def _token_info(token: str, weights: dict[str, _Weights]) -> _Info:
    """A token's lower case, and the weights (B_W, I_W) of its features as the token itself, as the
    one before another and as the one after (pyvi's word2features, True-valued flags only)."""
    low = token.lower()
    title, upper = token.istitle(), token.isupper()
    own = (
        ("bias", "word.lower():" + low)
        + (("word.isupper()",) if upper else ())
        + (("word.istitle()",) if title else ())
        + (("word.isdigit()",) if token.isdigit() else ())
    )
    before = (
        ("-1:word.lower():" + low,)
        + (("-1:word.istitle()",) if title else ())
        + (("-1:word.isupper()",) if upper else ())
    )
    after = (
        ("+1:word.lower():" + low,)
        + (("+1:word.istitle()",) if title else ())
        + (("+1:word.isupper()",) if upper else ())
    )
    if len(_token_info_cache) > _CACHE_LIMIT:
        _token_info_cache.clear()
    info = _token_info_cache[token] = (low, _sum(own, weights), _sum(before, weights), _sum(after, weights))
    return info


def _sum(attributes: tuple[str, ...], weights: dict[str, _Weights]) -> _Weights:
    b = i = 0.0
    for a in attributes:
        w = weights.get(a, _NONE)  # an attribute the model never saw weighs nothing
        b += w[0]
        i += w[1]
    return b, i


def _pyvi_labels(tokens: list[str]) -> list[str]:
    """pyvi's CRF labels (B_W / I_W) for a token sequence, decoded as crfsuite does (Viterbi).

    crfsuite scores a label by the sum of its attributes' weights (pyvi's False-valued flags add
    nothing), so what depends on one token alone is summed once per distinct token (_token_info).
    2.9 µs a token on VNTC, against 9 building crfsuite's feature strings and tagging with it.
    """
    model = _pyvi()
    weights = model.weights
    cached = _token_info_cache.get
    info = [cached(t) or _token_info(t, weights) for t in tokens]
    if len(info) == 1:
        b, i = [info[0][1][0]], [info[0][1][1]]
    else:
        # Each token's score for B_W and I_W: its own features, the one before's, the one after's.
        first, last = info[0], info[-1]
        b = [first[1][0] + info[1][3][0]]
        i = [first[1][1] + info[1][3][1]]
        b += [cur[1][0] + prev[2][0] + nxt[3][0] for prev, cur, nxt in zip(info, info[1:], info[2:], strict=False)]
        i += [cur[1][1] + prev[2][1] + nxt[3][1] for prev, cur, nxt in zip(info, info[1:], info[2:], strict=False)]
        b.append(last[1][0] + info[-2][2][0])
        i.append(last[1][1] + info[-2][2][1])
    # The n-gram flags are rare: add them where they hold.
    low = [x[0] for x in info]
    pairs = [f"{x} {y}" for x, y in itertools.pairwise(low)]
    bi_grams = [k for k, pair in enumerate(pairs) if pair in model.bi_grams]
    triples = zip(pairs, low[2:], strict=False)
    heads = model.tri_gram_heads  # most pairs start no tri-gram: no string to build for them
    tri_grams = [k for k, (pair, third) in enumerate(triples) if pair in heads and f"{pair} {third}" in model.tri_grams]
    for found, flag, at in (
        (bi_grams, "-1:word.bi_gram()", 1),
        (bi_grams, "+1:word.bi_gram()", 0),
        (tri_grams, "-2:word.tri_gram()", 2),
        (tri_grams, "+2:word.tri_gram()", 0),
    ):
        w = weights.get(flag, _NONE)
        for k in found:
            b[k + at] += w[0]
            i[k + at] += w[1]
    return _viterbi(b, i, model)


def _viterbi(b: list[float], i: list[float], model: _Pyvi) -> list[str]:
    """The best label sequence for these per-token label scores (ties: B_W, like crfsuite)."""
    bb, bi, ib, ii = model.transitions
    sb, si = b[0], i[0]  # the best score of a path ending in B_W / I_W here
    back = []
    for k in range(1, len(b)):
        from_b, from_i = sb + bb, si + ib  # into B_W
        to_i_b, to_i_i = sb + bi, si + ii  # into I_W
        back_b = from_i > from_b
        back_i = to_i_i > to_i_b
        sb = (from_i if back_b else from_b) + b[k]
        si = (to_i_i if back_i else to_i_b) + i[k]
        back.append((back_b, back_i))
    state = si > sb  # False: B_W, True: I_W
    out = [state]
    for back_b, back_i in reversed(back):
        state = back_i if state else back_b
        out.append(state)
    out.reverse()
    b_w, i_w = model.labels
    return [i_w if s else b_w for s in out]


def segment(text: str) -> list[tuple[int, int]]:
    """Word spans (start, end) of ``text`` as pyvi segments it; multi-syllable words are one span.

    Punctuation is left out.
    """
    return _segment(text)


def _segment(text: str) -> list[tuple[int, int]]:
    matches = list(_PYVI_PATTERN.finditer(text))
    if not matches:
        return []
    tokens = [m.group() for m in matches]
    labels = _pyvi_labels(tokens)
    wordlike = [_is_wordlike(t) for t in tokens]  # once per token, not once per neighbour
    starts = [m.start() for m in matches]
    ends = [m.end() for m in matches]
    punctuation = string.punctuation
    # Where a word begins: every token but those pyvi joins to the one before (I_W) by its own
    # rule (ViTokenizer.tokenize), plus: never across a line break. Only I_W tokens need the test.
    heads = [0]
    for i in range(1, len(tokens)):
        if labels[i] == "I_W":
            cur, prev = tokens[i], tokens[i - 1]
            if (
                cur not in punctuation
                and prev not in punctuation
                and not cur[0].isdigit()
                and not prev[0].isdigit()
                and not (cur[0].istitle() and not prev[0].istitle())
                and wordlike[i]
                and wordlike[i - 1]
                and "\n" not in text[ends[i - 1] : starts[i]]
            ):
                continue
        heads.append(i)
    # A word of several tokens is all word-like tokens; one of a single token must be word-like.
    nexts = [*heads[1:], len(tokens)]
    return [(starts[h], ends[n - 1]) for h, n in zip(heads, nexts, strict=True) if wordlike[h]]


_ALNUM = re.compile(r"[^\W_]")  # \w is exactly str.isalnum() plus "_"


def _is_wordlike(token: str) -> bool:
    # True when any character is alphanumeric; most tokens are words, whose whole-string test is cheaper.
    return token.isalnum() or _ALNUM.search(token) is not None


def words(text: str, compounds_only: bool = False) -> Iterator[tuple[str, int, int, str]]:
    """Yield (indexed form, start, end, surface) for each pyvi word; syllables joined by ``_``."""
    for start, end in segment(text):
        surface = text[start:end]
        if len(surface) > MAX_TOKEN_CHARS * 3:
            continue
        if compounds_only and surface.isalnum():
            continue  # one syllable: the syllable fields already have it
        parts = [exact_form(m.group()) for m in _SYLLABLE_RE.finditer(surface)]
        if len(parts) > 1 or (parts and not compounds_only):
            yield "_".join(parts), start, end, surface


def segmented(text: str) -> str:
    """The text as pyvi would write it: words joined by ``_``, separated by spaces (for evaluation)."""
    return " ".join(text[s:e].replace(" ", "_") for s, e in segment(text))


# --- the Whoosh side --------------------------------------------------------------------------


class VietnameseTokenizer(Tokenizer):
    """Whoosh tokenizer for Vietnamese text.

    ``unit="syllable"``: each syllable's exact form, and at the same position its accent-folded
    form when that differs. One field thus answers both accented queries (exact terms such as
    "hà", which no folded form can equal) and unaccented ones (folded terms such as "ha", which
    every exact form without marks already equals), and phrases work with either.
    ``unit="word"``: pyvi's multi-syllable words ("bình_đẳng"), the evidence single syllables
    cannot give. Keep this class at this import path and free of model objects: Whoosh pickles
    it into the index's schema.

    >>> [(t.text, t.pos) for t in VietnameseTokenizer()("Hà Nội 2024", positions=True)]
    [('hà', 0), ('ha', 0), ('nội', 1), ('noi', 1), ('2024', 2)]
    >>> [t.text for t in VietnameseTokenizer(unit="word")("Bình đẳng giới ở Hà Nội")]
    ['bình_đẳng', 'hà_nội']
    """

    def __init__(self, unit: str = "syllable") -> None:
        if unit not in ("syllable", "word"):
            raise ValueError(f"unknown unit {unit!r}")
        self.unit = unit

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VietnameseTokenizer) and self.unit == other.unit

    def __hash__(self) -> int:
        return hash(self.unit)

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        """Yield Whoosh tokens (one Token object, reused, as Whoosh tokenizers do)."""
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        t.boost = 1.0
        t.stopped = False
        if not tokenize:
            t.original = t.text = value
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar = start_char
                t.endchar = start_char + len(value)
            yield t
            return
        if self.unit == "word":
            for pos, (form, start, end, surface) in enumerate(words(value, compounds_only=True), start_pos):
                t.text = form
                if keeporiginal:
                    t.original = surface
                if positions:
                    t.pos = pos
                if chars:
                    t.startchar, t.endchar = start_char + start, start_char + end
                yield t
            return
        for pos, (exact, folded, start, end) in enumerate(syllable_forms(value), start_pos):
            t.text = exact
            if keeporiginal:
                t.original = value[start:end]
            if positions:
                t.pos = pos
            if chars:
                t.startchar, t.endchar = start_char + start, start_char + end
            yield t
            if folded != exact:
                t.text = folded
                yield t


# --- postings -----------------------------------------------------------------------------------

Posting = tuple[str, int, float, bytes]


class SyllablePositions(Positions):
    """Whoosh's Positions format with a fast path for VietnameseTokenizer syllable fields.

    The position lists are built in one loop over the syllables instead of through Whoosh's token
    objects; they are byte-for-byte what Positions would write (tests check this). Keep this class
    at this import path: Whoosh pickles it into the index's schema.
    """

    def word_values(self, value: str, analyzer: Any, **kwargs: Any) -> Iterator[Posting]:
        """(term, frequency, weight, encoded positions) for each distinct term of ``value``."""
        if not (isinstance(analyzer, VietnameseTokenizer) and analyzer.unit == "syllable") or kwargs.get("start_pos"):
            yield from super().word_values(value, analyzer, **kwargs)
            return
        boost = self.field_boost
        for term, poslist in term_positions(value).items():
            yield term, len(poslist), len(poslist) * boost, self.encode(poslist)


def term_positions(text: str) -> dict[str, list[int]]:
    """Each syllable term of ``text`` (exact and folded forms) with its positions, as
    VietnameseTokenizer numbers them; one pass over the text, without offsets."""
    poses: dict[str, list[int]] = {}
    pos = 0
    cache = _forms_cache
    for surface in _SYLLABLE_RE.findall(text):
        if len(surface) > MAX_TOKEN_CHARS:
            continue
        pair = cache.get(surface) or forms(surface)
        exact, folded = pair
        if not folded:
            continue
        found = poses.get(exact)
        if found is None:
            poses[exact] = [pos]
        else:
            found.append(pos)
        if folded != exact:
            found = poses.get(folded)
            if found is None:
                poses[folded] = [pos]
            else:
                found.append(pos)
        pos += 1
    return poses


class DocPostings:
    """One document's postings in a field, handed to the index writer whole (see PostlistText)."""

    __slots__ = ("positional", "terms")

    def __init__(self, terms: dict[str, Any], positional: bool) -> None:
        self.terms = terms  # term -> positions (a list) or frequency
        self.positional = positional


class SyllablePositionLists(SyllablePositions):
    """SyllablePositions for a field whose postings only the posting-list files hold
    (schema.POSTLIST_ONLY): a document's postings go to the index writer whole, the positions as
    plain lists, never encoded for Whoosh's blocks. Only the index's own writer indexes such a field.
    """

    def doc_postings(self, value: str) -> tuple[DocPostings, int]:
        """The document's postings, and the field's length (tokens, both forms counted)."""
        terms = term_positions(value)
        return DocPostings(terms, True), sum(map(len, terms.values()))


class WordFrequencies(Frequency):
    """Whoosh's Frequency format for the pyvi word field, handing a document's postings to the
    index writer whole (see SyllablePositionLists)."""

    def doc_postings(self, value: str) -> tuple[DocPostings, int]:
        """The document's postings (word -> frequency), and the field's length."""
        counts: dict[str, int] = {}
        for form, _start, _end, _surface in words(value, compounds_only=True):
            counts[form] = counts.get(form, 0) + 1
        return DocPostings(counts, False), sum(counts.values())
