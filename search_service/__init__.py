"""search_service: full-text search for Vietnamese news (Whoosh + pyvi + Flask).

``create_app`` is the Flask app factory; importing this package opens nothing.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def create_app(config: dict[str, Any] | None = None):
    """Build the Flask app; ``config`` overrides settings (e.g. {"INDEX_DIR": "/tmp/ix"})."""
    from .web import build_app

    return build_app(config)
