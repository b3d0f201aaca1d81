#!/usr/bin/env bash
# bench/profile.sh: where a statement's time goes, with perf, on a cluster of generated events
# kept between runs (target/profile; PROFILE_ROWS generated rows, 2M by default).
#   bench/profile.sh setup                 install the release build, start the cluster, load rows
#   bench/profile.sh run 'SQL' [runs]      perf record -g the backend running SQL `runs` times,
#                                          then print perf report's top entries (self and children)
#   bench/profile.sh stop
# Used for the profiles in bench/README.md (issue 27). Needs linux-perf. Do not run it under
# `flock /tmp/ntsb_pg.lock`: the server it starts would keep the lock's descriptor, and the next
# install that waits for the lock would wait forever (stop the profile cluster first).
source "$(dirname "$0")/../scripts/common.sh"
DIR=$TARGET/profile
PORT=${PROFILE_PORT:-28819}
DB=ntsb_prof
ROWS=${PROFILE_ROWS:-2000000}
psql_db() { cluster_psql "$DIR" "$PORT" -d "$DB" "$@"; }

case ${1:-} in
setup)
    stop_cluster "$DIR"
    install_extension release
    rm -rf "$DIR/data"
    start_cluster "$DIR" "$PORT" "$DB"
    cluster_psql "$DIR" "$PORT" -d postgres -q -c "CREATE DATABASE $DB"
    psql_db -q -c "CREATE EXTENSION ntsb_perf" -c "CREATE EXTENSION IF NOT EXISTS postgis"
    psql_db -q -f "$ROOT/demo/schema.sql"
    psql_db -q -v rows="$ROWS" -f "$ROOT/demo/generate.sql" >/dev/null
    psql_db -q -f "$ROOT/demo/indexes.sql"
    psql_db -q -c "VACUUM ANALYZE" -c "CHECKPOINT"
    ;;
start) start_cluster "$DIR" "$PORT" "$DB" ;;
run)
    sql=$2 runs=${3:-5}
    out=$DIR/perf.data
    # One session: its backend's pid is recorded while it runs the statement `runs` times.
    fifo=$DIR/fifo; rm -f "$fifo"; mkfifo "$fifo"
    psql_db -q -At <"$fifo" >"$DIR/psql.out" 2>&1 &
    exec 3>"$fifo"
    echo "SET max_parallel_workers_per_gather = ${PROFILE_WORKERS:-0};" >&3
    echo "\\o $DIR/pid" >&3; echo "SELECT pg_backend_pid();" >&3; echo "\\o" >&3
    echo "$sql;" >&3   # warm-up
    for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$DIR/pid" ] && break; sleep 0.3; done
    pid=$(cat "$DIR/pid")
    perf record -q -g -p "$pid" -o "$out" 2>/dev/null &
    perf_pid=$!
    sleep 1
    echo "\\o /dev/null" >&3
    for _ in $(seq "$runs"); do echo "$sql;" >&3; done
    echo "\\o $DIR/done" >&3; echo "SELECT 1;" >&3
    for _ in $(seq 600); do [ -s "$DIR/done" ] && break; sleep 0.2; done
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    exec 3>&-; wait || true
    rm -f "$DIR/pid" "$DIR/done" "$fifo"
    echo "== self"
    perf report -i "$out" --no-children --percent-limit 1.5 --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25
    echo "== children"
    perf report -i "$out" --children --percent-limit 4 --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25
    ;;
stop) stop_cluster "$DIR" ;;
*) sed -n 2,8p "$0"; exit 2 ;;
esac
