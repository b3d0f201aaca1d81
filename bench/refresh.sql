-- P6: ntsb_perf.refresh() of a view whose sources did not change, beside a full refresh of the
-- same view (medians measured in this run). Expects the seed schema with :rows generated events.
-- The writer-overhead half of the refresh benchmark is pgbench, run by scripts/bench.sh.
\set QUIET on
SET client_min_messages = warning;
\ir timing.sql
CREATE TEMP TABLE results (bench text, what text, ours_ms numeric, anchor_ms numeric, ratio numeric, goal text);

SELECT ntsb_perf.create_accident_stats_view('events', 'bench_refresh_by_month') IS NOT NULL AS created \gset
-- A view on the view: refresh() walks the dependency chain and checks both.
CREATE MATERIALIZED VIEW bench_refresh_by_year AS
    SELECT date_trunc('year', month::timestamp)::date AS year, aircraft_category, ntsb_perf.rollup(stats) AS stats
    FROM bench_refresh_by_month GROUP BY 1, 2;
CREATE UNIQUE INDEX ON bench_refresh_by_year (year, aircraft_category);
-- Puts the change-tracking trigger on events (pg_cron may be absent from this database: the
-- tracking is what refresh() needs, so install it the way schedule_refresh does).
SELECT ntsb_perf._ensure_tracking('bench_refresh_by_year');
SELECT count(*) AS first_refresh FROM ntsb_perf.refresh('bench_refresh_by_year');

-- Unchanged: every round must report both views skipped (checked below).
INSERT INTO results
SELECT 'P6', 'refresh(view on view on events) unchanged, ms (anchor: full refresh of both)',
       round(q_ms::numeric, 2), round(a_ms::numeric, 1), round((q_ms / a_ms)::numeric, 6), 'ours <= 5 ms'
FROM pg_temp.vs($$SELECT count(*) FROM ntsb_perf.refresh('bench_refresh_by_year')$$,
                $$REFRESH MATERIALIZED VIEW CONCURRENTLY bench_refresh_by_month;
                  REFRESH MATERIALIZED VIEW CONCURRENTLY bench_refresh_by_year$$, :rounds);
-- The anchor refreshed both views behind ntsb_perf's back (REFRESH does not change the tables
-- they read), so they were still up to date: the timed calls were skips.
\set QUIET off
SELECT status, count(*) AS calls FROM ntsb_perf.refresh_log
WHERE view IN ('bench_refresh_by_month'::regclass, 'bench_refresh_by_year'::regclass)
GROUP BY status ORDER BY status;
\set QUIET on
-- After one committed insert into events, both are refreshed.
INSERT INTO events (ev_id, event_date, injury_severity, total_fatalities)
VALUES ('BENCHP6', date '2020-05-05', 'FATAL(1)', 1);
\set QUIET off
SELECT view, status, round(duration_ms::numeric, 1) AS duration_ms FROM ntsb_perf.refresh('bench_refresh_by_year');
SELECT * FROM results;
