"""Retrieval quality of the search service against SQLite FTS5 and tantivy, on XQuAD-vi and VNTC known items.

Usage: python scripts/eval.py [--sets xquad,news,seg] [--news-docs 10000] [--news-queries FILE] [--json FILE]

For each query set the collection goes through the project's own pipeline (``indexer.ingest`` into a
temporary directory) and every query through ``SearchEngine.search(parse_request({"q": q, "size": "10"}))``,
the code path of ``/api/search``, first page of 10. The same collection and queries go to two reference
engines a newsroom might pick instead:

* SQLite FTS5, columns title and body, tokenizer ``unicode61 remove_diacritics 2``, ranked by bm25;
  đ/Đ are mapped to d/D on both sides first (unicode61 does not fold đ). Query: the OR of the words,
  each word quoted.
* tantivy, fields title and body, default tokenizer, default BM25; query: the words, each quoted, OR.

Each engine runs every query as given and with all diacritics removed (đ → d). Printed per row:
MRR@10, Recall@10, nDCG@10, the share of queries with no result, and the median query time (for
information: the engines do different amounts of work). The segmentation F1 lines come from
scripts/segmentation_f1.py. ``--json FILE`` writes every number.

Data (../shared/data): docs-xquad-vi + qrels-xquad-vi (240 passages, 1,190 questions, one judged passage
each); news-vntc + data/eval/news-vntc-queries.jsonl (known items made by scripts/make_news_queries.py).
The news collection is the answer articles plus a fixed random sample of other titled VNTC articles,
``--news-docs`` in all. A hit on any article with the same title and body as the answer counts.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import itertools
import json
import math
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search_service import query as query_module  # noqa: E402
from search_service.articles import RawRecord  # noqa: E402
from search_service.indexer import ingest  # noqa: E402
from search_service.query import parse_request  # noqa: E402
from search_service.searching import SearchEngine  # noqa: E402
from search_service.store import IndexStore  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
XQUAD_DOCS = SHARED / "docs-xquad-vi.jsonl.gz"
XQUAD_QRELS = SHARED / "qrels-xquad-vi.jsonl.gz"
VNTC = SHARED / "news-vntc.jsonl.gz"
NEWS_QUERIES = REPO / "data" / "eval" / "news-vntc-queries.jsonl"
DEFAULT_NEWS_DOCS = 10_000
COLLECTION_SEED = 20240611
K = 10
SETS = ("xquad", "news", "seg")
KNOBS = (
    "TITLE_WEIGHT",
    "FOLDED_WEIGHT_WHEN_ACCENTED",
    "PHRASE_WEIGHT",
    "PHRASE_SLOP",
    "WORD_WEIGHT",
    "STOP_WORDS_OPTIONAL",
    "ALL_WORDS_FIRST_MIN",
    "NEAR_WEIGHT",
    "NEAR_WINDOW",
)
FORMS = ("accented", "unaccented")


# --- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One query: its text and the ids that answer it (any one of ``relevant`` counts as ``answer``)."""

    qid: str
    text: str
    relevant: frozenset[str]


@dataclass
class QuerySet:
    """A collection (records in the project's article format) and its queries."""

    name: str
    records: list[dict]
    queries: list[Query]
    known_item: bool = False  # relevant ids are copies of one story: the first hit counts, once
    note: str = ""


def remove_diacritics(text: str) -> str:
    """The text without tone or vowel marks, đ → d (case kept)."""
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare).replace("đ", "d").replace("Đ", "D")


def read_jsonl(path: Path) -> list[dict]:
    """All objects of a JSON Lines file, gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_xquad(docs: Path = XQUAD_DOCS, qrels: Path = XQUAD_QRELS) -> QuerySet:
    """XQuAD-vi as passage retrieval: 240 passages, one judged passage per question."""
    records = read_jsonl(docs)
    queries = [Query(q["qid"], q["query"], frozenset(q["relevant"])) for q in read_jsonl(qrels)]
    return QuerySet("XQuAD-vi", records, queries, note=f"{len(records)} passages, {len(queries)} questions")


def load_news_queries(path: Path = NEWS_QUERIES) -> tuple[dict, list[dict]]:
    """(meta, items) of a known-item query file made by make_news_queries.py."""
    rows = read_jsonl(path)
    meta = rows[0].get("meta", {}) if rows and "meta" in rows[0] else {}
    return meta, [r for r in rows if "qid" in r]


def sample_collection(records: Iterable[dict], must: set[str], n_docs: int, seed: int = COLLECTION_SEED) -> list[dict]:
    """``n_docs`` titled records: every id in ``must`` plus a seeded random sample of the others, in file order."""
    titled = [r for r in records if r.get("title")]
    ids = {r["id"] for r in titled}
    missing = must - ids
    if missing:
        raise SystemExit(f"{len(missing)} answer articles are not in the corpus, e.g. {sorted(missing)[0]}")
    if n_docs < len(must):
        raise SystemExit(f"--news-docs {n_docs} is smaller than the {len(must)} answer articles")
    others = sorted(ids - must)
    chosen = must | set(random.Random(seed).sample(others, min(len(others), n_docs - len(must))))
    return [r for r in titled if r["id"] in chosen]


def load_news(corpus: Path = VNTC, queries_path: Path = NEWS_QUERIES, n_docs: int = DEFAULT_NEWS_DOCS) -> QuerySet:
    """The VNTC known-item set: answers plus a fixed sample of other articles, ``n_docs`` in all."""
    meta, items = load_news_queries(queries_path)
    answers = {it["answer"] for it in items}
    records = sample_collection(read_jsonl(corpus), answers, n_docs)
    present = {r["id"] for r in records}
    queries = [Query(it["qid"], it["query"], frozenset(set(it["relevant"]) & present)) for it in items]
    note = (
        f"{len(records)} articles (seed {COLLECTION_SEED}), {len(queries)} known-item queries (seed {meta.get('seed')})"
    )
    return QuerySet("VNTC news", records, queries, known_item=True, note=note)


def headline_ties(qs: QuerySet, fold: bool = False) -> tuple[int, float]:
    """Known items whose words also stand, in order, in another headline; MRR@10 if those ties fall at random.

    Such a query cannot tell its story from the others by the headline alone: this is what an engine
    that puts every headline containing the words first, in no particular order, would score.
    """
    from search_service.analysis import syllables

    def text(t: str) -> str:
        return " " + " ".join(form for form, *_ in syllables(t, fold=fold)) + " "

    headlines = [(r["id"], text(r.get("title") or "")) for r in qs.records]
    tied, total = 0, 0.0
    for q in qs.queries:
        phrase = text(q.text)
        k = 1 + sum(1 for doc, h in headlines if phrase in h and doc not in q.relevant)
        tied += k > 1
        total += sum(1.0 / i for i in range(1, min(k, K) + 1)) / k
    return tied, total / len(qs.queries) if qs.queries else 0.0


# --- metrics ----------------------------------------------------------------------------------


def judged(ranking: Sequence[str], relevant: frozenset[str], known_item: bool = False) -> list[bool]:
    """Per rank, whether the result is relevant; for a known item only the first copy found counts."""
    marks, found = [], False
    for doc in ranking:
        hit = doc in relevant and not (known_item and found)
        found = found or hit
        marks.append(hit)
    return marks


def reciprocal_rank(marks: Sequence[bool], k: int = K) -> float:
    """1 / rank of the first relevant result within the top k, else 0."""
    return next((1.0 / (i + 1) for i, m in enumerate(marks[:k]) if m), 0.0)


def recall(marks: Sequence[bool], n_relevant: int, k: int = K) -> float:
    """Share of the relevant documents found in the top k."""
    return sum(marks[:k]) / n_relevant if n_relevant else 0.0


def ndcg(marks: Sequence[bool], n_relevant: int, k: int = K) -> float:
    """Binary nDCG@k."""
    dcg = sum(1.0 / math.log2(i + 2) for i, m in enumerate(marks[:k]) if m)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n_relevant, k)))
    return dcg / ideal if ideal else 0.0


@dataclass
class Scores:
    """Mean metrics over a query set."""

    mrr: float
    recall: float
    ndcg: float
    no_result: float
    p50_ms: float
    queries: int

    def to_dict(self) -> dict:
        """Rounded plain data."""
        return {
            "mrr@10": round(self.mrr, 4),
            "recall@10": round(self.recall, 4),
            "ndcg@10": round(self.ndcg, 4),
            "no_result": round(self.no_result, 4),
            "p50_ms": round(self.p50_ms, 2),
            "queries": self.queries,
        }


def score_runs(
    runs: Sequence[Sequence[str]], queries: Sequence[Query], known_item: bool = False, ms: Sequence[float] = ()
) -> Scores:
    """Mean MRR@10, Recall@10, nDCG@10 and no-result share of ``runs`` (one ranking per query)."""
    n = len(queries)
    rr = rec = nd = empty = 0.0
    for ranking, q in zip(runs, queries, strict=True):
        marks = judged(ranking, q.relevant, known_item)
        n_rel = 1 if known_item else len(q.relevant)
        rr += reciprocal_rank(marks)
        rec += recall(marks, n_rel)
        nd += ndcg(marks, n_rel)
        empty += not ranking
    p50 = statistics.median(ms) if ms else 0.0
    return Scores(rr / n, rec / n, nd / n, empty / n, p50, n) if n else Scores(0, 0, 0, 0, p50, 0)


# --- engines ----------------------------------------------------------------------------------


class Engine:
    """An engine under test: build on a collection, then answer queries with ranked ids."""

    name = "engine"

    def build(self, records: list[dict]) -> None:
        """Index the collection."""
        raise NotImplementedError

    def search(self, text: str) -> list[str]:
        """The ids of the first page (10) of results."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what build() opened."""


class ServiceEngine(Engine):
    """This project: indexer.ingest into a temporary directory, SearchEngine.search like /api/search."""

    name = "search_service"

    def __init__(self, jobs: int = 2, cache_dir: Path | None = None) -> None:
        self.jobs = jobs
        self.cache_dir = cache_dir
        self._tmp: str | None = None
        self.engine: SearchEngine | None = None
        self.seconds = 0.0

    def build(self, records: list[dict]) -> None:
        """Ingest the records (or reuse a cached index of the same records and analysis code)."""
        if self.cache_dir is not None:
            root = self.cache_dir / _index_key(records)
            if not (root / ".eval-complete").exists():
                shutil.rmtree(root, ignore_errors=True)
                self._ingest(root, records)
                (root / ".eval-complete").write_text("ok\n")
        else:
            self._tmp = tempfile.mkdtemp(prefix="eval-index-")
            root = Path(self._tmp)
            self._ingest(root, records)
        self.engine = SearchEngine(IndexStore(root))

    def _ingest(self, root: Path, records: list[dict]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        items = (RawRecord(dict(r), "eval", i) for i, r in enumerate(records, 1))
        report = ingest(IndexStore(root), items, jobs=self.jobs)
        self.seconds = time.perf_counter() - started
        if report.rejected:
            print(f"  note: {report.rejected} records rejected by the pipeline", file=sys.stderr)

    def search(self, text: str) -> list[str]:
        """Exactly what /api/search does for ?q=text&size=10 (the result cache off, for timing)."""
        assert self.engine is not None
        page = self.engine.search(parse_request({"q": text, "size": str(K)}), use_cache=False)
        return [hit.id for hit in page.results]

    def close(self) -> None:
        """Close searchers and remove the temporary index."""
        if self.engine is not None:
            self.engine.close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _index_key(records: list[dict]) -> str:
    """A cache key: the records' ids and texts plus the code that decides what the index holds."""
    h = hashlib.sha1()
    for name in ("analysis.py", "schema.py", "normalize.py"):
        h.update((REPO / "search_service" / name).read_bytes())
    for r in records:
        h.update(json.dumps([r.get("id"), r.get("title"), r.get("body")], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def _fold_dd(text: str) -> str:
    return text.replace("đ", "d").replace("Đ", "D")


_WORDLIKE = re.compile(r"[^\W_]", re.UNICODE)


class Fts5Engine(Engine):
    """SQLite FTS5: unicode61 remove_diacritics 2, bm25, OR of the quoted words; đ → d on both sides."""

    name = "SQLite FTS5"

    def build(self, records: list[dict]) -> None:
        """Load title and body into an in-memory FTS5 table."""
        self.db = sqlite3.connect(":memory:")
        self.db.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body, tokenize='unicode61 remove_diacritics 2')"
        )
        self.db.executemany(
            "INSERT INTO docs (id, title, body) VALUES (?, ?, ?)",
            ((r["id"], _fold_dd(r.get("title") or ""), _fold_dd(r.get("body") or "")) for r in records),
        )
        self.db.commit()

    @staticmethod
    def match_expression(text: str) -> str:
        """The words of ``text``, each quoted, joined by OR."""
        words = [w for w in _fold_dd(text).split() if _WORDLIKE.search(w)]
        return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)

    def search(self, text: str) -> list[str]:
        """Top 10 by bm25."""
        expr = self.match_expression(text)
        if not expr:
            return []
        rows = self.db.execute("SELECT id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?", (expr, K))
        return [row[0] for row in rows]

    def close(self) -> None:
        """Close the database."""
        self.db.close()


class TantivyEngine(Engine):
    """tantivy: title and body with the default tokenizer, BM25, OR of the quoted words."""

    name = "tantivy"

    def build(self, records: list[dict]) -> None:
        """Index title and body in RAM."""
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_text_field("id", stored=True, tokenizer_name="raw")
        builder.add_text_field("title")
        builder.add_text_field("body")
        self.index = tantivy.Index(builder.build())
        writer = self.index.writer(heap_size=100_000_000, num_threads=1)
        for r in records:
            writer.add_document(tantivy.Document(id=r["id"], title=r.get("title") or "", body=r.get("body") or ""))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()

    @staticmethod
    def query_string(text: str) -> str:
        """The words of ``text``, each quoted (so no query syntax survives), space-separated (OR)."""
        words = [re.sub(r'["\\]', " ", w).strip() for w in text.split()]
        return " ".join(f'"{w}"' for w in words if _WORDLIKE.search(w))

    def search(self, text: str) -> list[str]:
        """Top 10 by BM25."""
        qs = self.query_string(text)
        if not qs:
            return []
        q = self.index.parse_query(qs, ["title", "body"])
        return [self.searcher.doc(addr)["id"][0] for _score, addr in self.searcher.search(q, K).hits]


# --- running ----------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table."""

    engine: str
    form: str
    scores: Scores
    runs: list[list[str]] = field(default_factory=list, repr=False)


def run_engine(engine: Engine, qs: QuerySet) -> list[Row]:
    """Every query of the set, as given and without diacritics, through one built engine."""
    rows = []
    for form in FORMS:
        runs, ms = [], []
        for q in qs.queries:
            text = q.text if form == "accented" else remove_diacritics(q.text)
            started = time.perf_counter()
            runs.append(engine.search(text))
            ms.append((time.perf_counter() - started) * 1000)
        rows.append(Row(engine.name, form, score_runs(runs, qs.queries, qs.known_item, ms), runs))
    return rows


def evaluate_set(qs: QuerySet, engines: Sequence[Callable[[], Engine]], log: Callable[[str], None]) -> list[Row]:
    """Build each engine on the collection and run the queries."""
    rows: list[Row] = []
    for make in engines:
        engine = make()
        started = time.perf_counter()
        engine.build(qs.records)
        log(f"  {qs.name}: {engine.name} indexed {len(qs.records)} in {time.perf_counter() - started:.1f} s")
        try:
            rows.extend(run_engine(engine, qs))
        finally:
            engine.close()
    return rows


def format_table(title: str, rows: Sequence[Row]) -> str:
    """The rows as an aligned text table."""
    head = f"{'engine':16} {'queries':10} {'MRR@10':>7} {'R@10':>7} {'nDCG@10':>7} {'no-res':>7} {'p50 ms':>7}"
    lines = [title, head, "-" * len(head)]
    for r in rows:
        s = r.scores
        lines.append(
            f"{r.engine:16} {r.form:10} {s.mrr:7.3f} {s.recall:7.3f} {s.ndcg:7.3f} {s.no_result:7.3f} {s.p50_ms:7.1f}"
        )
    return "\n".join(lines)


def segmentation_lines() -> tuple[list[str], list[dict]]:
    """Word-segmentation F1 of the analysis (scripts/segmentation_f1.py) on the gold files present."""
    spec = importlib.util.spec_from_file_location("segmentation_f1", REPO / "scripts" / "segmentation_f1.py")
    assert spec and spec.loader
    seg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seg)
    lines = [f"{'segmentation gold file':36} {'sent.':>6} {'words':>7}  {'P':>6} {'R':>6} {'F1':>6}   {'pyvi F1':>7}"]
    data = []
    for path in seg.DEFAULT_GOLD:
        if not path.exists():
            lines.append(f"{path.name:36} (not found)")
            continue
        r = seg.evaluate(path)
        p, rec, f1 = r["ours"]
        lines.append(
            f"{r['file']:36} {r['sentences']:>6} {r['words']:>7}  {p:6.4f} {rec:6.4f} {f1:6.4f}   {r['pyvi'][2]:7.4f}"
        )
        data.append({"file": r["file"], "precision": p, "recall": rec, "f1": f1, "pyvi_f1": r["pyvi"][2]})
    return lines, data


def set_knobs(assignments: Iterable[str]) -> dict[str, float]:
    """Apply NAME=VALUE overrides to the ranking knobs of search_service.query; returns all knob values."""
    for a in assignments:
        name, _, value = a.partition("=")
        if name not in KNOBS:
            raise SystemExit(f"unknown knob {name!r}; knobs: {', '.join(KNOBS)}")
        current = getattr(query_module, name)
        setattr(query_module, name, type(current)(float(value)) if isinstance(current, int) else float(value))
    return {k: getattr(query_module, k) for k in KNOBS}


# --- structural prototypes (measured, not adopted: see the report) ----------------------------

#: Ranking changes that the knobs cannot express, prototyped by wrapping the engine's internals.
VARIANTS = {
    "skip-compound-pairs": "no proximity bonus for a syllable pair that pyvi joins into one query word",
}


def apply_variants(names: Iterable[str]) -> None:
    """Switch on prototype ranking variants (wrapping search_service.searching internals)."""
    from dataclasses import replace

    from search_service import searching

    for name in names:
        if name == "skip-compound-pairs":
            bonus = searching._phrase_bonus

            def skip_compounds(
                ds: Any, plan: Any, docs: Any, deadline: Any = None, _bonus: Callable = bonus
            ) -> Any:
                """The proximity bonus less what pairs that form one pyvi word of the query earned."""
                out = _bonus(ds, plan, docs, deadline)
                compounds = {w for _field, w, _weight in plan.word_terms}
                sylls = plan.syllables
                for a, b in itertools.pairwise(sylls):
                    forms = [x.exact if x.accented else x.folded for x in (a, b)]
                    if forms[0] != forms[1] and "_".join(forms) in compounds:
                        out = out - _bonus(ds, replace(plan, syllables=[a, b]), docs)
                return out

            searching._phrase_bonus = skip_compounds
        else:
            raise SystemExit(f"unknown variant {name!r}; variants: {', '.join(VARIANTS)}")


def main(argv: list[str] | None = None) -> int:
    """Build, run and print the whole table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: xquad, news, seg")
    parser.add_argument("--news-docs", type=int, default=DEFAULT_NEWS_DOCS, help="size of the VNTC collection")
    parser.add_argument("--news-queries", type=Path, default=NEWS_QUERIES, help="known-item query file")
    parser.add_argument("--engines", default="ours,fts5,tantivy", help="comma-separated: ours, fts5, tantivy")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE", help="override a ranking knob")
    parser.add_argument(
        "--variant", action="append", default=[], choices=sorted(VARIANTS), help="prototype ranking change"
    )
    parser.add_argument("--jobs", type=int, default=2, help="segmentation processes while indexing")
    parser.add_argument("--index-cache", type=Path, help="keep our indexes here and reuse them (development)")
    parser.add_argument("--json", type=Path, help="write every number to this file")
    args = parser.parse_args(argv)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = set(sets) - set(SETS)
    if unknown:
        parser.error(f"unknown set(s): {', '.join(sorted(unknown))}")
    knobs = set_knobs(args.knob)
    apply_variants(args.variant)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    makers: dict[str, Callable[[], Engine]] = {
        "ours": lambda: ServiceEngine(args.jobs, args.index_cache),
        "fts5": Fts5Engine,
        "tantivy": TantivyEngine,
    }
    engines = [makers[e.strip()] for e in args.engines.split(",") if e.strip()]
    out: dict = {"knobs": knobs, "k": K}
    print("ranking knobs: " + ", ".join(f"{k}={v}" for k, v in knobs.items()))
    if args.variant:
        print("prototype variants: " + ", ".join(args.variant))
    out["variants"] = args.variant
    for name in sets:
        if name == "seg":
            lines, data = segmentation_lines()
            print("\n" + "\n".join(lines))
            out["segmentation"] = data
            continue
        if name == "xquad":
            if not XQUAD_DOCS.exists():
                log(f"skipped xquad: {XQUAD_DOCS} not found")
                continue
            qs = load_xquad()
        else:
            if not VNTC.exists():
                log(f"skipped news: {VNTC} not found")
                continue
            qs = load_news(VNTC, args.news_queries, args.news_docs)
        rows = evaluate_set(qs, engines, log)
        print("\n" + format_table(f"{qs.name}: {qs.note}", rows))
        out[name] = {
            "collection": qs.note,
            "rows": [{"engine": r.engine, "form": r.form, **r.scores.to_dict()} for r in rows],
        }
        if qs.known_item:
            ties = {form: headline_ties(qs, fold=form == "unaccented") for form in FORMS}
            print(
                "headline ties: queries whose words also stand, in order, in another headline: "
                + ", ".join(f"{f} {n}" for f, (n, _) in ties.items())
                + "; MRR@10 if each such tie fell at random: "
                + " / ".join(f"{m:.3f}" for _, m in ties.values())
            )
            out[name]["headline_ties"] = {
                f: {"queries": n, "random_tie_mrr@10": round(m, 4)} for f, (n, m) in ties.items()
            }
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
