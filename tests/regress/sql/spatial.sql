-- accidents_near: true distances (metres), the GiST index is used, same rows as a brute-force
-- query; bad input; a database without PostGIS gets a clear error.
SET client_min_messages = warning;
SET search_path = src, public;
CREATE INDEX acc_geom_gist ON accidents_src USING gist (geom);
ANALYZE accidents_src;
CREATE TEMP TABLE probe (name text, lon float8, lat float8, km float8);
INSERT INTO probe VALUES ('Phoenix 50 km', -112.07, 33.45, 50), ('Anchorage 30 km', -149.9, 61.2, 30),
                         ('Denver 100 km', -104.99, 39.74, 100), ('mid-Pacific 10 km', -150, 0, 10);
SELECT p.name,
       (SELECT count(*) FROM ntsb_perf.accidents_near('accidents_src', p.lon, p.lat, p.km)) =
       (SELECT count(*) FROM accidents_src a
        WHERE ST_DWithin(a.geom::geography, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography, p.km * 1000))
         AS same_count_as_brute_force,
       NOT EXISTS (
         SELECT id, round(distance_m::numeric, 3) FROM ntsb_perf.accidents_near('accidents_src', p.lon, p.lat, p.km)
         EXCEPT
         SELECT a.id, round(ST_Distance(a.geom::geography, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography)::numeric, 3)
         FROM accidents_src a
         WHERE ST_DWithin(a.geom::geography, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography, p.km * 1000))
         AS same_rows_and_distances,
       (SELECT coalesce(max(distance_m), 0) <= p.km * 1000 FROM ntsb_perf.accidents_near('accidents_src', p.lon, p.lat, p.km))
         AS within_radius
FROM probe p ORDER BY p.name;
SELECT count(*) > 0 AS phoenix_has_accidents FROM ntsb_perf.accidents_near('accidents_src', -112.07, 33.45, 50);
-- The plan uses the GiST index (EXPLAIN of the query accidents_near runs) ...
SELECT ntsb_perf.accidents_near_plan('accidents_src', -112.07, 33.45, 50)::text LIKE '%"Index Name": "acc_geom_gist"%'
       AS plan_uses_gist;
-- ... and so does the call itself (the index's scan counter of this transaction moves).
BEGIN;
SELECT pg_stat_get_xact_numscans('acc_geom_gist'::regclass) AS before \gset
SELECT count(*) >= 0 AS ran FROM ntsb_perf.accidents_near('accidents_src', -112.07, 33.45, 50);
SELECT pg_stat_get_xact_numscans('acc_geom_gist'::regclass) > :before AS gist_scanned;
COMMIT;

-- Bad input.
\set VERBOSITY terse
SELECT * FROM ntsb_perf.accidents_near('accidents_src', 33.45, -112.07, 50);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.accidents_near('accidents_src', -112.07, 33.45, 0);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.accidents_near('accidents_src', NULL, 33.45, 10);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.accidents_near('accidents_src', -112.07, 33.45, 10, 'no_such_column');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.accidents_near('accidents_src', -112.07, 33.45, 10, 'ev_id');
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE TABLE mercator (id int, geom geometry(Point, 3857));
SELECT * FROM ntsb_perf.accidents_near('mercator', -112.07, 33.45, 10);
\echo sqlstate :LAST_ERROR_SQLSTATE
DROP TABLE mercator;
\set VERBOSITY default
-- accident_hotspots: the same cells, counts and order as the grid computed in plain SQL
-- (Lambert cylindrical equal-area: x = R·lon, y = R·sin(lat), R = 6371.0072 km, 25 km cells).
CREATE TEMP VIEW sql_cells AS
SELECT i, j, count(*) AS accidents, count(*) FILTER (WHERE injury_severity LIKE 'FATAL%') AS fatal
FROM (SELECT floor(6371.0072 * radians(ST_X(geom)) / 25)::bigint AS i,
             floor(6371.0072 * sin(radians(ST_Y(geom))) / 25)::bigint AS j, injury_severity
      FROM accidents_src WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom)) p
GROUP BY i, j;
CREATE TEMP TABLE ours_hot AS
SELECT ntsb_perf.accident_hotspots(geom, injury_severity LIKE 'FATAL%') AS h FROM accidents_src;
SELECT (SELECT array_agg(ARRAY[accidents, fatal_accidents] ORDER BY rank) FROM ntsb_perf.hotspot_cells((SELECT h FROM ours_hot)))
     = (SELECT array_agg(ARRAY[accidents, fatal] ORDER BY accidents DESC, fatal DESC, i, j)
        FROM (SELECT * FROM sql_cells ORDER BY accidents DESC, fatal DESC, i, j LIMIT 20) t) AS same_top20,
       (SELECT bool_and(abs(c.lon - degrees((t.i + 0.5) * 25 / 6371.0072)) < 1e-5
                    AND abs(c.lat - degrees(asin((t.j + 0.5) * 25 / 6371.0072))) < 1e-5)
        FROM ntsb_perf.hotspot_cells((SELECT h FROM ours_hot)) c
        JOIN (SELECT row_number() OVER (ORDER BY accidents DESC, fatal DESC, i, j) AS rank, i, j
              FROM sql_cells) t USING (rank)) AS same_centres,
       ((SELECT h FROM ours_hot)->>'skipped_null')::bigint = (SELECT count(*) FROM accidents_src WHERE geom IS NULL)
         AS null_geometries_counted,
       jsonb_array_length((SELECT h FROM ours_hot)->'cells') = (SELECT least(20, count(*)) FROM sql_cells)
         AS twenty_cells_by_default;
SELECT jsonb_array_length(ntsb_perf.accident_hotspots(geom, false, 100, 5)->'cells')
         = least(5, count(DISTINCT ARRAY[floor(6371.0072 * radians(ST_X(geom)) / 100), floor(6371.0072 * sin(radians(ST_Y(geom))) / 100)])
                    FILTER (WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom))) AS five_cells_when_asked,
       (SELECT sum(accidents) FROM ntsb_perf.hotspot_cells(ntsb_perf.accident_hotspots(geom, false, 20000, 1000)))
         = count(geom) AS one_huge_cell_holds_all
FROM accidents_src;
-- Parallel and serial agree.
SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT (SELECT ntsb_perf.accident_hotspots(geom, injury_severity LIKE 'FATAL%') FROM accidents_src)
     = (SELECT h FROM ours_hot) AS parallel_equals_serial;
SELECT (plan)::text LIKE '%Partial%' AS partial_aggregate
FROM ntsb_perf.explain_query('SELECT ntsb_perf.accident_hotspots(geom, true) FROM accidents_src', false);
RESET max_parallel_workers_per_gather; RESET parallel_setup_cost; RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
-- Empty group, empty and NULL geometries, bad input.
SELECT ntsb_perf.accident_hotspots(geom, true) IS NULL AS empty_group_is_null FROM accidents_src WHERE false;
SELECT ntsb_perf.accident_hotspots(g, NULL) - 'cell_km' AS counted
FROM (VALUES (NULL::geometry), ('POINT EMPTY'::geometry), ('LINESTRING(0 0, 1 1)'::geometry),
             ('SRID=4326;POINT(-112 33)'::geometry)) v(g);
\set VERBOSITY terse
SELECT ntsb_perf.accident_hotspots(g, true) FROM (VALUES ('SRID=3857;POINT(1 1)'::geometry)) v(g);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.accident_hotspots(g, true, -1) FROM (VALUES ('POINT(1 1)'::geometry)) v(g);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.accident_hotspots(x, true) FROM (VALUES (1)) v(x);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- Without PostGIS: a clear error naming the extension.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_exec(format('host=%s port=%s dbname=%s user=%s', current_setting('unix_socket_directories'),
       current_setting('port'), current_database(), current_user), 'CREATE DATABASE ntsb_no_postgis');
SELECT dblink_connect('np', format('host=%s port=%s dbname=ntsb_no_postgis user=%s',
       current_setting('unix_socket_directories'), current_setting('port'), current_user));
SELECT dblink_exec('np', 'CREATE EXTENSION ntsb_perf');
SELECT dblink_exec('np', 'CREATE TABLE t (id int)');
SELECT * FROM dblink('np', $$SELECT * FROM ntsb_perf.accidents_near('t', 0, 0, 1)$$) AS r(id bigint, d float8);
SELECT dblink_disconnect('np');
SELECT dblink_exec(format('host=%s port=%s dbname=%s user=%s', current_setting('unix_socket_directories'),
       current_setting('port'), current_database(), current_user), 'DROP DATABASE ntsb_no_postgis');
DROP INDEX acc_geom_gist;
