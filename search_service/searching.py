"""Run searches on the index and return plain data: the seam between the service and Whoosh.

``SearchEngine`` keeps one Whoosh searcher per thread open between requests and opens a fresh
one as soon as the index has changed (a commit, or a reindex's switch), so new, edited and
deleted articles show up at the next request. It never uses ``Searcher.refresh()``. Results
are turned into plain data before the searcher is released.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
from whoosh import query as wq
from whoosh.fields import Schema
from whoosh.searching import Searcher
from whoosh.util.times import datetime_to_long, long_to_datetime

from . import query as knobs
from .analysis import syllable_forms
from .articles import HANOI, Article
from .docsets import DocSets
from .errors import ArticleNotFound, IndexCorrupt, SearchServiceError
from .highlight import highlight_title, snippet, terms_for
from .postlists import PostingsMissing
from .query import QueryPlan, SearchRequest, Syllable, analyze_syllables, build_plan
from .schema import SCHEMA_VERSION, stored_to_article
from .store import IndexStore, Stamp

RESULT_CACHE_SIZE = 512
MAX_PREFIX_TERMS = 32  # indexed words an unfinished last word of a suggestion may stand for
SUGGEST_CHECKED = 200  # newest candidate headlines read to find the words in the order typed
RERANK_DEPTH = 100  # top matches re-scored with the phrase and word evidence
TIME_BUDGET = 2.0  # seconds one search may spend matching before it answers with what it has
OPEN_ATTEMPTS = 5  # tries to open a searcher while a writer's clean-up races it (see _open)
OPEN_RETRY_PAUSE = 0.01  # seconds, growing with each try
STAMP_SETTLED_NS = 2 * 10**9  # an index folder unchanged this long is trusted by its stamp (see _Handle.fresh)
MICROSECONDS_PER_DAY = 86_400 * 10**6  # the unit of the published_at column (Whoosh's datetime longs)

log = logging.getLogger(__name__)


@dataclass
class Hit:
    """One search result, ready for JSON."""

    id: str
    url: str | None
    title: str
    title_html: str
    section: str | None
    published: str | None
    author: str | None
    tags: list[str]
    snippet_html: str
    score: float | None


@dataclass
class SearchPage:
    """One page of results, with totals, facets and a suggestion."""

    query: str
    total: int
    page: int
    size: int
    took_ms: float
    results: list[Hit] = field(default_factory=list)
    facets: dict = field(default_factory=dict)
    suggestion: str | None = None
    partial: bool = False  # the time budget ran out: these are the results found until then

    def to_dict(self) -> dict:
        """Plain JSON-ready data."""
        return asdict(self)


class _Handle:
    """A searcher plus what it was opened on."""

    def __init__(self, store: IndexStore) -> None:
        self.generation = store.current_name()
        self.ix = store.open()
        self.searcher: Searcher = self.ix.searcher()
        self.opened = time.monotonic()
        self._settled: Stamp | None = None  # the store's stamp, once seen fresh and settled
        try:
            # Now, not on first use: the posting-list files are opened with the segments, before a
            # merge committed meanwhile can remove those of the segments it replaced.
            self.docsets = DocSets(self.searcher.reader(), getattr(self.ix.storage, "folder", None))
        except BaseException:
            self.close()
            raise

    def fresh(self, store: IndexStore) -> bool:
        # Two stat calls instead of reading CURRENT and listing the generation's files (about
        # 0.1 ms a search), once the stamp has settled: a folder whose last change is that old
        # cannot change again within the same clock tick, so any later change shows in its stamp.
        stamp = store.stamp(self.generation) if self.generation else None
        if stamp is not None and stamp == self._settled:
            return True
        try:
            fresh = store.current_name() == self.generation and self.searcher.up_to_date()
        except OSError:
            return False
        if fresh and stamp is not None and time.time_ns() - stamp.last_change_ns() > STAMP_SETTLED_NS:
            self._settled = stamp
        return fresh

    def close(self) -> None:
        self.searcher.close()
        self.ix.close()


class SearchEngine:
    """Searches, article look-ups, related articles, suggestions and stats over one index."""

    def __init__(
        self,
        store: IndexStore,
        cache_size: int = RESULT_CACHE_SIZE,
        time_budget: float = TIME_BUDGET,
        freshness_days: float = 0.0,
    ) -> None:
        self.store = store
        self.time_budget = time_budget
        self.freshness_days = freshness_days  # half-life of the lift for recent articles; 0: off
        self._local = threading.local()
        self._handles: list[_Handle] = []
        self._handles_lock = threading.Lock()
        self._cache: OrderedDict[tuple, SearchPage] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    # -- searcher life cycle -----------------------------------------------------------------

    @contextmanager
    def searcher(self) -> Iterator[Searcher]:
        """A searcher on the latest committed index, reused while the index is unchanged."""
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None and not handle.fresh(self.store):
            self._drop(handle)
            handle = None
        if handle is None:
            try:
                handle = self._open()
            except SearchServiceError:
                raise
            except Exception as exc:  # Whoosh opens segment files here: damaged ones raise anything
                log.error("cannot open the index in %s: %s: %s", self.store.root, type(exc).__name__, exc)
                raise IndexCorrupt(str(self.store.root), f"{type(exc).__name__}: {exc}") from exc
            self._local.handle = handle
            with self._handles_lock:
                self._handles.append(handle)
        try:
            yield handle.searcher
        except SearchServiceError:
            raise
        except Exception as exc:
            # Files vanished under us (a switch raced the open) or are damaged (Whoosh raises bare
            # exceptions on garbled blocks): drop the searcher, say what to run; the next call reopens.
            self._drop(handle)
            log.error("reading the index in %s failed: %s: %s", self.store.root, type(exc).__name__, exc)
            raise IndexCorrupt(str(self.store.root), f"{type(exc).__name__}: {exc}") from exc

    def _open(self) -> _Handle:
        for attempt in range(OPEN_ATTEMPTS):
            before = self.store.current_name()
            try:
                return _Handle(self.store)
            except Exception as exc:  # Whoosh raises bare errors on files it cannot read
                # A writer raced us: a commit's clean-up removed files between our listing and
                # opening them (an old table of contents, merged segments), or a reindex switched
                # generations and removed the old one. The next try sees the new state. A file
                # still missing after a few tries, or a damaged one, is the index's problem.
                raced = _vanished(exc) or self.store.current_name() != before
                if attempt == OPEN_ATTEMPTS - 1 or not raced:
                    raise
                time.sleep(OPEN_RETRY_PAUSE * (attempt + 1))
        raise AssertionError("unreachable")

    def _drop(self, handle: _Handle) -> None:
        self._local.handle = None
        with self._handles_lock:
            if handle in self._handles:
                self._handles.remove(handle)
        handle.close()

    def generation_key(self) -> tuple:
        """Identifies the index contents: changes with every commit and switch."""
        with self.searcher() as s:
            return (self._local.handle.generation, s.reader().generation())

    def close(self) -> None:
        """Close every searcher this engine opened."""
        with self._handles_lock:
            handles, self._handles = self._handles, []
        for handle in handles:
            handle.close()
        self._local = threading.local()

    # -- searching ---------------------------------------------------------------------------

    def search(self, request: SearchRequest, use_cache: bool = True) -> SearchPage:
        """Run a search request and return one page of plain results."""
        started = time.perf_counter()
        with self.searcher() as s:
            cache_key = (self._local.handle.generation, s.reader().generation(), request)
            if use_cache:
                with self._cache_lock:
                    cached = self._cache.get(cache_key)
                    if cached is not None:
                        self._cache.move_to_end(cache_key)
                if cached is not None:
                    page = SearchPage(**{**cached.__dict__, "took_ms": _ms_since(started)})
                    return page
            page = self._search(s, request)
        page.took_ms = _ms_since(started)
        if use_cache:
            with self._cache_lock:
                self._cache[cache_key] = page
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return page

    def _search(self, s: Searcher, request: SearchRequest) -> SearchPage:
        plan = build_plan(s.schema, request)
        ds = self._local.handle.docsets
        self._local.partial = False
        hits, total, facets = self._run(s, ds, plan, request)
        terms = terms_for(plan.highlight)
        results = [self._hit(stored, score, terms) for stored, score in hits]
        partial = self._local.partial
        suggestion = self._did_you_mean(s, ds, plan, request) if plan.syllables and not partial else None
        return SearchPage(request.q, total, request.page, request.size, 0.0, results, facets, suggestion, partial)

    def _masks(
        self, s: Searcher, ds: DocSets, plan: QueryPlan, deadline: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(allowed by filters and exclusions, matching all words, matching some words).

        Past ``deadline`` the remaining words and clauses are left out (the answer is partial).
        """
        allowed = ds.live.copy()
        for group in plan.filter_groups:
            allowed &= ds.any_of(group)
        if plan.date_range is not None:
            start, end = plan.date_range
            moments = ds.column("published_at")
            allowed &= ds.dated()
            if start is not None:
                allowed &= moments >= datetime_to_long(start)
            if end is not None:
                allowed &= moments <= datetime_to_long(end)
        if plan.excluded is not None:
            allowed &= ~self._clause(ds, plan.excluded, deadline)
        # Past the deadline the remaining words are left out, but never the first: the answer
        # must still be about what was typed.
        units: list[np.ndarray] = []
        optional: list[bool] = []
        # Content words first: past the deadline, a stop word's absence changes the least.
        order = sorted(range(len(plan.units)), key=lambda i: plan.optional[i] if plan.optional else False)
        for i in order:
            if units and self._late(deadline):
                break
            units.append(ds.any_of(_implied(plan.units[i], plan.syllables[i])))
            optional.append(bool(plan.optional) and plan.optional[i])
        required: list[np.ndarray] = []
        for q in plan.required:
            if (units or required) and self._late(deadline):
                break
            required.append(self._clause(ds, q, deadline))
        if not units and not required:
            return allowed, allowed, allowed
        # Stop words are scored, not required: they neither make an article "have all the words"
        # nor, alone, make it match at all.
        needed = [m for m, opt in zip(units, optional, strict=True) if not opt] or units
        all_words = allowed.copy()
        for mask in needed + required:
            all_words &= mask
        if len(needed) < 2:
            return allowed, all_words, all_words
        some = np.logical_or.reduce(needed)
        for mask in required:
            some &= mask
        return allowed, all_words, some & allowed

    def _late(self, deadline: float | None) -> bool:
        """Whether this search has used up its time (and so answers with what it has)."""
        if deadline is None or time.monotonic() <= deadline:
            return False
        self._local.partial = True
        return True

    def _clause(self, ds: DocSets, q: wq.Query, deadline: float | None) -> np.ndarray:
        """Mask of the documents matching a clause (terms, phrases, OR groups), within the deadline."""
        if isinstance(q, wq.Term):
            return ds.term(q.fieldname, q.text)
        if isinstance(q, wq.Or | wq.And):
            masks = []
            for sub in q.subqueries:
                if masks and self._late(deadline):
                    break  # the alternatives or parts found so far
                masks.append(self._clause(ds, sub, deadline))
            if not masks:
                return np.zeros(ds.size, dtype=bool)
            return np.logical_or.reduce(masks) if isinstance(q, wq.Or) else np.logical_and.reduce(masks)
        if isinstance(q, wq.Phrase):
            found, late = ds.phrase(q.fieldname, list(q.words), q.slop, ds.live, deadline)
            if late:
                self._late(deadline)
                log.warning("phrase %r... ran out of the %.1f s budget: partial results", q.words[:8], self.time_budget)
            return found
        raise TypeError(f"no document set for {type(q).__name__} clauses")

    def _run(self, s: Searcher, ds: DocSets, plan: QueryPlan, request: SearchRequest) -> tuple[list, int, dict]:
        if plan.nothing_searchable:
            return [], 0, {"section": {}, "year": {}}
        deadline = time.monotonic() + self.time_budget
        _allowed, all_words, some_words = self._masks(s, ds, plan, deadline)
        total = int(some_words.sum())
        years = ds.count_values("year", some_words & ds.dated())
        facets = {
            "section": _by_count({k: v for k, v in ds.count_by("section", some_words).items() if k}),
            "year": {str(y): n for y, n in sorted(years.items(), reverse=True)},
        }
        offset, size = request.offset, request.size
        if offset >= total:
            return [], total, facets
        if not plan.has_text or request.sort != "relevance":
            docnums = _by_date(ds, some_words, newest=request.sort != "oldest")[offset : offset + size]
            return [(s.stored_fields(int(d)), None) for d in docnums], total, facets
        n_all = int(all_words.sum())
        if n_all < knobs.ALL_WORDS_FIRST_MIN:
            # Few articles have every word (a question, a paraphrase): putting them first would
            # rank weak complete matches above strong partial ones, so all are ranked together.
            all_words, n_all = some_words, total
        terms = [t for unit in plan.units for t in unit] + plan.word_terms + _scored_terms(plan.required)
        # When the articles with all the words fill the page and are not all the matches (most
        # searches), only they are scored; else every match is, with the terms' scores kept.
        scores = ds.bm25(terms, deadline=deadline, within=all_words if offset + size <= n_all < total else None)
        ranked: list[tuple[int, float]] = []
        if offset < n_all:
            ranked = self._reranked(s, plan, scores, all_words, offset + size, deadline)[offset:]
        if len(ranked) < size and total > n_all:
            skip = max(0, offset - n_all)
            rest = self._reranked(s, plan, scores, some_words & ~all_words, skip + size - len(ranked), deadline)
            ranked.extend(rest[skip:])
        return [(s.stored_fields(d), score) for d, score in ranked], total, facets

    def _reranked(
        self, s: Searcher, plan: QueryPlan, scores: np.ndarray, mask: np.ndarray, n: int, deadline: float
    ) -> list[tuple[int, float]]:
        """Top ``n`` documents of ``mask`` by BM25, the best RERANK_DEPTH re-scored with the boosts."""
        docnums = np.flatnonzero(mask)
        depth = min(docnums.size, max(n, RERANK_DEPTH))
        if depth == 0:
            return []
        candidate_scores = scores[docnums].astype(np.float64)
        top = np.argpartition(-candidate_scores, depth - 1)[:depth] if depth < docnums.size else np.arange(docnums.size)
        docs, points = _best_first(docnums[top], candidate_scores[top])
        # The same re-scored window for every page, so pages follow on; deep pages keep BM25's order.
        window, window_points = docs[:RERANK_DEPTH], points[:RERANK_DEPTH].copy()
        ds = self._local.handle.docsets
        if len(plan.syllables) > 1 and not self._late(deadline):
            by_number = np.argsort(window)
            window_points[by_number] += _phrase_bonus(ds, plan, window[by_number], deadline)
        if self.freshness_days > 0:
            window_points *= _freshness(ds, window, self.freshness_days)
        window, window_points = _best_first(window, window_points)
        docs = np.concatenate([window, docs[RERANK_DEPTH:]])[:n]
        points = np.concatenate([window_points, points[RERANK_DEPTH:]])[:n]
        return list(zip(docs.tolist(), points.tolist(), strict=True))

    def _hit(self, stored: dict, score: float | None, terms: list) -> Hit:
        title = stored.get("title") or ""
        body = stored.get("body") or ""
        summary = stored.get("summary") or ""
        html, found = snippet(body, terms) if body else ("", 0)
        if summary and (not body or (terms and found == 0)):
            alt, alt_found = snippet(summary, terms)
            if not body or alt_found > found:
                html = alt
        return Hit(
            id=stored["id"],
            url=stored.get("url"),
            title=title,
            title_html=highlight_title(title, terms),
            section=stored.get("section"),
            published=stored.get("published"),
            author=stored.get("author"),
            tags=list(stored.get("tags") or []),
            snippet_html=html,
            score=round(score, 4) if score is not None else None,
        )

    def _did_you_mean(self, s: Searcher, ds: DocSets, plan: QueryPlan, request: SearchRequest) -> str | None:
        """A respelling of the words the index does not know, if it finds articles with all words."""
        words = []
        changed = False
        for syl in plan.syllables:
            form = syl.exact if syl.accented else syl.folded
            if ds.doc_frequency("text", form) > 0 or ds.doc_frequency("title", form) > 0:
                words.append(form)
                continue
            # The nearest spellings first (Whoosh ranks by frequency within maxdist only), among the
            # headlines' words: Whoosh keeps the title's term list, not the body text's (POSTLIST_ONLY).
            found = s.suggest("title", form, limit=1, maxdist=1, prefix=1) or s.suggest(
                "title", form, limit=1, maxdist=2, prefix=1
            )
            words.append(found[0] if found else form)
            changed = changed or bool(found)
        if not changed:
            return None
        candidate = " ".join(words)
        better = build_plan(s.schema, request.replace(q=candidate, page=1))
        _, all_words, _ = self._masks(s, ds, better)
        return candidate if better.units and all_words.any() else None

    # -- articles ----------------------------------------------------------------------------

    def get(self, article_id: str) -> Article:
        """One article by id; ArticleNotFound when there is none."""
        with self.searcher() as s:
            stored = s.document(id=article_id)
            if stored is None:
                raise ArticleNotFound(article_id)
            return stored_to_article(stored)

    def related(self, article_id: str, size: int = 5) -> list[Hit]:
        """The articles most like this one (BM25 on its most telling pyvi words)."""
        with self.searcher() as s:
            docnum = s.document_number(id=article_id)
            if docnum is None:
                raise ArticleNotFound(article_id)
            stored = s.stored_fields(docnum)
            text = "\n".join(x for x in (stored.get("title"), stored.get("summary"), stored.get("body")) if x)
            ds = self._local.handle.docsets
            keys = _key_terms(ds, s.schema, "words", text, 25)
            if not keys:
                return []
            scores = ds.bm25([("words", w, 1.0) for w in keys])
            scores[~ds.live] = 0.0
            scores[docnum] = 0.0
            top = np.argsort(-scores, kind="stable")[:size]
            return [self._hit(s.stored_fields(int(d)), float(scores[d]), []) for d in top if scores[d] > 0]

    def suggest(self, prefix: str, size: int = 8) -> list[dict]:
        """Titles of the newest articles whose headline has what the reader is typing, the last
        word possibly unfinished; headlines with the words in the order typed come first."""
        with self.searcher() as s:
            sylls = analyze_syllables(s.schema, prefix)
            if not sylls:
                return []
            ds = self._local.handle.docsets
            mask = ds.live.copy()
            for x in sylls[:-1]:
                mask &= ds.term("title", x.exact if x.accented else x.folded)
            if len(sylls) == 1:
                # A word alone, maybe unfinished: the indexed words it begins (the first few).
                last = sylls[0].exact if sylls[0].accented else sylls[0].folded
                field = s.schema["title"]
                expanded = itertools.islice(s.reader().expand_prefix("title", last), MAX_PREFIX_TERMS)
                words = [field.from_bytes(t) if isinstance(t, bytes) else t for t in expanded]
                mask &= ds.any_of(("title", w) for w in words)
            # Newest first; headlines where the words stand as typed (the last one begun) before others.
            typed = [(x.exact if x.accented else x.folded, x.accented) for x in sylls]
            in_order, others = [], []
            for d in _by_date(ds, mask, newest=True)[:SUGGEST_CHECKED]:
                stored = s.stored_fields(int(d))
                (in_order if _starts_sequence(stored.get("title") or "", typed) else others).append(stored)
                if len(in_order) >= size:
                    break
            terms = terms_for(sylls)
            return [
                {"id": t["id"], "title": t["title"], "title_html": highlight_title(t["title"], terms)}
                for t in (in_order + others)[:size]
            ]

    # -- about the index ---------------------------------------------------------------------

    def stats(self) -> dict:
        """Article count, per section, date range, size on disk, last update."""
        with self.searcher() as s:
            ds = self._local.handle.docsets
            sections = ds.count_by("section", ds.live)
            dated = ds.live & ds.dated()
            moments = ds.column("published_at")[dated]
            first = last = None
            if moments.size:
                first = _from_long(int(moments.min())).isoformat()
                last = _from_long(int(moments.max())).isoformat()
            count = s.doc_count()
        return {
            "articles": count,
            "sections": _by_count({(k or "(none)"): v for k, v in sections.items()}),
            "published_first": first,
            "published_last": last,
            "size_bytes": self.store.size_bytes(),
            "last_update": self.store.last_modified().isoformat(),
            "schema_version": SCHEMA_VERSION,
            "generation": self.store.current_name(),
        }

    def health(self) -> dict:
        """Status for /healthz; raises the domain error when the index cannot be used."""
        with self.searcher() as s:
            return {"status": "ok", "articles": s.doc_count(), "schema_version": SCHEMA_VERSION}


def _starts_sequence(title: str, typed: list[tuple[str, bool]]) -> bool:
    """Whether the typed syllables stand in ``title`` one after another, the last one begun."""
    forms = [(exact, folded) for exact, folded, _start, _end in syllable_forms(title)]
    n = len(typed)
    for i in range(len(forms) - n + 1):
        ok = True
        for k, (form, accented) in enumerate(typed):
            have = forms[i + k][0] if accented else forms[i + k][1]
            if not (have.startswith(form) if k == n - 1 else have == form):
                ok = False
                break
        if ok:
            return True
    return False


def _implied(unit: list[tuple[str, str, float]], syllable: Syllable) -> list[tuple[str, str, float]]:
    """The terms of a syllable's unit whose articles are all of the unit's: an accented
    syllable's exact form stands where its folded form is indexed too, so the folded terms
    find every article (half the work of building the mask)."""
    if not syllable.accented:
        return unit
    return [term for term in unit if term[1] == syllable.folded] or unit


def _key_terms(ds: DocSets, schema: Schema, fieldname: str, text: str, number: int) -> list[str]:
    """The ``number`` most telling words of ``text`` in a field: Whoosh's key_terms_from_text
    (the Bo1 model: frequent here, rare in the archive), with frequencies from the posting lists."""
    postings, _length = schema[fieldname].format.doc_postings(text)
    scored = []
    for word, weight in postings.terms.items():
        _ids, tfs = ds.postings(fieldname, word)
        if tfs.size:
            f = float(tfs.sum()) / ds.size
            scored.append((weight * math.log2((1.0 + f) / f) + math.log2(1.0 + f), word))
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [word for _score, word in scored[:number]]


def _by_date(ds: DocSets, mask: np.ndarray, newest: bool) -> np.ndarray:
    """Document numbers of ``mask``, by publication date (undated last), ties by document number."""
    docnums = np.flatnonzero(mask)
    moments = ds.column("published_at")[docnums]
    undated = ~ds.dated()[docnums]
    order = np.lexsort((docnums, -moments if newest else moments, undated))
    return docnums[order]


def _from_long(value: int) -> datetime:
    return long_to_datetime(value).replace(tzinfo=UTC).astimezone(HANOI)


def _docset(mask: np.ndarray) -> set:
    return set(np.flatnonzero(mask).tolist())


def _by_count(counts: dict) -> dict:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def _phrase_bonus(ds: DocSets, plan: QueryPlan, docs: np.ndarray, deadline: float | None = None) -> np.ndarray:
    """Evidence that the typed words stand together: each pair of consecutive query syllables
    found next to each other, in order (PHRASE_SLOP gaps allowed).

    Per field and pair: the number of such occurrences, saturating like BM25's term frequency,
    times the pair's idf, times PHRASE_WEIGHT (and TITLE_WEIGHT in the title). Pairs rather than
    the whole query, so that a long question still earns proximity for the parts it shares.
    Per document of the (sorted) ``docs``. Past ``deadline`` the pairs not yet counted are left out.
    """
    forms = [syl.exact if syl.accented else syl.folded for syl in plan.syllables]
    pairs = [(a, b) for a, b in itertools.pairwise(forms) if a != b]
    bonus = np.zeros(docs.size, dtype=np.float64)
    distinct = list(dict.fromkeys(forms))
    near = bool(knobs.NEAR_WEIGHT) and len(distinct) > 2
    for fieldname, weight in (("title", knobs.TITLE_WEIGHT), ("text", 1.0)):
        # Each occurrence as one sortable number: the document's rank in ``docs``, then the position.
        where: dict[str, np.ndarray] = {}
        idf: dict[str, float] = {}

        def occurrences(f: str, fieldname: str = fieldname, where: dict = where, idf: dict = idf) -> np.ndarray:
            if f not in where:
                found_docs, positions = ds.positions_flat(fieldname, f, docs)
                where[f] = (np.searchsorted(docs, found_docs) << 32) + positions
                idf[f] = ds.idf(fieldname, f)
            return where[f]

        for a, b in pairs:
            if deadline is not None and time.monotonic() > deadline:
                return bonus
            first, second = occurrences(a), occurrences(b)
            if not first.size or not second.size:
                continue
            followed = np.zeros(first.size, dtype=bool)
            for gap in range(1, knobs.PHRASE_SLOP + 2):
                followed |= _found_in(first + gap, second)
            count = np.bincount(first[followed] >> 32, minlength=docs.size).astype(np.float64)
            bonus += knobs.PHRASE_WEIGHT * weight * (idf[a] + idf[b]) * count / (count + 1.2)
        if near:
            found = [occurrences(f) for f in distinct]
            best = _densest(found, [idf[f] for f in distinct], knobs.NEAR_WINDOW, docs.size)
            bonus += knobs.NEAR_WEIGHT * weight * best
    return bonus


def _vanished(exc: BaseException) -> bool:
    """Whether opening failed because a file listed a moment earlier was gone (a writer cleaned up)."""
    return isinstance(exc, PostingsMissing | FileNotFoundError) or isinstance(exc.__cause__, FileNotFoundError)


def _freshness(ds: DocSets, docnums: np.ndarray, half_life_days: float) -> np.ndarray:
    """Per document: 1 + FRESHNESS_WEIGHT x 0.5 ** (age / half-life), the age counted back from the
    newest dated article in the index (on a live site, about now); undated articles: 1."""
    newest = ds.newest()
    if newest is None or not docnums.size:
        return np.ones(docnums.size)
    age_days = np.maximum(newest - ds.column("published_at")[docnums], 0) / MICROSECONDS_PER_DAY
    lift = 1.0 + knobs.FRESHNESS_WEIGHT * np.exp2(-age_days / half_life_days)
    return np.where(ds.dated()[docnums], lift, 1.0)


def _found_in(values: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """np.isin for a sorted second array: a binary search each, 5 to 10 times faster on these sizes."""
    if not sorted_values.size:
        return np.zeros(values.size, dtype=bool)
    at = np.searchsorted(sorted_values, values)
    at[at == sorted_values.size] = 0
    return sorted_values[at] == values


def _best_first(docs: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Documents and their scores, highest score first, ties by document number."""
    order = np.lexsort((docs, -points))
    return docs[order], points[order]


def _densest(occurrences: list[np.ndarray], weights: list[float], window: int, n_docs: int) -> np.ndarray:
    """Per document: the largest idf sum of distinct query words found together within ``window``
    positions (``occurrences``: each word's document-rank << 32 | position, sorted)."""
    events = np.concatenate(occurrences) if occurrences else np.zeros(0, dtype=np.int64)
    # Sorted, without repeats (np.unique hashes int64 arrays: 15 times slower at these sizes).
    events.sort()
    events = events[np.concatenate(([True], events[1:] != events[:-1]))] if events.size else events
    if not events.size:
        return np.zeros(n_docs)
    # At each occurrence, the words seen in the window that ends there (same document: the high
    # bits differ otherwise, and the window is far smaller than 2**32).
    together = np.zeros(events.size)
    for found, w in zip(occurrences, weights, strict=True):
        if found.size:
            inside = np.searchsorted(found, events, side="right") > np.searchsorted(found, events - window + 1)
            together += w * inside
    best = np.zeros(n_docs)
    # Events are sorted, so each document's are a run: a max per run (np.maximum.at is slower).
    owners = events >> 32
    runs = np.flatnonzero(np.concatenate(([True], owners[1:] != owners[:-1])))
    best[owners[runs]] = np.maximum.reduceat(together, runs)
    return best


def _scored_terms(clauses: list[wq.Query]) -> list[tuple[str, str, float]]:
    """The (field, term, weight) terms of phrases and field clauses, to rank what they match."""
    out = []
    for q in clauses:
        for leaf in [q] if q.is_leaf() else q.leaves():
            if isinstance(leaf, wq.Term):
                out.append((leaf.fieldname, leaf.text, leaf.boost))
            elif isinstance(leaf, wq.Phrase):
                out.extend((leaf.fieldname, w, leaf.boost) for w in dict.fromkeys(leaf.words))
    return out


def _counts(groups: dict) -> dict:
    out = {}
    for k, v in sorted(groups.items(), key=lambda kv: (-_len(kv[1]), str(kv[0]))):
        if k is None or k == "":
            continue
        out[str(k)] = _len(v)
    return out


def _len(v: object) -> int:
    return v if isinstance(v, int) else len(v)  # type: ignore[arg-type]


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


__all__ = ["Hit", "SearchEngine", "SearchPage", "SearchServiceError"]
