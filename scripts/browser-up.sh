#!/usr/bin/env bash
# The browser the history page's test renders it in: Debian's chromium (driven headless by
# Playwright, a dev dependency, with this binary: no browser download). Idempotent.
set -Eeuo pipefail
log() { printf 'browser-up: %s\n' "$*" >&2; }
die() { printf 'browser-up: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

if [ -n "${ZDD_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
    apt_install chromium
    command -v chromium >/dev/null 2>&1 || die "apt-get install chromium did not give a chromium"
    log "chromium: $(chromium --version 2>/dev/null | head -1)"
else
    die "no chromium: install it (Debian: apt-get install chromium), or set ZDD_CHROMIUM to a Chromium binary"
fi
