#!/usr/bin/env bash
# The health report and the GeoJSON, end to end (part of make test), on a cluster of its own in
# target/report_test: builds a data set (demo/generate.sql rows, demo/indexes.sql,
# demo/mistakes.sql, demo/workload.sql, a rebuild, a scheduled and a failed refresh) with hostile
# names (an index `<img src=x onerror=alert(1)>`, a schema `</style><script>`, a view
# `<b onmouseover=alert(2)>`), writes the report as a superuser, as a role without
# pg_stat_scan_tables and in a database without PostGIS, events or pg_cron, and hands them to
# tests/live/report_check.py (strict HTML5 parse, tag/attribute allowlist, escaping, figures against
# the reports' SQL, GeoJSON validity and a recount of each cell's points with PostGIS, headless
# Chromium: no console message, every heading in the rendered DOM, a PNG screenshot).
# `tests/live/report_browser.sh --no-install` uses the library already installed.
source "$(dirname "$0")/../../scripts/common.sh"
DIR=$TARGET/report_test
PORT=${REPORT_PORT:-28821}
DB=ntsb
ROWS=${REPORT_ROWS:-30000}

stop_cluster "$DIR"
[ "${1:-}" = --no-install ] || ensure_installed
rm -rf "$DIR/data" "$DIR/out"
start_cluster "$DIR" "$PORT" "$DB"
trap 'stop_cluster "$DIR"' EXIT
OUT=$DIR/out
mkdir -p "$OUT"
chmod 755 "$DIR" "$OUT"
psql_db() { cluster_psql "$DIR" "$PORT" -d "$DB" "$@"; }
cluster_psql "$DIR" "$PORT" -d postgres -q -c "CREATE DATABASE $DB" -c "CREATE DATABASE bare"

log "report test data: $ROWS generated accidents, the seed's indexes, the demo's mistakes, hostile names"
psql_db -q -f "$ROOT/demo/schema.sql"
psql_db -q -c "SELECT setseed(0.17)" -v rows="$ROWS" -f "$ROOT/demo/generate.sql" >/dev/null
psql_db -q -f "$ROOT/demo/indexes.sql"
psql_db -q -f "$ROOT/demo/mistakes.sql" 2>/dev/null
psql_db -q -f "$ROOT/demo/workload.sql" >/dev/null
psql_db -q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
-- Hostile names: the page must show them as text.
CREATE SCHEMA "</style><script>";
CREATE TABLE "</style><script>"."t&amp;""x'" (id int PRIMARY KEY, v text);
INSERT INTO "</style><script>"."t&amp;""x'" SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
CREATE INDEX "<img src=x onerror=alert(1)>" ON "</style><script>"."t&amp;""x'" (v);
CREATE INDEX "dup ""quoted"" <i>" ON "</style><script>"."t&amp;""x'" (v);
-- A role's private table: other roles must not see its index.
CREATE ROLE owner_role;
CREATE TABLE public.private_t (a int) ;
ALTER TABLE public.private_t OWNER TO owner_role;
CREATE INDEX secret_private_idx ON public.private_t (a);
REVOKE ALL ON public.private_t FROM PUBLIC;
-- A reader without pg_stat_scan_tables.
CREATE ROLE reader LOGIN;
GRANT SELECT ON events TO reader;
-- A rebuild in the history (through the worker).
CALL ntsb_perf.reindex_index('events_ev_id_key');
-- A scheduled view and a view whose refresh fails (hostile name).
SELECT ntsb_perf.create_accident_stats_view();
SELECT ntsb_perf.schedule_refresh('accident_stats_by_month', '0 3 * * *');
SELECT count(*) FROM ntsb_perf.refresh('accident_stats_by_month');
CREATE TABLE flaky (x int);
INSERT INTO flaky VALUES (1);
CREATE FUNCTION flaky_check(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
  $$BEGIN IF (SELECT count(*) FROM public.flaky) > 1 THEN RAISE EXCEPTION 'flaky <script>boom</script>'; END IF; RETURN $1; END$$;
CREATE MATERIALIZED VIEW "<b onmouseover=alert(2)>" AS SELECT flaky_check(x) AS x FROM flaky;
SELECT ntsb_perf.schedule_refresh('"<b onmouseover=alert(2)>"', '0 4 * * *', concurrently => false);
INSERT INTO flaky VALUES (2);
SELECT count(*) FROM ntsb_perf.refresh('"<b onmouseover=alert(2)>"');
ANALYZE;
SELECT pg_stat_force_next_flush();
SQL
# A database without PostGIS and pg_cron, whose events table has no geometry.
cluster_psql "$DIR" "$PORT" -d bare -q -c "CREATE EXTENSION ntsb_perf" \
    -c "CREATE TABLE events (event_date date, injury_severity text, total_fatalities int, total_injuries int, total_uninjured int)" \
    -c "INSERT INTO events VALUES ('2020-01-01', 'FATAL(1)', 1, 0, 0), ('2020-02-01', 'NON-FATAL', 0, 1, 2), ('2021-03-01', NULL, NULL, NULL, NULL)"

log "writing the reports"
t0=$(date +%s.%N)
psql_db -Atc "SELECT ntsb_perf.health_report(sample_pages => 50)" >"$OUT/report.html"
t1=$(date +%s.%N)
psql_db -Atc "SELECT ntsb_perf.health_report()" >"$OUT/report_exact.html"
psql_db -Atc "SELECT ntsb_perf.health_report('</style><script>')" >"$OUT/report_hostile_schema.html"
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -U reader -d "$DB" \
    -Atc "SELECT ntsb_perf.health_report(sample_pages => 50)" >"$OUT/report_reader.html"
cluster_psql "$DIR" "$PORT" -d bare -Atc "SELECT ntsb_perf.health_report()" >"$OUT/report_bare.html"
PGOPTIONS="-c search_path=pg_catalog" cluster_psql "$DIR" "$PORT" -d bare -Atc "SELECT ntsb_perf.health_report()" \
    >"$OUT/report_no_events.html"
python3 -c "import sys; print(f'  health_report(sample_pages => 50) on {sys.argv[1]} rows: {float(sys.argv[3]) - float(sys.argv[2]):.2f} s')" "$ROWS" "$t0" "$t1"

# The figures the page must show, from the reports' own SQL and from plain SQL, as JSON.
psql_db -At >"$OUT/expected.json" <<'SQL'
SELECT jsonb_build_object(
  'usage', (SELECT jsonb_agg(jsonb_build_object('schema', schema_name, 'index', index_name,
            'scans', idx_scan, 'bytes', index_bytes, 'size', index_size)) FROM ntsb_perf.index_usage()),
  'unused', (SELECT jsonb_agg(drop_statement) FROM ntsb_perf.unused_indexes()),
  'duplicates', (SELECT jsonb_agg(drop_statement) FROM ntsb_perf.duplicate_indexes()),
  'invalid', (SELECT jsonb_agg(drop_statement) FROM ntsb_perf.invalid_indexes()),
  'bloat', (SELECT jsonb_agg(jsonb_build_object('index', index_name, 'reclaimable', reclaimable_bytes))
            FROM ntsb_perf.index_bloat_report(NULL, 0, 50)),
  'years', (SELECT jsonb_agg(jsonb_build_object('year', y, 'accidents', n, 'fatal', f) ORDER BY y)
            FROM (SELECT extract(year FROM event_date)::int AS y, count(*) AS n,
                         count(*) FILTER (WHERE ntsb_perf.normalize_severity(injury_severity) = 'FATL') AS f
                  FROM events GROUP BY 1) s),
  'hotspots', (SELECT jsonb_agg(jsonb_build_object('rank', rank, 'accidents', accidents, 'fatal', fatal_accidents))
               FROM ntsb_perf.hotspot_cells((SELECT ntsb_perf.accident_hotspots(geom,
                    ntsb_perf.normalize_severity(injury_severity) = 'FATL', 50, 25) FROM events))),
  'reindex_done', (SELECT count(*) FROM ntsb_perf.reindex_history WHERE status = 'done'),
  'refresh_failed', (SELECT count(*) FROM ntsb_perf.refresh_log WHERE status = 'failed'));
SQL

# The GeoJSON, and each cell's points counted again by PostGIS from the polygon alone: points
# with west <= lon < east and south <= lat < north (the grid's half-open cells), and every
# point the polygon covers (edges included; more only for points exactly on an edge).
psql_db -Atc "SELECT ntsb_perf.hotspots_geojson(ntsb_perf.accident_hotspots(geom,
    ntsb_perf.normalize_severity(injury_severity) = 'FATL', 25, 200)) FROM events" >"$OUT/hotspots.geojson"
psql_db -At -v gj="$(cat "$OUT/hotspots.geojson")" >"$OUT/recount.json" <<'SQL'
WITH f AS (
    SELECT (feat->'properties'->>'rank')::int AS rank, (feat->'properties'->>'accidents')::bigint AS accidents,
           (feat->'properties'->>'fatal_accidents')::bigint AS fatal, ST_SetSRID(ST_GeomFromGeoJSON(feat->>'geometry'), 4326) AS poly
    FROM jsonb_array_elements((:'gj')::jsonb->'features') feat)
SELECT jsonb_agg(jsonb_build_object('rank', rank, 'accidents', accidents, 'fatal', fatal,
    'half_open', (SELECT count(*) FROM events e WHERE e.geom && f.poly
                  AND ST_X(e.geom) >= ST_XMin(f.poly) AND ST_X(e.geom) < ST_XMax(f.poly)
                  AND ST_Y(e.geom) >= ST_YMin(f.poly) AND ST_Y(e.geom) < ST_YMax(f.poly)),
    'half_open_fatal', (SELECT count(*) FROM events e WHERE e.geom && f.poly
                  AND ST_X(e.geom) >= ST_XMin(f.poly) AND ST_X(e.geom) < ST_XMax(f.poly)
                  AND ST_Y(e.geom) >= ST_YMin(f.poly) AND ST_Y(e.geom) < ST_YMax(f.poly)
                  AND ntsb_perf.normalize_severity(e.injury_severity) = 'FATL'),
    'covered', (SELECT count(*) FROM events e WHERE ST_Covers(f.poly, e.geom))) ORDER BY rank)
FROM f;
SQL

log "checking the reports (strict HTML5 parse, allowlist, escaping, figures, GeoJSON, Chromium)"
# Debian's python3 (python3-html5lib, python3-shapely, python3-geojson from scripts/setup.sh).
/usr/bin/python3 "$ROOT/tests/live/report_check.py" "$OUT"
