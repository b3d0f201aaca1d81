-- P7 checks after auto_reindex under load (scripts/bench.sh runs this with :committed, the
-- transactions pgbench committed), and the worker against psql's own REINDEX CONCURRENTLY.
\pset footer off
SELECT count(*) = :committed AS inserted_rows_equal_committed, count(*) AS p7_rows
FROM events WHERE ev_id LIKE 'P7-%';
-- Reclaimed bytes vs predicted_reclaim, every index rebuilt here: goal within 10% each.
SELECT index_name, status, pg_size_pretty(bytes_before) AS before, pg_size_pretty(bytes_after) AS after,
       pg_size_pretty(predicted_reclaim) AS predicted, pg_size_pretty(bytes_before - bytes_after) AS reclaimed,
       round(((bytes_before - bytes_after)::numeric / nullif(predicted_reclaim, 0)), 3) AS reclaimed_over_predicted,
       abs((bytes_before - bytes_after) - predicted_reclaim) <= 0.1 * predicted_reclaim AS within_10pct,
       date_trunc('milliseconds', duration) AS duration
FROM ntsb_perf.reindex_history WHERE triggered_by = 'auto' ORDER BY id;
-- amcheck on every rebuilt B-tree (heapallindexed), a forced GiST scan = a sequential scan.
SELECT c.relname AS btree, bt_index_check(c.oid, true)::text = '' AS amcheck_ok
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
WHERE i.indrelid = 'events'::regclass AND a.amname = 'btree' ORDER BY 1;
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*) AS gist_index_scan FROM events WHERE geom && ST_MakeEnvelope(-120, 30, -100, 45, 4326) \gset
RESET enable_seqscan; RESET enable_bitmapscan;
SET enable_indexscan = off; SET enable_bitmapscan = off;
SELECT count(*) = :gist_index_scan AS gist_scan_equals_seqscan
FROM events WHERE geom && ST_MakeEnvelope(-120, 30, -100, 45, 4326);
RESET enable_indexscan; RESET enable_bitmapscan;
