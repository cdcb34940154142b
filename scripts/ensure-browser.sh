#!/usr/bin/env bash
# Make sure the browser tests (tests/web/test_browser.py, Playwright) find a Chromium.
# Called by `make test`. Playwright cannot download its own browser here: it drives Debian's.
#
# - chromium (or chromium-browser) on the PATH: done.
# - Otherwise, as root with apt-get: install the `chromium` package, quietly.
# - Otherwise: say what to do. That is an error only when SALESCOPE_REQUIRE_BROWSER=1 (CI);
#   without it the browser tests are skipped with the same advice.
set -euo pipefail

required() {
    case "${SALESCOPE_REQUIRE_BROWSER:-}" in "" | 0 | false | no) return 1 ;; *) return 0 ;; esac
}

found() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}

if found; then
    echo "Chromium for browser tests: $(command -v chromium || command -v chromium-browser)"
    exit 0
fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Chromium not found: installing it with apt-get (chromium)..."
    export DEBIAN_FRONTEND=noninteractive
    install() {
        apt-get install -y -qq --no-install-recommends chromium >/tmp/salescope-apt-chromium.log 2>&1
    }
    if ! install; then
        apt-get update -qq >>/tmp/salescope-apt-chromium.log 2>&1 || true
        if ! install; then
            echo "apt-get install chromium failed; last lines of /tmp/salescope-apt-chromium.log:" >&2
            tail -n 20 /tmp/salescope-apt-chromium.log >&2
            exit 1
        fi
    fi
    if found; then
        echo "Chromium for browser tests: $(command -v chromium)"
        exit 0
    fi
    echo "chromium was installed but is still not on the PATH" >&2
    exit 1
fi

cat >&2 <<'MSG'
Chromium is not installed, and this script can only install it as root with apt-get.
The browser tests drive it headless with Playwright:
  Debian/Ubuntu:  sudo apt-get install chromium
  elsewhere:      install Chromium and put `chromium` on the PATH
MSG
if required; then
    echo "SALESCOPE_REQUIRE_BROWSER=1: Chromium is required here." >&2
    exit 1
fi
echo "Without it, the browser tests are skipped." >&2
exit 0
