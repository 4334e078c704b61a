"""From what a reader or editor typed to a query plan: validation, editor syntax, ranking plan.

Syntax: plain words; ``"exact phrase"``; ``-word`` / ``-"phrase"`` to exclude; ``a OR b``;
``title:``, ``tag:``, ``author:`` prefixes. Anything malformed (an unclosed quote, a lone ``-``,
``title:`` with nothing after it) is read as plain words: a query never fails to parse.

Ranking plan, for relevance order (carried out in searching.py): when at least a page of articles
has every plain word, they come first and articles with only some of them follow; when fewer do
(a question, a paraphrase), all matches are ranked by score together. Title matches weigh more than
body matches, exact diacritics more than folded ones, and the words standing together and
pyvi's segmented words lift the best matches. Filters (section, tag, author, dates) never change
scores. Phrases and field clauses stay Whoosh query objects, as a small syntax tree."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from whoosh import query as wq
from whoosh.fields import Schema

from .analysis import fold
from .articles import HANOI
from .errors import BadQuery
from .schema import key, to_index_time

MAX_QUERY_CHARS = 1000
MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 10
MAX_RESULT_WINDOW = 10_000  # deepest result reachable by paging (page * size)
MAX_FILTER_VALUES = 20
MAX_SYLLABLES = 64  # a pasted paragraph is cut here rather than tying up a worker
MAX_CLAUSES = 32  # phrases, field clauses, OR alternatives and exclusions together; the rest is ignored
SORTS = ("relevance", "newest", "oldest")

# Ranking knobs: few, and each explainable (see scripts/eval.py for what they do to the numbers).
TITLE_WEIGHT = 2.5  # a word in the headline says more than one in the body
FOLDED_WEIGHT_WHEN_ACCENTED = 0.25  # reader typed "chó": "cho"/"chò" still match, lower
PHRASE_WEIGHT = 1.5  # the words stand together, in the order typed
PHRASE_SLOP = 0  # typed neighbours must be neighbours in the text (1 measured lower on both eval sets)
WORD_WEIGHT = 0.5  # pyvi's segmented word matches (bình_đẳng, not just bình + đẳng)
NEAR_WEIGHT = 1.0  # many of the typed words within NEAR_WINDOW positions of one another (XQuAD +0.004)
NEAR_WINDOW = 12
ALL_WORDS_FIRST_MIN = 10  # this many articles with every word (a page) come first; fewer: all ranked by score
FRESHNESS_WEIGHT = 1.0  # with a freshness half-life set: the newest articles weigh up to 1 + this times as much
STOP_WORDS_OPTIONAL = 0  # 1: "all the words" means all but function and question words (của, là, gì)

FIELD_PREFIXES = ("title", "tag", "author")

#: Vietnamese function words and question words, as exact syllables. They are indexed and searched
#: like any other syllable (phrases keep working); they are only not *required*: an article can rank
#: among those with all the words typed without having "của" or "gì" (see query.build_plan).
STOP_WORDS = frozenset(
    {
        "ai",
        "bao",
        "bị",
        "các",
        "cái",
        "cho",
        "chưa",
        "chứ",
        "có",
        "của",
        "cũng",
        "cùng",
        "do",
        "đã",
        "đang",
        "để",
        "đến",
        "đâu",
        "đây",
        "đó",
        "được",
        "gì",
        "hay",
        "hoặc",
        "khi",
        "không",
        "là",
        "lại",
        "mà",
        "mấy",
        "một",
        "này",
        "nào",
        "nên",
        "nhé",
        "nhiêu",
        "những",
        "như",
        "nữa",
        "ở",
        "ra",
        "rằng",
        "rất",
        "sao",
        "sau",
        "sẽ",
        "thì",
        "thế",
        "trong",
        "trên",
        "tại",
        "từ",
        "và",
        "vào",
        "vậy",
        "vì",
        "vẫn",
        "về",
        "với",
    }
)


def is_stop_word(exact: str, folded: str, accented: bool) -> bool:
    """Whether a query syllable is a function or question word (typed without marks: any of them)."""
    return exact in STOP_WORDS if accented else folded in _FOLDED_STOP_WORDS


_FOLDED_STOP_WORDS = frozenset(fold(w) for w in STOP_WORDS)

#: Whoosh's Or picks an "array" matcher on indexes under 5,000 documents and a tree of unions
#: above; the array matcher ranked differently (worse) in our tests, so one kind is used always.
Or = wq.DefaultOr


@dataclass(frozen=True)
class SearchRequest:
    """A validated search: query text, filters, order and page."""

    q: str = ""
    sections: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    author: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    sort: str = "relevance"
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        """Index of the first result on this page."""
        return (self.page - 1) * self.size

    def to_params(self) -> dict:
        """The request as URL query parameters (for links to other pages)."""
        params: dict = {"q": self.q}
        if self.sections:
            params["section"] = list(self.sections)
        if self.tags:
            params["tag"] = list(self.tags)
        if self.author:
            params["author"] = self.author
        if self.date_from:
            params["from"] = self.date_from.isoformat()
        if self.date_to:
            params["to"] = self.date_to.isoformat()
        if self.sort != "relevance":
            params["sort"] = self.sort
        if self.page != 1:
            params["page"] = self.page
        if self.size != DEFAULT_PAGE_SIZE:
            params["size"] = self.size
        return params

    def replace(self, **changes: object) -> SearchRequest:
        """A copy with some fields changed."""
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        values.update(changes)
        return SearchRequest(**values)


def _clean_text(value: str, param: str, limit: int) -> str:
    value = unicodedata.normalize("NFC", value)
    if "\x00" in value:
        raise BadQuery(param, f"`{param}` contains a NUL character")
    value = " ".join(value.split())
    if len(value) > limit:
        raise BadQuery(param, f"`{param}` is too long: at most {limit} characters")
    return value


def _parse_date(value: str, param: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise BadQuery(param, f"`{param}` must be a date written YYYY-MM-DD, got {value!r}") from None
    if not 1900 <= day.year <= 2100:
        raise BadQuery(param, f"`{param}` must be a date between 1900 and 2100, got {value!r}")
    return day


def _parse_int(value: str, param: str, low: int, high: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise BadQuery(param, f"`{param}` must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise BadQuery(param, f"`{param}` must be between {low} and {high}, got {number}")
    return number


def parse_request(single: dict[str, str | None], multi: dict[str, list[str]] | None = None) -> SearchRequest:
    """Validate raw parameters (as strings) into a SearchRequest, or raise BadQuery.

    ``single`` maps a parameter to its value, ``multi`` maps the repeatable ones (section, tag)
    to all their values.
    """
    multi = multi or {}

    def get(name: str) -> str:
        value = single.get(name)
        return str(value) if value is not None else ""

    q = _clean_text(get("q"), "q", MAX_QUERY_CHARS)
    sections = _values(multi.get("section"), get("section"), "section")
    tags = _values(multi.get("tag"), get("tag"), "tag")
    author = _clean_text(get("author"), "author", 200) or None
    date_from = _parse_date(get("from"), "from") if get("from").strip() else None
    date_to = _parse_date(get("to"), "to") if get("to").strip() else None
    if date_from and date_to and date_from > date_to:
        raise BadQuery("from", f"`from` ({date_from}) is after `to` ({date_to})")
    sort = get("sort").strip() or "relevance"
    if sort not in SORTS:
        raise BadQuery("sort", f"`sort` must be one of {', '.join(SORTS)}, got {sort!r}")
    size = _parse_int(get("size"), "size", 1, MAX_PAGE_SIZE) if get("size").strip() else DEFAULT_PAGE_SIZE
    max_page = MAX_RESULT_WINDOW // size
    page = _parse_int(get("page"), "page", 1, max_page) if get("page").strip() else 1
    return SearchRequest(q, sections, tags, author, date_from, date_to, sort, page, size)


def _values(many: list[str] | None, one: str, param: str) -> tuple[str, ...]:
    raw = many if many is not None else ([one] if one else [])
    cleaned = [_clean_text(v, param, 200) for v in raw]
    cleaned = [v for v in cleaned if v]
    if len(cleaned) > MAX_FILTER_VALUES:
        raise BadQuery(param, f"at most {MAX_FILTER_VALUES} values of `{param}`")
    return tuple(dict.fromkeys(cleaned))


# --- editor syntax ----------------------------------------------------------------------------


@dataclass
class Clause:
    """One unit of the query: a word or a quoted phrase, maybe with a field, maybe excluded."""

    text: str
    phrase: bool = False
    field: str | None = None
    negated: bool = False


@dataclass
class ParsedQuery:
    """The query split into plain words, required units, OR groups and exclusions."""

    plain: list[str] = field(default_factory=list)  # plain words, in order typed
    required: list[Clause] = field(default_factory=list)  # phrases and field clauses
    any_of: list[list[Clause]] = field(default_factory=list)  # a OR b OR c
    excluded: list[Clause] = field(default_factory=list)

    @property
    def plain_text(self) -> str:
        """The plain words, as typed."""
        return " ".join(self.plain)


_LEXER = re.compile(
    r"(?P<neg>-)?(?:(?P<field>" + "|".join(FIELD_PREFIXES) + r'):)?(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s"]+))',
    re.IGNORECASE,
)


def parse_query(text: str) -> ParsedQuery:
    """Split editor syntax into clauses; malformed syntax degrades to plain words."""
    if text.count('"') % 2:
        # An unclosed quote: drop the last quote mark and read the rest as it stands.
        i = text.rfind('"')
        text = text[:i] + " " + text[i + 1 :]
    clauses: list[Clause | str] = []
    for m in _LEXER.finditer(text):
        if m.group("word") == "OR" and not m.group("neg") and not m.group("field"):
            clauses.append("OR")
            continue
        fieldname = (m.group("field") or "").lower() or None
        if m.group("phrase") is not None:
            body, is_phrase = m.group("phrase").strip(), True
        else:
            body, is_phrase = m.group("word"), False
        if not body.strip(" -") and fieldname:
            body, fieldname = fieldname, None  # "title:" with nothing after it is the word "title"
        clauses.append(Clause(body, phrase=is_phrase, field=fieldname, negated=bool(m.group("neg"))))
    parsed = ParsedQuery()
    i = 0
    while i < len(clauses):
        c = clauses[i]
        i += 1
        if not isinstance(c, Clause):
            continue  # a stray OR
        group = [c]
        while i + 1 < len(clauses) and clauses[i] == "OR" and isinstance(clauses[i + 1], Clause):
            group.append(clauses[i + 1])  # type: ignore[arg-type]
            i += 2
        group = [g for g in group if not g.negated] or group  # "-a OR b" means b
        c = group[0]
        if len(group) > 1:
            parsed.any_of.append(group)
        elif c.negated:
            parsed.excluded.append(c)
        elif c.phrase or c.field:
            parsed.required.append(c)
        else:
            parsed.plain.append(c.text)
    return parsed


# --- Whoosh queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Syllable:
    """A query syllable in its two indexed forms."""

    exact: str
    folded: str
    accented: bool


@dataclass
class QueryPlan:
    """What a request asks for, as terms and clauses for the document sets (see docsets.py)."""

    highlight: list[Syllable]  # what to mark in titles and snippets
    syllables: list[Syllable]  # the plain syllables, for "did you mean" and the phrase evidence
    has_text: bool = False  # plain words or clauses to rank by (else: filters only, by date)
    nothing_searchable: bool = False  # text was typed, but no word in it can match ("!!!")
    units: list[list[tuple[str, str, float]]] = field(default_factory=list)  # per plain syllable: (field, term, weight)
    required: list[wq.Query] = field(default_factory=list)  # phrases, field clauses, OR groups
    excluded: wq.Query | None = None
    filter_groups: list[list[tuple[str, str]]] = field(default_factory=list)  # AND of ORs
    date_range: tuple[datetime | None, datetime | None] | None = None  # naive UTC, inclusive
    word_terms: list[tuple[str, str, float]] = field(default_factory=list)  # pyvi words, weighted
    optional: list[bool] = field(default_factory=list)  # per unit: a stop word, scored but not required


def analyze_syllables(schema: Schema, text: str) -> list[Syllable]:
    """The query's syllables through the index's own analyzer (exact and folded forms)."""
    out: list[Syllable] = []
    for t in schema["text"].analyzer(text, positions=True, mode="query"):
        if out and len(out) - 1 == t.pos:
            out[-1] = Syllable(out[-1].exact, t.text, True)  # the folded form follows the exact one
        else:
            if len(out) >= MAX_SYLLABLES:
                break
            out.append(Syllable(t.text, t.text, False))
    return out


def _syllable_terms(s: Syllable, title_only: bool = False) -> list[wq.Query]:
    fields = ("title",) if title_only else ("title", "text")
    weights = {"title": TITLE_WEIGHT, "text": 1.0}
    terms: list[wq.Query] = []
    if s.accented:
        terms.extend(wq.Term(f, s.exact, boost=weights[f]) for f in fields)
        terms.extend(wq.Term(f, s.folded, boost=weights[f] * FOLDED_WEIGHT_WHEN_ACCENTED) for f in fields)
    else:
        terms.extend(wq.Term(f, s.folded, boost=weights[f]) for f in fields)
    return terms


def _phrase(sylls: list[Syllable], title_only: bool = False, slop: int = 1) -> wq.Query:
    """Syllables in order: exact forms where typed with marks, folded forms elsewhere."""
    if len(sylls) == 1:
        return Or(_syllable_terms(sylls[0], title_only))
    fields = ("title",) if title_only else ("title", "text")
    words = [s.exact if s.accented else s.folded for s in sylls]
    phrases = [wq.Phrase(f, words, slop=slop) for f in fields]
    return Or(phrases) if len(phrases) > 1 else phrases[0]


def _clause_query(schema: Schema, clause: Clause) -> wq.Query | None:
    if clause.field == "tag":
        return wq.Term("tag", key(clause.text)) if key(clause.text) else None
    if clause.field == "author":
        names = [s.folded for s in analyze_syllables(schema, clause.text)]
        if not names:
            return None
        return wq.Phrase("author", names) if len(names) > 1 else wq.Term("author", names[0])
    sylls = analyze_syllables(schema, clause.text)
    if not sylls:
        return None
    title_only = clause.field == "title"
    if clause.phrase or len(sylls) > 1:
        return _phrase(sylls, title_only, slop=1)
    return Or(_syllable_terms(sylls[0], title_only))


def _capped(parsed: ParsedQuery) -> ParsedQuery:
    """At most MAX_CLAUSES clauses beyond the plain words, in the order of their kinds' weight."""
    left = MAX_CLAUSES
    required = parsed.required[:left]
    left -= len(required)
    any_of: list[list[Clause]] = []
    for group in parsed.any_of:
        if left <= 1:
            break
        any_of.append(group[:left])
        left -= len(any_of[-1])
    excluded = parsed.excluded[: max(left, 0)]
    return ParsedQuery(parsed.plain, required, any_of, excluded)


def build_plan(schema: Schema, request: SearchRequest) -> QueryPlan:
    """Turn a request into the queries that run it."""
    parsed = _capped(parse_query(request.q))
    plain = analyze_syllables(schema, parsed.plain_text)
    required = [q for q in (_clause_query(schema, c) for c in parsed.required) if q is not None]
    for group in parsed.any_of:
        alts = [q for q in (_clause_query(schema, c) for c in group) if q is not None]
        if alts:
            required.append(Or(alts) if len(alts) > 1 else alts[0])
    excluded = [q for q in (_clause_query(schema, c) for c in parsed.excluded) if q is not None]

    highlight = list(plain)
    for c in parsed.required + [c for g in parsed.any_of for c in g]:
        if c.field not in ("tag", "author"):
            highlight.extend(analyze_syllables(schema, c.text))

    word_terms: list[tuple[str, str, float]] = []
    if len(plain) > 1:
        words = list(schema["words"].process_text(parsed.plain_text, mode="query"))
        word_terms = [("words", w, WORD_WEIGHT) for w in dict.fromkeys(words)]
    start = end = None
    if request.date_from or request.date_to:
        start = _day_start(request.date_from) if request.date_from else None
        end = _day_start(request.date_to + timedelta(days=1)) - timedelta(microseconds=1) if request.date_to else None
    excluded_q = (Or(excluded) if len(excluded) > 1 else excluded[0]) if excluded else None
    has_text = bool(plain or required)
    groups = []
    if request.sections:
        groups.append([("section_key", k) for k in dict.fromkeys(key(x) for x in request.sections)])
    groups.extend([("tag", key(t))] for t in request.tags)
    if request.author:
        groups.append([("author_key", key(request.author))])
    units = [[(t.fieldname, t.text, t.boost) for t in _syllable_terms(s)] for s in plain]
    optional = [is_stop_word(s.exact, s.folded, s.accented) for s in plain] if STOP_WORDS_OPTIONAL else []
    if all(optional):
        optional = []  # only stop words typed ("là gì"): then they are what is looked for
    return QueryPlan(
        highlight,
        plain,
        has_text=has_text,
        nothing_searchable=bool(request.q.strip()) and not has_text and excluded_q is None,
        units=units,
        required=required,
        excluded=excluded_q,
        filter_groups=groups,
        date_range=(start, end) if request.date_from or request.date_to else None,
        word_terms=word_terms,
        optional=optional or [False] * len(units),
    )


def _day_start(day: date) -> datetime:
    return to_index_time(datetime.combine(day, time(0, 0), tzinfo=HANOI))
