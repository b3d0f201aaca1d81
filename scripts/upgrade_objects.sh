#!/usr/bin/env bash
# Rewrites section 2 of sql/ntsb_perf--0.1.0--0.2.0.sql (the objects 0.2.0 creates or replaces)
# from this build's generated install script, with scripts/sql_statements.py. NEW: objects that
# 0.1.0 did not have (or that are dropped first in section 1: unused_indexes); REPLACE: 0.1.0's
# objects whose definition changed (CREATE OR REPLACE). Add an object here when the SQL surface
# changes; tests/upgrade/upgrade.sh then compares the upgraded catalog with a fresh install.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
NEW=_nondeterminism,_reindex_begin,_reindex_cancel,_reindex_drop_start,_reindex_finish,_reindex_forget
NEW+=,_reindex_in_block,_reindex_poll,_reindex_start,reindex_history
NEW+=,reindex_baseline,reindex_history_id_seq,_reindex_sweep,_reindex_check_thresholds,_reindex_plan
NEW+=,reindex_plan,_reindex_require_autocommit,_reindex_one,_reindex_drop,reindex_index,auto_reindex
NEW+=,schedule_auto_reindex,_unschedule_own_job,unschedule_auto_reindex,reindex_status,_log_run_by,_job_name,_job_command
NEW+=,_job_ok,_cron_readable,_check_policy,_tracking_triggers,_volatile_reason,_forget,_on_sql_drop
NEW+=,ntsb_perf_forget_dropped,_scheduled_refresh,_drop_extension_jobs,_on_drop_command
NEW+=,ntsb_perf_drop_extension
# index history
NEW+=,_snapshot_measure,_forecast_fit,_index_history_retention,_is_index_named,_index_oid_of_name,index_history
NEW+=,index_history_id_seq,_usage_counters,snapshot_indexes,_job_owners,schedule_index_snapshots
NEW+=,unschedule_index_snapshots,_index_usage_points,index_usage_history,_index_scans_since,_baseline_of
NEW+=,_days_after,_bloat_forecast,bloat_forecast,unused_indexes
# run locks, the rebuild's own checks, pg_cron job kinds, the index history's drops,
# definitions and row level security
NEW+=,_reindex_run_lock,_reindex_run_unlock,_snapshot_lock,_run_lock_holder,_reindex_scheduled_run
NEW+=,_reindex_check_rights_and_ahead,_index_definition,_index_history_definition,_table_of_name
NEW+=,_index_history_dropped,_job_kinds,_job_kind,_job_name_of,_may_see_table,_refresh_view_lock
# one scheduling module; each capability cleans up after its own dropped objects
NEW+=,_schedule_job,_reindex_history_dropped
REPLACE=track_change,_refresh_fence,_owns,refresh_plan,_tracking,refresh_reason,sources_changed,_check_matview,_refresh
REPLACE+=,refresh,_ensure_tracking,_require_pg_cron,schedule_refresh,unschedule_refresh,_cron_job
REPLACE+=,index_catalog
install_sql=$(mktemp)
trap 'rm -f "$install_sql"' EXIT
cargo pgrx schema pg15 --pg-config "$PG_CONFIG" -o "$install_sql" >/dev/null
python3 - "$install_sql" "$NEW" "$REPLACE" <<'PY'
import subprocess, sys
install, new, repl = sys.argv[1:]
path = "sql/ntsb_perf--0.1.0--0.2.0.sql"
up = open(path).read()
start = up.index("-- 2. New and changed functions")
body = up.index("\n\n", start) + 2
end = up.index("-- 3. What pg_dump dumps of 0.1.0's tables")
sec2 = subprocess.run([sys.executable, "scripts/sql_statements.py", install, "--new", new, "--replace", repl],
                      check=True, capture_output=True, text=True).stdout
open(path, "w").write(up[:body] + sec2 + "\n" + up[end:])
PY
log "section 2 of sql/ntsb_perf--0.1.0--0.2.0.sql rewritten"
