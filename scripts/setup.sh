#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, test and demo ntsb_perf.
# Each step is skipped when it is already done.
source "$(dirname "$0")/common.sh"

# Inside the root of another major (scripts/pg_root.sh sets PG_MAJOR): pg_root.sh installed
# that root's packages and ran cargo pgrx init for its pg_config; the toolchain is the host's.
if [ "$PG_MAJOR" != 15 ]; then
    grep -qs "pg$PG_MAJOR" "${PGRX_HOME:-$HOME/.pgrx}/config.toml" ||
        { echo "PostgreSQL $PG_MAJOR: run this inside its root (scripts/pg_root.sh $PG_MAJOR -- ...)" >&2; exit 2; }
    exit 0
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
PKGS=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libclang-dev clang pkg-config
      postgresql-15-postgis-3 postgresql-15-cron sudo make
      # the Debian package's build and checks (make package, tests/package/package.sh)
      dpkg-dev python3
      # the health report's browser test (tests/live/report_browser.sh): a headless browser, a strict
      # HTML5 parser and GeoJSON validators for Debian's python3
      chromium python3-html5lib python3-shapely python3-geojson)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
# The Debian package starts a cluster of its own on port 5432; we never use it.
if [ -d /etc/postgresql/15/main ] && command -v pg_ctlcluster >/dev/null; then
    $SUDO pg_ctlcluster 15 main stop 2>/dev/null || true
fi

if ! cargo pgrx --version 2>/dev/null | grep -q '0\.18\.1'; then
    log "cargo install cargo-pgrx 0.18.1 (about 5 minutes)"
    cargo install cargo-pgrx --version 0.18.1 --locked
fi
if ! grep -qs "pg15" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
    log "cargo pgrx init --pg15 $PG_CONFIG"
    cargo pgrx init --pg15 "$PG_CONFIG"
fi
if ! rustup component list --installed 2>/dev/null | grep -q clippy; then
    rustup component add clippy rustfmt 2>/dev/null || true
fi
