"""Build the benchmark query log: headline words readers type, with filters and a Zipf-like repeat count.

Usage: python scripts/make_query_log.py [--corpus ../shared/data/news-vntc.jsonl.gz]
       [--out data/bench/queries.jsonl] [--distinct 300] [--total 2000] [--zipf 1.0] [--seed 20250607]

The rule (data/bench/README.md says the same):

1. Headlines are the VNTC records with a title of 4 to 20 syllables and a body (longer "titles" are
   Người Lao Động / Thanh Niên lead paragraphs, not headlines). They are shuffled with
   ``random.Random(seed)`` and taken in that order.
2. A headline is segmented into words by the project's own analysis (pyvi, in the context of the
   whole headline) and cut into clauses at punctuation. A query is 1 to 4 consecutive words of one
   clause (drawn with weights ``WORD_COUNT_WEIGHTS``), at most ``MAX_SYLLABLES`` syllables, neither
   starting nor ending with a function word (nor a function compound like "có thể"), written in lower
   case; a one-word query is a compound ("bóng đá") or a capitalised name without diacritics that does
   not start a clause ("Barcelona", "NATO"). Headlines with no such run, and queries already drawn,
   are skipped.
3. About half the queries (``UNACCENTED_SHARE``) are typed without diacritics (đ → d).
4. About ``SECTION_SHARE`` of them carry a ``section`` filter: the headline's own section, spelled
   exactly as in the corpus ("The thao"). ``DATE_QUERIES`` of them carry a date range
   (``from``/``to``), drawn among the less popular ones: VNTC has no dates, so those match nothing
   there; they exercise the path.
5. Popularity: queries are ranked by how many headlines contain them (folded, as whole words), plus
   one, times a log-normal jitter (sigma ``JITTER``): common topics are typed most. The query of
   rank r is repeated ``max(1, round(C / r**s))`` times, C chosen so the counts add up to about
   ``--total`` (a few popular queries, a long tail of queries seen once).

Output: JSON Lines, a first ``{"meta": ...}`` line with the parameters and the distribution, then one
``{"rank", "q", "count"}`` per distinct query (plus ``section``, ``from``, ``to`` when set), most
popular first. No article text other than the query words is written.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search_service import analysis  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "news-vntc.jsonl.gz"
DEFAULT_OUT = REPO / "data" / "bench" / "queries.jsonl"
DEFAULT_SEED = 20250607
DEFAULT_DISTINCT = 300
DEFAULT_TOTAL = 2000
DEFAULT_ZIPF = 1.0
MIN_HEADLINE, MAX_HEADLINE = 4, 20  # syllables in a usable headline
MAX_SYLLABLES = 6  # in a query
WORD_COUNT_WEIGHTS = {1: 0.25, 2: 0.40, 3: 0.25, 4: 0.10}
UNACCENTED_SHARE = 0.5
SECTION_SHARE = 0.10
DATE_QUERIES = 6
DATE_TAIL_FROM = 30  # date-filtered queries are drawn among the queries ranked below this
JITTER = 1.0  # sigma of the log-normal factor on a query's headline frequency
DATE_RANGES = [("2005-01-01", "2005-12-31"), ("2006-03-01", "2006-06-30"), ("2004-01-01", None), (None, "2003-12-31")]
#: A reader remembers the content words: a query neither starts nor ends with one of these.
_FUNCTION_WORDS_TEXT = (
    "bị các cho chưa cũng của cùng do đã đang để đến đó được hay hoặc khi không là lại mà một nào này nên "
    "nhưng những ở ra rằng rất sau sẽ tại thì trên trong từ và vào về vẫn vì với"
)
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())
FUNCTION_COMPOUNDS = frozenset({"có thể", "không phải", "bởi vì", "tuy nhiên", "như vậy"})


def remove_diacritics(text: str) -> str:
    """The text without tone or vowel marks, đ → d (case kept)."""
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare).replace("đ", "d").replace("Đ", "D")


def syllable_count(text: str) -> int:
    """Number of syllables, as the index cuts them."""
    return sum(1 for _ in analysis.syllables(text))


def folded_syllables(text: str) -> str:
    """The text's syllables, folded, separated by single spaces (punctuation dropped)."""
    return " ".join(form for form, _, _, _ in analysis.syllables(text, fold=True))


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


def usable(run: list[str], clause_start: bool) -> bool:
    """True when a run of words makes a query a reader would type."""
    if run[0].lower() in FUNCTION_WORDS or run[-1].lower() in FUNCTION_WORDS:
        return False
    if " ".join(run).lower() in FUNCTION_COMPOUNDS:
        return False
    if (
        len(run) == 1
        and syllable_count(run[0]) < 2
        and (clause_start or not run[0][:1].isupper() or remove_diacritics(run[0]) != run[0])
    ):
        # One word alone: a compound ("bóng đá") or a foreign name or acronym ("Barcelona", "NATO"),
        # not "tốt", "hết" or "Nhất".
        return False
    if not any(ch.isalpha() for ch in "".join(run)):
        return False
    if any(ch in '":' for ch in "".join(run)) or run[0].startswith("-"):
        return False
    return 1 <= syllable_count(" ".join(run)) <= MAX_SYLLABLES


def pick_fragment(title: str, rng: random.Random) -> list[str] | None:
    """1-4 consecutive words of one clause, drawn with ``rng``; None when no run qualifies."""
    by_length: dict[int, list[list[str]]] = {}
    for clause in headline_clauses(title):
        for k in WORD_COUNT_WEIGHTS:
            for i in range(len(clause) - k + 1):
                run = clause[i : i + k]
                if usable(run, i == 0):
                    by_length.setdefault(k, []).append(run)
    if not by_length:
        return None
    lengths = sorted(by_length)
    k = rng.choices(lengths, weights=[WORD_COUNT_WEIGHTS[n] for n in lengths])[0]
    return rng.choice(by_length[k])


def read_headlines(path: Path) -> list[tuple[str, str]]:
    """(headline, section) of every record with a usable headline and a body, in file order."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            title, body = r.get("title"), r.get("body")
            if title and body and MIN_HEADLINE <= syllable_count(title) <= MAX_HEADLINE:
                out.append((title, r.get("section") or ""))
    return out


def zipf_counts(n: int, total: int, s: float) -> list[int]:
    """Repeat counts for ranks 1..n: about total * r**-s / H(n, s), at least 1 each."""
    weights = [r**-s for r in range(1, n + 1)]
    scale = total / sum(weights)
    counts = [max(1, round(w * scale)) for w in weights]
    # Nudge the scale until the rounded counts add up to the total (or as near as rounding allows).
    for _ in range(50):
        diff = total - sum(counts)
        if diff == 0:
            break
        scale *= 1 + diff / (2 * total)
        counts = [max(1, round(w * scale)) for w in weights]
    return counts


def make_log(headlines: list[tuple[str, str]], distinct: int, total: int, zipf: float, seed: int) -> list[dict]:
    """The distinct queries, most popular first, with their repeat counts."""
    rng = random.Random(seed)
    pool = list(headlines)
    rng.shuffle(pool)
    queries: list[dict] = []
    seen: set[tuple] = set()
    for title, section in pool:
        if len(queries) == distinct:
            break
        fragment = pick_fragment(title, rng)
        if fragment is None:
            continue
        q = " ".join(fragment).lower()
        if rng.random() < UNACCENTED_SHARE:
            q = remove_diacritics(q)
        entry: dict = {"q": q, "words": len(fragment)}
        if section and rng.random() < SECTION_SHARE:
            entry["section"] = section
        ident = (entry["q"], entry.get("section"))
        if ident in seen:
            continue
        seen.add(ident)
        queries.append(entry)
    # Popularity: queries on common topics (their words stand together in many headlines) are typed
    # most, with a log-normal jitter so the order is not just frequency.
    haystack = "\n".join(f" {folded_syllables(t)} " for t, _ in headlines)
    for entry in queries:
        entry["_key"] = (1 + haystack.count(f" {folded_syllables(entry['q'])} ")) * rng.lognormvariate(0, JITTER)
    keyed = sorted(queries, key=lambda e: -e["_key"])
    # A few date-filtered queries, in the tail (VNTC has no dates: they match nothing, they exercise the path).
    tail = keyed[DATE_TAIL_FROM:]
    for i, entry in enumerate(rng.sample(tail, min(DATE_QUERIES, len(tail)))):
        start, end = DATE_RANGES[i % len(DATE_RANGES)]
        if start:
            entry["from"] = start
        if end:
            entry["to"] = end
    counts = zipf_counts(len(keyed), total, zipf)
    out = []
    for rank, (entry, count) in enumerate(zip(keyed, counts, strict=True), start=1):
        row = {"rank": rank, "q": entry["q"]}
        for k in ("section", "from", "to"):
            if k in entry:
                row[k] = entry[k]
        row["count"] = count
        out.append(row)
    return out


def distribution(log: list[dict]) -> dict:
    """How the repeats are spread: share of the log taken by the top queries, and the tail."""
    counts = [e["count"] for e in log]
    total = sum(counts)
    return {
        "entries": total,
        "distinct": len(counts),
        "top1_count": counts[0] if counts else 0,
        "top10_share": round(sum(counts[:10]) / total, 3) if total else 0,
        "top50_share": round(sum(counts[:50]) / total, 3) if total else 0,
        "seen_once": sum(1 for c in counts if c == 1),
        "unaccented": sum(1 for e in log if e["q"] == remove_diacritics(e["q"])),
        "with_section": sum(1 for e in log if "section" in e),
        "with_dates": sum(1 for e in log if "from" in e or "to" in e),
        "by_syllables": {str(k): sum(1 for e in log if len(e["q"].split()) == k) for k in range(1, MAX_SYLLABLES + 1)},
    }


def main(argv: list[str] | None = None) -> int:
    """Write the query log."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--distinct", type=int, default=DEFAULT_DISTINCT)
    parser.add_argument("--total", type=int, default=DEFAULT_TOTAL)
    parser.add_argument("--zipf", type=float, default=DEFAULT_ZIPF, help="Zipf exponent s of the repeat counts.")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 1
    headlines = read_headlines(args.corpus)
    log = make_log(headlines, args.distinct, args.total, args.zipf, args.seed)
    meta = {
        "corpus": args.corpus.name,
        "usable_headlines": len(headlines),
        "seed": args.seed,
        "zipf_s": args.zipf,
        "headline_syllables": [MIN_HEADLINE, MAX_HEADLINE],
        "query_words": WORD_COUNT_WEIGHTS,
        "max_query_syllables": MAX_SYLLABLES,
        "unaccented_share": UNACCENTED_SHARE,
        "section_share": SECTION_SHARE,
        "date_queries": DATE_QUERIES,
        "distribution": distribution(log),
        "script": "scripts/make_query_log.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"meta": meta}, ensure_ascii=False) + "\n")
        for row in log:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(log)} distinct queries, {sum(e['count'] for e in log)} log entries (seed {args.seed}) -> {args.out}")
    print(json.dumps(meta["distribution"], ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
