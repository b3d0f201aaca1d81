#!/usr/bin/env bash
# make test: every stage, in order, each timed, with a table of the stages at the end.
#   scripts/test.sh                    every stage (make test)
#   scripts/test.sh regress docs       only those, in that order (make test-regress, ...)
#   scripts/test.sh --list             the stages and what each proves
# Each stage installs what it needs (the stages on the installed library call ensure_installed,
# which installs this tree's debug build once and skips when it is installed already), so any
# stage runs alone, in any order. The first failed stage ends the run; KEEP_GOING=1 runs the
# rest anyway. tests/README.md says what each stage proves and how long it takes.
source "$(dirname "$0")/common.sh"
cd "$ROOT"

STAGES=(lint unit pgtest regress report upgrade reindex-live dump-restore docs package generated)
# The other majors, each in its Debian root (scripts/pg_root.sh; made on first use): the stages
# of MAJOR_STAGES run there, on that major's server, pg_cron and PostGIS.
MAJOR_STAGES=(lint pgtest regress reindex-live docs)
if [ "$PG_MAJOR" = 15 ]; then STAGES+=(pg17 pg18); fi
CSV=${NTSB_CSV:-$ROOT/../shared/data/ntsb_accidents_2000_2021.csv}

describe() {
    case $1 in
        lint) echo "cargo fmt --check, cargo clippy --all-targets -D warnings" ;;
        unit) echo "pure Rust tests of crates/ntsb_perf_core (no PostgreSQL)" ;;
        pgtest) echo "cargo pgrx test pg$PG_MAJOR: the #[pg_test]s in src/, inside PostgreSQL" ;;
        regress) echo "SQL regression tests (scripts/regress.sh, tests/regress/)" ;;
        report) echo "health report end to end: strict HTML5, escaping, figures, GeoJSON, headless Chromium (tests/live/report_browser.sh)" ;;
        upgrade) echo "upgrade in place from every earlier release (tests/upgrade/upgrade.sh)" ;;
        reindex-live) echo "auto-reindex live: NOTICEs while waiting, kill -9 of the worker, pgbench write load (tests/live/reindex_live.sh)" ;;
        dump-restore) echo "backups and uninstall: pg_dump/pg_restore, pg_cron in a restored cluster, DROP EXTENSION (tests/live/dump_restore.sh)" ;;
        docs) echo "documentation examples (tests/docs/doctest.sh)" ;;
        package) echo "Debian package and META.json (tests/package/package.sh; its install step takes flock /tmp/ntsb_pg.lock)" ;;
        pg17|pg18) [ "$PG_MAJOR" = 15 ] && echo "PostgreSQL ${1#pg} in its Debian root (scripts/pg_root.sh ${1#pg}): ${MAJOR_STAGES[*]}" ;;
        generated) echo "regress and docs again with NTSB_CSV=/nonexistent (generated rows, as in a clone without ../shared)" ;;
    esac
}

stage_lint() {
    cargo fmt --all --check
    cargo clippy --all-targets "${PG_FEATURES[@]}" -- -D warnings
}

stage_unit() { cargo test -p ntsb_perf_core; }

stage_pgtest() {
    local data=$TARGET/pgrx-test
    mkdir -p "$data"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$data"
        cargo pgrx test "pg$PG_MAJOR" --runas postgres --pgdata "$data/data"
    else
        cargo pgrx test "pg$PG_MAJOR"
    fi
}

stage_regress() { "$ROOT/scripts/regress.sh"; }
stage_report() { "$ROOT/tests/live/report_browser.sh"; }
stage_upgrade() { "$ROOT/tests/upgrade/upgrade.sh"; }
stage_reindex_live() { "$ROOT/tests/live/reindex_live.sh"; }
stage_dump_restore() { "$ROOT/tests/live/dump_restore.sh"; }
stage_docs() { "$ROOT/tests/docs/doctest.sh"; }
stage_package() { "$ROOT/tests/package/package.sh"; }

stage_major() {
    "$ROOT/scripts/pg_root.sh" "$1"
    log "PostgreSQL $1: $("$ROOT/scripts/pg_root.sh" "$1" --versions | tr '\n' ' ')"
    "$ROOT/scripts/pg_root.sh" "$1" -- scripts/test.sh "${MAJOR_STAGES[@]}"
}
stage_pg17() { stage_major 17; }
stage_pg18() { stage_major 18; }

# Both data paths. The tests that read accident rows compare them with plain SQL over whatever
# was loaded: the real export when it is beside the checkout (CI), else generated rows (a clone
# without ../shared). This stage runs the SQL regression tests and the doc examples once more
# without the export, as a newcomer's clone runs them. report_browser.sh always generates its
# rows, so it is not repeated.
stage_generated() {
    log "generated: SQL regression tests with NTSB_CSV=/nonexistent"
    NTSB_CSV=/nonexistent "$ROOT/scripts/regress.sh"
    log "generated: documentation examples with NTSB_CSV=/nonexistent (blocks on data=csv skipped)"
    NTSB_CSV=/nonexistent "$ROOT/tests/docs/doctest.sh"
}

if [ "${1:-}" = --list ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
    for s in "${STAGES[@]}"; do printf '  %-13s %s\n' "$s" "$(describe "$s")"; done
    exit 0
fi

all=0
if [ $# -eq 0 ]; then
    all=1
    set -- "${STAGES[@]}"
fi
for s in "$@"; do
    [ -n "$(describe "$s")" ] || { echo "unknown stage '$s'; the stages: ${STAGES[*]}" >&2; exit 2; }
done

"$ROOT/scripts/setup.sh"
# Installs replace the library in place, which would crash a running demo.
if [ -f "$TARGET/demo/data/postmaster.pid" ]; then
    log "stopping the demo cluster first (the test installs replace its library)"
    stop_cluster "$TARGET/demo"
fi

fmt_time() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

names=() results=() times=()
failed=()
t_all=$(date +%s)
for s in "$@"; do
    names+=("$s")
    if [ ${#failed[@]} -gt 0 ] && [ "${KEEP_GOING:-0}" != 1 ]; then
        results+=("not run") times+=("")
        continue
    fi
    if [ "$s" = generated ] && [ $all = 1 ] && [ ! -r "$CSV" ]; then
        log "stage generated: no $CSV, so regress and docs above ran on generated rows already"
        results+=("skipped") times+=("")
        continue
    fi
    log "stage $s: $(describe "$s")"
    t0=$(date +%s)
    set +e
    (
        set -e
        "stage_${s//-/_}"
    )
    rc=$?
    set -e
    dt=$(($(date +%s) - t0))
    times+=("$(fmt_time $dt)")
    if [ $rc -eq 0 ]; then
        results+=(passed)
        log "stage $s passed in $(fmt_time $dt)"
    else
        results+=("FAILED (exit $rc)")
        failed+=("$s")
        log "stage $s FAILED (exit $rc) after $(fmt_time $dt)"
    fi
done

total=$(($(date +%s) - t_all))
{
    printf '\n%-14s %-18s %6s\n' stage result "m:ss"
    for i in "${!names[@]}"; do
        printf '%-14s %-18s %6s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
    done
    printf '%-14s %-18s %6s\n' total "" "$(fmt_time $total)"
} >&2
if [ ${#failed[@]} -gt 0 ]; then
    log "failed: ${failed[*]}"
    exit 1
fi
log "all stages run passed"
