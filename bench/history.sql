-- H1: snapshot_indexes() with its defaults (an index of at most 1024 pages read exactly, a
-- larger one from a sample grown until the density's 95% interval is within ±1 point) against
-- an exact scan of the same indexes (index_bloat_report(NULL, 0): every valid index outside the
-- system schemas), medians of :rounds interleaved rounds (pg_temp.vs). Goals: time <= 1/20 of
-- the exact scan, pages read <= 1/20 of the pages, and each index's density within 2 points of
-- the exact one. Every snapshot of the rounds (the warm-up's too) appends its rows to
-- ntsb_perf.index_history, and the density check uses all of them; a sampled index reads the
-- same pages at every snapshot while it does not change (the sample is seeded by its OID), so
-- the rounds repeat one estimate per index rather than draw new ones. The indexes of
-- index_history itself grow with every snapshot: they are listed, but left out of the density
-- check (the exact scan after the rounds sees them larger than every snapshot did).
\set QUIET on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
\ir timing.sql
CREATE TEMP TABLE results (bench text, what text, ours numeric, anchor numeric, ratio numeric, goal text);
SELECT clock_timestamp() AS h1_start \gset

INSERT INTO results
SELECT 'H1', 'snapshot_indexes() / index_bloat_report(NULL, 0) exact, ms', round(q_ms::numeric, 1),
       round(a_ms::numeric, 1), round((q_ms / a_ms)::numeric, 4), '<= 0.05'
FROM pg_temp.vs($$SELECT * FROM ntsb_perf.snapshot_indexes()$$,
                $$SELECT count(*) FROM ntsb_perf.index_bloat_report(NULL, 0)$$, :rounds);

-- For reference: the measurement alone (_snapshot_measure, what snapshot_indexes calls before it
-- writes the history rows), against the same anchor.
INSERT INTO results
SELECT 'H1ref', '_snapshot_measure(NULL) alone / index_bloat_report(NULL, 0) exact, ms, for reference',
       round(q_ms::numeric, 1), round(a_ms::numeric, 1), round((q_ms / a_ms)::numeric, 4), '(none)'
FROM pg_temp.vs($$SELECT count(*) FROM ntsb_perf._snapshot_measure(NULL)$$,
                $$SELECT count(*) FROM ntsb_perf.index_bloat_report(NULL, 0)$$, :rounds);

-- The floor, for reference: what any tool that opens each of these indexes pays before it has
-- measured anything (lock, open, its first page through shared buffers, close: pg_prewarm of
-- block 0), against the same anchor. No snapshot can cost less than this plus its writes.
INSERT INTO results
SELECT 'H1floor', 'pg_prewarm(index, buffer, main, 0, 0) of each index / index_bloat_report(NULL, 0) exact, ms, for reference',
       round(q_ms::numeric, 1), round(a_ms::numeric, 1), round((q_ms / a_ms)::numeric, 4), '(none)'
FROM pg_temp.vs($$SELECT count(pg_prewarm(c.oid::regclass, 'buffer', 'main', 0, 0))
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
                  WHERE c.relkind = 'i' AND i.indisvalid AND c.relpersistence <> 't'
                    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'$$,
                $$SELECT count(*) FROM ntsb_perf.index_bloat_report(NULL, 0)$$, :rounds);

-- Bookkeeping per index (issue 27: at most 20 µs): what the snapshot costs beyond measuring
-- (listing, rebinding, the history rows with their definitions, counters and indexes,
-- retention), over the number of indexes it measures.
INSERT INTO results
SELECT 'H1', format('bookkeeping per index: (snapshot - _snapshot_measure alone) / %s indexes, µs', c.n),
       round((s.ours - r.ours) * 1000 / c.n, 1), NULL, NULL, '<= 20 (issue 27)'
FROM results s, results r, (SELECT count(*) AS n FROM ntsb_perf._snapshot_measure(NULL)) c
WHERE s.bench = 'H1' AND s.what LIKE 'snapshot_indexes()%' AND r.bench = 'H1ref';

-- The exact figures (nothing writes to the database during H1, so this is the state every
-- snapshot of the rounds measured).
CREATE TEMP TABLE h1_exact AS
SELECT format('%I.%I', schema_name, index_name) AS index_name, access_method, total_pages, avg_leaf_density,
       bloat_ratio, method, pages_read
FROM ntsb_perf.index_bloat_report(NULL, 0);
CREATE TEMP TABLE h1_snap AS
SELECT h.* FROM ntsb_perf.index_history h WHERE h.taken_at >= :'h1_start' AND NOT h.rebuild;

-- Per snapshot: pages read over the pages of the indexes it measured.
CREATE TEMP TABLE h1_pages AS
SELECT taken_at, count(*) AS indexes, count(method) AS measured, sum(pages_read) AS pages_read,
       sum(index_bytes / current_setting('block_size')::int) AS total_pages
FROM h1_snap GROUP BY taken_at;

\set QUIET off
-- Each index: the last snapshot's density and the worst of all the snapshots against the exact scan.
SELECT 'H1' AS bench, e.index_name AS index, e.access_method AS am, e.total_pages AS pages,
       string_agg(DISTINCT s.method, '/') AS method, min(s.pages_read) || '..' || max(s.pages_read) AS pages_read,
       round((array_agg(s.avg_leaf_density ORDER BY s.taken_at DESC))[1]::numeric, 2) AS snapshot_density,
       round(e.avg_leaf_density::numeric, 2) AS exact_density,
       round((array_agg(s.avg_leaf_density ORDER BY s.taken_at DESC))[1]::numeric - e.avg_leaf_density::numeric, 2)
           AS difference,
       round(max(abs(s.avg_leaf_density - e.avg_leaf_density))::numeric, 2) AS worst_of_snapshots,
       count(s.*) AS snapshots,
       CASE WHEN min(s.table_name) = 'ntsb_perf.index_history' THEN 'written by the snapshots: not checked' END AS note
FROM h1_exact e LEFT JOIN h1_snap s ON s.index_name = e.index_name
GROUP BY e.index_name, e.access_method, e.total_pages, e.avg_leaf_density
ORDER BY e.total_pages, e.index_name;
-- The two sides measure the same set of indexes (index names present on one side only).
SELECT 'H1' AS bench, 'only in the exact scan' AS side, index_name FROM h1_exact
WHERE index_name NOT IN (SELECT index_name FROM h1_snap)
UNION ALL
SELECT 'H1', 'only in the snapshots', index_name FROM h1_snap
WHERE index_name NOT IN (SELECT index_name FROM h1_exact) GROUP BY index_name;
\set QUIET on

INSERT INTO results
SELECT 'H1', format('pages read / pages, median of %s snapshots (max %s)', count(*),
                    round(max(pages_read::numeric / total_pages), 4)),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY pages_read), percentile_cont(0.5) WITHIN GROUP (ORDER BY total_pages),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY pages_read::float8 / total_pages)::numeric, 4), '<= 0.05'
FROM h1_pages;
INSERT INTO results
SELECT 'H1', format('max |snapshot - exact density| over %s indexes with a density (%s sampled) x %s snapshots, points',
                    count(DISTINCT e.index_name) FILTER (WHERE e.avg_leaf_density IS NOT NULL),
                    count(DISTINCT e.index_name) FILTER (WHERE s.method = 'sampled'), count(DISTINCT s.taken_at)),
       round(max(abs(s.avg_leaf_density - e.avg_leaf_density))::numeric, 2), NULL, NULL, '<= 2'
FROM h1_exact e JOIN h1_snap s ON s.index_name = e.index_name
WHERE s.table_name <> 'ntsb_perf.index_history';
\set QUIET off
SELECT * FROM results ORDER BY bench;
