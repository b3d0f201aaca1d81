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
\set QUIET off
SELECT table_name, index_name, access_method, total_pages, expected_bytes / 8192 AS expected_pages,
       bloat_ratio, bloat_ratio BETWEEN 0.95 AND 1.05 AS within_5pct
FROM ntsb_perf.index_bloat_report('fresh', 0) ORDER BY access_method, index_name;
