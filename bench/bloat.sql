-- P1-P3: index_bloat() against its anchors, measured in this run (medians of interleaved
-- rounds). Expects the seed schema loaded with :rows generated events. P1 and P2 run with the
-- defaults (indexes of 128 MB and more are read by the backend and parallel workers).
\set QUIET on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgstattuple;
CREATE EXTENSION IF NOT EXISTS pg_prewarm;

\ir timing.sql

CREATE TEMP TABLE results (bench text, what text, ours_ms numeric, anchor_ms numeric, ratio numeric, goal text);

-- P1: exact B-tree scan vs pgstatindex() on the same index.
INSERT INTO results
SELECT 'P1', 'index_bloat(idx_events_event_date) exact / pgstatindex()', round(q_ms::numeric, 1), round(a_ms::numeric, 1),
       round((q_ms / a_ms)::numeric, 3), '<= 1.0'
FROM pg_temp.vs($$SELECT * FROM ntsb_perf.index_bloat('idx_events_event_date')$$,
                $$SELECT * FROM pgstatindex('idx_events_event_date')$$, :rounds);

-- P1 by index: the same ratio on every B-tree index of events, with the defaults (indexes of
-- 128 MB and more get a parallel worker; smaller ones are read by one process).
CREATE TEMP TABLE p1_by_index AS
SELECT c.oid::regclass AS idx, pg_relation_size(c.oid) / 8192 AS pages
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
WHERE i.indrelid = 'events'::regclass AND am.amname = 'btree';
ALTER TABLE p1_by_index ADD workers int, ADD ours_ms float8, ADD pgstatindex_ms float8;
DO $$
DECLARE r record; v record;
BEGIN
    FOR r IN SELECT * FROM p1_by_index LOOP
        SELECT * INTO v FROM pg_temp.vs(
            format('SELECT * FROM ntsb_perf.index_bloat(%L)', r.idx),
            format('SELECT * FROM pgstatindex(%L)', r.idx), 7);
        UPDATE p1_by_index SET ours_ms = v.q_ms, pgstatindex_ms = v.a_ms,
               workers = (SELECT (details->>'parallel_workers')::int FROM ntsb_perf.index_bloat(r.idx))
        WHERE idx = r.idx;
    END LOOP;
END $$;
\set QUIET off
SELECT 'P1' AS bench, idx AS index, pages, pg_size_pretty(pages * 8192) AS size, workers,
       round(ours_ms::numeric, 1) AS ours_ms, round(pgstatindex_ms::numeric, 1) AS pgstatindex_ms,
       round((ours_ms / pgstatindex_ms)::numeric, 3) AS ratio
FROM p1_by_index ORDER BY pages;
\set QUIET on

-- P2: exact GiST scan vs reading the same pages with pg_prewarm(..., 'read').
INSERT INTO results
SELECT 'P2', 'index_bloat(idx_events_geom) exact / pg_prewarm(read)', round(q_ms::numeric, 1), round(a_ms::numeric, 1),
       round((q_ms / a_ms)::numeric, 3), '<= 1.5'
FROM pg_temp.vs($$SELECT * FROM ntsb_perf.index_bloat('idx_events_geom')$$,
                $$SELECT pg_prewarm('idx_events_geom', 'read')$$, :rounds);

-- P1's index (69 MB) is under the 128 MB default of ntsb_perf.bloat_parallel_min_pages, so P1
-- is one process; for reference, P1 again with one worker forced (threshold lowered to 8 MB),
-- and P2 with parallel workers turned off.
SET ntsb_perf.bloat_parallel_min_pages = '8MB';
INSERT INTO results
SELECT 'P1worker', 'P1 with a worker (bloat_parallel_min_pages 8MB), for reference', round(q_ms::numeric, 1), round(a_ms::numeric, 1),
       round((q_ms / a_ms)::numeric, 3), '(none)'
FROM pg_temp.vs($$SELECT * FROM ntsb_perf.index_bloat('idx_events_event_date')$$,
                $$SELECT * FROM pgstatindex('idx_events_event_date')$$, :rounds);
RESET ntsb_perf.bloat_parallel_min_pages;
SET max_parallel_maintenance_workers = 0;
INSERT INTO results
SELECT 'P2serial', 'P2 with max_parallel_maintenance_workers = 0, for reference', round(q_ms::numeric, 1), round(a_ms::numeric, 1),
       round((q_ms / a_ms)::numeric, 3), '(none)'
FROM pg_temp.vs($$SELECT * FROM ntsb_perf.index_bloat('idx_events_geom')$$,
                $$SELECT pg_prewarm('idx_events_geom', 'read')$$, :rounds);
RESET max_parallel_maintenance_workers;

-- Reference for P2: pgstattuple() (which also reads GiST through the buffer manager).
INSERT INTO results
SELECT 'P2ref', 'pgstattuple(idx_events_geom) / pg_prewarm(read), for reference', round(q_ms::numeric, 1), round(a_ms::numeric, 1),
       round((q_ms / a_ms)::numeric, 3), '(none)'
FROM pg_temp.vs($$SELECT * FROM pgstattuple('idx_events_geom')$$,
                $$SELECT pg_prewarm('idx_events_geom', 'read')$$, :rounds);

-- P3: 1% sample vs exact over 5 differently bloated indexes (0..80% of rows deleted).
SELECT setseed(0.5);
CREATE TABLE bloat_bench AS
SELECT (g % 5) AS bucket, (random() * 1e9)::int AS v FROM generate_series(1, :rows) g;
SELECT format('CREATE INDEX bloat_bench_%s ON bloat_bench (v) WHERE bucket = %s', k, k)
FROM generate_series(0, 4) k \gexec
DELETE FROM bloat_bench WHERE random() < bucket * 0.2;
VACUUM bloat_bench;
CREATE TEMP TABLE p3 AS
SELECT k, (SELECT ceil(pg_relation_size(format('bloat_bench_%s', k)) / 8192 * 0.01)::int) AS sample_pages
FROM generate_series(0, 4) k;
ALTER TABLE p3 ADD exact_ms float8, ADD sampled_ms float8, ADD exact_density float8,
              ADD sampled_density float8, ADD ci text;
DO $$
DECLARE r record; v record;
BEGIN
    FOR r IN SELECT * FROM p3 LOOP
        SELECT * INTO v FROM pg_temp.vs(
            format('SELECT * FROM ntsb_perf.index_bloat(%L, %s)', 'bloat_bench_' || r.k, r.sample_pages),
            format('SELECT * FROM ntsb_perf.index_bloat(%L)', 'bloat_bench_' || r.k), 5);
        UPDATE p3 SET sampled_ms = v.q_ms, exact_ms = v.a_ms WHERE k = r.k;
        UPDATE p3 SET exact_density = (SELECT avg_leaf_density FROM ntsb_perf.index_bloat('bloat_bench_' || r.k)),
                      (sampled_density, ci) = (SELECT avg_leaf_density, density_ci_low || '..' || density_ci_high
                                               FROM ntsb_perf.index_bloat('bloat_bench_' || r.k, r.sample_pages))
        WHERE k = r.k;
    END LOOP;
END $$;
\set QUIET off
SELECT 'P3' AS bench, 'bloat_bench_' || k AS index, k * 20 || '%' AS deleted, sample_pages,
       round(sampled_ms::numeric, 2) AS sampled_ms, round(exact_ms::numeric, 2) AS exact_ms,
       round((sampled_ms / exact_ms)::numeric, 4) AS time_ratio, exact_density, sampled_density, ci,
       round(abs(sampled_density - exact_density)::numeric, 2) AS density_error
FROM p3 ORDER BY k;
INSERT INTO results
SELECT 'P3', '1% sample / exact, worst of 5 indexes', round(max(sampled_ms)::numeric, 2), round(min(exact_ms)::numeric, 2),
       round(max(sampled_ms / exact_ms)::numeric, 4), '<= 0.05, density error <= 2 (max ' ||
       round(max(abs(sampled_density - exact_density))::numeric, 2) || ')'
FROM p3;
SELECT * FROM results ORDER BY bench;
