#!/usr/bin/env bash
# Auto-reindex checks that pg_regress cannot make, on a cluster of their own, with this tree's
# debug build (installed first unless it is already, ensure_installed):
#   1. the rebuild's parallel maintenance workers run at the worker's niceness;
#   2. while a rebuild waits for another session's old snapshot, the caller says so in a NOTICE
#      every 5 s (which pid, its query), max_wait gives up cleanly, and the worker runs niced;
#   3. kill -9 of the worker mid-rebuild: the postmaster restarts every backend (a pg_regress
#      session would die with it), no row is lost, and the next auto_reindex drops the leftover;
#   4. auto_reindex(dry_run => false) under pgbench write load: 0 failed transactions, inserted
#      rows = committed transactions, amcheck (heapallindexed) on every B-tree, GiST index scan =
#      sequential scan, every rebuild done.
# LIVE_ROWS (default 200000) generated events; LIVE_LOAD_SECS (default 30) of pgbench.
source "$(dirname "$0")/../../scripts/common.sh"
source "$ROOT/tests/lib.sh"
DIR=$TARGET/reindex-live
PORT=${LIVE_PORT:-28818}
DB=ntsb_live
LIVE_ROWS=${LIVE_ROWS:-200000}
LIVE_LOAD_SECS=${LIVE_LOAD_SECS:-30}

q() { cluster_psql "$DIR" "$PORT" -d "$DB" -Atq "$@"; }
# A session that holds a snapshot for SECS seconds (REPEATABLE READ, one read done), in the
# background; prints its pid once it holds it.
hold_snapshot() {
    local secs=$1 tag=$2
    cluster_psql "$DIR" "$PORT" -d "$DB" -Atq -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
        -c "SELECT count(*) FROM pg_class" -c "SELECT pg_sleep($secs) /* $tag */" -c "COMMIT" \
        >/dev/null 2>&1 &
    wait_for 30 "SELECT pid FROM pg_stat_activity WHERE query LIKE '%/* $tag */%' AND pid <> pg_backend_pid()
                 AND backend_xmin IS NOT NULL"
}

stop_cluster "$DIR"
ensure_installed
rm -rf "$DIR/data"
start_cluster "$DIR" "$PORT" "$DB"
trap 'kill $(jobs -p) 2>/dev/null || true; stop_cluster "$DIR"' EXIT
cluster_psql "$DIR" "$PORT" -d postgres -q -c "CREATE DATABASE $DB"
log "reindex live: $LIVE_ROWS generated events, a third deleted (every index bloated)"
q -f "$ROOT/demo/schema.sql"
q -v rows="$LIVE_ROWS" -f "$ROOT/demo/generate.sql" >/dev/null
q -f "$ROOT/demo/indexes.sql"
q -c "CREATE EXTENSION amcheck" -c "CREATE SEQUENCE load_seq" \
    -c "DELETE FROM events WHERE id % 3 = 0" -c "VACUUM ANALYZE events"

log "1. the rebuild's parallel maintenance workers are niced too"
# An index expression that sleeps now and then, so the build phase lasts a few seconds.
q -c "CREATE FUNCTION live_slow(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS
      \$\$ BEGIN IF x % 2000 = 0 THEN PERFORM pg_sleep(0.05); END IF; RETURN x; END \$\$" \
    -c "CREATE INDEX idx_live_slow ON events (live_slow(id))"
cluster_psql "$DIR" "$PORT" -d "$DB" -q -c "CALL ntsb_perf.reindex_index('idx_live_slow')" >"$DIR/parallel.out" 2>&1 &
caller=$!
worker=$(wait_for 30 "SELECT pid FROM ntsb_perf.reindex_status WHERE phase LIKE 'building index%'") ||
    fail "the rebuild never reached its build phase"
helpers=$(wait_for 10 "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
                       WHERE leader_pid = $worker AND backend_type = 'parallel worker'") ||
    fail "the build started no parallel maintenance worker (max_parallel_maintenance_workers 2)"
measured=0
for p in $helpers; do
    nice_value=$(ps -o ni= -p "$p" | tr -d ' ')
    [ -z "$nice_value" ] && continue   # it finished meanwhile
    [ "$nice_value" = 10 ] || fail "parallel worker $p of the rebuild runs at nice $nice_value"
    measured=$((measured + 1))
done
[ "$measured" -gt 0 ] || fail "the parallel workers ended before their niceness was read"
wait "$caller" || fail "the rebuild failed: $(cat "$DIR/parallel.out")"
ok "parallel maintenance worker(s) $helpers of worker $worker ran at nice 10"
q -c "DROP INDEX idx_live_slow" -c "DROP FUNCTION live_slow"

log "2. a rebuild waiting for an old snapshot: NOTICE every 5 s, the worker niced, max_wait"
holder=$(hold_snapshot 60 'snapshot holder 1') || fail "the snapshot holder did not start"
cluster_psql "$DIR" "$PORT" -d "$DB" -v VERBOSITY=verbose -c "SET client_min_messages = notice" \
    -c "CALL ntsb_perf.reindex_index('idx_events_event_date', max_wait => '12 s')" >"$DIR/wait.out" 2>&1 &
caller=$!
worker=$(wait_for 30 "SELECT pid FROM ntsb_perf.reindex_status WHERE phase LIKE 'waiting for old snapshots%'") ||
    fail "the rebuild never waited for the old snapshot"
nice_value=$(ps -o ni= -p "$worker" | tr -d ' ')
[ "$nice_value" = 10 ] || fail "the worker runs at nice '$nice_value', not ntsb_perf.reindex_nice's default 10"
ok "the worker (pid $worker) runs at nice 10"
# (it may wait a moment on its own caller between polls, so look for a few seconds)
wait_for 5 "SELECT 1 FROM ntsb_perf.reindex_status WHERE pid = $worker AND waiting_for_pid = $holder" >/dev/null ||
    fail "reindex_status never named the holder $holder: $(q -c "SELECT waiting_for_pid FROM ntsb_perf.reindex_status")"
ok "reindex_status names the holder (pid $holder) as what the rebuild waits for"
[ "$(q -c "SELECT status FROM ntsb_perf.reindex_history ORDER BY id DESC LIMIT 1")" = running ] ||
    fail "the waiting rebuild has no 'running' history row"
if wait "$caller"; then fail "reindex_index returned without an error after max_wait"; fi
grep -q 'ERROR:  57014: rebuild of idx_events_event_date cancelled: gave up after waiting' "$DIR/wait.out" ||
    fail "no 57014 'gave up' error: $(cat "$DIR/wait.out")"
notices=$(grep -cE "NOTICE:  00000: rebuilding idx_events_event_date: waiting for old snapshots \(pid $holder, in a transaction since .*: SELECT pg_sleep\(60\) /\* snapshot holder 1 \*/\)" "$DIR/wait.out" || true)
# 12 s of waiting, one NOTICE each 5 s: at 5 s and 10 s (3 if the first poll came late).
[ "$notices" -ge 2 ] && [ "$notices" -le 3 ] ||
    fail "expected 2 or 3 waiting NOTICEs naming pid $holder in 12 s, got $notices: $(cat "$DIR/wait.out")"
ok "$notices NOTICEs in 12 s of waiting, each naming pid $holder and its query; then 57014"
row=$(q -c "SELECT status || ' ' || (error LIKE 'gave up after waiting%')::text FROM ntsb_perf.reindex_history ORDER BY id DESC LIMIT 1")
[ "$row" = "cancelled true" ] || fail "history row: '$row'"
[ "$(q -c "SELECT count(*) FROM pg_index WHERE NOT indisvalid")" = 0 ] || fail "an invalid index was left"
ok "the history says cancelled and why; no invalid index left"
q -c "SELECT pg_terminate_backend($holder)" >/dev/null

log "3. kill -9 of the worker mid-rebuild"
rows_before=$(q -c "SELECT count(*) FROM events")
holder=$(hold_snapshot 600 'snapshot holder 2') || fail "the snapshot holder did not start"
cluster_psql "$DIR" "$PORT" -d "$DB" -c "CALL ntsb_perf.reindex_index('idx_events_date_severity')" \
    >"$DIR/kill.out" 2>&1 &
caller=$!
worker=$(wait_for 30 "SELECT pid FROM ntsb_perf.reindex_status WHERE phase LIKE 'waiting for old snapshots%'") ||
    fail "the rebuild never reached its wait"
kill -9 "$worker"
if wait "$caller"; then fail "the caller returned normally after its worker was killed"; fi
for _ in $(seq 600); do
    as_pg "$PGBIN/pg_isready" -q -h "$DIR" -p "$PORT" && q -c "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.1
done
grep -q "ntsb_perf reindex.*(PID $worker) was terminated by signal 9" "$DIR/server.log" ||
    fail "the server log does not show the worker killed"
grep -q "all server processes terminated; reinitializing" "$DIR/server.log" ||
    fail "the server log does not show the restart"
ok "worker $worker killed; the postmaster restarted every backend, the caller's connection ended"
[ "$(q -c "SELECT count(*) FROM events")" = "$rows_before" ] || fail "rows lost"
leftover=$(q -c "SELECT string_agg(indexrelid::regclass::text, ',') FROM pg_index WHERE NOT indisvalid")
[ "$leftover" = idx_events_date_severity_ccnew ] || fail "expected the invalid leftover idx_events_date_severity_ccnew, found '$leftover'"
ok "$rows_before rows, as before; the interrupted rebuild left $leftover (invalid)"
[ "$(q -c "SELECT status FROM ntsb_perf.reindex_history WHERE index_name = 'public.idx_events_date_severity' ORDER BY id DESC LIMIT 1")" = running ] ||
    fail "the killed run's history row is not 'running' before the next auto_reindex"

log "4. auto_reindex(dry_run => false) under pgbench write load ($LIVE_LOAD_SECS s, 2 clients)"
write_load_pgbench "$DIR/load.pgbench" "$(q -c "SELECT max(id) FROM events")" LOAD-
"$PGBIN/pgbench" -n -h "$DIR" -p "$PORT" -U postgres -c 2 -j 2 -T "$LIVE_LOAD_SECS" \
    -f "$DIR/load.pgbench" "$DB" >"$DIR/load.out" 2>&1 &
pgbench=$!
sleep 3
cluster_psql "$DIR" "$PORT" -d "$DB" -c "SET client_min_messages = notice" \
    -c "CALL ntsb_perf.auto_reindex(dry_run => false, min_bytes => 1000000, schema_name => 'public')" \
    >"$DIR/auto.out" 2>&1 || fail "auto_reindex failed: $(cat "$DIR/auto.out")"
kill -0 "$pgbench" 2>/dev/null || fail "pgbench ended before auto_reindex did: raise LIVE_LOAD_SECS"
wait "$pgbench" || fail "pgbench failed: $(cat "$DIR/load.out")"
grep -q 'NOTICE:  dropped the leftover idx_events_date_severity_ccnew' "$DIR/auto.out" ||
    fail "auto_reindex did not drop the leftover: $(cat "$DIR/auto.out")"
summary=$(grep -oE 'auto_reindex: [0-9]+ rebuilt, [0-9]+ failed' "$DIR/auto.out")
rebuilt=$(sed -E 's/auto_reindex: ([0-9]+) rebuilt.*/\1/' <<<"$summary")
[ -n "$summary" ] && [ "${summary%failed}" = "auto_reindex: $rebuilt rebuilt, 0 " ] && [ "$rebuilt" -ge 3 ] ||
    fail "expected at least 3 rebuilds and 0 failures: $(cat "$DIR/auto.out")"
committed=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$DIR/load.out")
failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$DIR/load.out")
[ -n "$committed" ] && [ "$committed" -gt 0 ] && [ "$failed" = 0 ] ||
    fail "pgbench: committed '$committed', failed '$failed'"
grep -q 'NOTICE:  1 earlier run(s) that never reported marked terminated' "$DIR/auto.out" ||
    fail "auto_reindex did not mark the killed run terminated: $(cat "$DIR/auto.out")"
killed=$(q -c "SELECT status || ' ' || (duration IS NULL)::text || ' ' || (error LIKE 'the run ended without a result%')::text
               FROM ntsb_perf.reindex_history WHERE index_name = 'public.idx_events_date_severity' ORDER BY id LIMIT 1")
[ "$killed" = "terminated true true" ] || fail "the killed run's history row reads '$killed'"
ok "the killed run's history row now reads terminated, with why"
ok "dropped the leftover, then $summary; pgbench committed $committed transactions, 0 failed"
[ "$(q -c "SELECT count(*) FROM ntsb_perf.reindex_history WHERE triggered_by = 'auto' AND status = 'done'")" = "$rebuilt" ] ||
    fail "the history does not hold $rebuilt done rebuilds"
cluster_psql "$DIR" "$PORT" -d "$DB" -q -v committed="$committed" -v prefix=LOAD- \
    -f "$ROOT/tests/live/reindex_load_checks.sql" >"$DIR/checks.out"
cat "$DIR/checks.out"
grep -q '| f$' "$DIR/checks.out" && fail "a load check failed"
[ "$(grep -c '| t$' "$DIR/checks.out")" -ge 6 ] || fail "fewer load checks ran than expected"
ok "every load check holds"
log "reindex live: all checks passed"
