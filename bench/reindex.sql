-- P7 checks after auto_reindex under load (scripts/bench.sh runs this with :committed, the
-- transactions pgbench committed): the load checks make test runs too, then reclaimed bytes
-- against the prediction.
\set prefix P7-
\ir ../tests/live/reindex_load_checks.sql
-- Reclaimed bytes vs predicted_reclaim, every index rebuilt here: goal within 10% each.
SELECT index_name, status, pg_size_pretty(bytes_before) AS before, pg_size_pretty(bytes_after) AS after,
       pg_size_pretty(predicted_reclaim) AS predicted, pg_size_pretty(bytes_before - bytes_after) AS reclaimed,
       round(((bytes_before - bytes_after)::numeric / nullif(predicted_reclaim, 0)), 3) AS reclaimed_over_predicted,
       abs((bytes_before - bytes_after) - predicted_reclaim) <= 0.1 * predicted_reclaim AS within_10pct,
       date_trunc('milliseconds', duration) AS duration
FROM ntsb_perf.reindex_history WHERE triggered_by = 'auto' ORDER BY id;
