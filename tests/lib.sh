# Shared by the shell tests under tests/ (sourced after scripts/common.sh): verdicts, and polling
# a cluster. The caller defines q (psql against its own cluster, -Atq) before calling wait_for.
# shellcheck shell=bash

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
ok() { printf '  ok: %s\n' "$*"; }

# wait_for SECONDS SQL [POLL]: runs SQL through q every POLL seconds (default 0.1) until it
# returns a non-empty value, and prints that; returns 1 once SECONDS have passed without one.
wait_for() {
    local sql=$2 poll=${3:-0.1} v end=$((SECONDS + $1))
    while :; do
        v=$(q -c "$sql" 2>/dev/null || true)
        if [ -n "$v" ]; then
            printf '%s' "$v"
            return 0
        fi
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep "$poll"
    done
}
