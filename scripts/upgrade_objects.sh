#!/usr/bin/env bash
# Rewrites section 2 of the upgrade script from the last release to this version (the objects
# this version creates or replaces) from this build's generated install script, with
# scripts/sql_statements.py. NEW: objects the last release did not have (or that section 1
# drops first: parse_cron, index_usage and unused_indexes, whose result types changed); REPLACE: its objects whose definition
# changed (CREATE OR REPLACE). Add an object here when the SQL surface
# changes; tests/upgrade/upgrade.sh then compares the upgraded catalog with a fresh install.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
# The script being written: from the last release (tests/upgrade/releases) to this version.
# Released scripts are frozen (sql/ntsb_perf--0.1.0--0.2.0.sql among them).
FROM=0.2.0
TO=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
NEW=parse_cron,_index_last_scan,index_usage,unused_indexes
REPLACE=cron_schedule_is_valid,index_catalog,_is_index_named,_index_definition,snapshot_indexes
install_sql=$(mktemp)
trap 'rm -f "$install_sql"' EXIT
cargo pgrx schema "pg$PG_MAJOR" --pg-config "$PG_CONFIG" -o "$install_sql" >/dev/null
python3 - "$install_sql" "$NEW" "$REPLACE" "sql/ntsb_perf--$FROM--$TO.sql" <<'PY'
import subprocess, sys
install, new, repl, path = sys.argv[1:]
up = open(path).read()
start = up.index("-- 2. New and changed functions")
body = up.index("\n\n", start) + 2
end = up.index("-- 3. ")
sec2 = subprocess.run([sys.executable, "scripts/sql_statements.py", install, "--new", new, "--replace", repl],
                      check=True, capture_output=True, text=True).stdout
open(path, "w").write(up[:body] + sec2 + "\n" + up[end:])
PY
log "section 2 of sql/ntsb_perf--$FROM--$TO.sql rewritten"
