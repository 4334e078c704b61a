"""The whole VNTC corpus through the CLI (slow): every titled record indexed, the rest reported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from search_service.query import parse_request
from search_service.searching import SearchEngine
from search_service.store import IndexStore

pytestmark = pytest.mark.slow


def test_all_titled_vntc_records_are_indexed_and_the_rest_rejected(vntc_full_index):
    index_dir, summary = vntc_full_index
    assert summary["read"] == 84_132
    assert summary["indexed"] == 74_906
    assert summary["rejected"] == 9_226
    assert not summary["interrupted"]
    stats = json.loads(
        subprocess.run(
            [sys.executable, "-m", "search_service.cli", "stats", "--json", "--index-dir", str(index_dir)],
            capture_output=True, text=True, check=True,
        ).stdout
    )
    assert stats["articles"] == 74_906
    assert len(stats["sections"]) == 10


def test_full_index_answers_with_and_without_diacritics(vntc_full_index):
    engine = SearchEngine(IndexStore(vntc_full_index[0]))
    try:
        accented = engine.search(parse_request({"q": "bóng đá Việt Nam"}))
        plain = engine.search(parse_request({"q": "bong da viet nam"}))
        assert accented.total > 1000 and plain.total >= accented.total
        assert "The thao" in accented.facets["section"]
        top = accented.results[0]
        assert "<mark>" in top.title_html + top.snippet_html
    finally:
        engine.close()
