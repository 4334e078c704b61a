"""Smoke test of scripts/bench.py: a tiny end-to-end run prints the whole table (numbers are not checked)."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO, SAMPLE

BENCH = REPO / "scripts" / "bench.py"
QUERY_LOG = REPO / "data" / "bench" / "queries.jsonl"

HAS_TANTIVY = importlib.util.find_spec("tantivy") is not None
HAS_WRK = shutil.which("wrk") is not None


def test_committed_query_log_has_its_shape():
    lines = QUERY_LOG.read_text(encoding="utf-8").splitlines()
    meta = json.loads(lines[0])["meta"]
    rows = [json.loads(line) for line in lines[1:]]
    assert meta["seed"] and len(rows) == meta["distribution"]["distinct"] == 300
    assert 1900 <= sum(r["count"] for r in rows) <= 2100
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    counts = [r["count"] for r in rows]
    assert counts == sorted(counts, reverse=True) and counts[0] > 10 * counts[-1]  # a few popular, a long tail
    assert any("section" in r for r in rows) and any("from" in r or "to" in r for r in rows)
    sections = {"Chinh tri Xa hoi", "Doi song", "Khoa hoc", "Kinh doanh", "Phap luat", "Suc khoe", "The gioi",
                "The thao", "Van hoa", "Vi tinh"}  # fmt: skip
    assert {r["section"] for r in rows if "section" in r} <= sections


def test_bench_smoke_run_prints_every_row(tmp_path: Path):
    out_json = tmp_path / "bench.json"
    cmd = [
        sys.executable, str(BENCH), "--corpus", str(SAMPLE), "--limit", "300", "--queries", "20",
        "--http-seconds", "2", "--http-warmup", "1", "--no-http-uncached", "--no-profile",
        "--workdir", str(tmp_path / "work"), "--json", str(out_json),
    ]  # fmt: skip
    if not HAS_TANTIVY:
        cmd.append("--no-tantivy")
    if not HAS_WRK:
        cmd.append("--no-http")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    assert re.search(r"Corpus: .*sample-vntc\.jsonl\.gz .*used 300 articles", table)
    expected = [
        "ours: articles/s end to end (wall)",
        "ours: index size",
        "ours: peak RSS, process tree (sum)",
        "FTS5: articles/s (build)",
        "ours uncached p50 (20 queries)",
        "ours uncached p99 (20 queries)",
        "FTS5 uncached p95",
        "ratio ours/FTS5 p50",
        "ours log replay, cached p50",
        "ours popular repeated p95",
        "ours open engine + first query (median)",
        "ours first search of each query p50 / p95 / p99",
        "ours same query, warm engine (median)",
        "ours: queries with a NaN/infinite score",
    ]
    if HAS_TANTIVY:
        expected += ["tantivy: articles/s (build)", "tantivy uncached p50", "ratio ours/tantivy p99"]
    if HAS_WRK:
        expected += [
            "requests/s",
            "p99",
            "errors: non-2xx / socket",
            "worker RSS at end (largest)",
            "start-up: launch -> first /api/search",
        ]
    for measure in expected:
        assert measure in table, f"missing row: {measure}\n{table}"
    for line in table.splitlines():
        if "<=" in line or ">=" in line:
            assert line.rstrip().endswith(("PASS", "MISS")), line

    raw = json.loads(out_json.read_text(encoding="utf-8"))
    assert raw["corpus"]["used"] == 300
    assert raw["index_ours"]["summary"]["indexed"] == 300
    assert raw["ours"]["uncached"]["n"] == raw["ours"]["uncached_first"]["n"] == 20
    assert raw["fts5"]["uncached"]["n"] == 20
    if HAS_WRK:
        http = raw["http"]
        assert http["requests"] > 0 and http["first_search_status"] == 200
        assert http["non_2xx"] == 0 and http["socket_errors"] == 0
        assert len(http["rss_end_mb"]) == 2
