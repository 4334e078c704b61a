"""Hostile and malformed input: property-based analysis and parsing, injection, ids, caps, read-only.

* The tokenizer never raises on any Unicode text and every token's offsets point at its surface
  form; highlighting gives back exactly the text, escaped, with only <mark> added.
* The query parser never raises; a request either validates or is refused with BadQuery naming
  the parameter; a valid one always searches.
* Every API parameter refuses bad values with 400 and a message naming it.
* Markup in articles and queries is shown as text in the JSON's HTML fields and on the pages.
* Article ids with ``../``, ``%2F`` or NUL never reach the filesystem.
* Query strings, page sizes and pagination depth are capped.
* Nothing a request sends can change the index: no route but GET, no write path reached.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from search_service import create_app
from search_service.analysis import VietnameseTokenizer, exact_form, fold, syllable_forms, syllables
from search_service.errors import BadQuery
from search_service.highlight import highlight_title, snippet, terms_for
from search_service.indexer import ingest
from search_service.query import (
    MAX_PAGE_SIZE,
    MAX_QUERY_CHARS,
    MAX_RESULT_WINDOW,
    analyze_syllables,
    build_plan,
    parse_query,
    parse_request,
)
from search_service.schema import build_schema
from search_service.searching import SearchEngine
from search_service.sources import read_paths
from search_service.store import IndexStore

from .conftest import common_words
from .service import Service, request, sample_records, write_jsonl

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
FUZZ_SLOW = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

SCHEMA = build_schema()

# -- text strategies ------------------------------------------------------------------------------

VIETNAMESE_WORDS = [
    "bình", "đẳng", "giới", "Hà", "Nội", "thủy", "thuỷ", "hòa", "hoà", "Đà", "Nẵng", "nghiêng", "khuya",
    "Quốc", "hội", "chứng", "khoán", "gì", "ĐƯỜNG", "ưu", "tiên", "giá", "vàng", "Tp.", "HCM", "2-0", "3.000",
]  # fmt: skip
COMBINING = [chr(c) for c in range(0x0300, 0x0370)] + ["\u1ab0", "\u20d0", "\u0483", "\u0591", "\u093c"]

any_char = st.characters(exclude_categories=("Cs",))  # every code point but lone surrogates (not text)
controls = st.sampled_from([chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]] + ["\u200b", "\u2028", "\ufeff"])
emoji = st.sampled_from(["😀", "👩‍👩‍👧", "🇻🇳", "👍🏽", "❤️", "🧑🏿‍🚀", "\U0001f9d1\u200d\U0001f4bb"])
combining_run = st.tuples(st.sampled_from("aeiouydAEIOUYĐ"), st.lists(st.sampled_from(COMBINING), max_size=8)).map(
    lambda t: t[0] + "".join(t[1])
)
vietnamese = st.lists(st.sampled_from(VIETNAMESE_WORDS), min_size=1, max_size=12).map(" ".join)
nfd_vietnamese = vietnamese.map(lambda s: unicodedata.normalize("NFD", s))
long_word = st.text(alphabet=st.sampled_from("abcđêôơưáàảãạ0123456789"), min_size=60, max_size=400)
mixed_scripts = st.sampled_from(["Москва", "東京都", "서울", "القاهرة", "ירושלים", "हिन्दी", "ภาษาไทย", "Ελλάδα", "ᏣᎳᎩ"])
piece = st.one_of(
    st.text(any_char, max_size=40), vietnamese, nfd_vietnamese, combining_run, emoji, controls, long_word, mixed_scripts
)
hostile_text = st.lists(piece, max_size=10).flatmap(
    lambda parts: st.sampled_from(["", " ", "\n"]).map(lambda sep: sep.join(parts))
)


# -- analysis ---------------------------------------------------------------------------------------


@FUZZ
@given(text=hostile_text)
@example(text="Ho\u0300a bi\u0300nh")  # NFD
@example(text="a" * 5000)
@example(text="\u0301\u0301\u0301x")  # marks without a base letter
def test_syllables_never_raise_and_offsets_point_at_the_surface(text: str) -> None:
    """Every syllable's (start, end) slice of the original text is its surface form; forms follow from it."""
    last_end = 0
    for form, start, end, surface in syllables(text):
        assert 0 <= last_end <= start < end <= len(text)
        assert text[start:end] == surface
        assert form == exact_form(surface)
        last_end = end
    for form, _, _, surface in syllables(text, fold=True):
        assert form == fold(surface)
    for exact, folded, start, end in syllable_forms(text):
        assert (exact, folded) == (exact_form(text[start:end]), fold(exact_form(text[start:end])))


@FUZZ
@given(text=hostile_text)
def test_index_tokenizer_offsets_point_at_the_surface_form(text: str) -> None:
    """The Whoosh tokenizer (syllables: exact then folded form at the same position) with chars and originals."""
    positions: list[int] = []
    for t in VietnameseTokenizer()(text, positions=True, chars=True, keeporiginal=True):
        assert text[t.startchar : t.endchar] == t.original
        assert t.text in (exact_form(t.original), fold(exact_form(t.original)))
        positions.append(t.pos)
    assert positions == sorted(positions)


@FUZZ_SLOW
@given(text=hostile_text)
@example(text="Bình đẳng giới ở Hà Nội")
@example(text=unicodedata.normalize("NFD", "Bình đẳng giới ở Hà Nội"))
def test_word_tokenizer_never_raises_and_offsets_point_at_the_surface_form(text: str) -> None:
    """pyvi's words: each token's slice of the text is the word, its form the syllables joined by _."""
    for t in VietnameseTokenizer(unit="word")(text, positions=True, chars=True, keeporiginal=True):
        assert text[t.startchar : t.endchar] == t.original
        parts = [exact_form(p) for _, _, _, p in syllables(t.original)]
        assert t.text == "_".join(parts) and len(parts) > 1


def test_word_tokenizer_survives_lone_surrogates() -> None:
    """JSON can carry lone surrogates ("\\ud800"); the analysis must not crash on them."""
    list(VietnameseTokenizer(unit="word")("Hà Nội \ud800 mùa thu \udfff", chars=True))


def test_a_record_with_a_lone_surrogate_does_not_abort_the_ingest(tmp_path: Path) -> None:
    """The bad record is rejected (or cleaned) with a reason; the others are indexed."""
    src = tmp_path / "surrogate.jsonl"
    bad = '{"id": "s1", "title": "Tin \\ud800 lỗi", "body": "x \\udfff y"}'
    src.write_text(bad + '\n{"id": "s2", "title": "Tin tốt"}\n', encoding="utf-8")
    report = ingest(IndexStore(tmp_path / "index"), read_paths([str(src)]), jobs=1)
    assert report.indexed + report.rejected == 2 and report.indexed >= 1


@FUZZ
@given(text=hostile_text, query=hostile_text)
@example(text="a < b && c > d <mark>x</mark>", query="mark b")
@example(text='"><img src=x onerror=alert(1)>', query="img onerror")
def test_highlighting_gives_back_the_text_escaped_with_only_marks(text: str, query: str) -> None:
    """Title: unescaped and unmarked, it is the title; snippet: a window of the text; no tag but <mark>."""
    terms = terms_for(analyze_syllables(SCHEMA, query))
    title = highlight_title(text, terms)
    assert set(re.findall(r"<[^>]*>", title)) <= {"<mark>", "</mark>"}
    assert html.unescape(re.sub(r"</?mark>", "", title)) == text
    html_, _ = snippet(text, terms)
    assert set(re.findall(r"<[^>]*>", html_)) <= {"<mark>", "</mark>"}
    shown = html.unescape(re.sub(r"</?mark>", "", html_)).removeprefix("…").removesuffix("…")
    assert shown.strip() in text.replace("\n", " ")


# -- query parsing --------------------------------------------------------------------------------

PARAMS = ("q", "section", "tag", "author", "from", "to", "sort", "page", "size")
param_value = st.one_of(
    hostile_text,
    st.integers(-(10**30), 10**30).map(str),
    st.dates().map(str),
    st.sampled_from(["", " ", "relevance", "newest", "oldest", "1e3", "0x10", "１０", "NaN", "2022-02-30", "\x00"]),
)


@FUZZ
@given(text=st.text(any_char, max_size=2000) | hostile_text)
@example(text='"unclosed -"" title: -OR OR OR a OR -b tag:"" author: -')
@example(text="(" * 500 + '"' * 333)
def test_query_parser_never_raises(text: str) -> None:
    """Any string parses; a valid request built from it always has a plan."""
    parse_query(text)
    try:
        req = parse_request({"q": text})
    except BadQuery as exc:
        assert exc.param == "q" and str(exc)
        return
    build_plan(SCHEMA, req)


@FUZZ
@given(single=st.dictionaries(st.sampled_from(PARAMS), param_value), sections=st.lists(param_value, max_size=25))
def test_request_validation_refuses_only_with_bad_query_naming_the_parameter(single: dict, sections: list) -> None:
    """Whatever the parameters, parse_request returns a request or raises BadQuery(param, message)."""
    try:
        req = parse_request(single, {"section": sections})
    except BadQuery as exc:
        assert exc.param in PARAMS and str(exc)
        return
    assert 1 <= req.size <= MAX_PAGE_SIZE and req.page * req.size <= MAX_RESULT_WINDOW
    build_plan(SCHEMA, req)


# -- a small index of hostile articles -------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE_IDS = ["../../../../etc/passwd", "a%2Fb", "x/../y", "..", "%00", "a\\b", "~root/.ssh", "dir/", "?q=1#f", "a//b"]
#: An id starting with a slash: the route sees "//", Werkzeug merges the slashes and redirects to another id.
SLASHED_IDS = ["/abs/path"]


def _entities(text: str) -> str:
    """Markup written with entities: the normaliser decodes it to literal text (the dangerous case)."""
    return html.escape(text, quote=True)


HOSTILE_ARTICLES = [
    {
        "id": "inj-script",
        "title": f"Cảnh báo {_entities(SCRIPT)} lừa đảo trực tuyến",
        "section": _entities("Pháp luật <b>"),
        "author": _entities('Kẻ "><script>x</script>'),
        "tags": [_entities(IMG), "an ninh mạng"],
        "summary": f"Tin tặc chèn {_entities(IMG)} vào trang.",
        "body": f"Đoạn mã {_entities(SCRIPT)} được chèn vào bình luận. Lừa đảo trực tuyến tăng mạnh.\n"
        f"Ký hiệu a < b && c > d, {_entities('<mark>giả</mark>')} và &amp;amp; vẫn là chữ.",
        "url": "javascript:alert(1)",
    },
    {
        "id": "inj-img",
        "title": f"Ảnh {_entities(IMG)} độc hại lừa đảo",
        "body": "<p>Thẻ <b>đậm</b> trong nội dung gốc được bỏ.</p><script>alert('gỡ')</script> Lừa đảo trực tuyến.",
    },
    *[
        {"id": rid, "title": f"Bài có mã số lạ số {n} lừa đảo", "body": f"Nội dung bài {n} về lừa đảo trực tuyến."}
        for n, rid in enumerate(HOSTILE_IDS + SLASHED_IDS)
    ],
]


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory: pytest.TempPathFactory) -> IndexStore:
    """An index of the hostile articles plus 40 real ones (bodies cut short)."""
    d = tmp_path_factory.mktemp("hostile")
    src = write_jsonl(d / "hostile.jsonl", HOSTILE_ARTICLES + sample_records(40, body_chars=800))
    store = IndexStore(d / "index")
    report = ingest(store, read_paths([str(src)]), jobs=1)
    assert report.rejected == 0 and report.indexed == len(HOSTILE_ARTICLES) + 40, report.summary()
    return store


@pytest.fixture(scope="module")
def hclient(hostile_index: IndexStore):
    """A test client on the hostile index."""
    return create_app({"INDEX_DIR": str(hostile_index.root)}).test_client()


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``: (size, mtime in ns, sha1)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st_ = p.stat()
            out[str(p.relative_to(root))] = (st_.st_size, st_.st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
    return out


class _Page(HTMLParser):
    """Collects what a browser would run or load: tags, attributes, script text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_inert_page(body: str) -> _Page:
    """No script, no img, no inline handler, no javascript: link anywhere on the page."""
    page = _Page()
    page.feed(body)
    for tag, attrs in page.tags:
        assert tag not in ("script", "img", "iframe", "object", "embed", "svg"), (tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            if name in ("href", "src", "action"):
                assert not (value or "").strip().lower().startswith(("javascript:", "data:")), (tag, name, value)
    return page


def assert_only_marks(fragment: str, plain: str | None = None) -> None:
    """An HTML field: no tag but <mark>; unescaped and unmarked, it is ``plain`` (when given)."""
    assert set(re.findall(r"<[^>]*>", fragment)) <= {"<mark>", "</mark>"}, fragment
    if plain is not None:
        assert html.unescape(re.sub(r"</?mark>", "", fragment)) == plain


# -- injection --------------------------------------------------------------------------------------


def test_markup_in_articles_is_text_in_the_json_html_fields(hclient) -> None:
    """Titles and snippets escape the article's own markup; only the matches are marked."""
    data = hclient.get("/api/search", query_string={"q": "lừa đảo alert onerror", "size": 50}).get_json()
    hits = {h["id"]: h for h in data["results"]}
    assert {"inj-script", "inj-img"} <= set(hits)
    script = hits["inj-script"]
    assert script["title"] == f"Cảnh báo {SCRIPT} lừa đảo trực tuyến"
    assert_only_marks(script["title_html"], script["title"])
    assert "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt;" in script["title_html"]
    assert_only_marks(hits["inj-img"]["title_html"], hits["inj-img"]["title"])
    assert "&lt;img src=x <mark>onerror</mark>=<mark>alert</mark>(1)&gt;" in hits["inj-img"]["title_html"]
    for hit in data["results"]:
        assert_only_marks(hit["title_html"], hit["title"])
        assert_only_marks(hit["snippet_html"])
    # the body's literal "<mark>giả</mark>" stays text: two real marks at most around matches
    found = hclient.get("/api/search", query_string={"q": "giả ký hiệu", "size": 50}).get_json()["results"]
    body = next(h for h in found if h["id"] == "inj-script")
    assert "&lt;mark&gt;<mark>giả</mark>&lt;/mark&gt;" in body["snippet_html"]
    assert "a &lt; b &amp;&amp; c &gt; d" in body["snippet_html"]
    # markup that was markup in the source was dropped at ingest, never stored
    img = hclient.get("/api/articles/inj-img").get_json()
    assert "<b>" not in img["body"] and "alert('gỡ')" not in img["body"] and "đậm" in img["body"]
    for url in ("/api/suggest?q=c%E1%BA%A3nh+b%C3%A1o", "/api/articles/inj-script/related?size=50"):
        for item in hclient.get(url).get_json().get("suggestions") or hclient.get(url).get_json()["results"]:
            assert_only_marks(item["title_html"], item["title"])


@pytest.mark.parametrize(
    "q",
    [SCRIPT, IMG, "<mark>x</mark>", "lừa đảo </title><script>alert(1)</script>", "javascript:alert(1)", "&lt;b&gt;"],
)
def test_markup_in_a_query_is_text_in_the_json_and_on_the_page(hclient, q: str) -> None:
    """The query is echoed as a JSON string and, on the page, as escaped text only."""
    data = hclient.get("/api/search", query_string={"q": q}).get_json()
    assert data["query"] == q
    for hit in data["results"]:
        assert_only_marks(hit["title_html"], hit["title"])
        assert_only_marks(hit["snippet_html"])
    r = hclient.get("/", query_string={"q": q, "section": q, "tag": q, "author": q})
    assert r.status_code == 200
    page = assert_inert_page(r.get_data(as_text=True))
    inputs = [a for t, a in page.tags if t == "input" and a.get("name") == "q"]
    assert inputs and inputs[0]["value"] == q  # the box shows exactly what was typed


def test_article_page_shows_markup_as_text(hclient) -> None:
    """The article page of the hostile article: everything escaped, the javascript: URL not linked."""
    r = hclient.get("/articles/inj-script")
    assert r.status_code == 200
    page = assert_inert_page(r.get_data(as_text=True))
    text = "".join(page.text)
    assert SCRIPT in text and IMG in text and "<mark>giả</mark>" in text
    r = hclient.get("/", query_string={"q": "lừa đảo trực tuyến", "size": 50})
    assert_inert_page(r.get_data(as_text=True))


# -- ids and the filesystem ------------------------------------------------------------------------


def _quote_id(rid: str) -> str:
    from urllib.parse import quote

    return quote(rid, safe="")


@pytest.mark.parametrize("rid", HOSTILE_IDS + SLASHED_IDS)
def test_hostile_ids_are_plain_keys(hclient, hostile_index: IndexStore, rid: str) -> None:
    """An article whose id looks like a path is found by that exact id, quoted, and only it."""
    r = hclient.get("/api/articles/" + _quote_id(rid))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["id"] == rid
    assert hclient.get("/articles/" + _quote_id(rid)).status_code == 200
    assert hclient.get("/api/articles/" + _quote_id(rid) + "/related").status_code == 200


TRAVERSALS = [
    "/api/articles/../../../../etc/passwd",
    "/api/articles/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/articles/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/api/articles/..%252F..%252Fetc%252Fpasswd",
    "/api/articles/%00",
    "/api/articles/a%00b",
    "/api/articles/%00/related",
    "/api/articles/%2Fetc%2Fpasswd",
    "/articles/..%2F..%2F..%2Fetc%2Fpasswd",
    "/articles/%00",
    "/static/../../../../etc/passwd",
    "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/static/..%2f..%2fpyproject.toml",
    "/static/%00",
    "/static/style.css%00.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_paths_with_dot_dot_slash_or_nul_never_reach_a_file(hclient, path: str) -> None:
    """404/400 (or the article of that exact id), never a file's content, never a 500."""
    r = hclient.get(path)
    body = r.get_data(as_text=True)
    assert r.status_code in (200, 308, 400, 404), (path, r.status_code, body[:300])
    assert "root:" not in body and "[build-system]" not in body
    if r.status_code == 200:  # only ever the indexed article whose id is exactly that string
        assert path.startswith(("/api/articles/", "/articles/")) and "passwd" in path
        assert r.get_json()["id"] == "../../../../etc/passwd" if path.startswith("/api/") else "mã số lạ" in body


# -- bad parameters and caps ------------------------------------------------------------------------

BAD = [
    ("/api/search", "q", "x" * (MAX_QUERY_CHARS + 1)),
    ("/api/search", "q", "bóng\x00đá"),
    ("/api/search", "size", "0"),
    ("/api/search", "size", str(MAX_PAGE_SIZE + 1)),
    ("/api/search", "size", "-5"),
    ("/api/search", "size", "ten"),
    ("/api/search", "size", "1.5"),
    ("/api/search", "size", "9" * 5000),
    ("/api/search", "page", "0"),
    ("/api/search", "page", "-1"),
    ("/api/search", "page", str(MAX_RESULT_WINDOW // 10 + 1)),
    ("/api/search", "page", "1e9"),
    ("/api/search", "sort", "score desc"),
    ("/api/search", "sort", "RELEVANCE;DROP"),
    ("/api/search", "from", "2022-13-01"),
    ("/api/search", "from", "hôm qua"),
    ("/api/search", "to", "2022-02-30"),
    ("/api/search", "to", "99999-01-01"),
    ("/api/search", "section", "s" * 201),
    ("/api/search", "section", "a\x00b"),
    ("/api/search", "tag", "t" * 201),
    ("/api/search", "author", "a" * 201),
    ("/api/search", "author", "\x00"),
    ("/api/suggest", "q", "x" * 201),
    ("/api/suggest", "size", "0"),
    ("/api/suggest", "size", "21"),
    ("/api/suggest", "size", "many"),
    ("/api/articles/inj-script/related", "size", "0"),
    ("/api/articles/inj-script/related", "size", "51"),
    ("/api/articles/inj-script/related", "size", "x"),
]


@pytest.mark.parametrize(("path", "param", "value"), BAD, ids=[f"{p}-{n}-{len(v)}" for p, n, v in BAD])
def test_every_parameter_refuses_bad_values_with_400_and_a_message(hclient, path: str, param: str, value: str):
    """400, the error shape, a message that names the parameter."""
    r = hclient.get(path, query_string={param: value})
    assert r.status_code == 400, (path, param, value[:40], r.status_code)
    err = r.get_json()["error"]
    assert err["code"] == "bad_request" and err["param"] == param
    assert f"`{param}`" in err["message"]


def test_more_than_20_filter_values_and_reversed_dates_are_refused(hclient) -> None:
    """Repeatable filters are capped; a date range must run forwards."""
    for name in ("section", "tag"):
        r = hclient.get("/api/search", query_string=[(name, f"v{i}") for i in range(21)])
        assert r.status_code == 400 and r.get_json()["error"]["param"] == name
        assert hclient.get("/api/search", query_string=[(name, f"v{i}") for i in range(20)]).status_code == 200
    r = hclient.get("/api/search", query_string={"from": "2022-12-01", "to": "2022-11-01"})
    assert r.status_code == 400 and r.get_json()["error"]["param"] == "from"


def test_caps_on_query_length_page_size_and_depth(hclient) -> None:
    """Longest query, biggest page and deepest page are accepted; one more is not."""
    longest = " ".join(["lừa đảo trực tuyến"] * 100)[:MAX_QUERY_CHARS]
    r = hclient.get("/api/search", query_string={"q": longest})
    assert r.status_code == 200
    r = hclient.get("/api/search", query_string={"q": "lừa đảo", "size": MAX_PAGE_SIZE})
    assert r.status_code == 200 and len(r.get_json()["results"]) <= MAX_PAGE_SIZE
    for size in (1, 10, MAX_PAGE_SIZE):
        deepest = MAX_RESULT_WINDOW // size
        ok = hclient.get("/api/search", query_string={"q": "lừa", "size": size, "page": deepest})
        assert ok.status_code == 200 and ok.get_json()["results"] == []
        too_deep = hclient.get("/api/search", query_string={"q": "lừa", "size": size, "page": deepest + 1})
        assert too_deep.status_code == 400 and too_deep.get_json()["error"]["param"] == "page"
        assert hclient.get("/", query_string={"q": "lừa", "size": size, "page": deepest + 1}).status_code == 400


@FUZZ_SLOW
@given(
    params=st.lists(st.tuples(st.sampled_from((*PARAMS, "x", "q[]", "")), param_value), max_size=8),
    route=st.sampled_from(["/api/search", "/api/suggest", "/api/articles/inj-script/related", "/"]),
)
def test_any_parameters_get_200_or_400_with_a_message(hclient, params: list, route: str) -> None:
    """Random parameters, repeated, unknown, empty, hostile: 200, or 400 naming what to fix; never 5xx."""
    r = hclient.get(route, query_string=params)
    assert r.status_code in (200, 400), (route, params, r.status_code)
    if route == "/":
        assert_inert_page(r.get_data(as_text=True))
    elif r.status_code == 400:
        err = r.get_json()["error"]
        assert err["message"] and err["param"]
    else:
        data = r.get_json()
        for hit in data.get("results", []) + data.get("suggestions", []):
            assert_only_marks(hit["title_html"], hit["title"])


@FUZZ_SLOW
@given(text=st.text(any_char, max_size=300) | hostile_text)
def test_any_valid_query_searches_without_error(hostile_index: IndexStore, text: str) -> None:
    """The search core itself never fails on a request that validated."""
    try:
        req = parse_request({"q": text})
    except BadQuery:
        assume(False)
        return
    engine = _engine(hostile_index)
    page = engine.search(req, use_cache=False)
    assert page.total >= len(page.results)


_ENGINES: dict[str, SearchEngine] = {}


def _engine(store: IndexStore) -> SearchEngine:
    return _ENGINES.setdefault(str(store.root), SearchEngine(store))


# -- read-only ---------------------------------------------------------------------------------------

ROUTES = ["/", "/api/search", "/api/articles/inj-script", "/api/articles/inj-script/related", "/api/suggest",
          "/healthz", "/openapi.json", "/articles/inj-script", "/static/style.css"]  # fmt: skip


def test_no_route_accepts_anything_but_reading(hclient) -> None:
    """The URL map has no route for a method that could write."""
    app = hclient.application
    for rule in app.url_map.iter_rules():
        assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, (rule.rule, rule.methods)


class _Tripwire(Exception):
    """Raised by a write path that a request reached."""


@pytest.fixture
def tripwires(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way to write an index raises (and is recorded) while a test runs."""
    from whoosh.index import FileIndex

    from search_service import indexer, store

    reached: list[str] = []

    def trip(name: str):
        def wire(*args, **kwargs):
            reached.append(name)
            raise _Tripwire(name)

        return wire

    monkeypatch.setattr(FileIndex, "writer", trip("FileIndex.writer"))
    for name in ("lock", "create_generation", "switch_to", "remove_stale", "open_or_create"):
        monkeypatch.setattr(store.IndexStore, name, trip(f"IndexStore.{name}"))
    for name in ("ingest", "reindex", "delete"):
        monkeypatch.setattr(indexer, name, trip(f"indexer.{name}"))
    return reached


WRITE_BODIES = [
    b'{"id": "evil", "title": "injected"}',
    b"id=evil&title=injected",
    json.dumps([{"id": "inj-script", "title": "overwritten"}]).encode(),
]


def test_nothing_a_request_sends_changes_the_index(
    tmp_path: Path, hostile_index: IndexStore, tripwires: list[str]
) -> None:
    """Every method with bodies on every route, then fuzzed GETs: no write path reached, no file changed."""
    client = create_app({"INDEX_DIR": str(hostile_index.root)}).test_client()
    before = snapshot(hostile_index.root)
    count = client.get("/healthz").get_json()["articles"]
    for route in ROUTES:
        for method in ("POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND", "OPTIONS"):
            for body in WRITE_BODIES:
                r = client.open(route, method=method, data=body, content_type="application/json")
                assert r.status_code in (200, 405), (method, route, r.status_code)
                if method != "OPTIONS":
                    assert r.status_code == 405
        assert client.get(route, query_string={"id": "evil", "title": "x", "delete": "inj-script"}).status_code < 500
    assert tripwires == []
    assert client.get("/healthz").get_json()["articles"] == count
    assert client.get("/api/articles/inj-script").get_json()["title"].startswith("Cảnh báo")
    assert client.get("/api/articles/evil").status_code == 404
    assert snapshot(hostile_index.root) == before


def test_405_says_which_methods_are_allowed(hclient) -> None:
    """A refused method is answered with the methods that would work."""
    r = hclient.post("/api/search")
    assert r.status_code == 405
    assert "GET" in r.headers.get("Allow", "")


# -- the same over real HTTP (gunicorn: raw paths, NUL, oversized requests) --------------------------


@pytest.fixture(scope="module")
def live(hostile_index: IndexStore, tmp_path_factory: pytest.TempPathFactory):
    """The real service on the hostile index, one worker."""
    service = Service(hostile_index.root, tmp_path_factory.mktemp("hostile-live") / "serve.log", workers=1)
    try:
        yield service.start()
    finally:
        service.stop()


def test_live_service_refuses_traversal_nul_oversize_and_writes(live: Service, hostile_index: IndexStore) -> None:
    """Raw request lines as an attacker sends them: never a file, never a 5xx, nothing written."""
    before = snapshot(hostile_index.root)
    for path in TRAVERSALS:
        r = request(live.base, "GET", path)
        assert r.status < 500 and "root:" not in r.text and "[build-system]" not in r.text, (path, r.status)
    assert request(live.base, "GET", "/api/articles/" + _quote_id("../../../../etc/passwd")).json()["title"]
    huge = request(live.base, "GET", "/api/search?q=" + "a" * 20_000)
    assert huge.status in (400, 414), huge.status  # gunicorn's request-line limit, or ours
    long_q = request(live.base, "GET", "/api/search?q=" + "b%20" * (MAX_QUERY_CHARS // 2 + 10))
    assert long_q.status == 400 and long_q.json()["error"]["param"] == "q"
    many = request(live.base, "GET", "/api/search?" + "&".join(f"section=s{i}" for i in range(300)))
    assert many.status in (400, 414)
    headers = {f"X-Junk-{i}": "x" * 100 for i in range(150)}
    assert request(live.base, "GET", "/healthz", headers=headers).status in (200, 400, 431)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = request(live.base, method, "/api/articles/inj-script", body=b'{"title": "x"}',
                    headers={"Content-Type": "application/json"})  # fmt: skip
        assert r.status == 405, (method, r.status)
    assert live.get("/healthz").status == 200
    assert snapshot(hostile_index.root) == before
    assert "Traceback" not in live.log_tail(100_000)


# -- pathological queries meet the time budget (the full-size check is in test_load) --------------

SMALL_BUDGET_MS = 100
#: Allowed beyond the budget (analysis, highlighting, JSON), as a multiple of what an ordinary
#: three-word search costs on the same machine: machine speed cancels out.
ORDINARY_MULTIPLE = 10
ORDINARY = ["giá vàng tăng", "bóng đá việt nam", "thị trường chứng khoán", "học sinh thi cử", "bệnh viện tỉnh",
            "hà nội mùa thu", "xuất khẩu gạo", "công nghệ thông tin", "tai nạn giao thông"]  # fmt: skip


def _pathological(index_store: IndexStore) -> dict[str, dict]:
    """Hundreds of the index's commonest words as plain words, a phrase, ORs and exclusions."""
    common = common_words(index_store, 300)
    common = [w for w in common if re.fullmatch(r"\w+", w)]
    return {
        "plain": {"q": " ".join(common)[:1000].rsplit(" ", 1)[0]},
        "phrase": {"q": '"' + " ".join(common[:150])[:990].rsplit(" ", 1)[0] + '"'},
        "ors": {"q": " OR ".join(common)[:1000].rsplit(" OR ", 1)[0]},
        "exclusions": {"q": "việt " + " ".join("-" + w for w in common)[:990].rsplit(" ", 1)[0]},
    }


@pytest.mark.parametrize("kind", ["plain", "phrase", "ors", "exclusions"])
def test_pathological_queries_answer_within_the_time_budget(index_store: IndexStore, kind: str) -> None:
    """With a 100 ms budget, hundreds of common words cost at most the budget plus a few ordinary searches."""
    import statistics
    import time

    client = create_app({"INDEX_DIR": str(index_store.root), "TIME_BUDGET_MS": SMALL_BUDGET_MS}).test_client()
    client.get("/api/search?q=warm+up")

    def timed(params: dict) -> float:
        started = time.perf_counter()
        r = client.get("/api/search", query_string=params)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        return time.perf_counter() - started

    ordinary = statistics.median(timed({"q": q}) for q in ORDINARY)
    took = timed(_pathological(index_store)[kind])
    limit = SMALL_BUDGET_MS / 1000 + max(0.2, ORDINARY_MULTIPLE * ordinary)
    assert took <= limit, f"{kind}: {took:.2f} s; budget {SMALL_BUDGET_MS} ms, an ordinary search {ordinary:.3f} s"
