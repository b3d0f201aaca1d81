#!/usr/bin/env bash
# make bench: benchmarks as ratios against an anchor measured in the same run (absolute times
# on a shared 2-core machine are noise). Not part of make test.
source "$(dirname "$0")/common.sh"
DIR=$ROOT/target/bench
PORT=${BENCH_PORT:-28817}
DB=ntsb_bench
N_INDEXES=${N_INDEXES:-2000}
ROUNDS=${ROUNDS:-21}
BENCH_ROWS=${BENCH_ROWS:-10000000}

"$ROOT/scripts/setup.sh"
stop_cluster "$DIR"
install_extension release
rm -rf "$DIR/data"
start_cluster "$DIR" "$PORT" "$DB"
trap 'stop_cluster "$DIR"' EXIT
psql_db() { cluster_psql "$DIR" "$PORT" -d "$DB" "$@"; }
cluster_psql "$DIR" "$PORT" -d postgres -q -c "CREATE DATABASE $DB"
psql_db -q -c "CREATE EXTENSION ntsb_perf"

log "B1: index_usage() over $N_INDEXES indexes vs the same catalog query as plain SQL ($ROUNDS rounds)"
psql_db -v n_indexes="$N_INDEXES" -v rounds="$ROUNDS" \
    -v plain_sql="$(cat "$ROOT/sql/index_usage/index_usage.sql")" -f "$ROOT/bench/index_usage.sql"

log "P1-P3: index bloat on $BENCH_ROWS generated events (generating; a few minutes)"
psql_db -q -f "$ROOT/demo/schema.sql"
psql_db -q -v rows="$BENCH_ROWS" -f "$ROOT/demo/generate.sql" >/dev/null
psql_db -q -f "$ROOT/demo/indexes.sql"
psql_db -v rows="$BENCH_ROWS" -v rounds=7 -f "$ROOT/bench/bloat.sql"
log "S1-S3: accident statistics and radius search on $BENCH_ROWS events"
psql_db -v rounds=5 -f "$ROOT/bench/stats.sql"
log "fresh builds: bloat_ratio right after CREATE INDEX (calibration check, 1.00 ± 0.05)"
psql_db -q -c "CREATE EXTENSION IF NOT EXISTS postgis"
psql_db -v rows=150000 -f "$ROOT/bench/fresh_builds.sql"
