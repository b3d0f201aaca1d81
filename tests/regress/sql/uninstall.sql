-- DROP EXTENSION ntsb_perf: without CASCADE it names what depends on it, the pg_cron jobs
-- ntsb_perf created included (pg_depend does not know them): every job of a kind in
-- ntsb_perf._job_kinds(), refresh, auto_reindex and index snapshot jobs alike, and no look-alike
-- of another name or command (those get a warning). With CASCADE it removes the tracking
-- triggers and those jobs, in the dropping transaction, and leaves the tables, the views that do
-- not use ntsb_perf and the data alone. Drops of other extensions, IF EXISTS lists, a failing
-- drop (which keeps the jobs) and a non-superuser are checked too. Last in the schedule: it
-- drops the extension and creates it again at the end. (tests/live/dump_restore.sh waits for
-- pg_cron's next minute after a drop: no job of ntsb_perf runs, none fails.)
CREATE EXTENSION IF NOT EXISTS ntsb_perf;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS tablefunc;
\set VERBOSITY terse
-- What earlier tests left that is built on ntsb_perf (CASCADE would drop it too): dropped first,
-- so that the lists below are this test's objects only.
DROP VIEW IF EXISTS public.btree_vs_pgstatindex;
DROP MATERIALIZED VIEW IF EXISTS src."Accident Stats ""by month""";
-- Job ids from 1001 on, whatever the earlier tests scheduled.
SELECT setval('cron.jobid_seq', 1000) AS jobid_seq;
CREATE SCHEMA un;
SET search_path = un, public;
CREATE TABLE events AS SELECT * FROM src.accidents_src WHERE id % 10 = 0;
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE TABLE states (state text PRIMARY KEY);
INSERT INTO states SELECT DISTINCT state FROM events WHERE state IS NOT NULL;
-- A monthly view of accident_stats states, a yearly roll-up of it, a view without ntsb_perf's
-- types (survives CASCADE), a plain view on the table and one that calls ntsb_perf.
SELECT ntsb_perf.create_accident_stats_view('un.events', 'monthly');
CREATE MATERIALIZED VIEW yearly AS
    SELECT date_trunc('year', month::timestamp)::date AS year, ntsb_perf.rollup(stats) AS stats
    FROM monthly GROUP BY 1;
CREATE UNIQUE INDEX ON yearly (year);
CREATE MATERIALIZED VIEW by_state AS SELECT state, count(*) AS n FROM events GROUP BY 1;
CREATE UNIQUE INDEX ON by_state (state);
CREATE VIEW recent AS SELECT id, state FROM events WHERE event_date >= date '2015-01-01';
CREATE VIEW fatal_rates AS SELECT year, ntsb_perf.fatal_rate(stats) AS rate FROM yearly;
CREATE TABLE before_drop AS
    SELECT (SELECT count(*) FROM events) AS events, (SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM events e) AS events_md5,
           (SELECT md5(string_agg(r::text, ',' ORDER BY id)) FROM recent r) AS recent_md5,
           (SELECT md5(string_agg(b::text, ',' ORDER BY state)) FROM by_state b) AS by_state_md5;
SELECT ntsb_perf.schedule_refresh('yearly', '* * * * *') AS yearly_job,
       ntsb_perf.schedule_refresh('by_state', '@daily') AS by_state_job,
       ntsb_perf.schedule_auto_reindex('@daily', dry_run => true) AS reindex_job,
       ntsb_perf.schedule_index_snapshots('@daily') AS snapshot_job;
-- Jobs the user made that call ntsb_perf: not ntsb_perf's, never removed by it. Look-alikes of
-- each kind: another name (another database's snapshot job; a name that matches this
-- database's, ntsb_regress, only where "_" is any character), or ntsb_perf's name pattern with
-- another command.
SELECT cron.schedule('my refresh', '@daily', 'SELECT ntsb_perf.refresh(''un.by_state'')') AS user_job;
SELECT cron.schedule('ntsb_perf index snapshots elsewhere', '@daily', 'SELECT * FROM ntsb_perf.snapshot_indexes()') AS other_db_job,
       cron.schedule('ntsb_perf auto_reindex ' || replace(current_database(), '_', 'X'), '@daily',
                     'CALL ntsb_perf.auto_reindex(dry_run => true)') AS like_job,
       cron.schedule('ntsb_perf refresh 42 un.by_state', '@daily', 'SELECT ntsb_perf.refresh(''un.by_state'')') AS named_job;
-- The kinds (what a new kind of job adds one row to).
SELECT kind, job_name IS NOT NULL AS one_per_database, job_name_pattern = replace(job_name, '_', '\_') AS name_escaped,
       command_pattern, description
FROM ntsb_perf._job_kinds();
SELECT regexp_replace(jobname, '^ntsb_perf refresh \d{5,} ', 'ntsb_perf refresh <view oid> ') AS jobname,
       ntsb_perf._job_kind(jobid, jobname, command) AS kind
FROM cron.job ORDER BY jobid;
SELECT tgrelid::regclass AS tracked_table, tgname FROM pg_trigger
WHERE tgfoid = 'ntsb_perf.track_change()'::regprocedure ORDER BY 1, 2;

-- Without CASCADE: refused (2BP01), the jobs and the other dependent objects listed.
\set VERBOSITY default
DROP EXTENSION ntsb_perf;
\set VERBOSITY terse
\echo sqlstate :LAST_ERROR_SQLSTATE
DROP EXTENSION IF EXISTS ntsb_perf, tablefunc;
\echo sqlstate :LAST_ERROR_SQLSTATE
DROP EXTENSION tablefunc, ntsb_perf RESTRICT;
\echo sqlstate :LAST_ERROR_SQLSTATE
-- CASCADE in a statement that then fails (an extension that does not exist): nothing removed.
DROP EXTENSION ntsb_perf, no_such_extension CASCADE;
\echo sqlstate :LAST_ERROR_SQLSTATE
BEGIN;
DROP EXTENSION ntsb_perf CASCADE;
-- (in the dropping transaction: only the user's jobs are left)
SELECT jobname FROM cron.job ORDER BY jobid;
ROLLBACK;
SELECT regexp_replace(jobname, '^ntsb_perf refresh \d{5,} ', 'ntsb_perf refresh <view oid> ') AS jobs_kept
FROM cron.job ORDER BY jobid;
-- A non-superuser cannot drop it (not the owner): PostgreSQL's own error, nothing removed.
CREATE ROLE un_user LOGIN;
SET ROLE un_user;
DROP EXTENSION ntsb_perf CASCADE;
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS jobs_kept FROM cron.job WHERE jobname LIKE 'ntsb_perf %';
-- Other extensions: dropped as usual, ntsb_perf's jobs untouched.
DROP EXTENSION tablefunc;
DROP EXTENSION IF EXISTS tablefunc, no_such_extension;
DROP SCHEMA IF EXISTS no_such_schema CASCADE;
SELECT count(*) AS jobs_kept FROM cron.job WHERE jobname LIKE 'ntsb_perf %';
-- Without any ntsb_perf job, PostgreSQL's own dependency error (the tracking triggers, the views).
SELECT ntsb_perf.unschedule_refresh('yearly'), ntsb_perf.unschedule_refresh('by_state'),
       ntsb_perf.unschedule_auto_reindex(), ntsb_perf.unschedule_index_snapshots();
DO $$
DECLARE st text; msg text; det text;
BEGIN
    DROP EXTENSION ntsb_perf;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RAISE NOTICE '% %', st, msg;
    RAISE NOTICE '(sorted) %', (SELECT string_agg(l, E'\n' ORDER BY l) FROM regexp_split_to_table(det, E'\n') l);
END $$;

-- CASCADE (with another extension in the list): ntsb_perf's jobs removed, in this transaction;
-- the user's job left, with a warning; PostgreSQL drops the triggers and what is built on
-- ntsb_perf's types and functions (the statistics views, the view calling fatal_rate).
SELECT ntsb_perf.schedule_refresh('yearly', '* * * * *') AS yearly_job,
       ntsb_perf.schedule_refresh('by_state', '@daily') AS by_state_job,
       ntsb_perf.schedule_auto_reindex('@daily', dry_run => true) AS reindex_job,
       ntsb_perf.schedule_index_snapshots('@daily') AS snapshot_job;
-- An orphan: a refresh job whose policy is gone (removed by hand, behind ntsb_perf's back).
SELECT cron.schedule('ntsb_perf refresh 1 un.gone', '@daily', 'SELECT 1') AS orphan_job \gset
SELECT cron.schedule('ntsb_perf refresh 1 un.gone', '@daily', ntsb_perf._job_command(:orphan_job)) = :orphan_job AS same_job;
CREATE EXTENSION tablefunc;
\set VERBOSITY default
DROP EXTENSION IF EXISTS tablefunc, ntsb_perf CASCADE;
\set VERBOSITY terse
SELECT jobid, jobname, command FROM cron.job ORDER BY jobid;
SELECT count(*) AS extensions FROM pg_extension WHERE extname IN ('ntsb_perf', 'tablefunc');
-- (The schema stays: CREATE EXTENSION made it, but it is not the extension's. DROP SCHEMA ntsb_perf.)
SELECT count(*) AS ntsb_perf_schema FROM pg_namespace WHERE nspname = 'ntsb_perf';
SELECT count(*) AS tracking_triggers FROM pg_trigger WHERE tgname LIKE 'ntsb_perf_track%';
SELECT relname, relkind FROM pg_class WHERE relnamespace = 'un'::regnamespace AND relkind IN ('r', 'v', 'm') ORDER BY 1;
SELECT b.events = (SELECT count(*) FROM events) AS events_kept,
       b.events_md5 = (SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM events e) AS events_unchanged,
       b.recent_md5 = (SELECT md5(string_agg(r::text, ',' ORDER BY id)) FROM recent r) AS plain_view_unchanged,
       b.by_state_md5 = (SELECT md5(string_agg(s::text, ',' ORDER BY state)) FROM by_state s) AS other_view_unchanged
FROM before_drop b;
-- The tables take writes as before (no trigger left calling a dropped function).
INSERT INTO events (id, ev_id, event_date, state) VALUES (-1, 'UN-1', date '2021-01-01', 'AZ');
DELETE FROM events WHERE id = -1;
TRUNCATE states;

-- DROP SCHEMA ntsb_perf CASCADE drops the extension too: its jobs go as well.
CREATE EXTENSION ntsb_perf;
SELECT ntsb_perf.schedule_refresh('by_state', '@daily') > 0 AS scheduled;
\set VERBOSITY default
DROP SCHEMA ntsb_perf CASCADE;
\set VERBOSITY terse
SELECT jobname FROM cron.job ORDER BY jobid;

SELECT cron.unschedule('my refresh'), cron.unschedule('ntsb_perf index snapshots elsewhere'),
       cron.unschedule('ntsb_perf auto_reindex ' || replace(current_database(), '_', 'X')),
       cron.unschedule('ntsb_perf refresh 42 un.by_state');
RESET search_path;
DROP SCHEMA un CASCADE;
DROP ROLE un_user;
CREATE EXTENSION ntsb_perf;
