"""Word-segmentation accuracy of the analysis against gold files (word F1, precision, recall).

Usage: python scripts/segmentation_f1.py [GOLD.txt.gz ...]
Defaults to the two gold files in ../shared/data. Each gold line is a sentence whose words join
their syllables with "_". The raw sentence (underscores as spaces) goes through the project's own
segmentation (search_service.analysis.segment, the one the index uses), and word spans are compared
with the gold spans. Punctuation is left out on both sides, as the index leaves it out; pyvi's own
ViTokenizer.tokenize is scored the same way, as a reference.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search_service import analysis  # noqa: E402

DEFAULT_GOLD = [
    REPO.parent / "shared" / "data" / "ws-gold-ud-vtb-test.txt.gz",
    REPO.parent / "shared" / "data" / "ws-gold-rdrsegmenter-train.txt.gz",
]


def gold_spans(line: str) -> tuple[str, set[tuple[int, int]]]:
    """The raw sentence and the character spans of its word-like gold words."""
    raw_parts, spans, pos = [], set(), 0
    for word in line.split():
        surface = word.replace("_", " ")
        if any(ch.isalnum() for ch in surface):
            spans.add((pos, pos + len(surface)))
        raw_parts.append(surface)
        pos += len(surface) + 1
    return " ".join(raw_parts), spans


def spans_of_tokens(raw: str, tokens: list[str]) -> set[tuple[int, int]]:
    """Spans of pyvi output tokens (syllables joined by "_") in ``raw``."""
    spans, pos = set(), 0
    for token in tokens:
        surface = token.replace("_", " ")
        start = raw.find(surface, pos)
        if start < 0:  # pyvi rewrote the text (e.g. spacing): skip the token
            continue
        if any(ch.isalnum() for ch in surface):
            spans.add((start, start + len(surface)))
        pos = start + len(surface)
    return spans


def score(pairs: list[tuple[set, set]]) -> tuple[float, float, float]:
    """(precision, recall, F1) over all sentences."""
    tp = sum(len(g & p) for g, p in pairs)
    n_pred = sum(len(p) for _, p in pairs)
    n_gold = sum(len(g) for g, _ in pairs)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def evaluate(path: Path) -> dict:
    """Score the project's segmentation and pyvi's own on one gold file."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = [line.strip() for line in fh if line.strip()]
    from pyvi.ViTokenizer import ViTokenizer as vi  # pyvi itself, the reference

    ours, theirs = [], []
    analysis.preload()
    started = time.perf_counter()
    words = 0
    for line in lines:
        raw, gold = gold_spans(line)
        ours.append((gold, set(analysis.segment(raw))))
        words += len(gold)
    seconds = time.perf_counter() - started
    for line in lines:
        raw, gold = gold_spans(line)
        theirs.append((gold, spans_of_tokens(raw, vi.tokenize(raw).split())))
    return {
        "file": path.name,
        "sentences": len(lines),
        "words": words,
        "ours": score(ours),
        "pyvi": score(theirs),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    """Print a table of precision, recall and F1 per gold file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gold", nargs="*", type=Path, default=DEFAULT_GOLD)
    args = parser.parse_args(argv)
    missing = [p for p in args.gold if not p.exists()]
    if missing:
        print(f"gold file not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 1
    print(f"{'gold file':36} {'sent.':>6} {'words':>7}  {'P':>6} {'R':>6} {'F1':>6}   {'pyvi F1':>7}")
    for path in args.gold:
        r = evaluate(path)
        p, rec, f1 = r["ours"]
        print(
            f"{r['file']:36} {r['sentences']:>6} {r['words']:>7}  {p:6.4f} {rec:6.4f} {f1:6.4f}   {r['pyvi'][2]:7.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
