"""The web layer: a thin shell mapping HTTP to the search core and domain errors to statuses."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from werkzeug.routing import PathConverter

from ..config import Settings
from ..searching import SearchEngine
from ..store import IndexStore


class ArticleIdConverter(PathConverter):
    """Like ``path``, but an id may also start with "/" (ids are opaque strings, often URLs)."""

    regex = ".+?"
    part_isolating = False  # spans several path segments


def build_app(config: dict[str, Any] | None = None) -> Flask:
    """The Flask app: settings from the environment, then ``config``; nothing opened yet."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.url_map.merge_slashes = False  # an article id may hold "//" or start with "/"
    app.url_map.converters["id"] = ArticleIdConverter
    settings = Settings.from_env()
    app.config.update(
        INDEX_DIR=settings.index_dir,
        CACHE_SIZE=settings.cache_size,
        TIME_BUDGET_MS=settings.time_budget_ms,
        FRESHNESS_DAYS=settings.freshness_days,
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    if config:
        app.config.update(config)
    from . import api, errors, pages

    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    errors.register(app)
    return app


def engine() -> SearchEngine:
    """This app's search engine, created on first use (per process: after gunicorn forks)."""
    ext = current_app.extensions
    if "search_engine" not in ext:
        ext["search_engine"] = SearchEngine(
            IndexStore(current_app.config["INDEX_DIR"]),
            cache_size=int(current_app.config["CACHE_SIZE"]),
            time_budget=int(current_app.config["TIME_BUDGET_MS"]) / 1000,
            freshness_days=float(current_app.config["FRESHNESS_DAYS"]),
        )
    return ext["search_engine"]
