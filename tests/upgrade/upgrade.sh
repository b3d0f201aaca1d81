#!/usr/bin/env bash
# Upgrade in place from every earlier release (tests/upgrade/releases), on a cluster of its own:
#   1. build and install the old release from its commit; create what users create with it
#      (tests/upgrade/before.sql: stored accident_stats states, a roll-up view, scheduled
#      refreshes by two roles with their tracking triggers and pg_cron jobs, refresh_log rows);
#   2. install this build; with the old SQL still in place, tracked tables stay writable and
#      stored states read the same (tests/upgrade/window.sql);
#   3. ALTER EXTENSION ntsb_perf UPDATE (no WARNING); tests/upgrade/after.sql checks figures,
#      roll-ups, schedules, tracking and history;
#   4. pg_cron runs the three jobs after the update (each view refreshes once: its 0.1.0 state
#      is distrusted), then after a change to one source: that view refreshes, an unchanged one
#      skips, and the roll-up of 0.1.0's create_accident_stats_view refreshes (it calls a stable
#      function; the update's NOTICE says so);
#   5. the upgraded extension's catalog (tests/upgrade/catalog.sql) equals a fresh install's
#      of this version: a change to the SQL surface without an upgrade script fails here.
# Leaves this build installed. UPGRADE_PORT (default 28820).
source "$(dirname "$0")/../../scripts/common.sh"
source "$ROOT/tests/lib.sh"
DIR=$TARGET/upgrade-test
PORT=${UPGRADE_PORT:-28820}
DB=ntsb_upgrade
BUILD=$TARGET/upgrade
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)

q() { cluster_psql "$DIR" "$PORT" -d "$DB" -Atq "$@"; }

# The chain of upgrade scripts from $1 to this version must exist, one release to the next.
upgrade_chain() {
    local from=$1 chain=() v next
    mapfile -t versions < <(awk '!/^#/ && NF {print $1}' "$ROOT/tests/upgrade/releases")
    versions+=("$VERSION")
    v=$from
    for next in "${versions[@]}"; do
        if [ "$(printf '%s\n%s\n' "$v" "$next" | sort -V | head -1)" = "$v" ] && [ "$next" != "$v" ]; then
            [ -f "$ROOT/sql/ntsb_perf--$v--$next.sql" ] ||
                fail "no upgrade script sql/ntsb_perf--$v--$next.sql (release $v to $next)"
            chain+=("$v--$next")
            v=$next
        fi
    done
    printf '%s ' "${chain[@]}"
}

# build_release VERSION COMMIT: builds and installs that release from git, in its own target
# directory (the current build's artifacts stay as they are).
build_release() {
    local version=$1 commit=$2 src=$BUILD/src-$1
    git -C "$ROOT" cat-file -e "$commit^{commit}" 2>/dev/null ||
        fail "release $version: commit $commit is not in this clone's history"
    if [ "$(cat "$src/.commit" 2>/dev/null)" != "$commit" ]; then
        rm -rf "$src"
        mkdir -p "$src"
        git -C "$ROOT" archive "$commit" | tar -x -C "$src"
        echo "$commit" >"$src/.commit"
    fi
    local got
    got=$(sed -n 's/^version = "\(.*\)"/\1/p' "$src/Cargo.toml" | head -1)
    [ "$got" = "$version" ] || fail "commit $commit builds version $got, not $version"
    log "building and installing release $version (commit ${commit:0:7})"
    # The releases share one target directory (their dependencies build once), and each one's
    # library is copied to the same target/debug/libntsb_perf.so, which cargo pgrx installs and
    # reads the schema from. Cargo copies it there only when it builds the crate: with both
    # releases built already, an unchanged 0.1.0 would install 0.2.0's library and SQL (seen:
    # "function ntsb_perf._mark_change(oid) does not exist" on a second run). Touching the
    # release's lib.rs makes cargo build (and copy) this release's crate every time.
    touch "$src/src/lib.rs"
    (cd "$src" && CARGO_TARGET_DIR=$BUILD/target cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null)
}

trap 'stop_cluster "$DIR"' EXIT
while read -r old commit; do
    case $old in '#'* | '') continue ;; esac
    chain=$(upgrade_chain "$old")
    t0=$(date +%s)
    stop_cluster "$DIR"
    build_release "$old" "$commit"
    rm -rf "$DIR/data"
    start_cluster "$DIR" "$PORT" "$DB"
    cluster_psql "$DIR" "$PORT" -d postgres -q -c "CREATE DATABASE $DB"
    log "release $old: generated events, stored states, two scheduled views"
    q -f "$ROOT/demo/schema.sql"
    q -c "CREATE EXTENSION pg_cron"
    [ "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'ntsb_perf'")" = "$old" ] ||
        fail "CREATE EXTENSION did not install release $old"
    q -c "SELECT setseed(0.16)" -v rows=20000 -f "$ROOT/demo/generate.sql" >/dev/null
    q -f "$ROOT/tests/upgrade/before.sql" | sed 's/^/    /'

    log "installing this build ($VERSION) under release $old's SQL"
    stop_cluster "$DIR"
    ensure_installed
    start_cluster "$DIR" "$PORT" "$DB"
    q -f "$ROOT/tests/upgrade/window.sql" | sed 's/^/    /'
    ok "with the new library and $old's SQL, tracked tables are writable and states read the same"

    log "ALTER EXTENSION ntsb_perf UPDATE (${chain% })"
    # Taken before the update: pg_cron may run a job (every minute) between the update and the
    # checks below, and such a run counts as a run after the update.
    updated=$(q -c "SELECT now()")
    out=$(cluster_psql "$DIR" "$PORT" -d "$DB" -c "ALTER EXTENSION ntsb_perf UPDATE" 2>&1) ||
        fail "ALTER EXTENSION UPDATE failed: $out"
    # From 0.1.0, the one WARNING expected: the roll-up of 0.1.0's create_accident_stats_view
    # can never skip (0.2.0 learnt to tell). Later releases' updates say nothing.
    expected='WARNING:  ntsb_perf: public.accident_stats_by_year is refreshed at every scheduled run from now on: public.accident_stats_by_month, which it reads, calls stable function date(timestamp with time zone)'
    if [ "$old" = 0.1.0 ]; then
        grep -qxF "$expected" <<<"$out" || fail "the update did not say that accident_stats_by_year can never skip: $out"
    else
        expected='(none)'
    fi
    if grep -v -xF "$expected" <<<"$out" | grep -q 'WARNING\|ERROR'; then fail "the update said: $out"; fi
    sed 's/^/    /' <<<"$out"
    q -v old="$old" -v updated="$updated" -f "$ROOT/tests/upgrade/after.sql" | sed 's/^/    /'

    log "pg_cron after the update: each job runs (from 0.1.0: each view refreshes once, its state distrusted)"
    runs="SELECT string_agg(l.view::text || '=' || l.status, ' ' ORDER BY l.view::text) FROM ntsb_perf.refresh_log l
          WHERE l.started_at > '$updated' AND l.view IN ('accident_stats_by_year'::regclass, 'accident_stats_by_state'::regclass,
                                                         'upg_watch_view'::regclass)
          HAVING count(DISTINCT l.view) = 3"
    got=$(wait_for 150 "$runs" 1) || fail "no pg_cron run of the three jobs within 150 s of the update"
    if [ "$old" = 0.1.0 ]; then
        [ "$got" = "accident_stats_by_state=refreshed accident_stats_by_year=refreshed upg_watch_view=refreshed" ] ||
            fail "first runs after the update: $got"
    fi
    ok "first runs: $got"
    bad=$(q -c "SELECT string_agg(d.jobid || ': ' || d.status || ' ' || coalesce(d.return_message, ''), '; ')
                FROM cron.job_run_details d WHERE d.start_time > '$updated' AND d.status <> 'succeeded'
                AND d.status NOT IN ('running', 'starting')")
    [ -z "$bad" ] || fail "pg_cron runs after the update that did not succeed: $bad"
    ok "every pg_cron run after the update succeeded"

    q -c "SET ROLE upg_analyst" -c "INSERT INTO upg_watch VALUES ('TX', 'wind')"
    changed=$(q -c "SELECT now()")
    runs=${runs//$updated/$changed}
    got=$(wait_for 150 "$runs" 1) || fail "no pg_cron run of the three jobs within 150 s of the change"
    # The view on the changed table refreshes, the one on another table skips; the roll-up of
    # 0.1.0's monthly view (a stable function) refreshes at every run, a later release's may skip.
    [[ $got == "accident_stats_by_state=skipped: unchanged accident_stats_by_year="*" upg_watch_view=refreshed" ]] ||
        fail "runs after a change to upg_watch: $got"
    if [ "$old" = 0.1.0 ]; then
        [[ $got == *"accident_stats_by_year=refreshed"* ]] || fail "runs after a change to upg_watch: $got"
        why=$(q -c "SELECT reason FROM ntsb_perf.refresh_log WHERE view = 'accident_stats_by_year'::regclass
                    AND started_at > '$changed' ORDER BY id LIMIT 1")
        [[ $why == *"stable function date(timestamp with time zone)"* ]] ||
            fail "accident_stats_by_year (0.1.0's monthly view below it) refreshed for: $why"
    fi
    [ "$(q -c "SELECT count(*) FROM upg_watch_view WHERE state = 'TX'")" = 1 ] || fail "TX is not in upg_watch_view"
    ok "after a change to upg_watch: $got"
    newest=$(q -c "SELECT min(id) > (SELECT max(id) FROM upg_log_before) FROM ntsb_perf.refresh_log WHERE started_at > '$updated'")
    [ "$newest" = t ] || fail "refresh_log ids after the update do not continue the old sequence"
    ok "refresh_log ids continue after the old rows"

    log "catalog: upgraded $old -> $VERSION against a fresh $VERSION install"
    cluster_psql "$DIR" "$PORT" -d postgres -q -c "CREATE DATABASE ntsb_fresh"
    cluster_psql "$DIR" "$PORT" -d ntsb_fresh -q -c "CREATE EXTENSION ntsb_perf"
    q -X -f "$ROOT/tests/upgrade/catalog.sql" >"$DIR/catalog-upgraded.txt"
    # For tests/upgrade/catalog_major.sh (17 and 18 compare a fresh install with this catalog).
    q -X -f "$ROOT/tests/upgrade/views.sql" >"$DIR/views-upgraded.txt"
    cluster_psql "$DIR" "$PORT" -d ntsb_fresh -AtqX -f "$ROOT/tests/upgrade/catalog.sql" >"$DIR/catalog-fresh.txt"
    if ! diff -u "$DIR/catalog-fresh.txt" "$DIR/catalog-upgraded.txt" >"$DIR/catalog.diff"; then
        head -40 "$DIR/catalog.diff" >&2
        fail "the upgraded catalog differs from a fresh install (full diff: $DIR/catalog.diff): the change to the SQL surface needs its upgrade statements in sql/ntsb_perf--*--$VERSION.sql"
    fi
    ok "$(wc -l <"$DIR/catalog-fresh.txt") catalog facts identical (functions, types, tables, views, triggers, grants, config dumps)"
    stop_cluster "$DIR"
    log "release $old -> $VERSION: passed in $(( $(date +%s) - t0 )) s"
done <"$ROOT/tests/upgrade/releases"
