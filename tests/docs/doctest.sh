#!/usr/bin/env bash
# Documentation that runs (CONTRIBUTING.md, "Doc tests", says how a block is written): starts a
# throwaway cluster under target/doctest, builds the data sets the blocks name as template
# databases, runs every ```sql block of README.md, docs/*.md, CONTRIBUTING.md and src/**/*.rs
# and compares its output. Uses the debug build of this tree, installed first unless it is
# already (ensure_installed). Arguments go to doctest.py: `tests/docs/doctest.sh run
# docs/bloat.md`, `... run docs/refresh.md:40 --accept`.
source "$(dirname "$0")/../../scripts/common.sh"
DIR=$TARGET/doctest
PORT=${DOCTEST_PORT:-28819}
CSV=${NTSB_CSV:-$ROOT/../shared/data/ntsb_accidents_2000_2021.csv}
[ $# -gt 0 ] || set -- run
export DOCTEST_HOST=$DIR DOCTEST_PORT=$PORT PSQL=$PGBIN/psql

stop_cluster "$DIR"
ensure_installed
rm -rf "$DIR/data" "$DIR/out"
# pg_cron's database is the one each block runs in (a fresh copy per block).
start_cluster "$DIR" "$PORT" ntsb
trap 'stop_cluster "$DIR"' EXIT
db() { cluster_psql "$DIR" "$PORT" -q -d "$@"; }
# No autovacuum (nothing changes under a block), and ANALYZE reads every row of the data sets
# (300 x 200 rows >= 35,390), so their statistics and so the plans are the same in every run.
db postgres -c "ALTER SYSTEM SET autovacuum = off" -c "ALTER SYSTEM SET default_statistics_target = 200" \
    -c "SELECT pg_reload_conf()" >/dev/null

start=$(date +%s)
have=()
# All of them, always, in this order: the OIDs of their objects (which seed index_bloat's samples)
# then do not depend on which blocks run, nor on whether the CSV is there (it comes last).
for set in empty generated csv; do
    tmpl=doctest_$set
    if [ "$set" = csv ] && [ ! -r "$CSV" ]; then
        log "doctest: no $CSV, blocks on data=csv are skipped"
        continue
    fi
    db postgres -c "CREATE DATABASE $tmpl"
    db "$tmpl" -f "$ROOT/demo/schema.sql"
    case $set in
        csv) load_csv "$DIR" "$PORT" "$tmpl" "$CSV" >/dev/null ;;
        generated) db "$tmpl" -c "SELECT setseed(0.15)" -v rows=20000 \
            -f "$ROOT/demo/generate.sql" >/dev/null ;;
    esac
    [ "$set" = empty ] || db "$tmpl" -f "$ROOT/demo/indexes.sql"
    have+=("$set")
done
log "doctest: data sets ${have[*]} ready in $(( $(date +%s) - start )) s"
set +e
python3 "$ROOT/tests/docs/doctest.py" --have "$(IFS=,; echo "${have[*]}")" "$@"
rc=$?
log "doctest: $(( $(date +%s) - start )) s in all"
exit $rc
