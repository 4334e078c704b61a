"""Run searches on the index and return plain data: the seam between the service and Whoosh.

``SearchEngine`` keeps one Whoosh searcher per thread open between requests and opens a fresh
one as soon as the index has changed (a commit, or a reindex's switch), so new, edited and
deleted articles show up at the next request. It never uses ``Searcher.refresh()``. Results
are turned into plain data before the searcher is released.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC

from whoosh import collectors, sorting
from whoosh import query as wq
from whoosh.searching import Results, Searcher

from .articles import HANOI, Article
from .errors import ArticleNotFound, IndexCorrupt, SearchServiceError
from .highlight import highlight_title, snippet, terms_for
from .query import QueryPlan, SearchRequest, analyze_syllables, build_plan
from .schema import SCHEMA_VERSION, stored_to_article
from .store import IndexStore

RESULT_CACHE_SIZE = 512
TIME_BUDGET = 2.0  # seconds one search may spend matching before it answers with what it has

log = logging.getLogger(__name__)


class _DeadlineCollector(collectors.WrappingCollector):
    """Stops collecting once the deadline has passed (checked every 64 matches, no timer thread)."""

    def __init__(self, child: collectors.Collector, deadline: float) -> None:
        self.child = child
        self.deadline = deadline
        self.seen = 0

    def collect_matches(self) -> None:
        for sub_docnum in self.child.matches():
            self.collect(sub_docnum)

    def collect(self, sub_docnum: int) -> object:
        self.seen += 1
        if not self.seen & 63 and time.monotonic() > self.deadline:
            raise collectors.TimeLimit
        return self.child.collect(sub_docnum)


def _budgeted(s: Searcher, q: wq.Query, deadline: float, **kwargs: object) -> tuple[Results, bool]:
    """Run a search that gives up at ``deadline``; returns (results so far, whether it ran out)."""
    collector = s.collector(**kwargs)
    if isinstance(collector, collectors.FilterCollector):
        # Filtering happens in the outermost collector's loop: time the collection inside it.
        collector.child = _DeadlineCollector(collector.child, deadline)
    else:
        collector = _DeadlineCollector(collector, deadline)
    try:
        s.search_with_collector(q, collector)
    except collectors.TimeLimit:
        return collector.results(), True
    return collector.results(), False


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

    def fresh(self, store: IndexStore) -> bool:
        try:
            return store.current_name() == self.generation and self.searcher.up_to_date()
        except OSError:
            return False

    def close(self) -> None:
        self.searcher.close()
        self.ix.close()


class SearchEngine:
    """Searches, article look-ups, related articles, suggestions and stats over one index."""

    def __init__(
        self, store: IndexStore, cache_size: int = RESULT_CACHE_SIZE, time_budget: float = TIME_BUDGET
    ) -> None:
        self.store = store
        self.time_budget = time_budget
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
            handle = _Handle(self.store)
            self._local.handle = handle
            with self._handles_lock:
                self._handles.append(handle)
        try:
            yield handle.searcher
        except (OSError, EOFError) as exc:
            # Files vanished under us (a switch raced the open): drop it, the next call reopens.
            self._drop(handle)
            raise IndexCorrupt(str(self.store.root), f"{type(exc).__name__}: {exc}") from exc

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
        hits, total, facets = self._run(s, plan, request)
        terms = terms_for(plan.highlight)
        results = [self._hit(stored, score, terms) for stored, score in hits]
        suggestion = None
        if plan.syllables:
            suggestion = self._did_you_mean(s, plan, request)
        return SearchPage(request.q, total, request.page, request.size, 0.0, results, facets, suggestion)

    def _run(self, s: Searcher, plan: QueryPlan, request: SearchRequest) -> tuple[list, int, dict]:
        if plan.nothing_searchable:
            return [], 0, {"section": {}, "year": {}}
        deadline = time.monotonic() + self.time_budget
        out_of_time = False

        def run(q: wq.Query, **kwargs: object) -> Results:
            nonlocal out_of_time
            results, late = _budgeted(s, q, deadline, filter=plan.filter, **kwargs)
            out_of_time = out_of_time or late
            return results

        offset, size = request.offset, request.size
        facets = {"section": sorting.FieldFacet("section"), "year": sorting.FieldFacet("year")}
        main = plan.matching or wq.Every()
        counted = run(main, mask=plan.mask, groupedby=facets, scored=False, limit=None)
        total = len(counted)
        facet_counts = {
            "section": _counts(counted.groups("section")),
            "year": dict(
                sorted(((k, v) for k, v in _counts(counted.groups("year")).items() if len(k) == 4), reverse=True)
            ),
        }
        hits: list = []
        if offset >= total:
            pass
        elif plan.all_words is None or request.sort != "relevance":
            res = run(
                main,
                mask=plan.mask,
                limit=offset + size,
                sortedby="published_at",
                reverse=request.sort != "oldest",
                scored=False,
            )
            hits = [(h.fields(), None) for h in res[offset:]]
        else:
            first = run(plan.ranked(plan.all_words), mask=plan.mask, limit=offset + size)
            hits = [(h.fields(), h.score) for h in first[offset:]]
            if len(hits) < size and plan.any_words is not None:
                skip = max(0, offset - first.scored_length())
                mask = wq.Or([plan.mask, plan.all_words]) if plan.mask is not None else plan.all_words
                rest = run(plan.ranked(plan.any_words), mask=mask, limit=skip + size - len(hits))
                hits.extend((h.fields(), h.score) for h in rest[skip:])
        if out_of_time:
            log.warning("search for %r ran out of its %.1f s budget: partial results", request.q, self.time_budget)
        return hits, total, facet_counts

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

    def _did_you_mean(self, s: Searcher, plan: QueryPlan, request: SearchRequest) -> str | None:
        """A respelling of the words the index does not know, if it finds articles with all words."""
        words = []
        changed = False
        for syl in plan.syllables:
            form = syl.exact if syl.accented else syl.folded
            if s.doc_frequency("text", form) > 0 or s.doc_frequency("title", form) > 0:
                words.append(form)
                continue
            # The nearest spellings first (Whoosh ranks by frequency within maxdist only).
            found = s.suggest("text", form, limit=1, maxdist=1, prefix=1) or s.suggest(
                "text", form, limit=1, maxdist=2, prefix=1
            )
            words.append(found[0] if found else form)
            changed = changed or bool(found)
        if not changed:
            return None
        candidate = " ".join(words)
        better = build_plan(s.schema, request.replace(q=candidate, page=1))
        if better.all_words is None:
            return None
        found_all = s.search(better.all_words, filter=better.filter, mask=better.mask, limit=1, scored=False)
        return candidate if len(found_all) > 0 else None

    # -- articles ----------------------------------------------------------------------------

    def get(self, article_id: str) -> Article:
        """One article by id; ArticleNotFound when there is none."""
        with self.searcher() as s:
            stored = s.document(id=article_id)
            if stored is None:
                raise ArticleNotFound(article_id)
            return stored_to_article(stored)

    def related(self, article_id: str, size: int = 5) -> list[Hit]:
        """The articles most like this one (more-like-this on its words)."""
        with self.searcher() as s:
            docnum = s.document_number(id=article_id)
            if docnum is None:
                raise ArticleNotFound(article_id)
            stored = s.stored_fields(docnum)
            text = "\n".join(x for x in (stored.get("title"), stored.get("summary"), stored.get("body")) if x)
            keys = [w for w, _ in s.key_terms_from_text("words", text, numterms=25)]
            if not keys:
                return []
            q = wq.Or([wq.Term("words", w) for w in keys])
            res = s.search(q, limit=size, mask=wq.Term("id", article_id))
            return [self._hit(h.fields(), h.score, []) for h in res]

    def suggest(self, prefix: str, size: int = 8) -> list[dict]:
        """Titles that start like what the reader is typing."""
        with self.searcher() as s:
            sylls = analyze_syllables(s.schema, prefix)
            if not sylls:
                return []
            parts: list[wq.Query] = [wq.Term("title", x.exact if x.accented else x.folded) for x in sylls[:-1]]
            parts.append(wq.Prefix("title", sylls[-1].exact if sylls[-1].accented else sylls[-1].folded))
            q = wq.And(parts) if len(parts) > 1 else parts[0]
            terms = terms_for(sylls)
            return [
                {"id": h["id"], "title": h["title"], "title_html": highlight_title(h["title"], terms)}
                for h in s.search(q, limit=size)
            ]

    # -- about the index ---------------------------------------------------------------------

    def stats(self) -> dict:
        """Article count, per section, date range, size on disk, last update."""
        with self.searcher() as s:
            reader = s.reader()
            docnums = list(reader.all_doc_ids())
            sections: Counter = Counter()
            if reader.has_column("section"):
                col = reader.column_reader("section")
                sections.update(col[d] or "" for d in docnums)
            dates = []
            if reader.has_column("year") and reader.has_column("published_at"):
                years = reader.column_reader("year")
                moments = reader.column_reader("published_at")
                # Undated articles hold the columns' default values: the year column tells them apart.
                dates = [moments[d] for d in docnums if 1000 <= years[d] <= 9999]
            first = min(dates).replace(tzinfo=UTC).astimezone(HANOI).isoformat() if dates else None
            last = max(dates).replace(tzinfo=UTC).astimezone(HANOI).isoformat() if dates else None
            count = len(docnums)
        return {
            "articles": count,
            "sections": {k or "(none)": v for k, v in sections.most_common()},
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
