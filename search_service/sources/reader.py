"""Find input files, open them (gzip or not), pick their format and hand their records on.

Decisions:

* A path that cannot be read (missing, permission denied) yields one ``Rejection(path, 0, reason)`` and the
  other paths are still read: the caller reports rejections with file and line.
* A directory is walked recursively in sorted order, skipping hidden files and directories (name starting
  with "."). Inside a directory only files with an article extension are read (``.jsonl .ndjson .jsonlines
  .json .html .htm .txt``, each optionally ``.gz``); READMEs, scripts and images next to the data are skipped
  silently; a directory without any article file yields one rejection. A file named explicitly is always
  read, whatever its extension.
* Gzip is recognised by its magic bytes (1f 8b), for files and standard input alike, whatever the name.
* Format by extension (after ``.gz``); for standard input and unknown extensions, by the first non-blank
  byte: ``{`` is JSON Lines when the first line is a JSON object on its own, else JSON; ``[`` JSON;
  ``<`` HTML; anything else a text page export. Known binary extensions and content that is not UTF-8
  text are rejected.
* JSON Lines is streamed line by line; JSON, HTML and text pages are read whole (they are single documents).
* Pages have no record id of their own unless the HTML gives one; the fallback id is ``page:<file stem>``
  (``page:page-tttd-2022-11-14`` for ``page-tttd-2022-11-14.txt.gz``), and for standard input
  ``page:sha1-<first 16 hex digits of the SHA-1 of the content>``.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import json
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from pathlib import PurePath
from typing import BinaryIO

from bs4 import ParserRejectedMarkup

from search_service.articles import RawRecord, Rejection
from search_service.sources.html import parse_html_page
from search_service.sources.jsonfile import read_json
from search_service.sources.jsonl import read_jsonl
from search_service.sources.textpage import parse_text_page

STDIN = "-"
CHUNK = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"

JSONL, JSON, HTML, TEXT = "jsonl", "json", "html", "text"
FORMAT_BY_EXTENSION = {
    ".jsonl": JSONL,
    ".ndjson": JSONL,
    ".jsonlines": JSONL,
    ".json": JSON,
    ".html": HTML,
    ".htm": HTML,
    ".xhtml": HTML,
    ".txt": TEXT,
}
BINARY_EXTENSIONS = frozenset(
    (
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".bmp",
        ".ico",
        ".tif",
        ".tiff",
        ".pdf",
        ".zip",
        ".tar",
        ".tgz",
        ".bz2",
        ".xz",
        ".zst",
        ".7z",
        ".rar",
        ".exe",
        ".dll",
        ".so",
        ".dylib",
        ".bin",
        ".whl",
        ".pyc",
        ".mp3",
        ".mp4",
        ".m4a",
        ".avi",
        ".mov",
        ".mkv",
        ".wav",
        ".ogg",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
        ".doc",
        ".docx",
        ".xls",
        ".xlsx",
        ".ppt",
        ".pptx",
        ".odt",
        ".sqlite",
        ".db",
        ".parquet",
        ".pkl",
        ".npy",
        ".npz",
    )
)

#: Errors a damaged gzip stream raises while it is read.
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class _Rewound(io.RawIOBase):
    """A raw stream that first gives back bytes already read, then the rest of the original stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        """Serve ``head`` first, then ``rest``."""
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        """Fill the buffer from the pushed-back bytes, then from the rest."""
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = _read_some(self._rest, len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _push_back(head: bytes, rest: BinaryIO) -> io.BufferedReader:
    """A buffered stream that reads ``head`` and then ``rest``."""
    return io.BufferedReader(_Rewound(head, rest), buffer_size=CHUNK)


def _read_some(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, returning what is available (read1): data before a gzip error is not lost."""
    read1 = getattr(stream, "read1", None)
    return read1(size) if read1 is not None else stream.read(size)


def _read_head(stream: BinaryIO, head: bytes = b"") -> bytes:
    """The first bytes of a stream, reading on until something that is not whitespace shows up (or EOF)."""
    while not head.strip():
        more = _read_some(stream, CHUNK)
        if not more:
            break
        head += more
    return head


def _is_hidden(name: str) -> bool:
    """Whether a file or directory name is hidden."""
    return name.startswith(".")


def _article_extension(name: str) -> str:
    """A file name's extension after removing ``.gz``, lowercased ("" when there is none)."""
    lower = name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    return PurePath(lower).suffix


def page_stem(path: str) -> str:
    """A page file's name without its directories, ``.gz`` and format extension."""
    name = PurePath(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return PurePath(name).stem or name


def iter_files(paths: Iterable[str]) -> Iterator[str]:
    """Expand paths: a directory becomes its article files (sorted); other paths pass as they are."""
    for path in paths:
        if path != STDIN and os.path.isdir(path):
            yield from _walk(path)
        else:
            yield path


def _walk(top: str) -> list[str]:
    """Article files under a directory, sorted by path (``a.json``, ``b/1.jsonl``, ``c.txt``), none hidden."""
    found: list[tuple[tuple[str, ...], str]] = []
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not _is_hidden(d)]
        for name in files:
            if not _is_hidden(name) and _article_extension(name) in FORMAT_BY_EXTENSION:
                path = os.path.join(root, name)
                found.append((PurePath(os.path.relpath(path, top)).parts, path))
    return [path for _, path in sorted(found)]


def read_paths(paths: Iterable[str], stdin: BinaryIO | None = None) -> Iterator[RawRecord | Rejection]:
    """Yield every record (or rejection) of the given files, directories and ``-`` (standard input)."""
    for given in paths:
        if given != STDIN and os.path.isdir(given):
            files = _walk(given)
            if not files:
                known = " ".join(FORMAT_BY_EXTENSION)
                yield Rejection(given, 0, f"no article files in this directory ({known}, optionally .gz)")
            for path in files:
                yield from _read_file(path)
        elif given == STDIN:
            yield from read_stream(stdin if stdin is not None else sys.stdin.buffer, STDIN)
        else:
            yield from _read_file(given)


def _read_file(path: str) -> Iterator[RawRecord | Rejection]:
    """Records of one file; a file that cannot be opened is one rejection."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below, across yields
    except FileNotFoundError:
        yield Rejection(path, 0, "no such file or directory")
        return
    except OSError as exc:
        yield Rejection(path, 0, f"cannot read: {exc.strerror or exc}")
        return
    try:
        yield from read_stream(handle, path)
    finally:
        handle.close()


def read_stream(stream: BinaryIO, origin: str) -> Iterator[RawRecord | Rejection]:
    """Yield the records of one binary stream; ``origin`` names it (a path, or "-") and gives the format."""
    try:
        yield from _read_stream(stream, origin)
    except _GZIP_ERRORS as exc:
        yield Rejection(origin, 0, f"corrupt or truncated gzip data: {exc}")
    except OSError as exc:
        yield Rejection(origin, 0, f"cannot read: {exc.strerror or exc}")


def _read_stream(stream: BinaryIO, origin: str) -> Iterator[RawRecord | Rejection]:
    """read_stream without the I/O error handling."""
    extension = "" if origin == STDIN else _article_extension(origin)
    if extension in BINARY_EXTENSIONS:
        yield Rejection(origin, 0, f"unknown format: {extension} files are not articles")
        return
    head = stream.read(CHUNK)
    if head[:2] == GZIP_MAGIC:
        stream = gzip.GzipFile(fileobj=_push_back(head, stream), mode="rb")
        head = b""
    head = _read_head(stream, head)
    if not head.strip():
        yield Rejection(origin, 0, "empty file")
        return
    buffered = _push_back(head, stream)
    kind = FORMAT_BY_EXTENSION.get(extension)
    if kind is None:
        problem = _not_text(head)
        if problem:
            yield Rejection(origin, 0, f"unknown format: {problem}")
            return
        kind, buffered = _sniff(head, buffered)

    if kind == JSONL:
        yield from _read_jsonl_stream(buffered, origin)
        return
    data = buffered.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text: invalid byte 0x{data[exc.start]:02x} at byte {exc.start + 1}"
        yield Rejection(origin, 0, reason)
        return
    if kind == JSON:
        yield from read_json(text, origin)
        return
    fallback_id = _page_id(origin, data)
    parse = parse_html_page if kind == HTML else parse_text_page
    try:
        fields = parse(text, fallback_id)
    except (RecursionError, ValueError, AssertionError, ParserRejectedMarkup) as exc:
        yield Rejection(origin, 0, f"cannot parse the page: {type(exc).__name__}: {exc}")
        return
    yield RawRecord(fields=fields, origin=origin, position=1)


def _read_jsonl_stream(stream: io.BufferedReader, origin: str) -> Iterator[RawRecord | Rejection]:
    """JSON Lines from a stream; a damaged gzip stream ends the file with a rejection at the next line."""
    lines = _LineCounter(stream)
    try:
        yield from read_jsonl(lines, origin)
    except _GZIP_ERRORS as exc:
        yield Rejection(origin, lines.count + 1, f"corrupt or truncated gzip data, reading stopped: {exc}")


class _LineCounter:
    """Iterate a stream's lines, remembering how many were read."""

    def __init__(self, stream: io.BufferedReader) -> None:
        """Count the lines of ``stream`` as they are read."""
        self._stream = stream
        self.count = 0

    def __iter__(self) -> Iterator[bytes]:
        """The stream's lines, counted."""
        for line in self._stream:
            self.count += 1
            yield line


def _page_id(origin: str, data: bytes) -> str:
    """Fallback id of a page: ``page:<file stem>``, or a content hash for standard input."""
    if origin == STDIN:
        return "page:sha1-" + hashlib.sha1(data).hexdigest()[:16]
    return "page:" + page_stem(origin)


def _not_text(head: bytes) -> str | None:
    """Why the first bytes of a file are not UTF-8 text, or None when they look like it.

    A few bad bytes are tolerated (one bad JSON line must not lose the whole file); NUL bytes or more than
    2% of undecodable characters are not.
    """
    if b"\x00" in head:
        return "binary data, not UTF-8 text"
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
    if text.count("\ufffd") > max(1, len(text) // 50):
        return "not UTF-8 text"
    return None


def _sniff(head: bytes, stream: io.BufferedReader) -> tuple[str, io.BufferedReader]:
    """Guess a format from the first non-blank byte; may read the first line and push it back."""
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n\f\v")[:1]
    if first == b"[":
        return JSON, stream
    if first == b"<":
        return HTML, stream
    if first != b"{":
        return TEXT, stream
    consumed = []
    line = b""
    while not line.strip():
        line = stream.readline()
        consumed.append(line)
        if not line:
            break
    stream = _push_back(b"".join(consumed), stream)
    try:
        is_object = isinstance(json.loads(line.decode("utf-8-sig")), dict)
    except (ValueError, RecursionError):
        is_object = False
    return (JSONL if is_object else JSON), stream
