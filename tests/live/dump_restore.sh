#!/usr/bin/env bash
# Backups (pg_dump / pg_restore of databases that use ntsb_perf) and an uninstall under pg_cron,
# on clusters of their own under target/dump-test, with this tree's debug build (installed first
# unless it is already, ensure_installed). Cluster A (port 28822, pg_cron's database ntsb_src) holds two
# sources, each with a monthly materialized view of accident_stats states, a yearly roll-up of
# it, refresh log, rebuild history and baselines (a dropped index's history, a manual REINDEX
# CONCURRENTLY's stale OID, a log row whose target view was dropped):
#   ntsb_plain  uses ntsb_perf without pg_cron;
#   ntsb_src    also schedules the roll-up every minute, another view daily, auto_reindex daily.
# Checks, each against an oracle (plain SQL over the restored data, the source's rows):
#   1. the dumps hold the policies, log, history, baselines and their sequences, not the
#      refresh state nor the change marks; pg_cron's jobs come before the policies;
#   2. ntsb_plain restored into new databases of the same cluster, custom format (pg_restore) and
#      plain SQL (psql -v ON_ERROR_STOP=1): no error, no warning; same states (accessors), same
#      roll-up, equal to plain SQL; log, history, baselines as in the source (OIDs: none of the
#      old cluster); the sequences go on; the first refresh refreshes;
#   3. ntsb_src restored into another database of cluster A (pg_cron can only be in ntsb_src
#      there): pg_cron's objects fail, and nothing else; every policy is kept without a job,
#      with a warning;
#   4. ntsb_src restored into cluster B (port 28823, pg_cron's database ntsb_src): no error, no
#      warning; policies and their jobs as in the source, the jobs moved to port 28823; the
#      pg_cron job fires there and refreshes (the first run refreshes, reason: no earlier
#      refresh), the next run skips (unchanged); then DROP EXTENSION ntsb_perf is refused
#      (2BP01), DROP EXTENSION ntsb_perf CASCADE removes ntsb_perf's jobs and triggers, the
#      tables keep their rows, and at pg_cron's next minute no job of ntsb_perf runs or fails;
#   5. the plain SQL dump of ntsb_src replayed into a new cluster B: no error, no warning;
#   6. ntsb_src restored into a cluster B whose ntsb_src already has pg_cron with another role's
#      jobs under the dumped ids: pg_cron's rows fail (duplicate ids), every policy is kept
#      without a job (a warning each), none points at the other role's job, which is untouched.
# Takes about 3 minutes, most of it waiting for pg_cron's minutes in 4.
source "$(dirname "$0")/../../scripts/common.sh"
source "$ROOT/tests/lib.sh"
BASE=$TARGET/dump-test
A=$BASE/a
B=$BASE/b
PA=${DUMP_PORT_A:-28822}
PB=${DUMP_PORT_B:-28823}
SRC=ntsb_src
PLAIN=ntsb_plain
ROWS=${DUMP_ROWS:-5000}
START=$(date +%s)

qa() { local db=$1; shift; cluster_psql "$A" "$PA" -d "$db" -Atq "$@"; }
qb() { local db=$1; shift; cluster_psql "$B" "$PB" -d "$db" -Atq "$@"; }
# same WHAT VALUE1 VALUE2
same() {
    [ "$2" = "$3" ] || fail "$1: '$2' <> '$3'"
    ok "$1"
}
# wait_until SECONDS DIR PORT DB SQL: polls until the query returns t.
wait_until() {
    local secs=$1 dir=$2 port=$3 db=$4 sql=$5
    for _ in $(seq "$secs"); do
        [ "$(cluster_psql "$dir" "$port" -d "$db" -Atq -c "$sql")" = t ] && return 0
        sleep 1
    done
    return 1
}
# Waits until the clock is between second FROM and TO of a minute (pg_cron starts its runs at
# second 0), so that what follows is not raced by a run.
wait_second_window() {
    local from=$1 to=$2 s
    while true; do
        s=$((10#$(date +%S)))
        [ "$s" -ge "$from" ] && [ "$s" -le "$to" ] && return 0
        sleep 1
    done
}
restore_log_clean() {  # FILE WHAT: pg_restore -v's log has no error and no server warning
    if grep -E 'WARNING|ERROR|FATAL|error:|warning:' "$1" >&2; then
        fail "$2: pg_restore reported the lines above"
    fi
}

for d in "$A" "$B"; do stop_cluster "$d"; done
ensure_installed
rm -rf "$BASE"
mkdir -p "$BASE"
if [ "$(id -u)" = 0 ]; then chown postgres: "$BASE"; fi
start_cluster "$A" "$PA" "$SRC"
trap 'stop_cluster "$A"; stop_cluster "$B"' EXIT

# ---------------------------------------------------------------------------------------------
log "dump/restore: two source databases on cluster A ($ROWS generated accidents each)"
setup_source() {
    local db=$1 cron=$2
    cluster_psql "$A" "$PA" -d postgres -q -c "CREATE DATABASE $db"
    qa "$db" -f "$ROOT/demo/schema.sql"
    qa "$db" -c "SELECT setseed(0.42)" -v rows="$ROWS" -f "$ROOT/demo/generate.sql" >/dev/null
    qa "$db" -q >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT ntsb_perf.create_accident_stats_view();
CREATE MATERIALIZED VIEW accident_stats_by_year AS
    SELECT date_trunc('year', month::timestamp)::date AS year, ntsb_perf.rollup(stats) AS stats
    FROM accident_stats_by_month GROUP BY 1;
CREATE UNIQUE INDEX accident_stats_by_year_year ON accident_stats_by_year (year);
CREATE MATERIALIZED VIEW by_state AS SELECT state, count(*) AS n FROM events GROUP BY 1;
CREATE UNIQUE INDEX by_state_state ON by_state (state);
-- A view above the roll-up, refreshed once through ntsb_perf (log rows whose target it is),
-- then dropped: the rows of the views below it stay, without the target.
CREATE MATERIALIZED VIEW top_years AS SELECT year FROM accident_stats_by_year ORDER BY ntsb_perf.accidents(stats) DESC LIMIT 3;
SELECT count(*) FROM ntsb_perf.refresh('top_years');
DROP MATERIALIZED VIEW top_years;
SELECT count(*) FROM ntsb_perf.refresh('accident_stats_by_year');
SELECT count(*) FROM ntsb_perf.refresh('by_state');
SELECT count(*) FROM ntsb_perf.refresh('accident_stats_by_year', force => true);
CREATE INDEX events_state ON events (state);
CREATE INDEX events_make ON events (make);
CREATE INDEX events_model ON events (model);
SQL
    # Rebuilds through ntsb_perf (history, baselines), then: events_make dropped (its history
    # stays, without OID; its baseline goes), events_model rebuilt outside ntsb_perf (a new OID:
    # its baseline is bound to an OID that no longer exists).
    qa "$db" -c "SET client_min_messages = warning" -c "CALL ntsb_perf.reindex_index('events_state')" \
        -c "CALL ntsb_perf.reindex_index('events_make')" -c "CALL ntsb_perf.reindex_index('events_model')" \
        -c "CALL ntsb_perf.reindex_index('events_state')" -c "DROP INDEX events_make" \
        -c "REINDEX INDEX CONCURRENTLY events_model"
    if [ "$cron" = cron ]; then
        qa "$db" -q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
SELECT ntsb_perf.schedule_refresh('accident_stats_by_year', '* * * * *');
SELECT ntsb_perf.schedule_refresh('by_state', '@daily', skip_if_unchanged => false);
SELECT ntsb_perf.schedule_auto_reindex('@daily', dry_run => true);
-- Some time between the policy and its log, so that a reset of created_at would show.
SELECT pg_sleep(0.2);
SELECT count(*) FROM ntsb_perf.refresh('accident_stats_by_year');
SQL
    fi
}
setup_source "$PLAIN" plain
setup_source "$SRC" cron

# Oracles: each prints one line per check (name: value), run on the source and on a copy.
# The log and the history only grow (A's pg_cron job keeps refreshing ntsb_src): their rows are
# compared up to the copy's last id.
oracle() {  # DIR PORT DB MAX_LOG_ID MAX_HISTORY_ID [detached]
    cluster_psql "$1" "$2" -d "$3" -Atq -v log_id="$4" -v hist_id="$5" -v detached="${6:-no}" <<'SQL'
SET client_min_messages = warning;
SELECT 'monthly states: ' || md5(string_agg(ROW(month, aircraft_category, ntsb_perf.accidents(stats),
       ntsb_perf.fatal_accidents(stats), ntsb_perf.fatalities(stats), ntsb_perf.serious_injuries(stats),
       ntsb_perf.minor_injuries(stats), ntsb_perf.uninjured(stats), ntsb_perf.severity_counts(stats),
       ntsb_perf.fatalities_variance(stats))::text, ',' ORDER BY month, aircraft_category)) FROM accident_stats_by_month;
SELECT 'yearly roll-up: ' || md5(string_agg(ROW(year, ntsb_perf.accidents(stats), ntsb_perf.fatal_accidents(stats),
       ntsb_perf.fatalities(stats), ntsb_perf.serious_injuries(stats), ntsb_perf.uninjured(stats),
       ntsb_perf.severity_counts(stats), ntsb_perf.fatalities_mean(stats))::text, ',' ORDER BY year)) FROM accident_stats_by_year;
SELECT 'events: ' || md5(string_agg(e::text, ',' ORDER BY id)) FROM events e;
SELECT 'log: ' || md5(string_agg(ROW(id, view, started_at, duration, status, rows, error, reason, concurrent, target,
       run_by)::text, ',' ORDER BY id)) FROM ntsb_perf.refresh_log WHERE id <= :log_id;
SELECT 'history: ' || md5(string_agg(ROW(id, index_name, table_name, started_at, duration, bytes_before,
       bytes_after, predicted_reclaim, density_before, density_after, status, sqlstate, error, triggered_by, run_by,
       statement)::text, ',' ORDER BY id)) FROM ntsb_perf.reindex_history WHERE id <= :hist_id;
-- baselines of the indexes that exist, under their names (bound to them, or to no index)
SELECT 'baselines: ' || coalesce(string_agg(ROW(b.index_name, b.density, b.bloat_ratio, b.fragmentation, b.measured_at)::text, ','
       ORDER BY b.index_name), '') FROM ntsb_perf.reindex_baseline b
WHERE EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'i' AND format('%I.%I', n.nspname, c.relname) = b.index_name
                AND (c.oid = b.index_oid OR NOT EXISTS (SELECT 1 FROM pg_class c2 WHERE c2.oid = b.index_oid)));
-- (a detached copy: the source's policies without their job ids)
SELECT 'policies: ' || coalesce(string_agg(ROW(view, schedule, concurrent, skip_if_unchanged,
       CASE WHEN :'detached' = 'no' THEN jobid END, job_name, created_by, created_at, updated_at)::text, ',' ORDER BY view::text), '')
FROM ntsb_perf.refresh_policy;
-- what the plan uses as each index's baseline
SELECT 'plan baselines: ' || coalesce(string_agg(ROW(index_name, baseline_density)::text, ',' ORDER BY index_name), '')
FROM ntsb_perf.reindex_plan(min_bytes => 0, min_bloat_ratio => 0.0001) WHERE baseline_density IS NOT NULL;
SQL
}
max_ids() {  # DIR PORT DB: "<max log id> <max history id>"
    cluster_psql "$1" "$2" -d "$3" -Atq -F ' ' -c \
        "SELECT (SELECT coalesce(max(id), 0) FROM ntsb_perf.refresh_log), (SELECT coalesce(max(id), 0) FROM ntsb_perf.reindex_history)"
}
# compare_with_source SRCDB DIR PORT DB WHAT [detached]: the copy's oracle = the source's (with
# "detached": the copy's policies have no job).
compare_with_source() {
    local srcdb=$1 dir=$2 port=$3 db=$4 what=$5 detached=${6:-no} ids theirs mine line name other
    ids=$(max_ids "$dir" "$port" "$db")
    # shellcheck disable=SC2086
    theirs=$(oracle "$A" "$PA" "$srcdb" $ids "$detached")
    # shellcheck disable=SC2086
    mine=$(oracle "$dir" "$port" "$db" $ids)
    while IFS= read -r line; do
        name=${line%%: *}
        other=$(printf '%s\n' "$mine" | grep -E "^$name: " || true)
        [ "$line" = "$other" ] || fail "$what: $name differs: source '$line', copy '$other'"
    done <<<"$theirs"
    ok "$what: states, roll-up, events, log, history, baselines (and the plan's), policies as in the source"
}
# Checks on a copy that hold whatever the source: OIDs of the old cluster are gone, the roll-up
# equals plain SQL over the restored rows, nothing of the refresh state came back.
copy_checks() {  # DIR PORT DB WHAT
    local dir=$1 port=$2 db=$3 what=$4 v
    v=$(cluster_psql "$dir" "$port" -d "$db" -Atq <<'SQL'
SELECT (SELECT count(*) FROM ntsb_perf.refresh_state) = 0 AND (SELECT count(*) FROM ntsb_perf.refresh_change) = 0
   AND (SELECT count(*) FROM ntsb_perf.reindex_history WHERE index IS NOT NULL) = 0
   AND (SELECT count(*) FROM ntsb_perf.reindex_baseline WHERE index_oid IS NOT NULL) = 0
   AND (SELECT count(*) FROM ntsb_perf.index_history WHERE index_oid IS NOT NULL) = 0
   AND (SELECT count(*) FROM ntsb_perf.index_history) > 0
   AND NOT EXISTS (SELECT y.year, ntsb_perf.accidents(y.stats), ntsb_perf.fatal_accidents(y.stats), ntsb_perf.fatalities(y.stats)
                   FROM accident_stats_by_year y
                   EXCEPT ALL
                   SELECT date_trunc('year', event_date)::date, count(*),
                          count(*) FILTER (WHERE ntsb_perf.normalize_severity(injury_severity) = 'FATL'), sum(total_fatalities)
                   FROM events GROUP BY 1)
   AND (SELECT count(*) FROM accident_stats_by_year) = (SELECT count(DISTINCT date_trunc('year', event_date)) FROM events)
   AND (SELECT count(*) FROM ntsb_perf.refresh_log WHERE target IS NULL) > 0;
SQL
)
    same "$what: no refresh state, change marks or old OIDs restored; roll-up = plain SQL over the events" "$v" t
}
# The index history's restored rows (no OID) are bound at the first snapshot to the index of
# their name, of the same table and definition (events_state, rebuilt through ntsb_perf;
# events_model, rebuilt by a REINDEX CONCURRENTLY outside it); the rows of events_make, dropped
# in the source before the dump, stay ended (dropped_at) and unbound.
history_rebound() {  # DIR PORT DB WHAT
    local dir=$1 port=$2 db=$3 what=$4 v
    v=$(cluster_psql "$dir" "$port" -d "$db" -Atq -c "SELECT count(*) > 0 FROM ntsb_perf.snapshot_indexes()" -c "
SELECT (SELECT count(*) FROM ntsb_perf.index_history WHERE index_name IN ('public.events_state', 'public.events_model')
        AND rebuild) >= 3
   AND (SELECT count(*) FROM ntsb_perf.index_history WHERE index_name IN ('public.events_state', 'public.events_model')
        AND index_oid IS DISTINCT FROM to_regclass(index_name)::oid) = 0
   AND (SELECT count(*) FROM ntsb_perf.index_history WHERE index_name = 'public.events_make') > 0
   AND (SELECT count(*) FROM ntsb_perf.index_history WHERE index_name = 'public.events_make'
        AND (index_oid IS NOT NULL OR dropped_at IS NULL)) = 0" | tr '\n' ' ')
    same "$what: the snapshot binds the restored index history by name, the dropped index's rows stay ended" "$v" "t t "
}
# The sequences go on: a new log row and a new history row get new ids.
sequences_go_on() {  # DIR PORT DB WHAT
    local dir=$1 port=$2 db=$3 what=$4 v
    v=$(cluster_psql "$dir" "$port" -d "$db" -Atq -c "SELECT max(id) FROM ntsb_perf.refresh_log" \
        -c "SELECT count(*) FROM ntsb_perf.refresh('by_state', force => true)" \
        -c "CALL ntsb_perf.reindex_index('events_state')" -c "SELECT max(id) FROM ntsb_perf.reindex_history" 2>/dev/null |
        tr '\n' ' ')
    v=$(cluster_psql "$dir" "$port" -d "$db" -Atq -c "SELECT (SELECT max(id) FROM ntsb_perf.refresh_log) > ${v%% *}
        AND (SELECT count(*) FROM ntsb_perf.reindex_history WHERE index = 'events_state'::regclass AND status = 'done') = 1")
    same "$what: refresh_log_id_seq and reindex_history_id_seq go on after the restored rows" "$v" t
}

# ---------------------------------------------------------------------------------------------
log "1. the dumps"
for db in "$PLAIN" "$SRC"; do
    as_pg "$PGBIN/pg_dump" -h "$A" -p "$PA" -U postgres -Fc -f "$BASE/$db.dump" "$db"
    as_pg "$PGBIN/pg_dump" -h "$A" -p "$PA" -U postgres -Fp -f "$BASE/$db.sql" "$db"
done
toc=$("$PGBIN/pg_restore" -l "$BASE/$SRC.dump")
for t in refresh_policy refresh_log reindex_history reindex_baseline index_history; do
    grep -q "TABLE DATA ntsb_perf $t " <<<"$toc" || fail "the dump has no data of ntsb_perf.$t"
done
for s in refresh_log_id_seq reindex_history_id_seq index_history_id_seq; do
    grep -q "SEQUENCE SET ntsb_perf $s " <<<"$toc" || fail "the dump does not set ntsb_perf.$s"
done
if grep -E "ntsb_perf (refresh_state|refresh_change|refresh_generation) " <<<"$toc"; then
    fail "the dump holds ntsb_perf's refresh state"
fi
ok "the custom dump holds policies, log, history, baselines, the index history and their sequences; not refresh_state, refresh_change"
job_at=$(grep -n "TABLE DATA cron job " <<<"$toc" | cut -d: -f1)
policy_at=$(grep -n "TABLE DATA ntsb_perf refresh_policy " <<<"$toc" | cut -d: -f1)
[ "$job_at" -lt "$policy_at" ] || fail "pg_cron's jobs come after ntsb_perf's policies in the dump"
job_at=$(grep -n "^COPY cron.job " "$BASE/$SRC.sql" | cut -d: -f1)
policy_at=$(grep -n "^COPY ntsb_perf.refresh_policy " "$BASE/$SRC.sql" | cut -d: -f1)
[ "$job_at" -lt "$policy_at" ] || fail "pg_cron's jobs come after ntsb_perf's policies in the plain dump"
ok "pg_cron's jobs are loaded before ntsb_perf's policies (custom and plain dump)"
# The source's dropped objects: no bare OID in the dump (the dropped view's log rows and the
# baselines of indexes that are gone or renumbered are not dumped; the history keeps its rows).
v=$(qa "$SRC" -c "SELECT (SELECT count(*) FROM ntsb_perf.refresh_log WHERE to_regclass(view::text) IS NULL
                         OR (target IS NOT NULL AND to_regclass(target::text) IS NULL)) = 0
                  AND (SELECT count(*) FROM ntsb_perf.reindex_history WHERE index_name = 'public.events_make' AND index IS NULL) = 1
                  AND (SELECT count(*) FROM ntsb_perf.reindex_baseline WHERE index_name = 'public.events_make') = 0
                  AND (SELECT count(*) FROM ntsb_perf.reindex_baseline b WHERE index_name = 'public.events_model'
                       AND NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = b.index_oid)) = 1")
same "the source: the dropped view's log rows gone, the dropped index's history without OID, its baseline gone" "$v" t

# ---------------------------------------------------------------------------------------------
# Cluster B starts now: its first check waits for pg_cron's minutes, the checks on A run meanwhile.
log "4. ntsb_src restored into cluster B (port $PB, pg_cron's database $SRC)"
start_cluster "$B" "$PB" "$SRC"
cluster_psql "$B" "$PB" -d postgres -q -c "CREATE DATABASE $SRC"
wait_second_window 2 20
restored_at=$(qb postgres -c "SELECT now()")
set +e
as_pg "$PGBIN/pg_restore" -v -h "$B" -p "$PB" -U postgres -d "$SRC" "$BASE/$SRC.dump" 2>"$BASE/b-restore.log"
rc=$?
set -e
[ $rc = 0 ] || { cat "$BASE/b-restore.log" >&2; fail "pg_restore into cluster B exited $rc"; }
restore_log_clean "$BASE/b-restore.log" "cluster B"
ok "pg_restore -Fc into cluster B: exit 0, no error, no warning"
v=$(qb "$SRC" -c "SELECT count(*) FROM ntsb_perf.refresh_log WHERE started_at > '$restored_at'")
same "no pg_cron run in B yet (the checks below are not raced)" "$v" 0
compare_with_source "$SRC" "$B" "$PB" "$SRC" "cluster B (custom format)"
copy_checks "$B" "$PB" "$SRC" "cluster B"
v=$(qb "$SRC" -c "SELECT string_agg(concat_ws('|', j.jobid, j.jobname, j.command, j.username, j.database, j.nodeport, j.schedule, j.active), ',' ORDER BY j.jobid)
                  FROM cron.job j JOIN ntsb_perf.refresh_policy p ON p.jobid = j.jobid")
w=$(qa "$SRC" -c "SELECT string_agg(concat_ws('|', j.jobid, j.jobname, j.command, j.username, j.database, $PB, j.schedule, j.active), ',' ORDER BY j.jobid)
                  FROM cron.job j JOIN ntsb_perf.refresh_policy p ON p.jobid = j.jobid")
same "the policies' pg_cron jobs are the source's, moved to port $PB" "$v" "$w"
v=$(qb "$SRC" -c "SELECT string_agg(ntsb_perf.refresh_reason(view), ',' ORDER BY view::text) FROM ntsb_perf.refresh_policy")
same "every restored view is due (no earlier refresh through ntsb_perf), none untracked" "$v" \
    "no earlier refresh through ntsb_perf,no earlier refresh through ntsb_perf"
v=$(qb "$SRC" -c "SELECT string_agg(tgname || ':' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'events'::regclass AND NOT tgisinternal")
same "the tracking triggers came back, enabled as they were" "$v" "ntsb_perf_track_changes:A,ntsb_perf_track_replica:R"
# pg_cron restores every job as it was: the auto_reindex job (no policy points at it) still
# targets the old port; the command in docs/operations.md (Backups) moves it.
v=$(qb "$SRC" -c "SELECT nodeport FROM cron.job WHERE jobname = 'ntsb_perf auto_reindex $SRC'")
same "the auto_reindex job still targets the source's port (pg_cron restores jobs as they were)" "$v" "$PA"
qb "$SRC" -c "UPDATE cron.job SET nodeport = current_setting('port')::int WHERE database = current_database()
              AND nodeport <> current_setting('port')::int" >/dev/null
v=$(qb "$SRC" -c "SELECT count(*) FROM cron.job WHERE nodeport <> $PB")
same "the UPDATE of docs/operations.md moves the other jobs to this server" "$v" 0

# ---------------------------------------------------------------------------------------------
log "2. ntsb_plain restored into new databases of cluster A (custom format and plain SQL)"
cluster_psql "$A" "$PA" -d postgres -q -c "CREATE DATABASE ${PLAIN}_c" -c "CREATE DATABASE ${PLAIN}_p"
set +e
as_pg "$PGBIN/pg_restore" -v -h "$A" -p "$PA" -U postgres -d "${PLAIN}_c" "$BASE/$PLAIN.dump" 2>"$BASE/plain-c.log"
rc=$?
set -e
[ $rc = 0 ] || { cat "$BASE/plain-c.log" >&2; fail "pg_restore of $PLAIN exited $rc"; }
restore_log_clean "$BASE/plain-c.log" "$PLAIN custom"
ok "pg_restore -Fc of $PLAIN: exit 0, no error, no warning"
set +e
cluster_psql "$A" "$PA" -d "${PLAIN}_p" -q -f "$BASE/$PLAIN.sql" >/dev/null 2>"$BASE/plain-p.log"
rc=$?
set -e
[ $rc = 0 ] && [ ! -s "$BASE/plain-p.log" ] || { cat "$BASE/plain-p.log" >&2; fail "psql replay of $PLAIN: exit $rc"; }
ok "psql -v ON_ERROR_STOP=1 -f $PLAIN.sql: exit 0, nothing on stderr"
for db in "${PLAIN}_c" "${PLAIN}_p"; do
    compare_with_source "$PLAIN" "$A" "$PA" "$db" "$db"
    copy_checks "$A" "$PA" "$db" "$db"
    history_rebound "$A" "$PA" "$db" "$db"
    v=$(qa "$db" -c "SELECT string_agg(view || ':' || status || ':' || reason, ',' ORDER BY view::text)
                     FROM ntsb_perf.refresh('accident_stats_by_year')")
    same "$db: the first refresh refreshes" "$v" \
        "accident_stats_by_month:refreshed:no earlier refresh through ntsb_perf,accident_stats_by_year:refreshed:no earlier refresh through ntsb_perf"
    sequences_go_on "$A" "$PA" "$db" "$db"
done

# ---------------------------------------------------------------------------------------------
log "3. ntsb_src restored into another database of cluster A (pg_cron cannot be created there)"
cluster_psql "$A" "$PA" -d postgres -q -c "CREATE DATABASE ${SRC}_elsewhere"
set +e
as_pg "$PGBIN/pg_restore" -v -h "$A" -p "$PA" -U postgres -d "${SRC}_elsewhere" "$BASE/$SRC.dump" 2>"$BASE/elsewhere.log"
rc=$?
set -e
[ $rc = 1 ] || fail "pg_restore into ${SRC}_elsewhere exited $rc, not 1"
grep -q "can only create extension in database $SRC" "$BASE/elsewhere.log" || fail "no pg_cron error"
# pg_cron 1.6 (17, 18) also dumps the values of its sequences: their setval fails the same way.
others=$(grep -E 'error:' "$BASE/elsewhere.log" | grep -vE "can only create extension in database $SRC|extension \"pg_cron\" does not exist|schema \"cron\" does not exist|relation \"cron\.[a-z_]+_seq\" does not exist|errors ignored on restore" || true)
[ -z "$others" ] || fail "errors other than pg_cron's: $others"
n=$(grep -c "WARNING:  ntsb_perf: pg_cron job [0-9]* of the refresh policy of .* is not here" "$BASE/elsewhere.log" || true)
same "only pg_cron's objects failed; one warning per policy (pg_restore -v shows them)" "$n" 2
compare_with_source "$SRC" "$A" "$PA" "${SRC}_elsewhere" "${SRC}_elsewhere" detached
v=$(qa "${SRC}_elsewhere" -c "SELECT count(*) FROM ntsb_perf.refresh_policy WHERE jobid IS NULL")
same "every policy kept, without a job" "$v" 2

# ---------------------------------------------------------------------------------------------
log "4. (cluster B) pg_cron refreshes the restored roll-up, then skips it"
wait_until 150 "$B" "$PB" "$SRC" "SELECT count(*) = 2 FROM ntsb_perf.refresh_log
    WHERE started_at > '$restored_at' AND target = 'accident_stats_by_year'::regclass" ||
    fail "no pg_cron run refreshed the roll-up in cluster B"
v=$(qb "$SRC" -c "SELECT string_agg(view || ':' || status || ':' || reason, ',' ORDER BY view::text)
                  FROM ntsb_perf.refresh_log WHERE started_at > '$restored_at'")
same "the first scheduled run refreshed both views (no earlier refresh)" "$v" \
    "accident_stats_by_month:refreshed:no earlier refresh through ntsb_perf,accident_stats_by_year:refreshed:no earlier refresh through ntsb_perf"
first_run=$(qb "$SRC" -c "SELECT max(id) FROM ntsb_perf.refresh_log")
wait_until 90 "$B" "$PB" "$SRC" "SELECT count(*) = 2 FROM ntsb_perf.refresh_log WHERE id > $first_run" ||
    fail "no second pg_cron run in cluster B"
v=$(qb "$SRC" -c "SELECT string_agg(view || ':' || status, ',' ORDER BY view::text) FROM ntsb_perf.refresh_log WHERE id > $first_run")
same "the next run skipped both (unchanged)" "$v" "accident_stats_by_month:skipped: unchanged,accident_stats_by_year:skipped: unchanged"
v=$(qb "$SRC" -c "SELECT string_agg(DISTINCT status, ',') FROM cron.job_run_details d JOIN ntsb_perf.refresh_policy p USING (jobid)
                  WHERE d.start_time > '$restored_at'")
same "cron.job_run_details in B: the runs succeeded" "$v" succeeded

log "4. (cluster B) DROP EXTENSION ntsb_perf, then CASCADE, then pg_cron's next minute"
jobs=$(qb "$SRC" -c "SELECT string_agg(jobid::text, ',' ORDER BY jobid) FROM cron.job WHERE jobname LIKE 'ntsb_perf %'")
v=$(qb "$SRC" -c "DROP EXTENSION ntsb_perf" 2>&1 || true)
grep -q "cannot drop extension ntsb_perf because other objects depend on it" <<<"$v" &&
    grep -q "pg_cron job [0-9]* refreshes materialized view public.accident_stats_by_year" <<<"$v" &&
    grep -q "trigger ntsb_perf_track_changes on table public.events depends on function ntsb_perf.track_change()" <<<"$v" ||
    fail "DROP EXTENSION without CASCADE: $v"
ok "DROP EXTENSION ntsb_perf: refused, naming the pg_cron jobs and the tracking triggers"
wait_second_window 3 45
dropped_at=$(qb "$SRC" -c "SELECT now()")
qb "$SRC" -c "DROP EXTENSION ntsb_perf CASCADE" 2>"$BASE/drop.log"
grep -q "ntsb_perf: removed 3 pg_cron job(s): ${jobs//,/, }" "$BASE/drop.log" || { cat "$BASE/drop.log"; fail "no notice of the removed jobs"; }
v=$(qb "$SRC" -c "SELECT (SELECT count(*) FROM cron.job WHERE jobname LIKE 'ntsb_perf%' OR command LIKE '%ntsb_perf%')
                  + (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ntsb_perf%')")
same "CASCADE removed ntsb_perf's pg_cron jobs and tracking triggers" "$v" 0
v=$(qb "$SRC" -c "SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM events e")
w=$(qa "$SRC" -c "SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM events e")
same "the events are untouched" "$v" "$w"
v=$(qb "$SRC" -c "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'm', 'v')")
same "left: the tables and the view without ntsb_perf's types (the statistics views went with CASCADE)" "$v" \
    "by_state,events,geography_columns,geometry_columns,spatial_ref_sys"
wait_until 75 "$B" "$PB" "$SRC" "SELECT now() > date_trunc('minute', '$dropped_at'::timestamptz) + interval '1 minute 5 seconds'" ||
    fail "clock"
v=$(qb "$SRC" -c "SELECT count(*) FROM cron.job_run_details WHERE start_time > '$dropped_at'
                  AND (jobid = ANY ('{$jobs}'::bigint[]) OR status <> 'succeeded')")
same "at pg_cron's next minute after the drop: no run of ntsb_perf's jobs, no failed run" "$v" 0
stop_cluster "$B"

# ---------------------------------------------------------------------------------------------
log "5. the plain SQL dump of ntsb_src replayed into a new cluster B"
rm -rf "$B"
start_cluster "$B" "$PB" "$SRC"
cluster_psql "$B" "$PB" -d postgres -q -c "CREATE DATABASE $SRC"
wait_second_window 2 20  # (the restored job runs at the next minute: the checks come first)
set +e
cluster_psql "$B" "$PB" -d "$SRC" -q -f "$BASE/$SRC.sql" >/dev/null 2>"$BASE/b-plain.log"
rc=$?
set -e
[ $rc = 0 ] && [ ! -s "$BASE/b-plain.log" ] || { cat "$BASE/b-plain.log" >&2; fail "psql replay into cluster B: exit $rc"; }
ok "psql -v ON_ERROR_STOP=1 -f $SRC.sql into cluster B: exit 0, nothing on stderr"
compare_with_source "$SRC" "$B" "$PB" "$SRC" "cluster B (plain SQL)"
copy_checks "$B" "$PB" "$SRC" "cluster B (plain SQL)"
stop_cluster "$B"

# ---------------------------------------------------------------------------------------------
log "6. ntsb_src restored over another role's pg_cron jobs with the dumped ids"
rm -rf "$B"
start_cluster "$B" "$PB" "$SRC"
cluster_psql "$B" "$PB" -d postgres -q -c "CREATE DATABASE $SRC"
# mallory's jobs: the very ids, names and commands the dump's policies name, as another role.
qa "$SRC" -c "SELECT format('INSERT INTO cron.job (jobid, schedule, command, nodename, nodeport, database, username, jobname)
                             VALUES (%s, %L, %L, ''localhost'', %s, %L, ''mallory'', %L);', jobid, '0 4 * * *', command, $PB, database, jobname)
              FROM cron.job ORDER BY jobid" >"$BASE/mallory.sql"
qb "$SRC" -q -c "CREATE ROLE mallory LOGIN" -c "CREATE EXTENSION pg_cron" -f "$BASE/mallory.sql"
before=$(qb "$SRC" -c "SELECT md5(string_agg(j::text, ',' ORDER BY jobid)) FROM cron.job j")
set +e
as_pg "$PGBIN/pg_restore" -v -h "$B" -p "$PB" -U postgres -d "$SRC" "$BASE/$SRC.dump" 2>"$BASE/mallory.log"
rc=$?
set -e
[ $rc = 1 ] || fail "pg_restore over mallory's jobs exited $rc, not 1"
others=$(grep -E 'error:' "$BASE/mallory.log" | grep -vE 'job_pkey|COPY cron.job |errors ignored on restore|already exists' || true)
[ -z "$others" ] || fail "errors other than pg_cron's duplicate jobs: $others"
n=$(grep -c "WARNING:  ntsb_perf: pg_cron job [0-9]* of the refresh policy of .* is not here" "$BASE/mallory.log" || true)
same "pg_cron's rows failed (duplicate ids); one warning per policy" "$n" 2
v=$(qb "$SRC" -c "SELECT count(*) FROM ntsb_perf.refresh_policy WHERE jobid IS NULL")
same "every policy kept without a job: none names mallory's" "$v" 2
v=$(qb "$SRC" -c "SELECT md5(string_agg(j::text, ',' ORDER BY jobid)) FROM cron.job j")
same "mallory's jobs untouched" "$v" "$before"
compare_with_source "$SRC" "$B" "$PB" "$SRC" "over mallory's jobs" detached
stop_cluster "$B"

log "dump/restore: all checks passed in $(($(date +%s) - START)) s"
