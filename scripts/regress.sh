#!/usr/bin/env bash
# SQL regression tests: installs this tree's debug build unless it is installed already
# (ensure_installed), starts a throwaway cluster under target/regress and runs pg_regress
# --use-existing on tests/regress/schedule, comparing psql output with
# tests/regress/expected/*.out. On failure the diff is printed (target/regress/out/regression.diffs).
source "$(dirname "$0")/common.sh"
DIR=$TARGET/regress
PORT=${REGRESS_PORT:-28816}
DB=ntsb_regress
PG_REGRESS=$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress

stop_cluster "$DIR"
ensure_installed
rm -rf "$DIR/data" "$DIR/out"
# With RUST_BACKTRACE set in the server's environment, as a DBA's may be: no message may carry a
# Rust backtrace all the same (tests/regress/sql/reindex_hostile.sql checks).
RUST_BACKTRACE=full start_cluster "$DIR" "$PORT" "$DB"
trap 'stop_cluster "$DIR"' EXIT
mkdir -p "$DIR/out"
if [ "$(id -u)" = 0 ]; then chown -R postgres: "$DIR/out"; fi
cluster_psql "$DIR" "$PORT" -d postgres -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"

# The accident rows the statistics tests compare against plain SQL: the real export when
# ../shared is beside the checkout (CI), else 50,000 generated ones. Kept in schema src.
CSV=${NTSB_CSV:-$ROOT/../shared/data/ntsb_accidents_2000_2021.csv}
cluster_psql "$DIR" "$PORT" -d "$DB" -q -f "$ROOT/demo/schema.sql"
if [ -r "$CSV" ]; then
    log "statistics tests use $CSV"
    load_csv "$DIR" "$PORT" "$DB" "$CSV" >/dev/null
else
    log "statistics tests use 50000 generated accidents (no $CSV)"
    cluster_psql "$DIR" "$PORT" -d "$DB" -q -v rows=50000 -f "$ROOT/demo/generate.sql" >/dev/null
fi
cluster_psql "$DIR" "$PORT" -d "$DB" -q -c "CREATE SCHEMA src" \
    -c "ALTER TABLE events SET SCHEMA src" -c "ALTER TABLE src.events RENAME TO accidents_src"

# REGRESS_TESTS="reindex uninstall": only those (in that order), for work on one capability.
tests=${REGRESS_TESTS:-$(grep -v '^\s*#' "$ROOT/tests/regress/schedule" | sed -n 's/^test:\s*//p' | tr '\n' ' ')}
set +e
cd "$ROOT/tests/regress"   # tests include files by paths relative to tests/regress/
PGHOST=$DIR PGPORT=$PORT PGUSER=postgres "$PG_REGRESS" --use-existing --dbname="$DB" \
    --bindir="$PGBIN" --inputdir="$ROOT/tests/regress" --outputdir="$DIR/out" $tests
rc=$?
set -e
if [ $rc -ne 0 ] && [ -f "$DIR/out/regression.diffs" ]; then
    cat "$DIR/out/regression.diffs"
fi
exit $rc
