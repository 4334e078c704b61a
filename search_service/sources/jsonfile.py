"""JSON documents: one article object, a list of them, or ``{"articles": [...]}``."""

from __future__ import annotations

import json
from collections.abc import Iterator

from search_service.articles import RawRecord, Rejection
from search_service.sources.jsonl import json_error, json_type_name


def read_json(text: str, origin: str) -> Iterator[RawRecord | Rejection]:
    """Yield the records of a JSON document (position = 1-based record index; 0 for the whole file)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Rejection(origin, 0, json_error(exc, with_line=True))
        return
    except RecursionError:
        yield Rejection(origin, 0, "invalid JSON: nested too deeply")
        return
    if isinstance(document, dict):
        wrapped = document.get("articles")
        if isinstance(wrapped, list) and "id" not in document and "title" not in document:
            records: list = wrapped
        else:
            records = [document]
    elif isinstance(document, list):
        records = document
    else:
        kind = json_type_name(document)
        yield Rejection(origin, 0, f"JSON must hold an object or a list of objects, not a {kind}")
        return
    if not records:
        yield Rejection(origin, 0, "empty file: no records in the JSON list")
        return
    for index, record in enumerate(records, start=1):
        if isinstance(record, dict):
            yield RawRecord(fields=record, origin=origin, position=index)
        else:
            yield Rejection(origin, index, f"not a JSON object (got {json_type_name(record)})")
