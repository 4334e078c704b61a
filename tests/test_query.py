"""Query syntax and request validation."""

from __future__ import annotations

import pytest

from search_service.errors import BadQuery
from search_service.query import MAX_QUERY_CHARS, build_plan, parse_query, parse_request
from search_service.schema import build_schema


def test_plain_words():
    p = parse_query("bình đẳng giới")
    assert p.plain == ["bình", "đẳng", "giới"] and not p.required and not p.excluded


def test_editor_syntax():
    p = parse_query('"bình đẳng" -bóng title:Hà tag:"AFF Cup" author:Nam a OR b')
    assert [(c.text, c.phrase, c.field) for c in p.required] == [
        ("bình đẳng", True, None),
        ("Hà", False, "title"),
        ("AFF Cup", True, "tag"),
        ("Nam", False, "author"),
    ]
    assert [c.text for c in p.excluded] == ["bóng"]
    assert [[c.text for c in g] for g in p.any_of] == [["a", "b"]]


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ('"bình đẳng giới', ["bình", "đẳng", "giới"]),  # unclosed quote
        ("bình - giới", ["bình", "giới"]),  # lone minus: dropped by analysis, never an error
        ("title:", ["title:"]),
        ("OR", []),
        ("a OR", ["a"]),
        ("title: hà", ["title:", "hà"]),
    ],
)
def test_malformed_syntax_reads_as_plain_words(text, plain):
    p = parse_query(text)
    assert [w for w in p.plain if w.strip("-")] == plain


def test_plan_never_fails_on_odd_queries():
    schema = build_schema()
    for q in ['"', '""', "-", "--", "title:", 'tag:""', "OR OR OR", ":::", "a" * 900, '-"x', "😀", "\x07"]:
        build_plan(schema, parse_request({"q": q}))


def test_unaccented_and_accented_syllables():
    plan = build_plan(build_schema(), parse_request({"q": "Hà noi"}))
    assert [(s.exact, s.folded, s.accented) for s in plan.syllables] == [("hà", "ha", True), ("noi", "noi", False)]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"from": "2022-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2022-12-01", "to": "2022-11-01"}, "from"),
        ({"size": "1000"}, "size"),
        ({"size": "0"}, "size"),
        ({"size": "ten"}, "size"),
        ({"page": "0"}, "page"),
        ({"page": "99999999"}, "page"),
        ({"sort": "random"}, "sort"),
        ({"q": "x" * (MAX_QUERY_CHARS + 1)}, "q"),
        ({"q": "a\x00b"}, "q"),
    ],
)
def test_bad_parameters_are_named(params, param):
    with pytest.raises(BadQuery) as err:
        parse_request(params)
    assert err.value.param == param
    assert param in str(err.value)


def test_good_parameters():
    r = parse_request(
        {"q": "  Hà   Nội ", "from": "2022-11-01", "to": "2022-11-30", "sort": "newest", "page": "2", "size": "20"},
        {"section": ["Xã hội", "Xã hội", "Thể thao"], "tag": []},
    )
    assert r.q == "Hà Nội" and r.sections == ("Xã hội", "Thể thao") and r.page == 2 and r.size == 20
    assert r.offset == 20
    assert parse_request(r.to_params() | {"section": None}, {"section": list(r.sections)}) == r


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "2101-01-01"])
def test_dates_outside_the_archive_years_are_rejected(day):
    with pytest.raises(BadQuery, match="1900 and 2100"):
        parse_request({"from": day})


def test_clauses_beyond_the_cap_are_ignored():
    """Hundreds of ORs or exclusions are cut to MAX_CLAUSES clauses in all, like plain words to MAX_SYLLABLES."""
    from search_service.query import MAX_CLAUSES, MAX_SYLLABLES

    words = [f"tu{i}" for i in range(150)]
    schema = build_schema()
    ors = build_plan(schema, parse_request({"q": " OR ".join(words)[:MAX_QUERY_CHARS].rsplit(" OR ", 1)[0]}))
    assert len(ors.required) == 1 and len(ors.required[0].subqueries) == MAX_CLAUSES
    mixed = '"a b" title:c ' + " ".join("-" + w for w in words)
    plan = build_plan(schema, parse_request({"q": mixed[:MAX_QUERY_CHARS]}))
    assert len(plan.required) == 2 and len(plan.excluded.subqueries) == MAX_CLAUSES - 2
    plain = build_plan(schema, parse_request({"q": " ".join(words)[:MAX_QUERY_CHARS]}))
    assert len(plain.units) == MAX_SYLLABLES
