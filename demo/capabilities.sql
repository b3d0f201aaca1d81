-- The rest of what ntsb_perf does, on the demo's data (after demo/refresh.sql, which made the
-- monthly view): the seed's queries, accident statistics, hotspots and their GeoJSON, radius
-- search, EXPLAIN comparison, auto-reindex (plan, dry run, one real rebuild), the index history
-- (snapshots around the rebuild, usage, the forecast of a churned copy).
\pset footer on
SET client_min_messages = notice;
\echo
\echo '== the seed''s queries: fatal accidents since 2020 =='
SELECT count(*) AS fatal_since_2020 FROM events
WHERE event_date >= '2020-01-01' AND ntsb_perf.normalize_severity(injury_severity) = 'FATL';
SELECT ev_id, event_date, location, injury_severity, total_fatalities FROM events
WHERE event_date >= '2020-01-01' AND injury_severity LIKE 'FATAL%'
ORDER BY event_date DESC, ev_id LIMIT 5;
\echo '== the seed''s queries: accidents within 50 km of LAX (-118.4085, 33.9416), nearest first =='
SELECT count(*) AS within_50km_of_lax FROM ntsb_perf.accidents_near('events', -118.4085, 33.9416, 50);
SELECT n.id, e.ev_id, e.location, round(n.distance_m::numeric / 1000, 2) AS km
FROM ntsb_perf.accidents_near('events', -118.4085, 33.9416, 50) n JOIN events e USING (id)
ORDER BY n.distance_m, n.id LIMIT 5;
\echo '== the seed''s queries: yearly figures rolled up from the monthly view =='
SELECT extract(year FROM month)::int AS year,
       ntsb_perf.accidents(ntsb_perf.rollup(stats)) AS accidents,
       ntsb_perf.fatal_accidents(ntsb_perf.rollup(stats)) AS fatal,
       round(ntsb_perf.fatal_rate(ntsb_perf.rollup(stats))::numeric, 3) AS fatal_rate,
       ntsb_perf.fatalities(ntsb_perf.rollup(stats)) AS fatalities,
       round(ntsb_perf.injuries_per_accident(ntsb_perf.rollup(stats))::numeric, 3) AS injuries_per_accident
FROM accident_stats_by_month GROUP BY 1 ORDER BY 1 DESC LIMIT 6;
\echo '== accident statistics: severity breakdown, and by aircraft category =='
SELECT ntsb_perf.severity_counts(ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries,
                                                          NULL, total_uninjured)) AS severity_counts
FROM events;
SELECT coalesce(aircraft_category, '(none)') AS category, ntsb_perf.accidents(s) AS accidents,
       round(ntsb_perf.fatal_rate(s)::numeric, 3) AS fatal_rate,
       round(ntsb_perf.fatalities_mean(s)::numeric, 3) AS fatalities_mean
FROM (SELECT aircraft_category, ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries,
                                                         NULL, total_uninjured) AS s
      FROM events GROUP BY 1) t
ORDER BY 2 DESC LIMIT 5;
\echo '== hotspots: the densest 50 km cells, and the same cells as GeoJSON =='
SELECT * FROM ntsb_perf.hotspot_cells(
    (SELECT ntsb_perf.accident_hotspots(geom, injury_severity LIKE 'FATAL%', 50, 5) FROM events));
SELECT g->>'type' AS type, jsonb_array_length(g->'features') AS features,
       g->'features'->0->'geometry'->'coordinates'->0 AS first_cell_ring,
       g->'features'->0->'properties' AS first_cell
FROM (SELECT ntsb_perf.hotspots_geojson(ntsb_perf.accident_hotspots(geom, injury_severity LIKE 'FATAL%', 50, 5)) AS g
      FROM events) t;
\echo '== radius search uses the GiST index (its plan) =='
SELECT jsonb_path_query_array(ntsb_perf.accidents_near_plan('events', -118.4085, 33.9416, 50),
                              '$.**."Index Name"') AS indexes_in_plan;
\echo '== EXPLAIN comparison: the same question, sargable or not =='
SELECT rank, query, round(execution_ms::numeric, 2) AS execution_ms, slower_than_fastest, index_used
FROM ntsb_perf.compare_queries($$SELECT count(*) FROM events WHERE event_date >= '2020-01-01'$$,
                               $$SELECT count(*) FROM events WHERE extract(year FROM event_date) >= 2020$$);
SELECT index_used, indexes, seq_scanned_tables, shared_hit + shared_read AS buffers
FROM ntsb_perf.explain_query($$SELECT count(*) FROM events WHERE extract(year FROM event_date) >= 2020$$);
\echo '== index history: a snapshot of every index (exact when small, sampled when large) =='
SELECT indexes, measured_exactly, sampled, pages_read, total_pages FROM ntsb_perf.snapshot_indexes();
\echo '== auto-reindex: the plan (10% sample), the dry run, then one real rebuild through the worker =='
SELECT index_name, pg_size_pretty(index_bytes) AS index_size, reclaimable_size, bloat_ratio, reason, statement
FROM ntsb_perf.reindex_plan(min_bytes => 1048576, sample_pages => 100);
CALL ntsb_perf.auto_reindex(dry_run => true, min_bytes => 1048576, sample_pages => 100);
CALL ntsb_perf.reindex_index('events_ev_id_key');
SELECT index_name, status, triggered_by, pg_size_pretty(bytes_before) AS before, pg_size_pretty(bytes_after) AS after,
       round(density_before::numeric, 1) AS density_before, round(density_after::numeric, 1) AS density_after
FROM ntsb_perf.reindex_history ORDER BY id;
\echo '== index history: the rebuild added an exact row; usage across the snapshots =='
SELECT indexes FROM ntsb_perf.snapshot_indexes();
SELECT taken_at, source, idx_scan, scans, reset, index_size, avg_leaf_density, bloat_ratio, method
FROM ntsb_perf.index_usage_history('events_ev_id_key');
\echo '== index history: a copy of the accident numbers, 5% deleted and vacuumed between snapshots; the forecast =='
CREATE TABLE demo_churn AS SELECT id, ev_id FROM events;
CREATE INDEX demo_churn_ev_id ON demo_churn (ev_id);
SELECT indexes FROM ntsb_perf.snapshot_indexes();
DELETE FROM demo_churn WHERE id % 20 = 0;
VACUUM demo_churn;
SELECT indexes FROM ntsb_perf.snapshot_indexes();
DELETE FROM demo_churn WHERE id % 20 = 1;
VACUUM demo_churn;
SELECT indexes FROM ntsb_perf.snapshot_indexes();
DELETE FROM demo_churn WHERE id % 20 = 2;
VACUUM demo_churn;
SELECT indexes FROM ntsb_perf.snapshot_indexes();
SELECT index_name, snapshots, bloat_ratio, reclaimable_bytes, predicted_crossing, crossing_earliest,
       crossing_latest, crossing_reason, crossed
FROM ntsb_perf.bloat_forecast WHERE index_name = 'demo_churn_ev_id';
SELECT index_name, split_part(reason, ' by ', 1) AS reason, predicted_crossing
FROM ntsb_perf.reindex_plan(min_bytes => 0, ahead => '1 day') WHERE index_name = 'demo_churn_ev_id';
DROP TABLE demo_churn;
