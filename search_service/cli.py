"""The `search-service` command line: a thin shell over the core.

Exit status: 0 done; 1 an error (the message says what to do); 2 bad usage; 3 done, but some
records were rejected; 130 interrupted (what was committed stays indexed).
"""

from __future__ import annotations

import gzip
import html
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from .config import ConfigError, Settings
from .errors import BadQuery, IndexLocked, IndexMissing, SearchServiceError

EXIT_ERROR = 1
EXIT_REJECTED = 3
EXIT_INTERRUPTED = 130

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class CommandError(click.ClickException):
    """A domain error shown as one line, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def index_dir_option(f):
    """The --index-dir option every command takes."""
    return click.option(
        "--index-dir",
        envvar="SEARCH_INDEX_DIR",
        default="index",
        show_default=True,
        type=click.Path(file_okay=False, path_type=str),
        help="Index directory (also SEARCH_INDEX_DIR).",
    )(f)


def wait_option(f):
    """The --wait option of the commands that write."""
    return click.option(
        "--wait",
        "lock_timeout",
        type=click.FloatRange(min=0),
        default=0,
        show_default=True,
        help="Seconds to wait when another process is writing the index.",
    )(f)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="search-service")
def main() -> None:
    """Full-text search for Vietnamese news: index articles, search them, serve the search page."""


def _store(index_dir: str):
    from .store import IndexStore

    return IndexStore(index_dir)


def _fail(exc: SearchServiceError) -> CommandError:
    return CommandError(str(exc))


# -- index / reindex ---------------------------------------------------------------------------


def _ingest_options(f):
    f = click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")(f)
    f = click.option(
        "--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal)."
    )(f)
    f = click.option(
        "--rejects",
        type=click.Path(dir_okay=False, writable=True, path_type=str),
        help="Write every rejected record (file, line, id, reason) to this JSON Lines file.",
    )(f)
    f = click.option(
        "--jobs", type=click.IntRange(min=1), default=None, help="Processes for segmentation [default: all cores]."
    )(f)
    f = click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=2000,
        show_default=True,
        help="Input records per commit (one segment each); an interrupted run keeps every finished batch.",
    )(f)
    f = wait_option(f)
    f = index_dir_option(f)
    return click.argument("paths", nargs=-1, required=True, type=str)(f)


@main.command(name="index")
@_ingest_options
def index_cmd(paths: tuple[str, ...], **options: object) -> None:
    """Add articles from PATHS (files, directories, or - for stdin) to the index.

    Formats: JSON Lines, JSON (one article or a list), HTML article pages and plain-text page
    exports, each optionally gzipped. An article whose id is already indexed is replaced.
    """
    _run_ingest("index", paths, **options)


@main.command()
@_ingest_options
def reindex(paths: tuple[str, ...], **options: object) -> None:
    """Build a new index from PATHS beside the live one, then switch to it atomically.

    A running service keeps answering from the old index until the switch; an interrupted or
    failed rebuild leaves the live index as it was.
    """
    _run_ingest("reindex", paths, **options)


def _run_ingest(
    mode: str,
    paths: tuple[str, ...],
    index_dir: str,
    lock_timeout: float,
    batch_size: int,
    jobs: int | None,
    rejects: str | None,
    progress: bool | None,
    as_json: bool,
) -> None:
    from . import indexer
    from .sources import read_paths

    store = _store(index_dir)
    show_progress = sys.stderr.isatty() if progress is None else progress
    reject_file = open(rejects, "w", encoding="utf-8") if rejects else None  # noqa: SIM115
    shown = 0

    def on_reject(rej) -> None:
        nonlocal shown
        if reject_file:
            reject_file.write(
                json.dumps(
                    {"file": rej.origin, "line": rej.position, "id": rej.record_id, "reason": rej.reason},
                    ensure_ascii=False,
                )
                + "\n"
            )
        if shown < 10:
            bar.write(f"rejected {rej.describe()}", file=sys.stderr) if bar else click.echo(
                f"rejected {rej.describe()}", err=True
            )
        shown += 1

    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=_count_records(paths), unit=" articles", file=sys.stderr, smoothing=0.05, dynamic_ncols=True)

    def on_progress(report) -> None:
        # Called per record (one process) or a few times a second (workers): catch up to the count.
        if bar is not None and report.read > bar.n:
            bar.update(report.read - bar.n)

    run = indexer.reindex if mode == "reindex" else indexer.ingest
    try:
        report = run(
            store,
            read_paths(paths),
            batch_size=batch_size,
            jobs=jobs,
            lock_timeout=lock_timeout,
            on_progress=on_progress,
            on_reject=on_reject,
        )
    except KeyboardInterrupt:  # raised outside the write loop (before the first record)
        raise CommandError("interrupted before anything was indexed", EXIT_INTERRUPTED) from None
    except IndexLocked as exc:
        raise _fail(exc) from None
    except SearchServiceError as exc:
        raise _fail(exc) from None
    finally:
        if bar is not None:
            bar.close()
        if reject_file:
            reject_file.close()
    if shown > 10:
        more = f" (all in {rejects})" if rejects else " (use --rejects FILE to list them all)"
        click.echo(f"... and {shown - 10} more rejected{more}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    click.echo(report.summary(), err=as_json)
    if report.interrupted:
        what = (
            "the new index was discarded; the live one is unchanged"
            if mode == "reindex"
            else (f"{report.committed} articles committed; run the same command again to finish")
        )
        raise CommandError(f"interrupted: {what}", EXIT_INTERRUPTED)
    if report.rejected:
        sys.exit(EXIT_REJECTED)


def _count_records(paths: Iterable[str]) -> int | None:
    """Lines in JSON Lines inputs, for the progress bar's ETA (None when unknown)."""
    total = 0
    for p in paths:
        path = Path(p)
        name = path.name.lower().removesuffix(".gz")
        if p == "-" or not path.is_file() or not name.endswith((".jsonl", ".ndjson")):
            return None
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        try:
            with opener(path, "rb") as fh:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        except OSError:
            return None
    return total


# -- delete ------------------------------------------------------------------------------------


@main.command()
@click.argument("ids", nargs=-1, required=True)
@index_dir_option
@wait_option
def delete(ids: tuple[str, ...], index_dir: str, lock_timeout: float) -> None:
    """Remove the articles with these IDS from the index."""
    from . import indexer

    try:
        removed, missing = indexer.delete(_store(index_dir), ids, lock_timeout=lock_timeout)
    except SearchServiceError as exc:
        raise _fail(exc) from None
    for article_id in missing:
        click.echo(f"not found: {article_id}", err=True)
    click.echo(f"deleted {removed} article(s)")
    if missing:
        sys.exit(EXIT_REJECTED)


# -- stats -------------------------------------------------------------------------------------


@main.command()
@index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def stats(index_dir: str, as_json: bool) -> None:
    """Number of articles, per section, date range, size on disk, last update."""
    from .searching import SearchEngine

    engine = SearchEngine(_store(index_dir))
    try:
        data = engine.stats()
    except SearchServiceError as exc:
        raise _fail(exc) from None
    finally:
        engine.close()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"articles:     {data['articles']}")
    click.echo(f"published:    {data['published_first'] or '-'} .. {data['published_last'] or '-'}")
    click.echo(f"size on disk: {data['size_bytes'] / 1e6:.1f} MB")
    click.echo(f"last update:  {data['last_update']}")
    click.echo(f"schema:       version {data['schema_version']} ({data['generation']})")
    click.echo("sections:")
    for name, count in data["sections"].items():
        click.echo(f"  {count:>8}  {name}")


# -- search ------------------------------------------------------------------------------------

_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)


def _terminal_text(fragment: str, colour: bool) -> str:
    if colour:
        fragment = _MARK.sub(lambda m: click.style(m.group(1), fg="yellow", bold=True), fragment)
    else:
        fragment = _MARK.sub(r"\1", fragment)
    return html.unescape(fragment)


@main.command()
@click.argument("query", nargs=-1)
@index_dir_option
@click.option("--section", multiple=True, help="Only this section (repeatable).")
@click.option("--tag", multiple=True, help="Only articles with this tag (repeatable).")
@click.option("--author", help="Only articles by this author.")
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="Published on or after this day (Hanoi time).")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Published on or before this day (Hanoi time).")
@click.option("--sort", type=click.Choice(["relevance", "newest", "oldest"]), default="relevance", show_default=True)
@click.option("--page", default="1", show_default=True, help="Page number.")
@click.option("--size", default="10", show_default=True, help="Results per page (at most 50).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.option("--color/--no-color", default=None, help="Colour highlights (default: on a terminal).")
def search(
    query: tuple[str, ...],
    index_dir: str,
    section: tuple[str, ...],
    tag: tuple[str, ...],
    author: str | None,
    date_from: str | None,
    date_to: str | None,
    sort: str,
    page: str,
    size: str,
    as_json: bool,
    color: bool | None,
) -> None:
    """Search the index, as the web API does, and print the results."""
    from .query import parse_request
    from .searching import SearchEngine

    try:
        request = parse_request(
            {
                "q": " ".join(query),
                "author": author,
                "from": date_from,
                "to": date_to,
                "sort": sort,
                "page": page,
                "size": size,
            },
            {"section": list(section), "tag": list(tag)},
        )
        settings = Settings.from_env()
    except (BadQuery, ConfigError) as exc:
        raise CommandError(str(exc), 2) from None
    engine = SearchEngine(_store(index_dir), freshness_days=settings.freshness_days)
    try:
        result = engine.search(request)
    except SearchServiceError as exc:
        raise _fail(exc) from None
    finally:
        engine.close()
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    colour = sys.stdout.isatty() if color is None else color
    click.echo(f"{result.total} kết quả ({result.took_ms:.0f} ms)")
    if result.suggestion:
        click.echo(f"Có phải bạn muốn tìm: {result.suggestion}")
    for n, hit in enumerate(result.results, start=request.offset + 1):
        meta = " · ".join(x for x in (hit.section, (hit.published or "")[:10], hit.author) if x)
        click.echo(f"\n{n}. {_terminal_text(hit.title_html, colour)}", color=colour)
        if meta:
            click.echo(f"   {meta}")
        click.echo(f"   {_terminal_text(hit.snippet_html, colour)}", color=colour)
        click.echo(f"   id: {hit.id}")


# -- serve -------------------------------------------------------------------------------------


@main.command()
@index_dir_option
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1, or SEARCH_HOST].")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port [default: 8000, or SEARCH_PORT].")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes [default: 2].")
@click.option("--timeout", type=click.IntRange(1, 3600), default=None, help="Seconds before a stuck worker restarts.")
def serve(index_dir: str, host: str | None, port: int | None, workers: int | None, timeout: int | None) -> None:
    """Serve the search page and the JSON API with gunicorn."""
    from .serving import run_gunicorn

    try:
        settings = Settings.from_env(index_dir=index_dir, host=host, port=port, workers=workers, timeout=timeout)
    except ConfigError as exc:
        raise CommandError(str(exc), 2) from None
    store = _store(settings.index_dir)
    try:
        store.current_path()
    except IndexMissing:
        click.echo(
            f"warning: no index in {settings.index_dir} yet; the service answers 503 until you run "
            f"`search-service index PATH --index-dir {settings.index_dir}`",
            err=True,
        )
    except SearchServiceError as exc:
        click.echo(f"warning: {exc}", err=True)
    os.environ["SEARCH_INDEX_DIR"] = os.path.abspath(settings.index_dir)
    run_gunicorn(settings)


if __name__ == "__main__":  # pragma: no cover
    main()
