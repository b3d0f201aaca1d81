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
