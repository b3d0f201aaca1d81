#!/usr/bin/env bash
# make demo: set up, build and install, start a throwaway cluster under target/demo, load
# accident data (NTSB_CSV=path, or ROWS generated rows), run queries, print the index reports.
source "$(dirname "$0")/common.sh"
DIR=$TARGET/demo
PORT=${DEMO_PORT:-28815}
DB=ntsb
ROWS=${ROWS:-150000}

"$ROOT/scripts/setup.sh"
stop_cluster "$DIR"            # the install below replaces the library it may have loaded
install_extension release
rm -rf "$DIR/data"
log "starting a fresh cluster in $DIR (port $PORT)"
start_cluster "$DIR" "$PORT" "$DB"
psql_db() { cluster_psql "$DIR" "$PORT" -d "$DB" "$@"; }
cluster_psql "$DIR" "$PORT" -d postgres -q -c "CREATE DATABASE $DB"
psql_db -q -f "$ROOT/demo/schema.sql"
psql_db -q -c "CREATE EXTENSION IF NOT EXISTS pg_cron"

start=$(date +%s)
if [ -n "${NTSB_CSV:-}" ]; then
    [ -r "$NTSB_CSV" ] || { echo "NTSB_CSV=$NTSB_CSV is not a readable file" >&2; exit 2; }
    log "loading $NTSB_CSV"
    load_csv "$DIR" "$PORT" "$DB" "$NTSB_CSV"
else
    log "generating $ROWS accidents (set NTSB_CSV=path to load a real export instead)"
    psql_db -q -v rows="$ROWS" -f "$ROOT/demo/generate.sql"
fi
log "loaded in $(( $(date +%s) - start )) s; creating the seed's indexes"
psql_db -q -f "$ROOT/demo/indexes.sql"
psql_db -q -f "$ROOT/demo/mistakes.sql" 2>&1 | sed 's/^/  (expected) /'
log "running the workload"
psql_db -q -f "$ROOT/demo/workload.sql" >/dev/null
psql_db -f "$ROOT/demo/reports.sql"
log "refresh scheduling (pg_cron)"
psql_db -f "$ROOT/demo/refresh.sql"
log "statistics, hotspots, radius search, EXPLAIN comparison, auto-reindex"
psql_db -f "$ROOT/demo/capabilities.sql"
log "the health report (sampled bloat scan, 100 pages per index)"
psql_db -q -c "ANALYZE" -c "SELECT pg_stat_force_next_flush()" >/dev/null
psql_db -Atc "SELECT ntsb_perf.health_report(sample_pages => 100)" >"$DIR/report.html"
psql_db -Atc "SELECT ntsb_perf.hotspots_geojson(ntsb_perf.accident_hotspots(geom, injury_severity LIKE 'FATAL%', 50, 100)) FROM events" \
    >"$DIR/hotspots.geojson"
echo "  report:   $DIR/report.html ($(wc -c <"$DIR/report.html") bytes; one self-contained page, no network)"
echo "            open it with: xdg-open $DIR/report.html   (or chromium / firefox file://$DIR/report.html)"
echo "            again later:  psql -h $DIR -p $PORT -U postgres -Atc \"SELECT ntsb_perf.health_report()\" $DB > report.html"
echo "  hotspots: $DIR/hotspots.geojson (RFC 7946: open in QGIS, Leaflet or geojson.io)"
log "demo cluster left running: psql -h $DIR -p $PORT -U postgres $DB   (make demo-stop stops it)"
