-- accident_hotspots / accidents_near against hostile input.
SET client_min_messages = warning;
-- 2. A look-alike geometry type and ST_AsEWKB returning int, made by an unprivileged role on its
-- own search_path, used to crash the aggregate; now PostGIS's objects are found through the
-- extension's members, so the look-alike is just another type (42804).
CREATE ROLE geo_nobody NOLOGIN;
CREATE SCHEMA lookalike AUTHORIZATION geo_nobody;
SET ROLE geo_nobody;
CREATE TYPE lookalike.geometry AS (x int);
CREATE FUNCTION lookalike.st_asewkb(lookalike.geometry) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
CREATE FUNCTION lookalike.st_asewkb(public.geometry) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 2';
CREATE TABLE lookalike.t (id int, geom lookalike.geometry);
INSERT INTO lookalike.t VALUES (1, ROW(1));
SET search_path = lookalike, public;
\set VERBOSITY terse
SELECT ntsb_perf.accident_hotspots(geom, true) FROM lookalike.t;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.accidents_near('lookalike.t', 0, 0, 10);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- PostGIS's own geometry still works for that role, through PostGIS's ST_AsEWKB, not the one
-- that shadows it on the search_path.
SELECT ntsb_perf.accident_hotspots(g, true) - 'cell_km' AS counted
FROM (VALUES ('SRID=4326;POINT(-112 33)'::public.geometry)) v(g);
RESET ROLE;
RESET search_path;

-- With only pg_catalog on the search_path both functions still find PostGIS (they used to give
-- 42804 and 42883), and agree with plain SQL.
SET search_path = pg_catalog;
SELECT (SELECT count(*) FROM ntsb_perf.accidents_near('src.accidents_src', -112.07, 33.45, 50))
     = (SELECT count(*) FROM src.accidents_src a
        WHERE public.ST_DWithin(a.geom::public.geography,
              public.ST_SetSRID(public.ST_MakePoint(-112.07, 33.45), 4326)::public.geography, 50000))
       AS near_same_count,
       (SELECT count(*) > 0 FROM ntsb_perf.accidents_near('src.accidents_src', -112.07, 33.45, 50)) AS near_found_some;
SELECT (SELECT sum(accidents) FROM ntsb_perf.hotspot_cells(
            (SELECT ntsb_perf.accident_hotspots(geom, false, 100, 100000) FROM src.accidents_src)))
     = (SELECT count(*) FROM src.accidents_src WHERE geom IS NOT NULL
        AND public.ST_X(geom) BETWEEN -180 AND 180 AND public.ST_Y(geom) BETWEEN -90 AND 90) AS hotspots_count_every_point;
RESET search_path;

-- 10. Places off the Earth are skipped and counted, not folded into a real cell; every
-- non-point type is counted as skipped_not_point instead of stopping the aggregate.
SELECT jsonb_pretty(ntsb_perf.accident_hotspots(g, true, 25, 10)) AS hotspots
FROM (VALUES ('POINT(10 80)'::geometry), ('POINT(10 100)'), ('POINT(500 100)'),
             ('POINT(-12467783 3970000)'), ('SRID=4326;POINT(180 90)'), ('SRID=4326;POINT(-180 -90)'),
             ('CIRCULARSTRING(0 0,1 1,2 0)'), ('TRIANGLE((0 0,0 1,1 1,0 0))'),
             ('TIN(((0 0 0,0 0 1,0 1 0,0 0 0)))'), ('POLYHEDRALSURFACE(((0 0 0,0 1 0,1 1 0,0 0 0)))'),
             ('COMPOUNDCURVE((0 0,1 1))'), ('CURVEPOLYGON(CIRCULARSTRING(0 0,1 1,2 0,1 -1,0 0))'),
             ('MULTICURVE((0 0,1 1))'), ('MULTISURFACE(((0 0,0 1,1 1,0 0)))'),
             ('GEOMETRYCOLLECTION(CIRCULARSTRING(0 0,1 1,2 0))'), ('POINT Z (-112 33 1000)'),
             ('MULTIPOINT EMPTY'), ('GEOMETRYCOLLECTION EMPTY'), ('POINT EMPTY'), (NULL)) v(g);
-- cell_km has bounds (1e-300 merged distant points before); a projected SRID is 22023 with a hint.
\set VERBOSITY terse
SELECT ntsb_perf.accident_hotspots(g, true, 1e-300) FROM (VALUES ('POINT(1 1)'::geometry)) v(g);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.accident_hotspots(g, true, 20001) FROM (VALUES ('POINT(1 1)'::geometry)) v(g);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.accident_hotspots(g, true, 'NaN') FROM (VALUES ('POINT(1 1)'::geometry)) v(g);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.accident_hotspots(g, true, 25, 0) FROM (VALUES ('POINT(1 1)'::geometry)) v(g);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT ntsb_perf.accident_hotspots(g, true) FROM (VALUES ('SRID=3857;POINT(-12467783 3970000)'::geometry)) v(g);
-- 10 m cells keep points 20 m apart apart.
SELECT jsonb_array_length(ntsb_perf.accident_hotspots(g, false, 0.01, 10)->'cells') AS cells
FROM (VALUES ('POINT(-112.0700 33.45)'::geometry), ('POINT(-112.0702 33.45)')) v(g);

DROP SCHEMA lookalike CASCADE;
DROP ROLE geo_nobody;
