"""Build the VNTC known-item query set: a few headline words a reader remembers, and the article they want.

Usage: python scripts/make_news_queries.py [--corpus ../shared/data/news-vntc.jsonl.gz]
       [--out data/eval/news-vntc-queries.jsonl] [--queries 500] [--seed 20240611]

The rule (data/eval/README.md says the same):

1. Candidates are VNTC records with a headline of 4 to 20 syllables. Longer "titles" are Người Lao
   Động / Thanh Niên files whose first line runs the headline into the lead, not a headline.
2. A headline that another record carries over a *different* body is left out: the reader's words
   cannot tell those stories apart. Records with an identical title *and* body (VNTC repeats some)
   are one story: the first id in file order is the answer, all of them are listed in ``relevant``
   and a hit on any of them counts.
3. Candidates are shuffled with ``random.Random(seed)``; they are taken in that order until there
   are ``--queries`` items.
4. The headline is segmented into words by the project's own analysis (pyvi, in the context of the
   whole headline) and cut into clauses at punctuation. The query is 2 to 5 consecutive words of one
   clause, at least 3 syllables in all, neither starting nor ending with a function word
   (``FUNCTION_WORDS``: của, và, để, ở, ...; a reader remembers the content words). A length is
   drawn uniformly among those possible, then a start. A headline with no such run is skipped.
5. The query is written in lower case, as readers type; ``query_unaccented`` is the same with all
   diacritics removed (đ → d).

The output is JSON Lines: a first ``{"meta": ...}`` line with the parameters, then one
``{"qid", "query", "query_unaccented", "answer", "relevant"}`` per query. No article text other
than the query words is written.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search_service import analysis  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "news-vntc.jsonl.gz"
DEFAULT_OUT = REPO / "data" / "eval" / "news-vntc-queries.jsonl"
DEFAULT_QUERIES = 500
DEFAULT_SEED = 20240611
MIN_SYLLABLES, MAX_SYLLABLES = 4, 20  # headline length (syllables) to be a candidate
MIN_WORDS, MAX_WORDS = 2, 5  # words in a query
MIN_QUERY_SYLLABLES = 3
#: A reader remembers the content words: a query neither starts nor ends with one of these.
FUNCTION_WORDS = frozenset(
    [
        "bị",
        "các",
        "cho",
        "chưa",
        "cũng",
        "của",
        "cùng",
        "do",
        "đã",
        "đang",
        "để",
        "đến",
        "đó",
        "được",
        "hay",
        "hoặc",
        "khi",
        "không",
        "là",
        "lại",
        "mà",
        "một",
        "nào",
        "này",
        "nên",
        "nhưng",
        "những",
        "ở",
        "ra",
        "rằng",
        "rất",
        "sau",
        "sẽ",
        "tại",
        "thì",
        "trên",
        "trong",
        "từ",
        "và",
        "vào",
        "về",
        "vẫn",
        "vì",
        "với",
    ]
)


def remove_diacritics(text: str) -> str:
    """The text without tone or vowel marks, đ → d (case kept)."""
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare).replace("đ", "d").replace("Đ", "D")


def syllable_count(text: str) -> int:
    """Number of syllables, as the index cuts them."""
    return sum(1 for _ in analysis.syllables(text))


def headline_clauses(title: str) -> list[list[str]]:
    """The headline's words (pyvi, in context), split into runs that no punctuation interrupts."""
    clauses: list[list[str]] = [[]]
    previous_end = None
    for start, end in analysis.segment(title):
        if previous_end is not None and title[previous_end:start].strip():
            clauses.append([])
        clauses[-1].append(title[start:end])
        previous_end = end
    return [c for c in clauses if c]


def pick_fragment(title: str, rng: random.Random) -> list[str] | None:
    """2-5 consecutive words of one clause, drawn with ``rng``; None when no run qualifies."""
    by_length: dict[int, list[list[str]]] = defaultdict(list)
    for clause in headline_clauses(title):
        for k in range(MIN_WORDS, MAX_WORDS + 1):
            for i in range(len(clause) - k + 1):
                run = clause[i : i + k]
                if run[0].lower() in FUNCTION_WORDS or run[-1].lower() in FUNCTION_WORDS:
                    continue
                if sum(syllable_count(w) for w in run) >= MIN_QUERY_SYLLABLES:
                    by_length[k].append(run)
    if not by_length:
        return None
    k = rng.choice(sorted(by_length))
    return rng.choice(by_length[k])


def read_corpus(path: Path) -> list[dict]:
    """The titled records of the corpus, in file order (id, title, body only)."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("title"):
                out.append({"id": r["id"], "title": r["title"], "body": r.get("body") or ""})
    return out


def candidates(records: list[dict]) -> list[tuple[str, str, list[str]]]:
    """(answer id, headline, ids of identical title+body records) for every usable story."""
    bodies_by_title: dict[str, set[str]] = defaultdict(set)
    ids_by_story: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in records:
        bodies_by_title[r["title"]].add(r["body"])
        ids_by_story[(r["title"], r["body"])].append(r["id"])
    out = []
    for (title, _body), ids in ids_by_story.items():
        if len(bodies_by_title[title]) > 1:
            continue
        if MIN_SYLLABLES <= syllable_count(title) <= MAX_SYLLABLES:
            out.append((ids[0], title, ids))
    out.sort()
    return out


def make_queries(records: list[dict], n: int, seed: int) -> list[dict]:
    """The known-item queries, deterministic for a given corpus, ``n`` and ``seed``."""
    pool = candidates(records)
    rng = random.Random(seed)
    rng.shuffle(pool)
    items = []
    for answer, title, ids in pool:
        if len(items) == n:
            break
        fragment = pick_fragment(title, rng)
        if fragment is None:
            continue
        query = " ".join(fragment).lower()
        items.append(
            {
                "qid": f"vntc-q{len(items) + 1:04d}",
                "query": query,
                "query_unaccented": remove_diacritics(query),
                "answer": answer,
                "relevant": ids,
            }
        )
    return items


def main(argv: list[str] | None = None) -> int:
    """Write the query file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--queries", type=int, default=DEFAULT_QUERIES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 1
    records = read_corpus(args.corpus)
    items = make_queries(records, args.queries, args.seed)
    meta = {
        "corpus": args.corpus.name,
        "titled_records": len(records),
        "queries": len(items),
        "seed": args.seed,
        "headline_syllables": [MIN_SYLLABLES, MAX_SYLLABLES],
        "query_words": [MIN_WORDS, MAX_WORDS],
        "min_query_syllables": MIN_QUERY_SYLLABLES,
        "function_words": sorted(FUNCTION_WORDS),
        "script": "scripts/make_news_queries.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"meta": meta}, ensure_ascii=False) + "\n")
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{len(items)} queries from {len(records)} titled records (seed {args.seed}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
