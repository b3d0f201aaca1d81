-- Run on the OLD release: what users create with it. Everything checked after the upgrade is
-- stored in the database itself (tables upg_*), so it survives the upgrade with the rest.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
-- a table another role owns, read by a view that role schedules
CREATE ROLE upg_analyst LOGIN;
GRANT CREATE, USAGE ON SCHEMA public TO upg_analyst;
GRANT USAGE ON SCHEMA cron TO upg_analyst;
SET ROLE upg_analyst;
CREATE TABLE upg_watch (state text PRIMARY KEY, note text);
INSERT INTO upg_watch VALUES ('AK', 'mountains'), ('AZ', 'heat');
CREATE MATERIALIZED VIEW upg_watch_view AS SELECT state, upper(note) AS note FROM upg_watch;
CREATE UNIQUE INDEX ON upg_watch_view (state);
SELECT ntsb_perf.schedule_refresh('upg_watch_view', '* * * * *') > 0 AS analyst_scheduled;
SELECT count(*) AS refreshed FROM ntsb_perf.refresh('upg_watch_view') WHERE status = 'refreshed';
RESET ROLE;

-- the monthly statistics view (stored accident_stats states), a yearly roll-up of it, and a
-- plain table keeping a copy of the states (stored values no refresh recomputes)
SELECT ntsb_perf.create_accident_stats_view() AS monthly_view;
CREATE MATERIALIZED VIEW accident_stats_by_year AS
    SELECT date_trunc('year', month::timestamp)::date AS year, ntsb_perf.rollup(stats) AS stats
    FROM accident_stats_by_month GROUP BY 1;
CREATE UNIQUE INDEX ON accident_stats_by_year (year);
CREATE VIEW yearly_figures AS
    SELECT year, ntsb_perf.accidents(stats) AS accidents, ntsb_perf.fatal_accidents(stats) AS fatal,
           ntsb_perf.fatal_rate(stats) AS fatal_rate, ntsb_perf.fatalities(stats) AS fatalities,
           ntsb_perf.fatalities_variance(stats) AS fatalities_variance
    FROM accident_stats_by_year;
CREATE TABLE upg_saved_states AS SELECT * FROM accident_stats_by_month;
-- (0.1.0's create_accident_stats_view calls date(timestamptz), a stable function: 0.2.0 refreshes
-- such a view at every run. A view of states by state calls none, so it can skip. It reads a
-- table of its own: refreshes of views on one table that pg_cron runs in the same minute can
-- overlap, and the later one is then recorded as uncertain, which refreshes it once more.)
CREATE TABLE upg_events_2021 AS SELECT * FROM events WHERE event_date >= date '2021-01-01';
CREATE MATERIALIZED VIEW accident_stats_by_state AS
    SELECT state, ntsb_perf.accident_stats(injury_severity, total_fatalities, NULL, NULL, total_uninjured) AS stats
    FROM upg_events_2021 GROUP BY state;
CREATE UNIQUE INDEX ON accident_stats_by_state (state);
SELECT ntsb_perf.schedule_refresh('accident_stats_by_state', '* * * * *') > 0 AS scheduled;
SELECT view, status FROM ntsb_perf.refresh('accident_stats_by_state');
SELECT ntsb_perf.schedule_refresh('accident_stats_by_year', '* * * * *') > 0 AS scheduled;
SELECT view, status FROM ntsb_perf.refresh('accident_stats_by_year') ORDER BY view::text;
SELECT view, status FROM ntsb_perf.refresh('accident_stats_by_year') ORDER BY view::text;

-- Every figure of every stored monthly state and of their yearly roll-ups, as the release
-- installed when it is read says them; kept now as the old release says them (upg_figures),
-- read again after the upgrade (tests/upgrade/after.sql compares).
CREATE VIEW upg_figures_now AS
    WITH s AS (SELECT 'month' AS kind, month AS at, stats FROM upg_saved_states
               UNION ALL
               SELECT 'year', date_trunc('year', month::timestamp)::date, ntsb_perf.rollup(stats)
               FROM upg_saved_states GROUP BY 2)
    SELECT kind, at, stats::text AS state_text,
           ntsb_perf.accidents(stats) AS accidents, ntsb_perf.fatal_accidents(stats) AS fatal,
           ntsb_perf.fatalities(stats) AS fatalities, ntsb_perf.serious_injuries(stats) AS serious,
           ntsb_perf.minor_injuries(stats) AS minor, ntsb_perf.uninjured(stats) AS uninjured,
           ntsb_perf.fatal_rate(stats) AS fatal_rate, ntsb_perf.injuries_per_accident(stats) AS injuries_per,
           ntsb_perf.fatalities_mean(stats) AS fat_mean, ntsb_perf.fatalities_variance(stats) AS fat_var,
           ntsb_perf.severity_counts(stats) AS severities
    FROM s;
CREATE TABLE upg_figures AS SELECT * FROM upg_figures_now;
CREATE TABLE upg_log_before AS SELECT * FROM ntsb_perf.refresh_log;
CREATE TABLE upg_policy_before AS SELECT view::text AS view, schedule, concurrent, skip_if_unchanged, jobid, job_name, created_by
    FROM ntsb_perf.refresh_policy;
SELECT count(*) AS months, sum(accidents) AS accidents FROM upg_figures WHERE kind = 'month';
SELECT count(*) AS log_rows FROM upg_log_before;
SELECT jobid, jobname, username, command FROM cron.job ORDER BY jobid;
