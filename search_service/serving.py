"""Run the web app under gunicorn (used by `search-service serve`)."""

from __future__ import annotations

import sys

from gunicorn.app.base import BaseApplication

from .config import Settings


def gunicorn_options(settings: Settings) -> dict:
    """Gunicorn settings: sync workers, the pyvi model loaded once before forking, access log."""
    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": "sync",
        "timeout": settings.timeout,
        "graceful_timeout": 10,
        # Load the app (and the segmentation model) before forking so workers share its memory
        # pages. The index is opened lazily by each worker, after the fork.
        "preload_app": True,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "max_requests": 20_000,
        "max_requests_jitter": 2_000,
    }


class _Application(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.settings).items():
            self.cfg.set(key, value)

    def load(self):
        from . import analysis, create_app

        analysis.preload()
        return create_app(
            {
                "INDEX_DIR": self.settings.index_dir,
                "CACHE_SIZE": self.settings.cache_size,
                "TIME_BUDGET_MS": self.settings.time_budget_ms,
                "FRESHNESS_DAYS": self.settings.freshness_days,
            }
        )


def run_gunicorn(settings: Settings) -> None:
    """Serve until stopped (Ctrl-C or SIGTERM)."""
    sys.argv = [sys.argv[0]]  # gunicorn parses argv; ours are already handled by click
    _Application(settings).run()
