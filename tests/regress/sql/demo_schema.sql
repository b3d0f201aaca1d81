-- The seed schema from the demo, filled by the demo's generator: every report runs on it and
-- the freshly built seed indexes (B-tree, PostGIS GiST, BRIN) measure as unbloated.
-- (pg_regress feeds this file on standard input from tests/regress/, so paths are relative to it.)
SET client_min_messages = warning;
\set ECHO none
\i ../../demo/schema.sql
\set rows 30000
SELECT setseed(0.1) \gset
\set QUIET on
\i ../../demo/generate.sql
\i ../../demo/indexes.sql
\set QUIET off
\set ECHO all
-- The generator's shape: rows, share without coordinates (~17%), years 2000-2021. (Read by a
-- sequential scan: once autovacuum has marked the pages all-visible, PostgreSQL 18 reads
-- count(DISTINCT injury_severity) from an index-only scan, which the idx_scan below would count.)
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS rows,
       abs(100.0 * count(*) FILTER (WHERE geom IS NULL) / count(*) - 16.8) < 2 AS no_coords_share_ok,
       min(event_date) >= '2000-01-01' AND max(event_date) < '2021-03-01' AS years_ok,
       count(DISTINCT injury_severity) > 10 AS source_severity_codes
FROM events;
RESET enable_indexscan;
RESET enable_indexonlyscan;
RESET enable_bitmapscan;
SELECT index_name, access_method, bloat_ratio BETWEEN 0.95 AND 1.05 AS fresh_ratio_ok, method
FROM ntsb_perf.index_bloat_report('public', 0)
WHERE table_name = 'events' AND index_name LIKE 'idx%' ORDER BY index_name;
SELECT index_name, access_method, idx_scan FROM ntsb_perf.index_usage('public')
WHERE table_name = 'events' ORDER BY index_name;
-- Bloat on the demo schema: a copy of events with the same indexes (B-tree, PostGIS GiST, BRIN),
-- 70% of its rows deleted at random and vacuumed, then rebuilt.
CREATE TABLE events_bloat (LIKE events INCLUDING INDEXES);
INSERT INTO events_bloat SELECT * FROM events;
-- (indexes grown row by row are not a fresh build: rebuild them first)
REINDEX TABLE events_bloat;
SELECT index_name, access_method, bloat_ratio BETWEEN 0.95 AND 1.05 AS fresh_ratio_ok
FROM ntsb_perf.index_bloat_report('public', 0) WHERE table_name = 'events_bloat' ORDER BY index_name;
DELETE FROM events_bloat WHERE random() < 0.7;
VACUUM events_bloat;
SELECT index_name, access_method, bloat_ratio > 1.5 OR access_method = 'brin' AS bloated,
       reclaimable_bytes > 0 OR access_method = 'brin' AS reclaimable,
       avg_leaf_density < 50 OR access_method = 'brin' AS sparse
FROM ntsb_perf.index_bloat_report('public', 0) WHERE table_name = 'events_bloat' ORDER BY index_name;
REINDEX TABLE events_bloat;
SELECT index_name, access_method, bloat_ratio BETWEEN 0.95 AND 1.05 AS rebuilt_ratio_ok,
       reclaimable_bytes < index_bytes / 20 AS little_to_reclaim
FROM ntsb_perf.index_bloat_report('public', 0) WHERE table_name = 'events_bloat' ORDER BY index_name;
DROP TABLE events_bloat;
