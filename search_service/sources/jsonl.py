"""JSON Lines: one article object per line, read as a stream of bytes (never the whole file at once)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from search_service.articles import RawRecord, Rejection

_BOM = b"\xef\xbb\xbf"


def json_type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    names = {dict: "object", list: "array", str: "string", int: "number", float: "number"}
    return names.get(type(value), type(value).__name__)


def json_error(exc: json.JSONDecodeError, *, with_line: bool = False) -> str:
    """A short reason for a JSON syntax error."""
    where = f"line {exc.lineno} column {exc.colno}" if with_line else f"column {exc.colno}"
    return f"invalid JSON: {exc.msg} at {where}"


def parse_jsonl_line(raw: bytes, origin: str, number: int) -> RawRecord | Rejection | None:
    """One line of JSON Lines as a record, a rejection for that line, or None for a blank line."""
    if number == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = raw[exc.start]
        return Rejection(origin, number, f"not UTF-8 text: invalid byte 0x{byte:02x} at byte {exc.start + 1}")
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Rejection(origin, number, json_error(exc))
    except RecursionError:
        return Rejection(origin, number, "invalid JSON: nested too deeply")
    if not isinstance(value, dict):
        return Rejection(origin, number, f"not a JSON object (got {json_type_name(value)})")
    return RawRecord(fields=value, origin=origin, position=number)


def read_jsonl(lines: Iterable[bytes], origin: str) -> Iterator[RawRecord | Rejection]:
    """Yield a RawRecord per non-blank line (position = 1-based line number) or a Rejection for a bad one."""
    seen_content = False
    for number, raw in enumerate(lines, start=1):
        item = parse_jsonl_line(raw, origin, number)
        if item is not None:
            seen_content = True
            yield item
    if not seen_content:
        yield Rejection(origin, 0, "empty file")
