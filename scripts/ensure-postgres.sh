#!/usr/bin/env bash
# Make sure the tests can start a throwaway PostgreSQL (see tests/pg.py). Called by `make test`.
#
# - SALESCOPE_TEST_POSTGRES_URL set: the tests use that server; nothing to install.
# - initdb and pg_ctl found (SALESCOPE_POSTGRES_BIN, PATH, /usr/lib/postgresql/*/bin, ...): done.
# - Otherwise, as root with apt-get: install the `postgresql` package, quietly.
# - Otherwise: say what to do. That is an error only when SALESCOPE_REQUIRE_POSTGRES=1 (CI);
#   without it the PostgreSQL tests are skipped with the same advice.
set -euo pipefail

required() {
    case "${SALESCOPE_REQUIRE_POSTGRES:-}" in "" | 0 | false | no) return 1 ;; *) return 0 ;; esac
}

find_bindir() {
    local dir
    if [[ -n "${SALESCOPE_POSTGRES_BIN:-}" && -x "${SALESCOPE_POSTGRES_BIN}/pg_ctl" \
        && -x "${SALESCOPE_POSTGRES_BIN}/initdb" ]]; then
        echo "$SALESCOPE_POSTGRES_BIN"
        return 0
    fi
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    # Newest version first.
    for dir in $(ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin /usr/local/pgsql/bin \
        2>/dev/null | sort -V -r); do
        if [[ -x "$dir/pg_ctl" && -x "$dir/initdb" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

if [[ -n "${SALESCOPE_TEST_POSTGRES_URL:-}" ]]; then
    echo "PostgreSQL for tests: the server of SALESCOPE_TEST_POSTGRES_URL"
    exit 0
fi

if bindir="$(find_bindir)"; then
    echo "PostgreSQL for tests: $bindir"
    exit 0
fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL not found: installing it with apt-get (postgresql)..."
    export DEBIAN_FRONTEND=noninteractive
    install() {
        apt-get install -y -qq --no-install-recommends postgresql >/tmp/salescope-apt.log 2>&1
    }
    if ! install; then
        # A fresh container often has no package lists yet.
        apt-get update -qq >>/tmp/salescope-apt.log 2>&1 || true
        if ! install; then
            echo "apt-get install postgresql failed; last lines of /tmp/salescope-apt.log:" >&2
            tail -n 20 /tmp/salescope-apt.log >&2
            exit 1
        fi
    fi
    if bindir="$(find_bindir)"; then
        echo "PostgreSQL for tests: $bindir"
        exit 0
    fi
    echo "postgresql was installed but initdb/pg_ctl are still not found" >&2
    exit 1
fi

cat >&2 <<'MSG'
PostgreSQL is not installed, and this script can only install it as root with apt-get.
The PostgreSQL tests start their own throwaway server; they need the server binaries:
  Debian/Ubuntu:  sudo apt-get install postgresql
  Fedora/RHEL:    sudo dnf install postgresql-server
  macOS:          brew install postgresql@16
  elsewhere:      install PostgreSQL and set SALESCOPE_POSTGRES_BIN to the directory of pg_ctl
or point the tests at a running server where the user may CREATE DATABASE:
  export SALESCOPE_TEST_POSTGRES_URL=postgresql://postgres@localhost:5432/postgres
MSG
if required; then
    echo "SALESCOPE_REQUIRE_POSTGRES=1: PostgreSQL is required here." >&2
    exit 1
fi
echo "Without it, the PostgreSQL tests are skipped." >&2
exit 0
