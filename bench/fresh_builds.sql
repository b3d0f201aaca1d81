-- Calibration check: bloat_ratio of freshly built indexes of every access method over several
-- data shapes. A fresh build is not bloated, so every ratio should be 1.00 ± 0.05.
\set QUIET on
SET client_min_messages = warning;
SET max_parallel_maintenance_workers = 0;
SELECT setseed(0.7);
DROP SCHEMA IF EXISTS fresh CASCADE;
CREATE SCHEMA fresh;
CREATE TABLE fresh.a AS
SELECT g, ARRAY[g % 50, g % 7, g % 1000] AS arr, point(g % 997, g % 991) AS p,
       ST_SetSRID(ST_MakePoint(-125 + random() * 58, 25 + random() * 24), 4326) AS geom,
       to_tsvector('english', 'accident ' || (g % 500) || ' pilot ' || md5((g % 3000)::text)) AS tv,
       g * 7919 % 100003 AS n, md5(g::text) AS t, date '2000-01-01' + g / 30 AS d
FROM generate_series(1, :rows) g;
CREATE TABLE fresh.b AS
SELECT g, ARRAY[g % 3, g % 300, g % 30000] AS arr, point(random() * 100, random() * 100) AS p,
       ST_SetSRID(ST_MakePoint(-112 + random(), 33 + random()), 4326) AS geom,
       to_tsvector('simple', (ARRAY['fatal','minor','serious','none'])[1 + g % 4] || ' ' || (g % 5000)) AS tv,
       g % 10 AS n, (g % 20000)::text AS t, date '2020-01-01' + g % 366 AS d
FROM generate_series(1, :rows) g;
SELECT format($f$
    CREATE INDEX ON fresh.%1$s (n); CREATE INDEX ON fresh.%1$s (t);
    CREATE INDEX ON fresh.%1$s USING gist (geom); CREATE INDEX ON fresh.%1$s USING gist (p);
    CREATE INDEX ON fresh.%1$s USING spgist (p); CREATE INDEX ON fresh.%1$s USING spgist (t);
    CREATE INDEX ON fresh.%1$s USING gin (arr) WITH (fastupdate = off);
    CREATE INDEX ON fresh.%1$s USING gin (tv) WITH (fastupdate = off);
    CREATE INDEX ON fresh.%1$s USING hash (n); CREATE INDEX ON fresh.%1$s USING hash (t);
    CREATE INDEX ON fresh.%1$s USING brin (d)$f$, x) FROM unnest(ARRAY['a', 'b']) x \gexec
VACUUM ANALYZE fresh.a;
VACUUM ANALYZE fresh.b;
-- Few distinct keys over many rows (issue 13, item 14): hash duplicates pile into some buckets
-- (overflow chains) while others stay empty; B-tree deduplicates; GIN keeps long posting lists.
CREATE TABLE fresh.c AS
SELECT g, (g * 7919) % 500 AS k500, (g * 7919) % 1000 AS k1000, md5(((g * 7919) % 500)::text) AS t500,
       ARRAY[(g * 7919) % 500] AS a500
FROM generate_series(1, greatest(:rows, 200000)) g;
ANALYZE fresh.c;
CREATE INDEX ON fresh.c USING hash (k500); CREATE INDEX ON fresh.c USING hash (k1000);
CREATE INDEX ON fresh.c USING hash (t500); CREATE INDEX ON fresh.c (k500); CREATE INDEX ON fresh.c (t500);
CREATE INDEX ON fresh.c USING gin (a500) WITH (fastupdate = off);
VACUUM ANALYZE fresh.c;
\set QUIET off
SELECT table_name, index_name, access_method, total_pages, expected_bytes / 8192 AS expected_pages,
       bloat_ratio, bloat_ratio BETWEEN 0.95 AND 1.05 AS within_5pct
FROM ntsb_perf.index_bloat_report('fresh', 0) ORDER BY access_method, index_name;

-- Operator classes whose builds insert tuple by tuple (GiST without sort support, SP-GiST):
-- their fresh fill is a measured constant per operator class (opclass_fill). The first table is
-- the set it was measured on (150,000 rows, random order), the second an independent check
-- (80,000 rows, other distributions), the third keys in table order (fills less).
\set QUIET on
CREATE EXTENSION IF NOT EXISTS btree_gist;
SELECT setseed(0.1);
CREATE TABLE fresh.opc_calibration AS
SELECT point(random() * 1000, random() * 1000) AS p,
       int4range(((g::bigint * 7919 * 104729) % 1000000)::int, ((g::bigint * 7919 * 104729) % 1000000)::int + 1 + g % 100) AS r,
       ('10.' || (random() * 255)::int || '.' || (random() * 255)::int || '.' || (random() * 255)::int)::inet AS ip,
       (random() * 1e9)::int AS i,
       to_tsvector('english', 'aircraft ' || md5(g::text) || ' engine ' || (g % 300) || ' runway') AS tv
FROM generate_series(1, 150000) g;
SELECT setseed(0.77);
CREATE TABLE fresh.opc_check AS
SELECT point(500 + 100 * sqrt(-2 * ln(random())) * cos(2 * pi() * random()),
             300 + 50 * sqrt(-2 * ln(random())) * cos(2 * pi() * random())) AS p,
       int4range(x, x + 1 + (random() * 5000)::int) AS r,
       ('172.' || (16 + (random() * 15)::int) || '.' || (random() * 255)::int || '.' || (random() * 255)::int)::inet AS ip,
       (random() * 1e5)::int AS i,
       to_tsvector('english', 'pilot ' || (random() * 10000)::int || ' landing gear ' || md5((g * 3)::text)) AS tv
FROM (SELECT g, (random() * 1e7)::int AS x FROM generate_series(1, 80000) g) s;
CREATE TABLE fresh.opc_ordered AS
SELECT point(g % 997, g % 991) AS p, int4range(g * 10, g * 10 + 15) AS r,
       ('10.' || (g / 65536) % 256 || '.' || (g / 256) % 256 || '.' || g % 256)::inet AS ip, g AS i,
       to_tsvector('english', 'aircraft ' || md5(g::text)) AS tv
FROM generate_series(1, 150000) g;
SELECT format($f$
    CREATE INDEX ON fresh.%1$s USING gist (box(p, p)); CREATE INDEX ON fresh.%1$s USING gist (circle(p, 1));
    CREATE INDEX ON fresh.%1$s USING gist (r); CREATE INDEX ON fresh.%1$s USING gist (ip inet_ops);
    CREATE INDEX ON fresh.%1$s USING gist (i); CREATE INDEX ON fresh.%1$s USING gist (tv);
    CREATE INDEX ON fresh.%1$s USING spgist (p); CREATE INDEX ON fresh.%1$s USING spgist (p kd_point_ops);
    CREATE INDEX ON fresh.%1$s USING spgist (r); CREATE INDEX ON fresh.%1$s USING spgist (ip);
    CREATE INDEX ON fresh.%1$s USING spgist (box(p, p))$f$, x)
FROM unnest(ARRAY['opc_calibration', 'opc_check', 'opc_ordered']) x \gexec
\set QUIET off
SELECT table_name, index_name, access_method, details->>'fresh_build' AS fresh_build,
       details->>'fresh_leaf_fill' AS fresh_leaf_fill, bloat_ratio,
       bloat_ratio BETWEEN 0.95 AND 1.05 AS within_5pct
FROM ntsb_perf.index_bloat_report('fresh', 0) WHERE table_name LIKE 'opc%'
ORDER BY table_name, access_method, index_name;

-- PostGIS SP-GiST (2-D, n-D, geography): fresh fill 0.81, the mean of four builds (uniform and
-- clustered points, a sample of the events, small polygons). Here: points in other shapes and
-- sizes, lines, and points in table order (fills less, as for the other operator classes).
\set QUIET on
SELECT setseed(0.3);
CREATE TABLE fresh.pg_events AS
SELECT geom FROM events WHERE geom IS NOT NULL ORDER BY random() LIMIT 30000;
CREATE TABLE fresh.pg_world AS
SELECT ST_SetSRID(ST_MakePoint(-180 + random() * 360, -60 + random() * 130), 4326) AS geom
FROM generate_series(1, 200000);
CREATE TABLE fresh.pg_lines AS
SELECT ST_MakeLine(geom, ST_Translate(geom, random() * 0.5, random() * 0.5)) AS geom FROM fresh.pg_events;
CREATE TABLE fresh.pg_ordered AS
SELECT ST_SetSRID(ST_MakePoint(-125 + (g % 997) * 0.05, 25 + (g / 997) * 0.05), 4326) AS geom
FROM generate_series(1, 150000) g;
SELECT format($f$
    CREATE INDEX ON fresh.%1$s USING spgist (geom);
    CREATE INDEX ON fresh.%1$s USING spgist (geom spgist_geometry_ops_nd);
    CREATE INDEX ON fresh.%1$s USING spgist ((geom::geography))$f$, x)
FROM unnest(ARRAY['pg_events', 'pg_world', 'pg_lines', 'pg_ordered']) x \gexec
\set QUIET off
SELECT table_name, index_name, details->>'fresh_leaf_fill' AS fresh_leaf_fill, bloat_ratio,
       bloat_ratio BETWEEN 0.95 AND 1.05 AS within_5pct
FROM ntsb_perf.index_bloat_report('fresh', 0) WHERE table_name LIKE 'pg\_%'
ORDER BY table_name, index_name;
