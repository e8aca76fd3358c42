#!/usr/bin/env bash
# Set up what the browser end-to-end tests need: Debian's Chromium (apt, as root or with sudo).
# playwright-core (which never downloads a browser) comes with the Node packages (`jlpm install`).
# Called by `make test`. Without root/sudo or npm it warns and the browser tests skip, unless
# MLNB_REQUIRE_BROWSER=1 (CI), where it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

fail_or_warn() {
    if [ "${MLNB_REQUIRE_BROWSER:-0}" = "1" ]; then
        echo "error: $*" >&2
        exit 1
    fi
    echo "warning: $* (browser tests will be skipped)" >&2
    exit 0
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo "$@"
    else
        return 1
    fi
}

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "installing chromium (apt-get)"
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
        || fail_or_warn "could not install chromium: run 'sudo apt-get install chromium'"
fi

