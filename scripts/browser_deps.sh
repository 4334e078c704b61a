#!/usr/bin/env bash
# Install what tests/test_browser.py needs on a Debian machine, as root: Debian's Chromium and its
# WebDriver (chromedriver), plus a font with Vietnamese glyphs (DejaVu) so screenshots are readable.
# Idempotent: when everything is already installed it returns at once, without touching the network.
# The Python side (selenium) comes from the project's test extras.
set -euo pipefail

PACKAGES=(chromium chromium-driver fonts-dejavu-core)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "browser_deps: already installed: ${PACKAGES[*]}"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "browser_deps: run as root to install: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "browser_deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
command -v chromium >/dev/null && command -v chromedriver >/dev/null
echo "browser_deps: done ($(chromium --version 2>/dev/null || echo chromium), $(chromedriver --version 2>/dev/null | head -1))"
