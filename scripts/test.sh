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

STAGES=(lint unit pgtest regress report upgrade reindex-live dump-restore docs package)
# The other majors, each in its Debian root (scripts/pg_root.sh; made on first use, then cached):
# the stages of MAJOR_STAGES run there, on that major's server, pg_cron and PostGIS; then, on the
# host, its package is installed and purged in a clean root of its suite. `make test` runs them
# after the stages on 15; `scripts/test.sh pg17` (`make test-pg17`) runs one major alone.
MAJOR_STAGES=(lint pgtest regress report reindex-live dump-restore docs package catalog)
OTHER_MAJORS=()
if [ "$PG_MAJOR" = 15 ]; then
    OTHER_MAJORS=(pg17 pg18)
    STAGES+=("${OTHER_MAJORS[@]}")
fi
# Run by name only: in `make test`, pg18 runs on generated rows instead (see stage_major).
BY_NAME=(generated)

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
        package) if [ -n "${NTSB_IN_ROOT:-}" ]; then
                     echo "Debian package and META.json (tests/package/package.sh; its install step takes flock /tmp/ntsb_pg.lock)"
                 else
                     echo "Debian package and META.json (tests/package/package.sh; its install step takes flock /tmp/ntsb_pg.lock), then installed and purged in a clean Debian root (tests/package/package_chroot.sh)"
                 fi ;;
        catalog) [ "$PG_MAJOR" != 15 ] && echo "a fresh install's catalog equals 15's upgraded from the last release (tests/upgrade/catalog_major.sh)" ;;
        pg17|pg18) [ "$PG_MAJOR" = 15 ] && echo "PostgreSQL ${1#pg} in its Debian root (scripts/pg_root.sh ${1#pg}): ${MAJOR_STAGES[*]}; its package installed and purged in a clean root" ;;
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
stage_package() {
    "$ROOT/tests/package/package.sh"
    # A clean root needs debootstrap and chroot from the host: 17 and 18 run it in stage_major.
    if [ -z "${NTSB_IN_ROOT:-}" ]; then
        PACKAGE_DEB=$(cat "$TARGET/package/tested-deb") "$ROOT/tests/package/package_chroot.sh"
    fi
}
stage_catalog() { "$ROOT/tests/upgrade/catalog_major.sh"; }

stage_major() {
    "$ROOT/scripts/pg_root.sh" "$1"
    log "PostgreSQL $1: $("$ROOT/scripts/pg_root.sh" "$1" --versions | tr '\n' ' ')"
    # The catalog stage compares with 15's upgraded catalog, which the upgrade stage leaves.
    if [ ! -s "$ROOT/target/upgrade-test/views-upgraded.txt" ]; then
        log "no upgraded 15 catalog yet (target/upgrade-test/): the upgrade stage first"
        "$ROOT/scripts/test.sh" upgrade
    fi
    # Both data paths in one `make test`: 15 and 17 read the real export when it is beside the
    # checkout (CI), and 18 runs on generated rows, as a clone without ../shared does (the
    # expected files are the same on every major). `scripts/test.sh generated` runs 15's regress
    # and docs on generated rows too.
    if [ "$1" = 18 ]; then
        log "PostgreSQL 18 runs on generated rows (NTSB_CSV=/nonexistent), as a clone without ../shared"
        NTSB_CSV=/nonexistent "$ROOT/scripts/pg_root.sh" "$1" -- scripts/test.sh "${MAJOR_STAGES[@]}"
    else
        "$ROOT/scripts/pg_root.sh" "$1" -- scripts/test.sh "${MAJOR_STAGES[@]}"
    fi
    log "PostgreSQL $1: the package in a clean root (tests/package/package_chroot.sh)"
    PG_MAJOR=$1 PACKAGE_DEB=$(cat "$ROOT/target/pg$1/package/tested-deb") \
        "$ROOT/tests/package/package_chroot.sh"
}
stage_pg17() { stage_major 17; }
stage_pg18() { stage_major 18; }

# Both data paths. The tests that read accident rows compare them with plain SQL over whatever
# was loaded: the real export when it is beside the checkout (CI), else generated rows (a clone
# without ../shared). This stage (by name: `make test-generated`) runs 15's SQL regression tests
# and doc examples once more without the export, as a newcomer's clone runs them; in `make test`
# the pg18 stage does that on 18. report_browser.sh always generates its rows.
stage_generated() {
    log "generated: SQL regression tests with NTSB_CSV=/nonexistent"
    NTSB_CSV=/nonexistent "$ROOT/scripts/regress.sh"
    log "generated: documentation examples with NTSB_CSV=/nonexistent (blocks on data=csv skipped)"
    NTSB_CSV=/nonexistent "$ROOT/tests/docs/doctest.sh"
}

if [ "${1:-}" = --list ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
    for s in "${STAGES[@]}" "${BY_NAME[@]}"; do printf '  %-13s %s\n' "$s" "$(describe "$s")"; done
    exit 0
fi

all=0
if [ $# -eq 0 ]; then
    all=1
    set -- "${STAGES[@]}"
fi
for s in "$@"; do
    [ -n "$(describe "$s")" ] || { echo "unknown stage '$s'; the stages: ${STAGES[*]} ${BY_NAME[*]}" >&2; exit 2; }
done

"$ROOT/scripts/setup.sh"
# Installs replace the library in place, which would crash a running demo.
if [ -f "$TARGET/demo/data/postmaster.pid" ]; then
    log "stopping the demo cluster first (the test installs replace its library)"
    stop_cluster "$TARGET/demo"
fi

fmt_time() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

# Free space where the builds go. A full run from a fresh clone leaves about 20 GiB in target/
# (15's debug and release builds, the old releases of the upgrade stage, target/pg17 and
# target/pg18); a full disk shows up as an obscure build-script failure, so say it up front and
# with every failed stage.
free_gib() { mkdir -p "$TARGET" && df -Pk "$TARGET" | awk 'NR == 2 { printf "%.1f", $4 / 1048576 }'; }
NEED_GIB=25
if [ "$all" = 1 ] && awk -v f="$(free_gib)" -v n=$NEED_GIB 'BEGIN { exit !(f < n) }'; then
    log "WARNING: $(free_gib) GiB free on the file system of $TARGET; a full make test from a fresh clone needs about $NEED_GIB GiB"
fi

names=() results=() times=()
failed=()
t_all=$(date +%s)
for s in "$@"; do
    names+=("$s")
    if [ ${#failed[@]} -gt 0 ] && [ "${KEEP_GOING:-0}" != 1 ]; then
        results+=("not run") times+=("")
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
        log "stage $s FAILED (exit $rc) after $(fmt_time $dt); $(free_gib) GiB free on the file system of $TARGET"
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
