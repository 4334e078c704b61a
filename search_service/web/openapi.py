"""The OpenAPI 3 description of the JSON API (kept next to the routes it describes)."""

from __future__ import annotations

from .. import __version__
from ..query import MAX_PAGE_SIZE, MAX_QUERY_CHARS, MAX_RESULT_WINDOW, SORTS

_NULLABLE_STR = {"type": "string", "nullable": True}

_HIT = {
    "type": "object",
    "required": ["id", "url", "title", "title_html", "section", "published", "author", "tags", "snippet_html", "score"],
    "properties": {
        "id": {"type": "string"},
        "url": _NULLABLE_STR,
        "title": {"type": "string"},
        "title_html": {"type": "string", "description": "HTML-escaped title, matches in <mark>"},
        "section": _NULLABLE_STR,
        "published": {"type": "string", "format": "date-time", "nullable": True},
        "author": _NULLABLE_STR,
        "tags": {"type": "array", "items": {"type": "string"}},
        "snippet_html": {"type": "string", "description": "HTML-escaped snippet, matches in <mark>"},
        "score": {"type": "number", "nullable": True},
    },
}

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "param": {"type": "string"},
            },
        }
    },
}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(schema_ref: str) -> dict:
    return {"description": "OK", "content": {"application/json": {"schema": {"$ref": schema_ref}}}}


def _param(name: str, schema: dict, description: str, repeat: bool = False) -> dict:
    # An empty value (as an HTML form sends it) is read as "not given".
    p = {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        "allowEmptyValue": True,
    }
    if repeat:
        p["schema"] = {"type": "array", "items": schema}
        p["style"] = "form"
        p["explode"] = True
    return p


_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
_UNAVAILABLE = _error("No usable index: the message names the command to run")


def openapi_document() -> dict:
    """The API description, as a plain dict."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "search_service",
            "version": __version__,
            "description": "Full-text search over Vietnamese news articles.",
        },
        "paths": {
            "/api/search": {
                "get": {
                    "summary": "Search articles",
                    "parameters": [
                        _param(
                            "q",
                            {"type": "string", "maxLength": MAX_QUERY_CHARS},
                            "Query, with or without diacritics; "
                            'editor syntax: "phrase", -word, OR, title:, tag:, author:',
                        ),
                        _param("section", {"type": "string"}, "Only these sections", repeat=True),
                        _param("tag", {"type": "string"}, "Only articles with these tags", repeat=True),
                        _param("author", {"type": "string"}, "Only articles by this author"),
                        _param(
                            "from",
                            {"type": "string", "format": "date"},
                            "Published on or after (YYYY-MM-DD, Hanoi time)",
                        ),
                        _param(
                            "to",
                            {"type": "string", "format": "date"},
                            "Published on or before (YYYY-MM-DD, Hanoi time)",
                        ),
                        _param("sort", {"type": "string", "enum": list(SORTS)}, "Order of results"),
                        _param("page", {"type": "integer", "minimum": 1, "maximum": MAX_RESULT_WINDOW}, "Page number"),
                        _param("size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}, "Results per page"),
                    ],
                    "responses": {
                        "200": _ok("#/components/schemas/SearchPage"),
                        "400": _error("A bad parameter"),
                        "503": _UNAVAILABLE,
                    },
                }
            },
            "/api/articles/{id}": {
                "get": {
                    "summary": "One article",
                    "parameters": [_ID_PARAM],
                    "responses": {
                        "200": _ok("#/components/schemas/Article"),
                        "404": _error("No article with this id"),
                        "503": _UNAVAILABLE,
                    },
                }
            },
            "/api/articles/{id}/related": {
                "get": {
                    "summary": "Articles most like this one",
                    "parameters": [
                        _ID_PARAM,
                        _param("size", {"type": "integer", "minimum": 1, "maximum": 50}, "How many"),
                    ],
                    "responses": {
                        "200": _ok("#/components/schemas/Related"),
                        "400": _error("A bad parameter"),
                        "404": _error("No article with this id"),
                        "503": _UNAVAILABLE,
                    },
                }
            },
            "/api/suggest": {
                "get": {
                    "summary": "Title suggestions as the reader types",
                    "parameters": [
                        _param("q", {"type": "string", "maxLength": 200}, "What has been typed so far"),
                        _param("size", {"type": "integer", "minimum": 1, "maximum": 20}, "How many"),
                    ],
                    "responses": {
                        "200": _ok("#/components/schemas/Suggestions"),
                        "400": _error("A bad parameter"),
                        "503": _UNAVAILABLE,
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Status, article count and index version",
                    "responses": {"200": _ok("#/components/schemas/Health"), "503": _UNAVAILABLE},
                }
            },
        },
        "components": {
            "schemas": {
                "Error": _ERROR,
                "Hit": _HIT,
                "SearchPage": {
                    "type": "object",
                    "required": [
                        "query",
                        "total",
                        "page",
                        "size",
                        "took_ms",
                        "results",
                        "facets",
                        "suggestion",
                        "partial",
                    ],
                    "properties": {
                        "query": {"type": "string"},
                        "total": {"type": "integer", "minimum": 0},
                        "page": {"type": "integer", "minimum": 1},
                        "size": {"type": "integer", "minimum": 1},
                        "took_ms": {"type": "number"},
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                        "facets": {
                            "type": "object",
                            "properties": {
                                "section": {"type": "object", "additionalProperties": {"type": "integer"}},
                                "year": {"type": "object", "additionalProperties": {"type": "integer"}},
                            },
                        },
                        "suggestion": _NULLABLE_STR,
                        "partial": {
                            "type": "boolean",
                            "description": "The search ran out of its time budget: the results found until then.",
                        },
                    },
                },
                "Article": {
                    "type": "object",
                    "required": ["id", "title"],
                    "properties": {
                        "id": {"type": "string"},
                        "url": _NULLABLE_STR,
                        "title": {"type": "string"},
                        "section": _NULLABLE_STR,
                        "published": {"type": "string", "format": "date-time", "nullable": True},
                        "author": _NULLABLE_STR,
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "summary": _NULLABLE_STR,
                        "body": {"type": "string"},
                    },
                },
                "Related": {
                    "type": "object",
                    "required": ["id", "results"],
                    "properties": {
                        "id": {"type": "string"},
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                    },
                },
                "Suggestions": {
                    "type": "object",
                    "required": ["query", "suggestions"],
                    "properties": {
                        "query": {"type": "string"},
                        "suggestions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["id", "title", "title_html"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "title": {"type": "string"},
                                    "title_html": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "articles", "schema_version"],
                    "properties": {
                        "status": {"type": "string"},
                        "articles": {"type": "integer"},
                        "schema_version": {"type": "integer"},
                    },
                },
            }
        },
    }
