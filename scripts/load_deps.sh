#!/usr/bin/env bash
# Install what tests/test_load.py needs on a Debian machine, as root: wrk, the HTTP load generator.
# Idempotent: when wrk is already installed it returns at once, without touching the network.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    echo "load_deps: already installed: $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "load_deps: run as root to install wrk (apt-get install wrk)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "load_deps: installing wrk"
apt-get update -qq
apt-get install -y -qq --no-install-recommends wrk
command -v wrk >/dev/null
echo "load_deps: done ($(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2))"
