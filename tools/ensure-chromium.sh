#!/usr/bin/env bash
# Debian's chromium for the dashboard's browser test, which Playwright drives (no browser download).
# Found: nothing to do. Missing: installed with apt-get when run as root, else a one-line failure.
set -euo pipefail
if [ -n "${CLIMAX_NB_CHROMIUM:-}" ]; then
    [ -x "$CLIMAX_NB_CHROMIUM" ] && exit 0
    echo "CLIMAX_NB_CHROMIUM=$CLIMAX_NB_CHROMIUM is not an executable chromium: point it at one, or unset it" >&2
    exit 1
fi
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing: installing Debian's chromium with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    command -v chromium >/dev/null 2>&1 && exit 0
    echo "apt-get installed no chromium command: install it by hand, or set CLIMAX_NB_CHROMIUM" >&2
    exit 1
fi
echo "chromium is missing for the dashboard browser test: run 'sudo apt-get install -y chromium' (or set CLIMAX_NB_CHROMIUM=/path/to/chromium); 'make test-fast' needs no browser" >&2
exit 1
