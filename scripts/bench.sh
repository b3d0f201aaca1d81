#!/usr/bin/env bash
# make bench: benchmarks as ratios against an anchor measured in the same run (absolute times
# on a shared 2-core machine are noise). Not part of make test.
source "$(dirname "$0")/common.sh"
DIR=$ROOT/target/bench
PORT=${BENCH_PORT:-28817}
DB=ntsb_bench
N_INDEXES=${N_INDEXES:-2000}
ROUNDS=${ROUNDS:-21}

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
