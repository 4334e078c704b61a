"""Serving while writing: gunicorn answers throughout adds, edits, deletes, batched ingests and a reindex.

Reader threads query the live service (searches for markers of the articles being changed, the
articles themselves, a query that matches every tracked article, popular queries with filters,
/healthz) while the test runs `search-service index`, `delete` and `reindex` against the same
index. Every answer is then checked against the time line of the writes:

* no request fails, none gets a 5xx;
* a request that starts after a write finished sees it: a new article is found, an edited one
  only in its new version, a deleted one never again (and never comes back after a reindex);
* no result list holds an article twice; /healthz never shows fewer articles than can exist;
* a new article appears within 2 s of its command's end (the delay is measured and reported).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from search_service import indexer
from search_service.indexer import ingest
from search_service.sources import read_paths
from search_service.store import IndexStore

from .service import Service, run_cli, sample_records, write_jsonl

APPEAR_WITHIN = 2.0  # seconds from a write's end to the new article being found
READERS = 3
RUN_LIMIT = 240.0  # seconds: the readers stop by themselves after this, whatever happens
MAX_REQUESTS = 60_000
PAUSE = 0.02  # seconds each reader waits between requests (leave the writer some CPU on 2 cores)
SHARED = "xqchung"  # a word every tracked article carries, in every version


@dataclass
class Tracked:
    """An article whose versions the test changes: states 0 (not yet), 1, 2 (edited), 3 (deleted)."""

    id: str
    record: dict
    markers: tuple[str, str]  # the word only version 1 has, the word only version 2 has
    initial: int = 0
    events: list[tuple[float, float, int]] = field(default_factory=list)  # (start, end, new state)

    def version(self, state: int) -> dict:
        """The record of a state (1 or 2)."""
        word = self.markers[state - 1]
        title = f"{'Tin đã sửa' if state == 2 else 'Tin mới'} {word} {SHARED} {self.record['title'][:60]}"
        return dict(self.record, id=self.id, title=title)

    def allowed(self, t0: float, t1: float) -> set[int]:
        """States the article may be seen in by a request that ran from t0 to t1."""
        states = [(float("-inf"), self.initial)] + [(s, new) for s, _, new in self.events]
        ends = [e for _, e, _ in self.events] + [float("inf")]
        return {state for (start, state), end in zip(states, ends, strict=True) if start <= t1 and end >= t0}


@dataclass
class Seen:
    """One answer: when its request ran, what it asked, what came back."""

    t0: float
    t1: float
    kind: str
    key: str
    status: int
    ids: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    articles: int | None = None
    error: str | None = None


class Readers:
    """Threads that query the service until stopped (bounded in time and count)."""

    def __init__(self, service: Service, requests: list[tuple[str, str, str, dict]]) -> None:
        self.service = service
        self.requests = requests
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(READERS)]

    def start(self) -> None:
        """Start the reader threads."""
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        """Stop them and wait."""
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=60)

    def _run(self, n: int) -> None:
        started = time.monotonic()
        i = n * 7
        while not self.stop_event.is_set() and time.monotonic() - started < RUN_LIMIT:
            with self.lock:
                if len(self.seen) >= MAX_REQUESTS:
                    return
            kind, key, path, params = self.requests[i % len(self.requests)]
            i += 1
            t0 = time.monotonic()
            try:
                r = self.service.get(path, params, timeout=30)
            except OSError as exc:
                seen = Seen(t0, time.monotonic(), kind, key, 0, error=repr(exc))
            else:
                seen = Seen(t0, time.monotonic(), kind, key, r.status)
                if r.status >= 500:
                    seen.error = r.text[:300]  # what the service said, for the failure report
                if r.status == 200 and kind in ("marker", "shared", "popular"):
                    data = r.json()
                    seen.ids = [h["id"] for h in data["results"]]
                    seen.titles = {h["id"]: h["title"] for h in data["results"]}
                elif r.status == 200 and kind in ("article", "stable"):
                    seen.ids = [r.json()["id"]]
                    seen.titles = {r.json()["id"]: r.json()["title"]}
                elif r.status == 200 and kind == "health":
                    seen.articles = r.json()["articles"]
            with self.lock:
                self.seen.append(seen)
            self.stop_event.wait(PAUSE)


@pytest.fixture
def base_index(tmp_path: Path) -> tuple[Path, list[dict]]:
    """A live index of 60 real articles (bodies cut short), built before the service starts."""
    base = sample_records(60, body_chars=400)
    src = write_jsonl(tmp_path / "base.jsonl", base)
    index_dir = tmp_path / "index"
    report = ingest(IndexStore(index_dir), read_paths([str(src)]), jobs=2)
    assert report.indexed == len(base)
    return index_dir, base


def _run_writes_with_the_cli(index_dir: Path, verb: str, args: list[str]) -> None:
    """One write as an operator runs it: `search-service VERB ARGS` in its own process."""
    done = run_cli(verb, *args, "--index-dir", str(index_dir), timeout=600)
    assert done.returncode == 0, (verb, args, done.stderr[-2000:])


def _run_writes_in_process(index_dir: Path, verb: str, args: list[str]) -> None:
    """The same write through the indexer API the CLI calls (no process start-up: fast enough for every run)."""
    store = IndexStore(index_dir)
    if verb == "delete":
        _, missing = indexer.delete(store, args)
        assert not missing, missing
        return
    paths = [a for a in args if not a.startswith("--") and not a.isdigit()]
    batch = int(args[args.index("--batch-size") + 1]) if "--batch-size" in args else 2000
    run = indexer.reindex if verb == "reindex" else indexer.ingest
    report = run(store, read_paths(paths), jobs=1, batch_size=batch)
    assert report.indexed and not report.rejected and not report.interrupted, report.summary()


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param(_run_writes_in_process, id="indexer-api"),
        pytest.param(_run_writes_with_the_cli, id="cli", marks=pytest.mark.slow),
    ],
)
def test_service_stays_consistent_while_indexing_deleting_and_reindexing(
    base_index: tuple[Path, list[dict]],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    writer: Callable[[Path, str, list[str]], None],
) -> None:
    """The serving-while-writing guarantees, checked on every answer against the time line of writes."""
    index_dir, base = base_index
    extra = sample_records(8, body_chars=600, start=600)
    tracked = [Tracked(f"live/new {n}", extra[n], (f"xqmoi{n}a", f"xqsua{n}b")) for n in range(6)]
    base_gone = Tracked(base[5]["id"], base[5], ("", ""), initial=1)  # a base article deleted later
    stable = [b["id"] for b in base[10:14]]  # never touched: must answer 200 every time
    bulk = sample_records(20, body_chars=400, start=700)

    requests: list[tuple[str, str, str, dict]] = []
    for t in tracked:
        requests += [("marker", f"{t.id}|1", "/api/search", {"q": t.markers[0], "size": 5})]
        requests += [("marker", f"{t.id}|2", "/api/search", {"q": t.markers[1], "size": 5})]
        requests += [("article", t.id, "/api/articles/" + quote(t.id, safe=""), {})]
    requests += [("article", base_gone.id, "/api/articles/" + quote(base_gone.id, safe=""), {})]
    requests += [("stable", sid, "/api/articles/" + quote(sid, safe=""), {}) for sid in stable]
    requests += [("shared", SHARED, "/api/search", {"q": SHARED, "size": 50})]
    requests += [("popular", "q", "/api/search", {"q": q, "size": 10}) for q in ("giá vàng", "bóng đá", "ha noi")]
    requests += [("popular", "f", "/api/search", {"q": "thị trường", "section": "Kinh doanh", "sort": "newest"})]
    requests += [("health", "", "/healthz", {})]

    by_id = {t.id: t for t in [*tracked, base_gone]}
    writes: list[dict] = []

    def write(what: str, args: list[str], changes: list[tuple[Tracked, int]]) -> None:
        started = time.monotonic()
        writer(index_dir, args[0], args[1:])
        ended = time.monotonic()
        for t, state in changes:
            t.events.append((started, ended, state))
        writes.append({"what": what, "seconds": round(ended - started, 2), "start": started, "end": ended})

    def jsonl(name: str, records: list[dict]) -> str:
        return str(write_jsonl(tmp_path / f"{name}.jsonl", records))

    probes: dict[str, float] = {}

    def probe(t: Tracked) -> None:
        """Right after a write: how long until a search finds the new article (polled every 20 ms, 5 s at most)."""
        ended = t.events[-1][1]
        while time.monotonic() - ended < 5:
            if t.id in [h["id"] for h in service.get("/api/search", {"q": t.markers[0]}).json()["results"]]:
                probes[t.id] = time.monotonic() - ended
                return
            time.sleep(0.02)

    def state_now(t: Tracked) -> int:
        return t.events[-1][2] if t.events else t.initial

    service = Service(index_dir, tmp_path / "serve.log", workers=2)
    readers = None
    try:
        service.start()
        readers = Readers(service, requests)
        readers.start()
        time.sleep(1.0)
        first, later = tracked[:4], tracked[4:]
        write("add 4", ["index", jsonl("add4", [t.version(1) for t in first]), "--jobs", "1"], [(t, 1) for t in first])
        probe(first[0])
        time.sleep(1.0)
        edited = first[:2]
        write("edit 2", ["index", jsonl("edit2", [t.version(2) for t in edited]), "--jobs", "1"],
              [(t, 2) for t in edited])  # fmt: skip
        time.sleep(1.0)
        write("delete 2", ["delete", first[2].id, base_gone.id], [(first[2], 3), (base_gone, 3)])
        time.sleep(0.5)
        write("add 20 in batches of 5", ["index", jsonl("bulk", bulk), "--batch-size", "5", "--jobs", "2"], [])
        current = [b for b in base if b["id"] != base_gone.id] + bulk
        current += [t.version(state_now(t)) for t in tracked if state_now(t) in (1, 2)]
        write("reindex", ["reindex", jsonl("all", current), "--batch-size", "50", "--jobs", "2"], [])
        time.sleep(0.5)
        write("add 2 after the switch", ["index", jsonl("add2", [t.version(1) for t in later]), "--jobs", "1"],
              [(t, 1) for t in later])  # fmt: skip
        probe(later[1])
        time.sleep(1.0)
        write("edit after the switch", ["index", jsonl("edit1", [later[0].version(2)]), "--jobs", "1"],
              [(later[0], 2)])  # fmt: skip
        write("delete after the switch", ["delete", first[3].id], [(first[3], 3)])
        time.sleep(1.0)
    finally:
        if readers is not None:
            readers.stop()
        service.stop()
    seen = readers.seen

    failures: list[str] = []
    appear: dict[str, float] = {}
    low = len(base) - 1  # the fewest articles the index can hold at any moment
    high = len(base) + len(bulk) + len(tracked)
    for s in seen:
        label = f"{s.kind} {s.key} [{s.t0 - seen[0].t0:.2f}-{s.t1 - seen[0].t0:.2f} s]"
        if s.error or s.status >= 500 or s.status == 0:
            failures.append(f"{label}: {s.status} {s.error or ''}")
            continue
        if len(s.ids) != len(set(s.ids)):
            failures.append(f"{label}: an article listed twice: {s.ids}")
        if s.kind == "stable" and s.status != 200:
            failures.append(f"{label}: untouched article answered {s.status}")
        if s.kind == "health" and not low <= (s.articles or 0) <= high:
            failures.append(f"{label}: /healthz says {s.articles} articles, expected {low}..{high}")
        if s.kind == "marker":
            tid, version = s.key.split("|")
            t = by_id[tid]
            found = tid in s.ids
            allowed = t.allowed(s.t0, s.t1)
            if found not in {st == int(version) for st in allowed}:
                failures.append(f"{label}: found={found} but the article can only be in states {allowed}")
            if found and int(version) == 1 and t.events:
                appear.setdefault(tid, s.t1 - t.events[0][1])
        if s.kind == "article" and s.key in by_id:
            t = by_id[s.key]
            allowed = t.allowed(s.t0, s.t1)
            state = 0 if s.status == 404 else (2 if s.titles.get(s.key, "").startswith("Tin đã sửa") else 1)
            if s.status not in (200, 404) or (state not in allowed and not (state == 0 and 3 in allowed)):
                failures.append(f"{label}: status {s.status} (state {state}) but allowed states {allowed}")
        if s.kind == "shared":
            for tid, title in s.titles.items():
                t = by_id[tid]
                allowed = t.allowed(s.t0, s.t1)
                state = 2 if title.startswith("Tin đã sửa") else 1
                if state not in allowed:
                    failures.append(f"{label}: {tid} shown in state {state}, allowed {allowed}")
            for t in tracked:
                if t.id not in s.titles and t.allowed(s.t0, s.t1) <= {1, 2}:
                    failures.append(f"{label}: {t.id} missing though it exists in every allowed state")

    # a new article is found right after its write (the strict check above), and here is how fast
    late = {tid: round(d, 3) for tid, d in probes.items() if d > APPEAR_WITHIN}
    counts = {k: sum(1 for s in seen if s.kind == k) for k in ("marker", "article", "stable", "shared", "popular")}
    report = {
        "requests": len(seen),
        "by_kind": counts,
        "statuses": {str(c): sum(1 for s in seen if s.status == c) for c in sorted({s.status for s in seen})},
        "failures": len(failures),
        "writes": [{k: v for k, v in w.items() if k in ("what", "seconds")} for w in writes],
        "new_article_found_seconds_after_its_write": {tid: round(d, 3) for tid, d in probes.items()},
        # as the readers' rotation happened to ask (negative: found before the command had even returned)
        "readers_first_found_seconds_after_write": {tid: round(d, 3) for tid, d in appear.items()},
    }
    out = tmp_path_factory.getbasetemp() / f"live-service-report-{writer.__name__}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    assert len(seen) > 200, "too few requests ran to prove anything"
    assert all(t.id in appear for t in tracked), "some new article was never seen"
    assert len(probes) == 2, f"a new article was not found within 5 s of its write: {probes}"
    assert not failures, "\n".join(failures[:30])
    assert not late, f"new articles appeared later than {APPEAR_WITHIN} s after their write: {late}"
    assert "Traceback" not in service.log_tail(1_000_000)


def test_workers_restarted_gracefully_keep_answering(base_index: tuple[Path, list[dict]], tmp_path: Path) -> None:
    """After gunicorn replaces its workers (as max_requests does), searches still answer 200."""
    index_dir, _ = base_index
    service = Service(index_dir, tmp_path / "serve.log", workers=1)
    try:
        service.start()
        queries: list[Callable[[], int]] = [
            lambda q=q: service.get("/api/search", {"q": q}).status for q in ("giá vàng", "bóng đá", "thị trường")
        ]
        assert [q() for q in queries] == [200, 200, 200]
        service.restart_workers(graceful=True)
        assert [q() for q in queries for _ in range(2)] == [200] * 6
    finally:
        service.stop()
