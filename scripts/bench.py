"""Benchmark indexing, search and HTTP serving, side by side with SQLite FTS5 and tantivy, in one run.

Usage: python scripts/bench.py [--corpus ../shared/data/news-vntc.jsonl.gz] [--limit N] [--queries N]
       [--query-log data/bench/queries.jsonl] [--jobs N] [--http-seconds 30] [--connections 16]
       [--no-fts5] [--no-tantivy] [--no-http] [--no-http-uncached] [--no-profile]
       [--index-dir DIR] [--workdir DIR] [--keep] [--json FILE]

What it measures (one table, with the target and PASS/MISS where the issue sets one):

- Indexing through the project's own pipeline: ``search-service index`` in a subprocess (segmentation
  in all cores), articles/s end to end (wall clock, start-up included) and as the ingest loop reports
  it, index size on disk, peak memory of the process tree (sum of RSS and of PSS of every process,
  sampled every 0.5 s; and the largest single process, from getrusage).
- Search through the code path of ``/api/search``: ``parse_request`` then ``SearchEngine.search`` (first
  page of 10, highlighted title and snippet, total and facets): every distinct query of the log
  uncached (and apart, each one's first search in the engine: the warm-up pass); the whole log
  replayed with the service's results cache (fresh engine, empty cache); the 10 most popular
  queries repeated (cached); the cost of opening a fresh engine and answering a first query,
  against the same query on a warm engine.
- The same distinct queries on SQLite FTS5 (``unicode61 remove_diacritics 2``, đ → d on both sides,
  implicit AND of quoted words, bm25 with the title weighted like ours, ``highlight()`` of the title
  and ``snippet()`` of the body) and on tantivy (lower case + ASCII folding, every word required,
  ``SnippetGenerator`` on the title and the body), built in the same run from the same articles;
  build times, and the ratios ours/theirs. Each engine gets one unmeasured warm-up pass first.
- Over HTTP: ``search-service serve --workers 2`` on a free loopback port, wrk with a Lua script
  that cycles through the replayed log's URLs for ``--http-seconds`` at ``--connections``:
  requests/s, p50/p95/p99, non-2xx and socket errors, each worker's RSS at the start and the end,
  and the start-up time (launch to /healthz, launch to the first /api/search answer). Then the same
  with the results cache off (SEARCH_CACHE_SIZE=0). Skipped, saying how to install it, without wrk.
- Where the time of an uncached search goes (cProfile over the distinct queries), printed after the
  table.

Targets are the issue's, for the full VNTC corpus on a 2-core machine; "popular queries repeated
<= 1 ms" is checked at p95, "ahead of FTS5" as ours/FTS5 <= 1 at each percentile. On a shared
machine wall-clock figures swell with the load average (printed); the CPU-time rows much less.

``--limit N`` takes N articles spread evenly over the corpus (every k-th accepted article); without
it the corpus file itself is indexed. Benchmarks are not timed tests: the smoke test only checks
that the table has its rows.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import math
import os
import pstats
import random
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search_service.articles import HANOI, Article, Rejection  # noqa: E402
from search_service.errors import BadRecord  # noqa: E402
from search_service.normalize import to_article  # noqa: E402
from search_service.query import parse_request  # noqa: E402
from search_service.searching import SearchEngine  # noqa: E402
from search_service.sources import read_paths  # noqa: E402
from search_service.store import IndexStore  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "news-vntc.jsonl.gz"
DEFAULT_LOG = REPO / "data" / "bench" / "queries.jsonl"
REPLAY_SEED = 20250607  # order of the replayed log
POPULAR = 10  # the most popular queries, repeated
POPULAR_REPEATS = 50
OPEN_TRIALS = 5
TITLE_WEIGHT = 2.5  # the reference engines weigh the title like ours (query.TITLE_WEIGHT)
SNIPPET_CHARS = 240  # like highlight.SNIPPET_CHARS
FTS5_SNIPPET_TOKENS = 40  # about 240 characters of Vietnamese
SAMPLE_SECONDS = 0.5
SERVER_START_TIMEOUT = 120.0
PROFILE_TIME_BUDGET = 600.0  # seconds

# Targets from the issue (full VNTC corpus, this 2-core machine).
T_SEARCH = {"p50": 10.0, "p95": 40.0, "p99": 100.0}  # ms, uncached with snippets
T_POPULAR_P95 = 1.0  # ms, popular queries repeated
T_VS_FTS5 = 1.0  # ours/FTS5 at each percentile: ahead of it
T_VS_TANTIVY = 10.0  # ours/tantivy: within 10x
T_HTTP_RPS = 200.0
T_HTTP_P99 = 250.0  # ms
T_WORKER_RSS_MB = 300.0
T_INDEX_RATE = 150.0  # articles/s end to end
T_STARTUP_S = 3.0


# -- query log -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedQuery:
    """One distinct query of the log: text, filters, popularity rank and repeat count."""

    rank: int
    q: str
    count: int
    section: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    def params(self) -> dict[str, str]:
        """URL/API parameters, as /api/search receives them."""
        out = {"q": self.q}
        if self.section:
            out["section"] = self.section
        if self.date_from:
            out["from"] = self.date_from
        if self.date_to:
            out["to"] = self.date_to
        return out

    def url(self) -> str:
        """The /api/search path and query string."""
        return "/api/search?" + urllib.parse.urlencode(self.params())

    def label(self) -> str:
        """Short text for reports."""
        extra = "".join(f" [{k}={v}]" for k, v in self.params().items() if k != "q")
        return self.q + extra


def load_query_log(path: Path, distinct: int | None) -> tuple[list[LoggedQuery], list[LoggedQuery], dict]:
    """(distinct queries by rank, the replayed log in a fixed shuffled order, the log's meta line)."""
    meta: dict = {}
    queries: list[LoggedQuery] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if "meta" in row:
                meta = row["meta"]
                continue
            queries.append(
                LoggedQuery(
                    row["rank"], row["q"], int(row["count"]), row.get("section"), row.get("from"), row.get("to")
                )
            )
    queries.sort(key=lambda x: x.rank)
    if distinct is not None and distinct < len(queries):
        # Spread over the ranks, so a short run keeps both popular queries and the tail.
        step = len(queries) / distinct
        queries = [queries[int(i * step)] for i in range(distinct)]
    replay = [q for q in queries for _ in range(q.count)]
    random.Random(REPLAY_SEED).shuffle(replay)
    return queries, replay, meta


# -- corpus --------------------------------------------------------------------------------------


@dataclass
class Corpus:
    """The articles every engine gets, and what was read to find them."""

    path: Path
    file_bytes: int
    read: int
    accepted: int
    articles: list[Article]
    raw: list[dict]

    @property
    def syllables_estimate(self) -> int:
        """Whitespace-separated tokens of titles and bodies (about the number of syllables)."""
        return sum(len(a.title.split()) + len((a.body or "").split()) for a in self.articles)


def load_corpus(path: Path, limit: int | None) -> Corpus:
    """Every article the project's normaliser accepts; with ``limit``, that many spread evenly.

    The raw records are kept only with ``limit`` (they are written out for our indexer to read).
    """
    articles: list[Article] = []
    raw: list[dict] = []
    read = 0
    for item in read_paths([str(path)]):
        read += 1
        if isinstance(item, Rejection):
            continue
        try:
            article = to_article(item.fields)
        except BadRecord:
            continue
        articles.append(article)
        if limit is not None:
            raw.append(item.fields)
    accepted = len(articles)
    if limit is not None and limit < accepted:
        picks = [int(i * accepted / limit) for i in range(limit)]
        articles = [articles[i] for i in picks]
        raw = [raw[i] for i in picks]
    return Corpus(path, path.stat().st_size, read, accepted, articles, raw)


def indexed_text(article: Article) -> str:
    """The body text our index searches (summary + body), for the reference engines."""
    return "\n".join(part for part in (article.summary, article.body) if part)


# -- processes and memory ------------------------------------------------------------------------


def _ppid_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (children, their children, ...)."""
    children = _ppid_map()
    out: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid``."""
    return sorted(_ppid_map().get(pid, []))


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a living process has used so far, seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of a process (VmRSS), MB."""
    return _status_kb(pid, "VmRSS") / 1024


def pss_mb(pid: int) -> float:
    """Proportional set size (shared pages split between their users), MB; 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class TreeSampler(threading.Thread):
    """Samples the summed RSS and PSS of a process and its descendants until stopped."""

    def __init__(self, pid: int, every: float = SAMPLE_SECONDS) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.every = every
        self.peak_rss_mb = 0.0
        self.peak_pss_mb = 0.0
        self.peak_processes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Sample until stop() is called."""
        while not self._stop_event.is_set():
            pids = [self.pid, *descendants(self.pid)]
            self.peak_rss_mb = max(self.peak_rss_mb, sum(rss_mb(p) for p in pids))
            self.peak_pss_mb = max(self.peak_pss_mb, sum(pss_mb(p) for p in pids))
            self.peak_processes = max(self.peak_processes, len(pids))
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        """End sampling and wait for the thread."""
        self._stop_event.set()
        self.join()


def dir_bytes(path: Path) -> int:
    """Total size of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def cli_command(*args: str) -> list[str]:
    """The `search-service` command of this Python (the console script, else ``-m``)."""
    script = Path(sys.executable).with_name("search-service")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "search_service.cli", *args]


# -- indexing (ours) -----------------------------------------------------------------------------


def index_ours(source: Path, index_dir: Path, jobs: int | None, logdir: Path) -> dict:
    """Run `search-service index` and measure it: wall time, rate, index size, peak memory."""
    cmd = cli_command("index", str(source), "--index-dir", str(index_dir), "--json", "--no-progress")
    if jobs:
        cmd += ["--jobs", str(jobs)]
    out_path, err_path = logdir / "index.stdout", logdir / "index.stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        # wait4 gives the rusage of this child and its waited-for descendants (the pool workers).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    stdout = out_path.read_text(encoding="utf-8")
    if proc.returncode not in (0, 3):  # 3: done, some records rejected
        raise SystemExit(f"indexing failed ({proc.returncode}): {err_path.read_text(encoding='utf-8')[-2000:]}")
    summary = json.loads(stdout.strip().splitlines()[-1])
    return {
        "command": " ".join(cmd),
        "exit_status": proc.returncode,
        "summary": summary,
        "wall_seconds": round(wall, 3),
        "articles_per_second_end_to_end": round(summary["indexed"] / wall, 1) if wall else 0.0,
        "articles_per_second_ingest": summary.get("articles_per_second"),
        "index_bytes": dir_bytes(index_dir),
        "peak_tree_rss_mb": round(sampler.peak_rss_mb, 1),
        "peak_tree_pss_mb": round(sampler.peak_pss_mb, 1),
        "peak_processes": sampler.peak_processes,
        "max_process_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "jobs": jobs or os.cpu_count(),
    }


class WarningCounter(logging.Handler):
    """Counts (and keeps a few of) the warnings the service logs, e.g. a search out of its time budget."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.examples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Count one record."""
        self.count += 1
        if len(self.examples) < 5:
            self.examples.append(record.getMessage()[:200])


SERVICE_WARNINGS = WarningCounter()
logging.getLogger("search_service").addHandler(SERVICE_WARNINGS)


def warnings_during(fn: Callable[[], object]) -> tuple[object, int]:
    """(result of fn(), number of warnings the service logged meanwhile)."""
    before = SERVICE_WARNINGS.count
    result = fn()
    return result, SERVICE_WARNINGS.count - before


def git_state() -> str:
    """The checked-out commit, with "+changes" when search_service/ has uncommitted edits."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "search_service"], capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "") if head.returncode == 0 else "unknown"


def profiling_engine(store: IndexStore) -> SearchEngine:
    """An engine whose time budget will not cut searches short under the profiler's overhead."""
    try:
        return SearchEngine(store, time_budget=PROFILE_TIME_BUDGET)  # type: ignore[call-arg]
    except TypeError:
        return SearchEngine(store)


# -- latency helpers -----------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100), linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarize(ms: list[float]) -> dict:
    """p50/p95/p99/mean/max of latencies in ms."""
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 3),
        "p95": round(percentile(ms, 95), 3),
        "p99": round(percentile(ms, 99), 3),
        "mean": round(statistics.fmean(ms), 3) if ms else float("nan"),
        "max": round(max(ms), 3) if ms else float("nan"),
    }


def timed_cpu(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall milliseconds, CPU milliseconds of this process, result) of one call."""
    t, c = time.perf_counter(), time.process_time()
    result = fn()
    return (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000, result


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """(milliseconds, result) of one call."""
    t = time.perf_counter()
    result = fn()
    return (time.perf_counter() - t) * 1000, result


# -- search (ours) -------------------------------------------------------------------------------


NONFINITE_SCORES: list[str] = []  # queries whose results came back with a NaN or infinite score


def ours_once(engine: SearchEngine, query: LoggedQuery, use_cache: bool) -> list[str]:
    """One /api/search-like call: parse the parameters, search, return the result ids."""
    page = engine.search(parse_request(query.params()), use_cache=use_cache)
    if any(h.score is not None and not math.isfinite(h.score) for h in page.results):
        NONFINITE_SCORES.append(query.label())
    return [hit.id for hit in page.results]


def bench_ours(index_dir: Path, distinct: list[LoggedQuery], replay: list[LoggedQuery]) -> dict:
    """Uncached latencies, the replayed log with the cache, popular repeats, open/reuse cost."""
    store = IndexStore(index_dir)
    out: dict = {}

    # Open cost: a fresh engine answering its first query, against the same query on a warm engine.
    probes = distinct[:OPEN_TRIALS]
    open_first, warm_same, open_alone = [], [], []
    for q in probes:
        t = time.perf_counter()
        engine = SearchEngine(store)
        ours_once(engine, q, use_cache=False)
        open_first.append((time.perf_counter() - t) * 1000)
        warm_same.append(timed(lambda e=engine, q=q: ours_once(e, q, use_cache=False))[0])
        engine.close()
        engine = SearchEngine(store)
        open_alone.append(timed(engine.health)[0])
        engine.close()
    out["open_and_first_query_ms"] = round(statistics.median(open_first), 3)
    out["same_query_warm_ms"] = round(statistics.median(warm_same), 3)
    out["searcher_open_ms"] = round(statistics.median(open_alone), 3)

    engine = SearchEngine(store)
    try:
        order = list(distinct)
        random.Random(REPLAY_SEED).shuffle(order)
        # The warm-up pass is each query's first search in this engine: kept apart, as what a
        # query nobody asked before costs (term postings read, highlight patterns compiled).
        first_ms = [timed(lambda q=q: ours_once(engine, q, use_cache=False))[0] for q in order]
        out["uncached_first"] = summarize(first_ms)
        per_query, cpu, ids = [], [], {}
        before = SERVICE_WARNINGS.count
        for q in order:
            ms, cpu_ms, result = timed_cpu(lambda q=q: ours_once(engine, q, use_cache=False))
            per_query.append((q.label(), round(ms, 3)))
            cpu.append(cpu_ms)
            ids[q.label()] = result
        out["uncached"] = summarize([ms for _, ms in per_query])
        out["uncached"]["warnings"] = SERVICE_WARNINGS.count - before
        out["uncached"]["nonfinite_score_queries"] = sorted(set(NONFINITE_SCORES))
        out["uncached_cpu"] = summarize(cpu)
        out["uncached_per_query_ms"] = per_query
        out["ids"] = ids
    finally:
        engine.close()

    engine = SearchEngine(store)  # an empty cache, as after a deploy
    try:
        seen: set[str] = set()
        replay_ms, misses = [], 0
        for q in replay:
            if q.label() not in seen:
                seen.add(q.label())
                misses += 1
            replay_ms.append(timed(lambda q=q: ours_once(engine, q, use_cache=True))[0])
        out["replay_cached"] = summarize(replay_ms)
        out["replay_cached"]["first_occurrences"] = misses
        out["replay_cached"]["repeat_share"] = round(1 - misses / len(replay), 3) if replay else 0.0
        popular = sorted(distinct, key=lambda x: x.rank)[:POPULAR]
        popular_ms = [
            timed(lambda q=q: ours_once(engine, q, use_cache=True))[0] for _ in range(POPULAR_REPEATS) for q in popular
        ]
        out["popular_repeated"] = summarize(popular_ms)
        out["popular_repeated"]["queries"] = [q.label() for q in popular]
    finally:
        engine.close()
    return out


def profile_ours(index_dir: Path, distinct: list[LoggedQuery], top: int = 14) -> dict:
    """Where uncached search time goes: cProfile over the distinct queries (caches already warm)."""
    engine = profiling_engine(IndexStore(index_dir))
    try:
        engine.health()  # open the searcher outside the profile
        prof = cProfile.Profile()
        started = time.perf_counter()
        prof.enable()
        for q in distinct:
            ours_once(engine, q, use_cache=False)
        prof.disable()
        total_ms = (time.perf_counter() - started) * 1000
    finally:
        engine.close()
    stats = pstats.Stats(prof)
    n = max(1, len(distinct))
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = _short_path(filename)
        if where is None:
            continue
        rows.append(
            {
                "function": f"{where}:{line}({func})",
                "calls_per_query": round(ncalls / n, 1),
                "cum_ms_per_query": round(cumtime * 1000 / n, 3),
                "self_ms_per_query": round(tottime * 1000 / n, 3),
            }
        )
    return {
        "queries": len(distinct),
        "profiled_ms_per_query": round(total_ms / n, 3),
        "by_cumulative": sorted(rows, key=lambda r: -r["cum_ms_per_query"])[:top],
        "by_self": sorted(rows, key=lambda r: -r["self_ms_per_query"])[:top],
    }


def _short_path(filename: str) -> str | None:
    """``search_service/...`` or ``whoosh/...`` for our code and Whoosh's; None for anything else."""
    for marker in ("search_service/", "whoosh/"):
        i = filename.rfind(marker)
        if i != -1:
            return filename[i:]
    return None


# -- reference engines ---------------------------------------------------------------------------

_D = str.maketrans({"đ": "d", "Đ": "D"})


def query_words(q: str) -> list[str]:
    """Whitespace-separated words with quote marks and backslashes removed; words with no letter dropped."""
    words = [w.replace('"', "").replace("\\", "") for w in q.split()]
    return [w for w in words if any(ch.isalnum() for ch in w)]


def day_bounds_utc(query: LoggedQuery) -> tuple[datetime | None, datetime | None]:
    """The query's date range as UTC instants, the way ours reads it (Hanoi days, end exclusive)."""

    def start_of(d: date) -> datetime:
        return datetime.combine(d, dtime(0, 0), tzinfo=HANOI).astimezone(UTC)

    lo = start_of(date.fromisoformat(query.date_from)) if query.date_from else None
    hi = start_of(date.fromisoformat(query.date_to) + timedelta(days=1)) if query.date_to else None
    return lo, hi


class Fts5:
    """SQLite FTS5 over title + body: external content (original text), index of đ→d-mapped text."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path))
        self.ids: list[str] = []

    def build(self, articles: list[Article]) -> dict:
        """Create and fill the tables in one transaction, then optimise; returns timings."""
        started = time.perf_counter()
        db = self.db
        db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE docs(rowid INTEGER PRIMARY KEY, title TEXT, body TEXT, section TEXT, published TEXT);
            CREATE VIRTUAL TABLE fts USING fts5(
                title, body, section UNINDEXED, published UNINDEXED,
                content='docs', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
            );
            """
        )
        with db:
            for rowid, a in enumerate(articles):
                self.ids.append(a.id)
                body = indexed_text(a)
                published = a.published.astimezone(UTC).isoformat() if a.published else None
                db.execute("INSERT INTO docs VALUES (?, ?, ?, ?, ?)", (rowid, a.title, body, a.section, published))
                db.execute(
                    "INSERT INTO fts(rowid, title, body, section, published) VALUES (?, ?, ?, ?, ?)",
                    (rowid, a.title.translate(_D), body.translate(_D), a.section, published),
                )
        db.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        db.commit()
        seconds = time.perf_counter() - started
        return {
            "seconds": round(seconds, 3),
            "articles_per_second": round(len(articles) / seconds, 1) if seconds else 0.0,
            "bytes": self.path.stat().st_size,
            "sqlite_version": sqlite3.sqlite_version,
        }

    def search(self, query: LoggedQuery) -> list[tuple[str, str, str]]:
        """Top 10 by bm25: (id, highlighted title, snippet)."""
        words = query_words(query.q.translate(_D))
        if not words:
            return []
        match = " ".join('"' + w + '"' for w in words)
        sql = (
            "SELECT rowid, highlight(fts, 0, '<mark>', '</mark>'), "
            f"snippet(fts, 1, '<mark>', '</mark>', '…', {FTS5_SNIPPET_TOKENS}) FROM fts WHERE fts MATCH ?"
        )
        args: list[object] = [match]
        if query.section:
            sql += " AND section = ?"
            args.append(query.section)
        lo, hi = day_bounds_utc(query)
        if lo:
            sql += " AND published >= ?"
            args.append(lo.isoformat())
        if hi:
            sql += " AND published < ?"
            args.append(hi.isoformat())
        sql += f" ORDER BY bm25(fts, {TITLE_WEIGHT}, 1.0, 0.0, 0.0) LIMIT 10"
        return [(self.ids[r], t, s) for r, t, s in self.db.execute(sql, args)]

    def close(self) -> None:
        """Close the database."""
        self.db.close()


class Tantivy:
    """tantivy over title + body: simple tokenizer, lower case, ASCII folding (đ → d)."""

    def __init__(self, path: Path) -> None:
        import tantivy

        self.t = tantivy
        self.path = path
        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        sb.add_text_field("title", stored=True, tokenizer_name="vi_fold")
        sb.add_text_field("body", stored=True, tokenizer_name="vi_fold")
        sb.add_text_field("section", stored=True, tokenizer_name="raw")
        sb.add_date_field("published", stored=False, indexed=True, fast=True)
        self.schema = sb.build()
        self.index = tantivy.Index(self.schema, str(path))
        analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(40))
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold())
            .build()
        )
        self.index.register_tokenizer("vi_fold", analyzer)
        self.searcher = None

    def build(self, articles: list[Article]) -> dict:
        """Add every article, commit, wait for merges; returns timings."""
        t = self.t
        started = time.perf_counter()
        writer = self.index.writer(heap_size=256_000_000)
        for a in articles:
            fields: dict = {"id": a.id, "title": a.title, "body": indexed_text(a)}
            if a.section:
                fields["section"] = a.section
            if a.published:
                fields["published"] = a.published.astimezone(UTC)
            writer.add_document(t.Document(**fields))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()
        seconds = time.perf_counter() - started
        return {
            "seconds": round(seconds, 3),
            "articles_per_second": round(len(articles) / seconds, 1) if seconds else 0.0,
            "bytes": dir_bytes(self.path),
            "tantivy_version": _version("tantivy"),
        }

    def search(self, query: LoggedQuery) -> list[tuple[str, str, str]]:
        """Top 10 by BM25, every word required: (id, highlighted title, snippet)."""
        t = self.t
        words = query_words(query.q)
        if not words:
            return []
        text = " ".join('"' + w + '"' for w in words)
        parsed = self.index.parse_query(
            text, ["title", "body"], field_boosts={"title": TITLE_WEIGHT}, conjunction_by_default=True
        )
        clauses = [(t.Occur.Must, parsed)]
        if query.section:
            term = t.Query.term_query(self.schema, "section", query.section)
            clauses.append((t.Occur.Must, t.Query.const_score_query(term, 0.0)))
        lo, hi = day_bounds_utc(query)
        if lo or hi:
            rng = t.Query.range_query(self.schema, "published", t.FieldType.Date, lo, hi, True, hi is None)
            clauses.append((t.Occur.Must, t.Query.const_score_query(rng, 0.0)))
        final = t.Query.boolean_query(clauses) if len(clauses) > 1 else parsed
        hits = self.searcher.search(final, 10).hits
        if not hits:
            return []
        body_gen = t.SnippetGenerator.create(self.searcher, parsed, self.schema, "body")
        body_gen.set_max_num_chars(SNIPPET_CHARS)
        title_gen = t.SnippetGenerator.create(self.searcher, parsed, self.schema, "title")
        title_gen.set_max_num_chars(1000)
        out = []
        for _score, address in hits:
            doc = self.searcher.doc(address)
            out.append(
                (doc["id"][0], title_gen.snippet_from_doc(doc).to_html(), body_gen.snippet_from_doc(doc).to_html())
            )
        return out

    def close(self) -> None:
        """Drop the searcher."""
        self.searcher = None


def bench_reference(search: Callable[[LoggedQuery], list], distinct: list[LoggedQuery]) -> dict:
    """Warm-up pass, then one measured pass over the distinct queries (same order as ours)."""
    order = list(distinct)
    random.Random(REPLAY_SEED).shuffle(order)
    for q in order:
        search(q)
    per_query, cpu, ids = [], [], {}
    for q in order:
        ms, cpu_ms, result = timed_cpu(lambda q=q: search(q))
        per_query.append((q.label(), round(ms, 3)))
        cpu.append(cpu_ms)
        ids[q.label()] = [r[0] for r in result]  # type: ignore[union-attr]
    return {
        "uncached": summarize([ms for _, ms in per_query]),
        "uncached_cpu": summarize(cpu),
        "per_query_ms": per_query,
        "ids": ids,
    }


def agreement(ours: dict[str, list[str]], theirs: dict[str, list[str]]) -> dict:
    """How often the engines find something, and how much of their top 10 ours also returns."""
    overlaps = [len(set(ours.get(k, [])) & set(v)) / len(v) for k, v in theirs.items() if v]
    return {
        "ours_with_hits": sum(1 for v in ours.values() if v),
        "theirs_with_hits": sum(1 for v in theirs.values() if v),
        "mean_share_of_their_top10_in_ours": round(statistics.fmean(overlaps), 3) if overlaps else None,
    }


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# -- HTTP ----------------------------------------------------------------------------------------

WRK_LUA = """
local paths = {%(paths)s}
local counter = 0
function setup(thread)
  thread:set("offset", counter * %(stride)d)
  counter = counter + 1
end
function init(args)
  n = offset or 0
end
function request()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %%.0f, "duration_us": %%.0f, "bytes": %%.0f, "connect": %%.0f, "read": %%.0f, ' ..
    '"write": %%.0f, "status": %%.0f, "timeout": %%.0f, "p50_us": %%.0f, "p90_us": %%.0f, "p95_us": %%.0f, ' ..
    '"p99_us": %%.0f, "max_us": %%.0f, "mean_us": %%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def _body(url: str) -> str:
    """The body of an answer, error or not (for messages)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode("utf-8", "replace")[:500]
    except urllib.error.HTTPError as exc:
        return exc.read().decode("utf-8", "replace")[:500]
    except (urllib.error.URLError, OSError) as exc:
        return str(exc)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server we started: SIGTERM to its process group, SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def run_wrk(base: str, lua: Path, seconds: int, connections: int, threads: int, out: Path) -> tuple[dict, str]:
    """Run wrk with the log-cycling script; (its summary, the command line)."""
    wrk = [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
        "--timeout", "10s", "--latency", "-s", str(lua), base,
    ]  # fmt: skip
    done = subprocess.run(wrk, capture_output=True, text=True, timeout=seconds + 60)
    out.write_text(done.stdout + done.stderr, encoding="utf-8")
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {done.stdout[-500:]} {done.stderr[-500:]}")
    return json.loads(line.removeprefix("BENCH_JSON ")), " ".join(wrk)


def bench_http(
    index_dir: Path,
    replay: list[LoggedQuery],
    first: LoggedQuery,
    seconds: int,
    connections: int,
    threads: int,
    logdir: Path,
    cache_size: int | None,
    label: str,
    warmup: int = 0,
) -> dict:
    """Start `search-service serve --workers 2`, measure start-up, run wrk, read worker RSS, stop it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    if cache_size is not None:
        env["SEARCH_CACHE_SIZE"] = str(cache_size)
    cmd = cli_command(
        "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--index-dir", str(index_dir)
    )
    log = open(logdir / f"serve-{label}.log", "w")  # noqa: SIM115 (closed below)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    out: dict = {"command": " ".join(cmd), "cache_size": cache_size}
    try:
        deadline = started + SERVER_START_TIMEOUT
        while (status := _get(base + "/healthz", timeout=2)) != 200:
            if status not in (0, 502):  # answered, but not healthy (no usable index): no point waiting
                raise RuntimeError(f"/healthz answered {status}: {_body(base + '/healthz')}")
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"server did not start; see {logdir / f'serve-{label}.log'}")
            time.sleep(0.02)
        out["healthz_seconds"] = round(time.perf_counter() - started, 3)
        status = _get(base + first.url(), timeout=30)
        out["first_search_seconds"] = round(time.perf_counter() - started, 3)
        out["first_search_status"] = status
        workers = child_pids(proc.pid)
        out["workers"] = workers
        out["rss_start_mb"] = [round(rss_mb(p), 1) for p in workers]
        out["pss_start_mb"] = [round(pss_mb(p), 1) for p in workers]
        lua = logdir / f"wrk-{label}.lua"
        paths = ",".join(json.dumps(q.url()) for q in replay)
        lua.write_text(WRK_LUA % {"paths": paths, "stride": max(1, len(replay) // max(1, threads))}, encoding="utf-8")
        if warmup > 0:  # unmeasured: fills the workers' caches and warms their searchers
            warm, _ = run_wrk(base, lua, warmup, connections, threads, logdir / f"wrk-{label}-warmup.out")
            out["warmup"] = {"seconds": warmup, "requests": int(warm["requests"]), "errors": int(warm["status"])}
        cpu_before = {p: cpu_seconds(p) for p in child_pids(proc.pid)}
        w, command = run_wrk(base, lua, seconds, connections, threads, logdir / f"wrk-{label}.out")
        out["command_wrk"] = command
        duration = w["duration_us"] / 1e6
        out["wrk"] = w
        out["requests"] = int(w["requests"])
        out["requests_per_second"] = round(w["requests"] / duration, 1) if duration else 0.0
        out["p50_ms"] = round(w["p50_us"] / 1000, 2)
        out["p95_ms"] = round(w["p95_us"] / 1000, 2)
        out["p99_ms"] = round(w["p99_us"] / 1000, 2)
        out["non_2xx"] = int(w["status"])
        out["socket_errors"] = int(w["connect"] + w["read"] + w["write"] + w["timeout"])
        now = child_pids(proc.pid)
        cpu_used = sum(cpu_seconds(p) - cpu_before.get(p, 0.0) for p in now)
        out["worker_cpu_seconds"] = round(cpu_used, 2)
        out["worker_cpu_ms_per_request"] = round(cpu_used * 1000 / w["requests"], 2) if w["requests"] else None
        out["workers_end"] = now
        out["rss_end_mb"] = [round(rss_mb(p), 1) for p in now]
        out["pss_end_mb"] = [round(pss_mb(p), 1) for p in now]
        out["master_rss_mb"] = round(rss_mb(proc.pid), 1)
    finally:
        _stop(proc)
        log.close()
    return out


# -- the table -----------------------------------------------------------------------------------


@dataclass
class Table:
    """Rows of (section, measure, value, target, mark)."""

    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def add(self, section: str, measure: str, value: str, target: str = "", ok: bool | None = None) -> None:
        """One row; ``ok`` None means no target."""
        mark = "" if ok is None else ("PASS" if ok else "MISS")
        self.rows.append((section, measure, value, target, mark))

    def render(self) -> str:
        """Aligned plain-text table."""
        head = ("section", "measure", "value", "target", "")
        rows = [head, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = []
        for n, r in enumerate(rows):
            lines.append("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(r)))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(line.rstrip() for line in lines)


def ms(x: float) -> str:
    """Milliseconds, short."""
    return f"{x:.2f} ms" if x < 10 else f"{x:.1f} ms"


def mb(x: float) -> str:
    """Megabytes."""
    return f"{x:.0f} MB" if x >= 10 else f"{x:.1f} MB"


def ratio(a: float, b: float) -> float:
    """a / b, or infinity when b is 0."""
    return a / b if b else float("inf")


def fill_table(results: dict) -> Table:
    """Every measured number as a row, with its target where the issue sets one."""
    t = Table()
    ix = results.get("index_ours")
    if ix:
        rate = ix["articles_per_second_end_to_end"]
        t.add(
            "indexing",
            "ours: articles/s end to end (wall)",
            f"{rate:.1f}",
            f">= {T_INDEX_RATE:.0f}",
            rate >= T_INDEX_RATE,
        )
        t.add("indexing", "ours: articles/s in the ingest loop", f"{ix['articles_per_second_ingest']}")
        t.add("indexing", "ours: seconds (wall)", f"{ix['wall_seconds']:.1f} s")
        t.add("indexing", "ours: jobs / CPU seconds", f"{ix['jobs']} / {ix['cpu_seconds']:.0f} s")
        indexed = ix["summary"]["indexed"]
        if indexed and ix["cpu_seconds"]:
            t.add(
                "indexing", "ours: CPU ms per article (all processes)", f"{ix['cpu_seconds'] * 1000 / indexed:.1f} ms"
            )
        t.add("indexing", "ours: index size", mb(ix["index_bytes"] / 1e6))
        t.add("indexing", "ours: peak RSS, process tree (sum)", mb(ix["peak_tree_rss_mb"]))
        t.add("indexing", "ours: peak PSS, process tree (sum)", mb(ix["peak_tree_pss_mb"]))
        t.add("indexing", "ours: peak RSS, largest process", mb(ix["max_process_rss_mb"]))
    elif results.get("index_reused"):
        t.add("indexing", "ours", f"skipped (reused {results['index_reused']})")
    for name, key in (("FTS5", "fts5_build"), ("tantivy", "tantivy_build")):
        b = results.get(key)
        if b:
            t.add("indexing", f"{name}: articles/s (build)", f"{b['articles_per_second']:.0f}")
            t.add("indexing", f"{name}: seconds / size", f"{b['seconds']:.1f} s / {mb(b['bytes'] / 1e6)}")

    ours = results["ours"]
    u = ours["uncached"]
    for p in ("p50", "p95", "p99"):
        t.add(
            "search", f"ours uncached {p} ({u['n']} queries)", ms(u[p]), f"<= {T_SEARCH[p]:.0f} ms", u[p] <= T_SEARCH[p]
        )
    for name, key in (("FTS5", "fts5"), ("tantivy", "tantivy")):
        if key in results:
            r = results[key]["uncached"]
            for p in ("p50", "p95", "p99"):
                t.add("search", f"{name} uncached {p}", ms(r[p]))
    for name, r in (("ours", ours), ("FTS5", results.get("fts5")), ("tantivy", results.get("tantivy"))):
        if r and "uncached_cpu" in r:
            c = r["uncached_cpu"]
            t.add(
                "search",
                f"{name} uncached CPU time p50 / p95 / p99",
                f"{c['p50']:.1f} / {c['p95']:.1f} / {c['p99']:.1f} ms",
            )
    if "fts5" in results:
        r = results["fts5"]["uncached"]
        for p in ("p50", "p95", "p99"):
            x = ratio(u[p], r[p])
            t.add("search", f"ratio ours/FTS5 {p}", f"{x:.2f}", f"<= {T_VS_FTS5:.0f}", x <= T_VS_FTS5)
    if "tantivy" in results:
        r = results["tantivy"]["uncached"]
        for p in ("p50", "p95", "p99"):
            x = ratio(u[p], r[p])
            t.add("search", f"ratio ours/tantivy {p}", f"{x:.1f}", f"<= {T_VS_TANTIVY:.0f}", x <= T_VS_TANTIVY)
    t.add("search", "ours uncached: searches that logged a warning", str(u.get("warnings", 0)))
    if "uncached_first" in ours:
        f = ours["uncached_first"]
        t.add(
            "search",
            "ours first search of each query p50 / p95 / p99",
            f"{f['p50']:.1f} / {f['p95']:.1f} / {f['p99']:.1f} ms",
        )
    rc = ours["replay_cached"]
    for p in ("p50", "p95", "p99"):
        t.add("search", f"ours log replay, cached {p} ({rc['n']} req)", ms(rc[p]))
    t.add("search", "ours log replay: repeats of earlier queries", f"{rc['repeat_share'] * 100:.0f} %")
    pr = ours["popular_repeated"]
    for p in ("p50", "p95", "p99"):
        target = f"<= {T_POPULAR_P95:.0f} ms" if p == "p95" else ""
        ok = pr[p] <= T_POPULAR_P95 if p == "p95" else None
        t.add("search", f"ours popular repeated {p} ({pr['n']} req)", ms(pr[p]), target, ok)
    t.add("search", "ours open engine + first query (median)", ms(ours["open_and_first_query_ms"]))
    t.add("search", "ours same query, warm engine (median)", ms(ours["same_query_warm_ms"]))
    t.add("search", "ours searcher open alone (median)", ms(ours["searcher_open_ms"]))
    bad = u.get("nonfinite_score_queries", [])
    t.add("results", "ours: queries with a NaN/infinite score", str(len(bad)), "0", not bad)
    for name, key in (("FTS5", "agree_fts5"), ("tantivy", "agree_tantivy")):
        a = results.get(key)
        if a:
            share = a["mean_share_of_their_top10_in_ours"]
            t.add("results", f"queries with hits: ours / {name}", f"{a['ours_with_hits']} / {a['theirs_with_hits']}")
            t.add(
                "results", f"{name} top 10 also in ours' top 10", f"{share * 100:.0f} %" if share is not None else "-"
            )

    if results.get("tantivy_skipped"):
        t.add("search", "tantivy", "skipped (not installed)")
    for key, message in results.get("failures", {}).items():
        t.add("failed", key, message[:100])
    for label, key in (("HTTP", "http"), ("HTTP no cache", "http_uncached")):
        h = results.get(key)
        if not h:
            continue
        if "skipped" in h:
            t.add(label, "skipped", h["skipped"])
            continue
        targets = key == "http"
        rps = h["requests_per_second"]
        if h.get("warmup"):
            t.add(label, "warm-up, unmeasured", f"{h['warmup']['requests']} req in {h['warmup']['seconds']} s")
        t.add(label, f"requests/s ({h['requests']} req in {results['http_seconds']} s)", f"{rps:.0f}",
              f">= {T_HTTP_RPS:.0f}" if targets else "", rps >= T_HTTP_RPS if targets else None)  # fmt: skip
        t.add(label, "p50 / p95", f"{ms(h['p50_ms'])} / {ms(h['p95_ms'])}")
        t.add(label, "p99", ms(h["p99_ms"]), f"<= {T_HTTP_P99:.0f} ms" if targets else "",
              h["p99_ms"] <= T_HTTP_P99 if targets else None)  # fmt: skip
        errors = h["non_2xx"] + h["socket_errors"]
        t.add(label, "errors: non-2xx / socket", f"{h['non_2xx']} / {h['socket_errors']}",
              "0" if targets else "", errors == 0 if targets else None)  # fmt: skip
        if h.get("worker_cpu_ms_per_request") is not None:
            t.add(label, "workers' CPU time per request", ms(h["worker_cpu_ms_per_request"]))
        start_rss = max(h["rss_start_mb"] or [0])
        end_rss = max(h["rss_end_mb"] or [0])
        t.add(label, "worker RSS at start (largest)", mb(start_rss))
        t.add(label, "worker RSS at end (largest)", mb(end_rss), f"<= {T_WORKER_RSS_MB:.0f} MB" if targets else "",
              end_rss <= T_WORKER_RSS_MB if targets else None)  # fmt: skip
        t.add(label, "worker PSS at end (largest)", mb(max(h["pss_end_mb"] or [0])))
        t.add(label, "start-up: launch -> /healthz 200", f"{h['healthz_seconds']:.2f} s")
        ok = h["first_search_status"] == 200 and h["first_search_seconds"] <= T_STARTUP_S
        t.add(label, "start-up: launch -> first /api/search", f"{h['first_search_seconds']:.2f} s",
              f"<= {T_STARTUP_S:.0f} s" if targets else "", ok if targets else None)  # fmt: skip
    return t


def render_profile(profile: dict) -> str:
    """The cProfile summary as text."""
    lines = [
        f"Where an uncached search spends its time (cProfile, {profile['queries']} distinct queries, "
        f"{profile['profiled_ms_per_query']:.1f} ms/query under the profiler):",
        "  cumulative ms/query  calls/query  function",
    ]
    lines += [
        f"  {r['cum_ms_per_query']:>19.2f}  {r['calls_per_query']:>11.1f}  {r['function']}"
        for r in profile["by_cumulative"]
    ]
    lines += ["  self ms/query        calls/query  function"]
    lines += [
        f"  {r['self_ms_per_query']:>19.2f}  {r['calls_per_query']:>11.1f}  {r['function']}" for r in profile["by_self"]
    ]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="JSON Lines (gzipped or not) of articles.")
    p.add_argument("--limit", type=int, default=None, help="Use N articles spread evenly over the corpus.")
    p.add_argument("--query-log", type=Path, default=DEFAULT_LOG)
    p.add_argument("--queries", type=int, default=None, help="Use N distinct queries of the log (spread over ranks).")
    p.add_argument("--jobs", type=int, default=None, help="Segmentation processes [default: all cores].")
    p.add_argument("--http-seconds", type=int, default=30)
    p.add_argument("--http-warmup", type=int, default=10, help="Seconds of unmeasured load before each HTTP run.")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (the load generator shares the cores).")
    p.add_argument("--no-fts5", dest="fts5", action="store_false")
    p.add_argument("--no-tantivy", dest="tantivy", action="store_false")
    p.add_argument("--no-http", dest="http", action="store_false")
    p.add_argument("--no-http-uncached", dest="http_uncached", action="store_false")
    p.add_argument("--no-profile", dest="profile", action="store_false")
    p.add_argument("--index-dir", type=Path, default=None, help="Build our index here (reused if it exists).")
    p.add_argument("--workdir", type=Path, default=None, help="Scratch directory [default: a new temp dir].")
    p.add_argument("--keep", action="store_true", help="Keep the scratch directory (indexes, logs).")
    p.add_argument("--json", type=Path, default=None, help="Write every raw number to this file.")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    args = parse_args(argv)
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 1
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="search-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    logdir = workdir / "logs"
    logdir.mkdir(exist_ok=True)
    results: dict = {"started": datetime.now(UTC).isoformat(), "argv": sys.argv[1:], "cpus": os.cpu_count()}
    results["loadavg_start"] = os.getloadavg()
    try:
        _run(args, workdir, logdir, results)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace, workdir: Path, logdir: Path, results: dict) -> None:
    distinct, replay, log_meta = load_query_log(args.query_log, args.queries)
    _say(f"query log: {args.query_log} ({len(distinct)} distinct queries, {len(replay)} replayed)")
    t = time.perf_counter()
    corpus = load_corpus(args.corpus, args.limit)
    _say(f"corpus: {len(corpus.articles)} articles ({time.perf_counter() - t:.0f} s to read)")
    results["corpus"] = {
        "path": str(args.corpus),
        "file_mb": round(corpus.file_bytes / 1e6, 1),
        "records_read": corpus.read,
        "accepted": corpus.accepted,
        "used": len(corpus.articles),
        "limit": args.limit,
        "tokens": corpus.syllables_estimate,
    }
    results["query_log"] = {"path": str(args.query_log), "distinct": len(distinct), "replayed": len(replay)}
    results["query_log_meta"] = log_meta
    results["http_seconds"] = args.http_seconds
    results["git"] = git_state()
    results["versions"] = {
        "python": sys.version.split()[0],
        "whoosh": _version("whoosh") or _version("whoosh-reloaded"),
        "sqlite": sqlite3.sqlite_version,
        "tantivy": _version("tantivy"),
    }

    # 1. Our index, through the CLI.
    index_dir = args.index_dir or _fresh_dir(workdir / "index")
    if (index_dir / "CURRENT").exists():  # only an explicit --index-dir is reused
        results["index_reused"] = str(index_dir)
    else:
        if args.limit is not None:
            source = workdir / "corpus.jsonl"
            with open(source, "w", encoding="utf-8") as fh:
                for rec in corpus.raw:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            source = args.corpus
        _say(f"indexing {len(corpus.articles)} articles with search-service index ...")
        results["index_ours"] = index_ours(source, index_dir, args.jobs, logdir)
        _say(f"  {results['index_ours']['wall_seconds']:.0f} s")
        indexed = results["index_ours"]["summary"]["indexed"]
        if indexed != len(corpus.articles):
            _say(f"warning: ours indexed {indexed}, the reference engines get {len(corpus.articles)}")
    results["self_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    # 2. Our searches.
    _say("searching (ours) ...")
    ours = bench_ours(index_dir, distinct, replay)
    results["ours"] = {k: v for k, v in ours.items() if k != "ids"}

    # 3. Reference engines, same articles and queries.
    if args.fts5:
        _section(results, "fts5", lambda: _bench_fts5(workdir, corpus, distinct, ours["ids"], results))
    if args.tantivy:
        _section(results, "tantivy", lambda: _bench_tantivy(workdir, corpus, distinct, ours["ids"], results))
    corpus.articles.clear()
    corpus.raw.clear()

    if args.profile:
        _say("profiling (ours) ...")
        _section(results, "profile", lambda: results.__setitem__("profile", profile_ours(index_dir, distinct)))

    # 4. HTTP.
    if args.http:
        if shutil.which("wrk") is None:
            msg = "wrk not found: apt-get install -y wrk"
            _say(msg)
            results["http"] = {"skipped": msg}
        else:
            runs = [("http", None)] + ([("http_uncached", 0)] if args.http_uncached else [])
            for key, cache_size in runs:
                _say(f"HTTP ({key}): {args.http_seconds} s at {args.connections} connections ...")

                def run(key: str = key, cache_size: int | None = cache_size) -> None:
                    results[key] = bench_http(
                        index_dir, replay, distinct[0], args.http_seconds, args.connections,
                        args.wrk_threads, logdir, cache_size, key, args.http_warmup,
                    )  # fmt: skip

                _section(results, key, run)
    results["service_warnings"] = {"count": SERVICE_WARNINGS.count, "examples": SERVICE_WARNINGS.examples}
    results["loadavg_end"] = os.getloadavg()
    results["finished"] = datetime.now(UTC).isoformat()

    c = results["corpus"]
    print(
        f"Corpus: {c['path']} ({c['file_mb']} MB, {c['records_read']} records, {c['accepted']} accepted); "
        f"used {c['used']} articles (~{c['tokens'] / max(1, c['used']):.0f} tokens each)"
        + (f", --limit {c['limit']}" if c["limit"] else "")
    )
    print(
        f"Queries: {args.query_log.name}, {len(distinct)} distinct, {len(replay)} replayed "
        f"(popular = top {POPULAR} x {POPULAR_REPEATS}); machine: {results['cpus']} CPUs, "
        f"load {results['loadavg_start'][0]:.2f} at start, {results['loadavg_end'][0]:.2f} at the end"
    )
    if results["loadavg_start"][0] > (results["cpus"] or 1) or results["loadavg_end"][0] > (results["cpus"] or 1):
        print(
            "warning: the machine was busy (load average above the number of CPUs): wall-clock figures are "
            "inflated; the CPU-time rows are less sensitive to it"
        )
    print(f"Code: {results['git']}; " + ", ".join(f"{k} {v}" for k, v in results["versions"].items() if v))
    print()
    print(fill_table(results).render())
    if "profile" in results:
        print()
        print(render_profile(results["profile"]))
    if args.keep or args.workdir:
        print(f"\nscratch kept in {workdir}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"raw numbers: {args.json}")


def _section(results: dict, key: str, fn: Callable[[], object]) -> None:
    """Run one optional part of the benchmark; a failure is reported in the table, not fatal."""
    try:
        fn()
    except Exception as exc:  # the rest of the run is still worth printing
        message = f"{type(exc).__name__}: {exc}"
        _say(f"{key} failed: {message}")
        results.setdefault("failures", {})[key] = message


def _bench_fts5(workdir: Path, corpus: Corpus, distinct: list[LoggedQuery], ours_ids: dict, results: dict) -> None:
    """Build FTS5 from the corpus and run the distinct queries on it."""
    _say("FTS5: building and searching ...")
    fts = Fts5(workdir / "fts5.db")
    try:
        results["fts5_build"] = fts.build(corpus.articles)
        ref = bench_reference(fts.search, distinct)
        results["fts5"] = {k: v for k, v in ref.items() if k != "ids"}
        results["agree_fts5"] = agreement(ours_ids, ref["ids"])
    finally:
        fts.close()


def _bench_tantivy(workdir: Path, corpus: Corpus, distinct: list[LoggedQuery], ours_ids: dict, results: dict) -> None:
    """Build tantivy from the corpus and run the distinct queries on it (skipped if not installed)."""
    try:
        tv = Tantivy(_fresh_dir(workdir / "tantivy"))
    except ImportError:
        msg = "tantivy is not installed: pip install -e '.[bench]' (tantivy==0.27.0)"
        _say(msg)
        results["tantivy_skipped"] = msg
        return
    _say("tantivy: building and searching ...")
    try:
        results["tantivy_build"] = tv.build(corpus.articles)
        ref = bench_reference(tv.search, distinct)
        results["tantivy"] = {k: v for k, v in ref.items() if k != "ids"}
        results["agree_tantivy"] = agreement(ours_ids, ref["ids"])
    finally:
        tv.close()


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
