"""Shared fixtures: throwaway indexes built from real Vietnamese articles in temporary directories."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from search_service import create_app
from search_service.indexer import ingest
from search_service.sources import read_paths
from search_service.store import IndexStore

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample-vntc.jsonl.gz"
SHARED = REPO.parent / "shared" / "data"
TTTD_PAGE = SHARED / "page-tttd-2022-11-14.txt"

#: Hand-made articles with the metadata VNTC lacks (dates, authors, tags, URLs).
FIXTURE_ARTICLES = [
    {
        "id": "fx-1",
        "url": "https://example.vn/xa-hoi/binh-dang-gioi-1.html",
        "title": "Thúc đẩy bình đẳng giới trong gia đình",
        "section": "Xã hội",
        "published": "2022-11-20T08:30:00+07:00",
        "author": "Nguyễn Thu Hà",
        "tags": ["bình đẳng giới", "gia đình"],
        "summary": "Hội thảo ở Hà Nội bàn về vai trò của nam giới trong việc chia sẻ việc nhà.",
        "body": "Các chuyên gia cho rằng bình đẳng giới bắt đầu từ bữa cơm gia đình.\n"
        "Chương trình kéo dài đến tháng 12 năm 2022.",
    },
    {
        "id": "fx-2",
        "url": "https://example.vn/the-thao/bong-da-2.html",
        "title": "Đội tuyển Việt Nam thắng Thái Lan ở Mỹ Đình",
        "section": "Thể thao",
        "published": "2021-12-05T20:00:00+07:00",
        "author": "Trần Văn Nam",
        "tags": ["bóng đá", "AFF Cup"],
        "summary": "Chiến thắng 2-0 trên sân Mỹ Đình giúp đội chủ nhà giữ ngôi đầu bảng.",
        "body": "Trận đấu diễn ra tối chủ nhật trước 40.000 khán giả ở Hà Nội.",
    },
    {
        "id": "fx-3",
        "url": "https://example.vn/xa-hoi/cho-meo-3.html",
        "title": "Nuôi chó mèo ở chung cư cần tuân thủ quy định",
        "section": "Xã hội",
        "published": "2023-03-01 09:00",
        "author": "Lê Minh Hòa",
        "tags": ["đô thị"],
        "summary": "Ban quản lý nhắc cư dân đeo rọ mõm cho chó khi ra thang máy.",
        "body": "Cây chò trong sân chung cư cũng được chăm sóc. Cho đến nay chưa có vụ việc nào.",
    },
    {
        "id": "fx-4",
        "title": "Hoà giải ở cơ sở: thuỷ chung với phương pháp cũ",
        "section": "Pháp luật",
        "published": "2020-01-15",
        "author": "Nguyễn Thu Hà",
        "body": "Công tác hòa giải được thủy chung tổ chức ở khu phố. Người dân viết a < b && c > d trong đơn.",
    },
]


def vntc_records(n: int) -> list[dict]:
    """The first ``n`` articles of the bundled VNTC sample."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in itertools.islice(fh, n)]


def common_words(store: IndexStore, n: int, articles: int = 2000) -> list[str]:
    """The ``n`` words of the body text most articles have (of the first ``articles``), commonest first."""
    from collections import Counter

    from search_service.analysis import syllable_forms

    counts: Counter[str] = Counter()
    ix = store.open()
    try:
        with ix.searcher() as s:
            for _docnum, stored in itertools.islice(s.reader().iter_docs(), articles):
                text = f"{stored.get('summary') or ''}\n{stored.get('body') or ''}"
                counts.update({exact for exact, _folded, _s, _e in syllable_forms(text)})
    finally:
        ix.close()
    return [w for w, _ in counts.most_common(n)]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """Write records as JSON Lines."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def build_index(index_dir: Path, paths: list[Path], jobs: int = 1) -> IndexStore:
    """Ingest ``paths`` into a fresh index at ``index_dir``."""
    store = IndexStore(index_dir)
    report = ingest(store, read_paths([str(p) for p in paths]), jobs=jobs)
    assert report.indexed > 0
    return store


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Input files: fixture articles, 300 real VNTC articles and, when present, the TTTĐ page."""
    d = tmp_path_factory.mktemp("corpus")
    write_jsonl(d / "fixtures.jsonl", FIXTURE_ARTICLES)
    write_jsonl(d / "vntc.jsonl", vntc_records(300))
    if TTTD_PAGE.exists():
        (d / "page-tttd-2022-11-14.txt").write_bytes(TTTD_PAGE.read_bytes())
    return d


@pytest.fixture(scope="session")
def index_store(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> IndexStore:
    """A read-only index shared by the tests that only search (never write to it)."""
    return build_index(tmp_path_factory.mktemp("index"), sorted(corpus_dir.iterdir()), jobs=2)


@pytest.fixture
def app(index_store: IndexStore):
    """The Flask app on the shared index."""
    return create_app({"INDEX_DIR": str(index_store.root), "TESTING": True})


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


VNTC_FULL = SHARED / "news-vntc.jsonl.gz"


@pytest.fixture(scope="session")
def vntc_full_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The whole VNTC corpus indexed by the CLI once per session: (index dir, its --json summary).

    Slow (tens of minutes on 2 cores): only for tests marked ``slow``. Set SEARCH_TEST_VNTC_INDEX to
    a directory to build it there once and reuse it across runs.
    """
    if not VNTC_FULL.exists():
        pytest.skip(f"shared data not present: {VNTC_FULL}")
    reuse = os.environ.get("SEARCH_TEST_VNTC_INDEX")
    index_dir = Path(reuse) if reuse else tmp_path_factory.mktemp("vntc-full") / "index"
    summary_file = index_dir.parent / f"{index_dir.name}.summary.json"
    if reuse and summary_file.exists() and (index_dir / "CURRENT").exists():
        return index_dir, json.loads(summary_file.read_text(encoding="utf-8"))
    cmd = [sys.executable, "-m", "search_service.cli", "index", str(VNTC_FULL), "--index-dir", str(index_dir),
           "--json", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 3, done.stderr[-2000:]  # 3: finished, some records rejected
    summary = json.loads(done.stdout.splitlines()[-1])
    summary_file.write_text(json.dumps(summary), encoding="utf-8")
    return index_dir, summary
