"""The JSON API: /api/search, /api/articles/<id>, /api/articles/<id>/related, /api/suggest, /healthz."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..errors import BadQuery
from ..query import parse_request
from . import engine
from .openapi import openapi_document

bp = Blueprint("api", __name__)

MAX_RELATED = 50
MAX_SUGGEST_CHARS = 200


def search_request_from_args():
    """The SearchRequest carried by this request's query string (shared with the HTML page)."""
    args = request.args
    return parse_request(args.to_dict(flat=True), {"section": args.getlist("section"), "tag": args.getlist("tag")})


@bp.get("/api/search")
def search():
    """Search articles."""
    return jsonify(engine().search(search_request_from_args()).to_dict())


@bp.get("/api/articles/<id:article_id>/related")
def related(article_id: str):
    """Articles most like this one."""
    size = _int_arg("size", 5, 1, MAX_RELATED)
    hits = engine().related(article_id, size)
    return jsonify({"id": article_id, "results": [h.__dict__ for h in hits]})


@bp.get("/api/articles/<id:article_id>")
def article(article_id: str):
    """One article."""
    return jsonify(engine().get(article_id).to_dict())


@bp.get("/api/suggest")
def suggest():
    """Title suggestions for what the reader is typing."""
    q = " ".join(request.args.get("q", "").split())
    if len(q) > MAX_SUGGEST_CHARS:
        raise BadQuery("q", f"`q` is too long: at most {MAX_SUGGEST_CHARS} characters")
    size = _int_arg("size", 8, 1, 20)
    return jsonify({"query": q, "suggestions": engine().suggest(q, size) if q else []})


@bp.get("/healthz")
def healthz():
    """Liveness and readiness: 200 with the article count, or 503 saying what to run."""
    return jsonify(engine().health())


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI description of this API."""
    return jsonify(openapi_document())


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(name, f"`{name}` must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise BadQuery(name, f"`{name}` must be between {low} and {high}, got {value}")
    return value
