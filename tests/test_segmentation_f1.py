"""The segmentation accuracy script runs, and the analysis segments as well as pyvi itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from .conftest import REPO, SHARED

GOLD = SHARED / "ws-gold-ud-vtb-test.txt.gz"


def load_script():
    spec = importlib.util.spec_from_file_location("segmentation_f1", REPO / "scripts" / "segmentation_f1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gold_spans_and_scoring():
    script = load_script()
    raw, spans = script.gold_spans("Bình_đẳng giới , Hà_Nội")
    assert raw == "Bình đẳng giới , Hà Nội"
    assert spans == {(0, 9), (10, 14), (17, 23)}
    assert script.score([(spans, spans)]) == (1.0, 1.0, 1.0)
    assert script.score([(spans, {(0, 4)})])[0] == 0.0


@pytest.mark.skipif(not GOLD.exists(), reason="shared data not present")
def test_f1_on_ud_vtb_matches_pyvi(tmp_path: Path):
    result = load_script().evaluate(GOLD)
    assert result["sentences"] == 800
    ours, pyvi = result["ours"][2], result["pyvi"][2]
    assert ours > 0.96
    assert abs(ours - pyvi) < 0.002
