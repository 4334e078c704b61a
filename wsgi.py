"""Gunicorn entry point: ``gunicorn wsgi:app`` (settings from SEARCH_* environment variables).

``create_app`` opens nothing: each worker opens the index on its first request.
"""

import sys

from search_service import create_app
from search_service.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:  # a bad SEARCH_* value: say which, not a traceback
    sys.exit(f"search-service: {exc}")
