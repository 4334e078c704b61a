"""Gunicorn entry point: ``gunicorn wsgi:app`` (settings from SEARCH_* environment variables).

``create_app`` opens nothing: each worker opens the index on its first request.
"""

from search_service import create_app

app = create_app()
