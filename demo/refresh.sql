-- Refresh scheduling on the seed: the monthly statistics view, a yearly view on it, one pg_cron
-- job, a skip when nothing changed, a refresh after a change, and the status view.
\pset footer on
SET client_min_messages = warning;
SELECT ntsb_perf.create_accident_stats_view() AS monthly_view;
CREATE MATERIALIZED VIEW accident_stats_by_year AS
    SELECT date_trunc('year', month::timestamp)::date AS year, ntsb_perf.rollup(stats) AS stats
    FROM accident_stats_by_month GROUP BY 1;
CREATE UNIQUE INDEX ON accident_stats_by_year (year);
\echo '== ntsb_perf.schedule_refresh(''accident_stats_by_year'', ''*/15 * * * *'') =='
SELECT ntsb_perf.schedule_refresh('accident_stats_by_year', '*/15 * * * *') AS jobid;
SELECT jobname, schedule, command FROM cron.job;
\echo '== ntsb_perf.refresh_plan(''accident_stats_by_year'') =='
SELECT * FROM ntsb_perf.refresh_plan('accident_stats_by_year');
\echo '== first refresh, then nothing changed, then one new accident =='
SELECT view, status, round(duration_ms::numeric, 1) AS duration_ms, rows, reason
FROM ntsb_perf.refresh('accident_stats_by_year');
SELECT view, status, round(duration_ms::numeric, 1) AS duration_ms, rows, reason
FROM ntsb_perf.refresh('accident_stats_by_year');
INSERT INTO events (ev_id, event_date, state, injury_severity, total_fatalities, aircraft_category)
VALUES ('DEMO-REFRESH-1', date '2021-02-20', 'AZ', 'FATAL(1)', 1, 'AIRPLANE');
SELECT view, status, round(duration_ms::numeric, 1) AS duration_ms, rows, reason
FROM ntsb_perf.refresh('accident_stats_by_year');
\echo '== ntsb_perf.refresh_status =='
SELECT view, schedule, last_refresh IS NOT NULL AS refreshed, last_status, sources_changed, jobid,
       job_last_run
FROM ntsb_perf.refresh_status;
