-- S1-S3 on the generated events (:rows): accident statistics and the radius search, as ratios
-- of medians measured in this run.
\set QUIET on
SET client_min_messages = warning;
\ir timing.sql
CREATE TEMP TABLE results (bench text, what text, ours_ms numeric, anchor_ms numeric, ratio numeric, goal text);
ANALYZE events;

-- S1: accident_stats over all rows vs the same figures in hand-written SQL.
\set ours 'SELECT ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries, NULL, total_uninjured) FROM events'
\set plain 'SELECT count(*), count(*) FILTER (WHERE injury_severity LIKE ''FATAL%''), count(*) FILTER (WHERE injury_severity IN (''SIRUOSE'', ''SERIOUS'')), count(*) FILTER (WHERE injury_severity = ''MINOR''), count(*) FILTER (WHERE injury_severity IN (''NON-FATAL'', ''INCIDENT'')), sum(total_fatalities), count(total_fatalities), sum(total_fatalities::bigint * total_fatalities), sum(total_injuries), count(total_injuries), sum(total_uninjured), count(total_uninjured) FROM events'
SET max_parallel_workers_per_gather = 0;
INSERT INTO results SELECT 'S1', 'accident_stats / hand-written SQL, serial', round(q_ms::numeric, 1), round(a_ms::numeric, 1),
       round((q_ms / a_ms)::numeric, 3), '<= 0.9 (issue 27)' FROM pg_temp.vs(:'ours', :'plain', :rounds);
SET max_parallel_workers_per_gather = 2;
INSERT INTO results SELECT 'S1', 'accident_stats / hand-written SQL, 2 workers', round(q_ms::numeric, 1), round(a_ms::numeric, 1),
       round((q_ms / a_ms)::numeric, 3), '<= 0.8 (issue 27)' FROM pg_temp.vs(:'ours', :'plain', :rounds);
\set QUIET off
SELECT (SELECT count(*) FROM jsonb_path_query(plan, 'strict $.**."Partial Mode"') m WHERE m #>> '{}' = 'Partial') > 0
       AS s1_plan_has_partial_aggregate
FROM ntsb_perf.explain_query(:'ours', false);
\set QUIET on

-- S2: yearly figures from the monthly view vs accident_stats over the raw rows.
SELECT ntsb_perf.create_accident_stats_view('events', 'bench_stats_by_month') IS NOT NULL AS created \gset
INSERT INTO results SELECT 'S2', 'yearly by rollup of monthly view / accident_stats over raw rows', round(q_ms::numeric, 2),
       round(a_ms::numeric, 1), round((q_ms / a_ms)::numeric, 5), '<= 0.01 (>= 100x faster)'
FROM pg_temp.vs(
  'SELECT extract(year FROM month), ntsb_perf.fatal_rate(ntsb_perf.rollup(stats)) FROM bench_stats_by_month GROUP BY 1',
  'SELECT extract(year FROM event_date), ntsb_perf.fatal_rate(ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries, NULL, total_uninjured)) FROM events GROUP BY 1',
  3);
RESET max_parallel_workers_per_gather;

-- S3 (seed P8): 50 km radius around Phoenix with the GiST index vs without it.
CREATE TABLE events_noindex AS SELECT id, geom FROM events;
ALTER TABLE events_noindex ADD PRIMARY KEY (id);
ANALYZE events_noindex;
INSERT INTO results SELECT 'S3', 'accidents_near 50 km with GiST / without index (seed P8: 832x)', round(q_ms::numeric, 2),
       round(a_ms::numeric, 1), round((q_ms / a_ms)::numeric, 5), '(seed: 1/832)'
FROM pg_temp.vs($$SELECT count(*) FROM ntsb_perf.accidents_near('events', -112.07, 33.45, 50)$$,
                $$SELECT count(*) FROM events_noindex WHERE ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(-112.07, 33.45), 4326)::geography, 50000)$$,
                3);
DROP TABLE events_noindex;
DROP MATERIALIZED VIEW bench_stats_by_month;
\set QUIET off
SELECT * FROM results ORDER BY bench, what;
