"""The command line, end to end through click: index, search, stats, delete, reindex, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from search_service.cli import EXIT_REJECTED, main

from .conftest import FIXTURE_ARTICLES, write_jsonl

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, input: str | bytes | None = None):
    return runner.invoke(main, list(args), input=input, catch_exceptions=False)


def test_every_command_has_help(runner):
    for name, command in main.commands.items():
        assert command.help, name
        result = run(runner, name, "--help")
        assert result.exit_code == 0 and "--index-dir" in result.output


def test_index_search_stats_delete(runner, tmp_path: Path):
    ix = str(tmp_path / "ix")
    src = write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES)
    result = run(runner, "index", str(src), "--index-dir", ix, "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert "indexed 4 (0 replaced), rejected 0" in result.output

    result = run(runner, "search", "binh dang gioi", "--index-dir", ix, "--no-color")
    assert result.exit_code == 0
    assert "Thúc đẩy bình đẳng giới trong gia đình" in result.output and "<mark>" not in result.output

    colour = run(runner, "search", "bình đẳng giới", "--index-dir", ix, "--color")
    assert "\x1b[" in colour.output

    data = json.loads(run(runner, "search", "chó", "--index-dir", ix, "--json").output)
    assert data["results"][0]["id"] == "fx-3" and "<mark>chó</mark>" in data["results"][0]["title_html"]

    filtered = json.loads(
        run(
            runner,
            "search",
            "--section",
            "Xã hội",
            "--from",
            "2022-11-01",
            "--to",
            "2022-11-30",
            "--index-dir",
            ix,
            "--json",
        ).output
    )
    assert [r["id"] for r in filtered["results"]] == ["fx-1"]

    stats = json.loads(run(runner, "stats", "--index-dir", ix, "--json").output)
    assert stats["articles"] == 4 and stats["sections"]["Xã hội"] == 2
    assert "articles:     4" in run(runner, "stats", "--index-dir", ix).output

    result = run(runner, "delete", "fx-1", "missing-id", "--index-dir", ix)
    assert result.exit_code == EXIT_REJECTED
    assert "deleted 1" in result.output and "not found: missing-id" in result.output


def test_index_from_stdin_and_env_index_dir(runner, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SEARCH_INDEX_DIR", str(tmp_path / "envix"))
    lines = "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in FIXTURE_ARTICLES)
    result = run(runner, "index", "-", "--jobs", "1", input=lines.encode("utf-8"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "envix" / "CURRENT").exists()


def test_rejected_records_are_listed_and_written_out(runner, tmp_path: Path):
    src = tmp_path / "bad.jsonl"
    src.write_text(
        json.dumps(FIXTURE_ARTICLES[0], ensure_ascii=False) + "\n{broken\n" + json.dumps({"id": "x"}) + "\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.jsonl"
    result = run(
        runner, "index", str(src), "--index-dir", str(tmp_path / "ix"), "--jobs", "1", "--rejects", str(rejects)
    )
    assert result.exit_code == EXIT_REJECTED
    assert f"{src}:2" in result.output and f"{src}:3 [x]: missing title" in result.output
    assert "Traceback" not in result.output
    rows = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["id"]) for r in rows] == [(2, None), (3, "x")]


@pytest.mark.parametrize(
    "content",
    [b"", b"\x89PNG\r\n\x1a\n\x00\x00binary", b"\xff\xfe\x00garbage"],
    ids=["empty", "png", "not-utf8"],
)
def test_garbage_files_get_a_clear_error_and_lose_nothing(runner, tmp_path: Path, content: bytes):
    ix = str(tmp_path / "ix")
    run(runner, "index", str(write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES)), "--index-dir", ix, "--jobs", "1")
    bad = tmp_path / "bad.dat"
    bad.write_bytes(content)
    result = run(runner, "index", str(bad), "--index-dir", ix, "--jobs", "1")
    assert result.exit_code == EXIT_REJECTED
    assert "rejected" in result.output and "Traceback" not in result.output
    stats = json.loads(run(runner, "stats", "--index-dir", ix, "--json").output)
    assert stats["articles"] == 4


def test_missing_path_and_missing_index_say_what_to_do(runner, tmp_path: Path):
    result = run(runner, "search", "x", "--index-dir", str(tmp_path / "nothing"))
    assert result.exit_code == 1 and "search-service index" in result.output
    result = run(runner, "stats", "--index-dir", str(tmp_path / "nothing"))
    assert result.exit_code == 1 and "index not found" in result.output
    result = run(runner, "index", str(tmp_path / "nope.jsonl"), "--index-dir", str(tmp_path / "ix"))
    assert result.exit_code == EXIT_REJECTED and "no such file" in result.output


def test_bad_search_parameters_are_usage_errors(runner, tmp_path: Path):
    ix = str(tmp_path / "ix")
    run(runner, "index", str(write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES)), "--index-dir", ix, "--jobs", "1")
    result = run(runner, "search", "x", "--from", "2022-02-30", "--index-dir", ix)
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
    result = run(runner, "search", "x", "--size", "500", "--index-dir", ix)
    assert result.exit_code == 2 and "size" in result.output


def test_search_lifts_recent_articles_when_a_freshness_half_life_is_set(runner, tmp_path: Path, monkeypatch):
    ix = str(tmp_path / "ix")
    same = {"title": "Giá xăng tăng", "body": "Giá xăng tăng từ chiều nay."}
    records = [
        {"id": "old", **same, "published": "2020-05-01T08:00:00+07:00"},
        {"id": "new", **same, "published": "2024-05-31T08:00:00+07:00"},
    ]
    run(runner, "index", str(write_jsonl(tmp_path / "a.jsonl", records)), "--index-dir", ix, "--jobs", "1")

    def order() -> list[str]:
        result = run(runner, "search", "giá xăng", "--json", "--index-dir", ix)
        assert result.exit_code == 0, result.output
        return [h["id"] for h in json.loads(result.output)["results"]]

    assert order() == ["old", "new"]  # equal scores: index order
    monkeypatch.setenv("SEARCH_FRESHNESS_DAYS", "30")
    assert order() == ["new", "old"]
    for bad in ("soon", "-3"):
        monkeypatch.setenv("SEARCH_FRESHNESS_DAYS", bad)
        for args in (["search", "giá xăng"], ["serve"]):
            result = run(runner, *args, "--index-dir", ix)
            assert result.exit_code == 2, result.output
            assert "SEARCH_FRESHNESS_DAYS" in result.output and "Traceback" not in result.output
    # gunicorn's entry point says the same, without a traceback
    env = {**os.environ, "SEARCH_FRESHNESS_DAYS": "soon", "SEARCH_INDEX_DIR": ix}
    done = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "SEARCH_FRESHNESS_DAYS" in done.stderr and "Traceback" not in done.stderr
    monkeypatch.delenv("SEARCH_FRESHNESS_DAYS")
    assert order() == ["old", "new"]  # nothing indexed was touched


def test_reindex_replaces_the_whole_index(runner, tmp_path: Path):
    ix = str(tmp_path / "ix")
    run(runner, "index", str(write_jsonl(tmp_path / "a.jsonl", FIXTURE_ARTICLES)), "--index-dir", ix, "--jobs", "1")
    result = run(
        runner,
        "reindex",
        str(write_jsonl(tmp_path / "b.jsonl", FIXTURE_ARTICLES[:1])),
        "--index-dir",
        ix,
        "--jobs",
        "1",
        "--json",
    )
    assert result.exit_code == 0
    assert json.loads(result.output.splitlines()[0])["indexed"] == 1
    assert json.loads(run(runner, "stats", "--index-dir", ix, "--json").output)["articles"] == 1
