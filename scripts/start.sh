#!/usr/bin/env bash
# Quick start: create .venv, install, index the bundled sample, serve search on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
INDEX_DIR=${SEARCH_INDEX_DIR:-index}
if [ ! -f "$INDEX_DIR/CURRENT" ]; then
  .venv/bin/search-service index data/sample-vntc.jsonl.gz --index-dir "$INDEX_DIR"
fi
echo "Search page: http://${SEARCH_HOST:-127.0.0.1}:${SEARCH_PORT:-8000}/   (Ctrl-C to stop)"
exec .venv/bin/search-service serve --index-dir "$INDEX_DIR" "$@"
