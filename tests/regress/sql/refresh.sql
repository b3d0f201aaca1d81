-- Materialized-view refresh scheduling: errors, pg_cron's schedule syntax, dependency order,
-- exact change detection from two sessions, failure isolation, and a real pg_cron job.
CREATE EXTENSION IF NOT EXISTS ntsb_perf;
CREATE EXTENSION IF NOT EXISTS dblink;
SET client_min_messages = warning;
\set VERBOSITY terse
CREATE SCHEMA rt;
SET search_path = rt, public;

-- The seed's events (real CSV or generated), a view that cleans them, a monthly materialized
-- view on that view, a yearly one on the monthly one.
CREATE TABLE events AS SELECT * FROM src.accidents_src;
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE VIEW events_clean AS
    SELECT * FROM events WHERE event_date >= date '2000-01-01' AND injury_severity IS NOT NULL;
CREATE MATERIALIZED VIEW accident_stats_by_month AS
    SELECT date_trunc('month', event_date::timestamp)::date AS month, count(*) AS accidents,
           sum(total_fatalities) AS fatalities
    FROM events_clean GROUP BY 1;
CREATE UNIQUE INDEX ON accident_stats_by_month (month);
CREATE MATERIALIZED VIEW accident_stats_by_year AS
    SELECT date_trunc('year', month::timestamp)::date AS year, sum(accidents) AS accidents, sum(fatalities) AS fatalities
    FROM accident_stats_by_month GROUP BY 1;
CREATE UNIQUE INDEX ON accident_stats_by_year (year);

-- Without pg_cron in this database: a clear error naming it and how to load it.
SELECT ntsb_perf.schedule_refresh('accident_stats_by_year', '@daily');
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE EXTENSION pg_cron;

-- Bad input: NULLs, a table, a plain view, a bad schedule, no unique index, not the owner.
SELECT ntsb_perf.schedule_refresh(NULL, '@daily');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.schedule_refresh('accident_stats_by_year', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.schedule_refresh('events', '@daily');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.schedule_refresh('events_clean', '@daily');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.refresh('events_clean');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- (Schedules every pg_cron version refuses alike: which others are refused, '30 seconds' or
-- '0 12 $ * *', depends on the installed version; see the cases below.)
SELECT ntsb_perf.schedule_refresh('accident_stats_by_year', '60 * * * *');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.schedule_refresh('accident_stats_by_year', '0 3 * * 8');
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE MATERIALIZED VIEW states AS SELECT DISTINCT state FROM events;
SELECT ntsb_perf.schedule_refresh('states', '@hourly');
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE ROLE refresh_nobody;
GRANT USAGE ON SCHEMA rt TO refresh_nobody;
SET ROLE refresh_nobody;
SELECT ntsb_perf.schedule_refresh('accident_stats_by_year', '@daily');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.refresh('accident_stats_by_year');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
-- None of that left a policy or a job behind.
SELECT count(*) AS policies FROM ntsb_perf.refresh_policy;
SELECT count(*) AS jobs FROM cron.job;

-- The schedule syntax is exactly the installed pg_cron's (1.4 on PostgreSQL 15, 1.6 on 17 and
-- 18): hand-picked cases, then 3,000 fuzzed strings, each both checked by ntsb_perf and given to
-- cron.schedule. What is printed is the same for every version: that both agree on each case
-- (which cases each version accepts is in the core's unit tests), and, of the fuzzed strings,
-- how many are accepted without '$', '/' or 'second' (none of 1.6's differences can apply to
-- them: its interval schedules, its '$' and its limit on steps).
CREATE FUNCTION pg_temp.pg_cron_accepts(s text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cron.schedule('ntsb_perf_fuzz', s, 'SELECT 1');
    PERFORM cron.unschedule('ntsb_perf_fuzz');
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END $$;
CREATE TEMP TABLE cron_cases AS
SELECT n, s FROM unnest(ARRAY[
    '* * * * *', '*/5 * * * *', '0 3 * * *', '0 3 * * 1-5', '0 0 1 jan,jul *', '15,45 8-18/2 * * MON-FRI',
    '@daily', '@hourly', '@weekly', '@monthly', '@yearly', '@annually', '@midnight', '@reboot',
    '@Daily', '@every_5', '30 seconds', '1 second', '0 12 $ * *', '60 * * * *', '* 24 * * *',
    '* * 0 * *', '* * 32 * *', '* * * 13 *', '* * * * 8', '* * * *', '', ' ', '5/10 * * * *',
    '*/0 * * * *', '0 3 * * 7', '50-10 * * * *', '5? * * * *', '* * * * * extra', 'x * * * *',
    E'0\t3\t*\t*\t*', '0 3 * * sun-sat', '0 3 * feb-dec/3 *', '1-', '1-2-3 * * * *', '*/60 * * * *',
    -- what pg_cron 1.5 and 1.6 changed
    '59 seconds', '60 seconds', '0 seconds', '1 seconds', '30 SECONDS', '30seconds', ' 30 seconds ',
    '30 second ', '30 seconds x', '30 secs', E'0 12 $\t* *', '0 12 $', '0 12 1,$ * *', '0 12 $5 * *',
    '$ * * * *', '*/59 * * * *', '* * * */12 *', '* * * */13 *', '* * * * */8', '23-0 * * * *'
]) WITH ORDINALITY AS c(s, n);
SELECT s AS schedule, ntsb_perf.cron_schedule_is_valid(s) = pg_temp.pg_cron_accepts(s) AS agree
FROM cron_cases ORDER BY n;
SELECT setseed(0.25);
CREATE TEMP TABLE cron_fuzz AS
SELECT (SELECT string_agg(t[1 + floor(random() * array_length(t, 1))::int + 0 * i], '')
        FROM generate_series(1, 1 + (g % 11)) i) AS s
FROM generate_series(1, 3000) g,
     LATERAL (SELECT ARRAY['*', '*', '*', ' ', ' ', ' ', ' ', E'\t', '/', '-', ',', '0', '1', '5', '7', '07',
                           '12', '13', '23', '24', '31', '32', '59', '60', '99999999999', 'jan', 'DEC', 'mon',
                           'Sun', 'fri', 'x', '?', '$', '#', E'\n', '@daily', '@Daily', '@hourly', '@reboot',
                           '@weekly', '@every', 'seconds', '* * * * *', '*/5', '1-5', '5-1', '10-50/20',
                           'second', ' seconds', '59 seconds', '30 SECONDS', '0 seconds', '$ ', '* * $ * *',
                           '*/60', '*/13', '@yearly']
                     || g::text) AS x(t);
SELECT count(*) AS fuzzed,
       count(*) FILTER (WHERE ours AND s !~ '[$/]' AND s !~* 'second') AS accepted_plain,
       count(*) FILTER (WHERE ours IS DISTINCT FROM theirs) AS disagreements
FROM (SELECT s, ntsb_perf.cron_schedule_is_valid(s) AS ours, pg_temp.pg_cron_accepts(s) AS theirs
      FROM cron_fuzz) f;
SELECT * FROM ntsb_perf.parse_cron('15,45 8-18/4 * jan-mar mon-fri');

-- Dependency order from the catalog: the monthly view before the yearly one.
SELECT * FROM ntsb_perf.refresh_plan('accident_stats_by_year');
SELECT * FROM ntsb_perf.refresh_sources('accident_stats_by_year');

-- Scheduling: validates, puts the change trigger on events, creates one job.
SELECT ntsb_perf.schedule_refresh('accident_stats_by_year', '0 3 * * *') AS jobid \gset
SELECT jobname = 'ntsb_perf refresh ' || 'accident_stats_by_year'::regclass::oid || ' rt.accident_stats_by_year' AS jobname_ok,
       schedule, command = format('SELECT ntsb_perf._scheduled_refresh(%s)', jobid) AS command_ok
FROM cron.job WHERE jobid = :jobid;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'events'::regclass AND NOT tgisinternal;
-- Again for the same view: the same job, updated; one policy.
SELECT ntsb_perf.schedule_refresh('accident_stats_by_year', '*/10 * * * *', skip_if_unchanged => true) = :jobid AS same_job;
SELECT count(*) AS jobs, max(schedule) AS schedule FROM cron.job;
SELECT view, schedule, concurrent, skip_if_unchanged FROM ntsb_perf.refresh_policy;

-- First refresh: both, in order (never refreshed through ntsb_perf before).
SELECT view, status, rows > 0 AS has_rows, reason, concurrent FROM ntsb_perf.refresh('accident_stats_by_year');
-- Nothing changed: both skipped.
SELECT view, status, rows, reason FROM ntsb_perf.refresh('accident_stats_by_year');
-- force refreshes anyway.
SELECT view, status, reason FROM ntsb_perf.refresh('accident_stats_by_year', force => true);

-- Exact change detection from two connections: another session commits a change, and the very
-- next statement here refreshes. Every kind of write, 5 times each, and each time the view
-- equals a fresh computation.
SELECT dblink_connect('writer', format('host=%s port=%s dbname=%s user=%s',
       current_setting('unix_socket_directories'), current_setting('port'), current_database(), current_user));
CREATE TEMP TABLE exact (kind text, round int, status text, matches boolean);
CREATE FUNCTION pg_temp.year_matches() RETURNS boolean LANGUAGE sql AS $$
    SELECT NOT EXISTS (
        (SELECT year, accidents, fatalities FROM rt.accident_stats_by_year
         EXCEPT
         SELECT date_trunc('year', event_date)::date, count(*), sum(total_fatalities)
         FROM rt.events_clean GROUP BY 1)
        UNION ALL
        (SELECT date_trunc('year', event_date)::date, count(*), sum(total_fatalities)
         FROM rt.events_clean GROUP BY 1
         EXCEPT
         SELECT year, accidents, fatalities FROM rt.accident_stats_by_year))
$$;
DO $$
DECLARE k text; i int; st text; w text;
BEGIN
    FOR i IN 1..5 LOOP
        FOREACH k IN ARRAY ARRAY['insert', 'update', 'delete', 'copy'] LOOP
            w := CASE k
                WHEN 'insert' THEN format($w$INSERT INTO rt.events (id, ev_id, event_date, injury_severity, total_fatalities)
                                          VALUES (%s, 'RT%s', date '2019-06-01', 'Fatal', 2)$w$, 900000000 + i, i)
                WHEN 'update' THEN format('UPDATE rt.events SET total_fatalities = total_fatalities + 1 WHERE id = %s', 900000000 + i)
                WHEN 'delete' THEN format('DELETE FROM rt.events WHERE id = %s', 900000000 + i)
                ELSE format($w$COPY rt.events (id, ev_id, event_date, injury_severity, total_fatalities)
                               FROM PROGRAM 'echo %s,RTC%s,2018-03-0%s,Non-Fatal,0' WITH (FORMAT csv)$w$, 910000000 + i, i, i)
            END;
            PERFORM dblink_exec('writer', w);
            SELECT r.status INTO st FROM ntsb_perf.refresh('rt.accident_stats_by_year') r
            WHERE r.view = 'rt.accident_stats_by_year'::regclass;
            INSERT INTO exact VALUES (k, i, st, pg_temp.year_matches());
        END LOOP;
    END LOOP;
END $$;
SELECT kind, count(*) AS rounds, count(*) FILTER (WHERE status = 'refreshed') AS refreshed,
       bool_and(matches) AS view_matches_data FROM exact GROUP BY kind ORDER BY kind;
-- TRUNCATE of a source (here a copy, to keep the data): the view that reads it is refreshed.
CREATE TABLE scratch (n int);
INSERT INTO scratch VALUES (1), (2);
CREATE MATERIALIZED VIEW scratch_total AS SELECT count(*) AS n FROM scratch;
SELECT ntsb_perf.schedule_refresh('scratch_total', '@daily', concurrently => false) > 0 AS scheduled;
SELECT status, rows FROM ntsb_perf.refresh('scratch_total');
SELECT dblink_exec('writer', 'TRUNCATE rt.scratch');
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');
SELECT n AS count_after_truncate FROM scratch_total;
-- The writer's shortcut: after its first mark since the last refresh, a backend's later
-- transactions write nothing (the mark row keeps the first one's xid) ...
CREATE FUNCTION pg_temp.writer_mark() RETURNS text LANGUAGE sql AS $f$
    SELECT x FROM dblink('writer', $$SELECT xid::text FROM ntsb_perf.refresh_change
        WHERE source = 'rt.scratch'::regclass AND backend = ntsb_perf.backend_slot()$$) AS t(x text)
$f$;
SELECT status FROM ntsb_perf.refresh('scratch_total');
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (10)');
SELECT pg_temp.writer_mark() AS first_mark \gset
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (11)');
SELECT dblink_exec('writer', 'UPDATE rt.scratch SET n = n WHERE n = 11');
SELECT pg_temp.writer_mark() = :'first_mark' AS later_writes_kept_first_mark;
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');
SELECT n AS count_with_shortcut FROM scratch_total;
-- ... and one in flight while a refresh takes its snapshot (it holds the tracking lock shared,
-- so the refresh is uncertain) is not missed: it commits after the snapshot, and the next
-- refresh runs again and sees it; then the view is certain again and skipped.
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (12)');
SELECT status FROM ntsb_perf.refresh('scratch_total');
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (13)');
SELECT pg_temp.writer_mark() AS mark13 \gset
SELECT dblink_exec('writer', 'BEGIN');
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (14)');
SELECT pg_temp.writer_mark() = :'mark13' AS in_flight_wrote_no_mark;
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');
SELECT dblink_exec('writer', 'COMMIT');
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');
SELECT n = (SELECT count(*) FROM scratch) AS view_matches_data FROM scratch_total;
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');
-- A mark written in a subtransaction that rolls back is not relied on by the next
-- transaction (which writes its own).
SELECT dblink_exec('writer', 'BEGIN');
SELECT dblink_exec('writer', 'SAVEPOINT s');
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (15)');
SELECT dblink_exec('writer', 'ROLLBACK TO SAVEPOINT s');
SELECT dblink_exec('writer', 'COMMIT');
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (16)');
SELECT status FROM ntsb_perf.refresh('scratch_total');
SELECT n = (SELECT count(*) FROM scratch) AS view_matches_data FROM scratch_total;
-- Writers keep the generation in memory until a refresh's commit invalidates it (issue 27). A
-- writer's transaction that began before a refresh committed, and already holds the table's
-- lock, writes after that refresh through a prepared statement (no parse, no new lock: nothing
-- on its way reads the invalidation queue): it still sees the new generation (the trigger reads
-- the queue when it takes its tracking lock) and writes its mark, so the next refresh sees its
-- change. (Without that read, this test fails: measured.) A refresh that rolls back changes
-- nothing.
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (20)');
SELECT status FROM ntsb_perf.refresh('scratch_total');
SELECT dblink_exec('writer', 'PREPARE ins(int) AS INSERT INTO rt.scratch VALUES ($1)');
SELECT dblink_exec('writer', 'EXECUTE ins(21)');
SELECT pg_temp.writer_mark() AS mark21 \gset
SELECT dblink_exec('writer', 'BEGIN');
SELECT dblink_exec('writer', 'LOCK TABLE rt.scratch IN ROW EXCLUSIVE MODE');
INSERT INTO scratch VALUES (23);
SELECT status FROM ntsb_perf.refresh('scratch_total');
SELECT dblink_exec('writer', 'EXECUTE ins(22)');
SELECT pg_temp.writer_mark() <> :'mark21' AS began_before_refresh_wrote_its_mark;
SELECT dblink_exec('writer', 'COMMIT');
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');
SELECT n = (SELECT count(*) FROM scratch) AS view_matches_data FROM scratch_total;
BEGIN;
SELECT status FROM ntsb_perf.refresh('scratch_total');
ROLLBACK;
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (24)');
SELECT dblink_exec('writer', 'DEALLOCATE ins');
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');
SELECT n = (SELECT count(*) FROM scratch) AS view_matches_data FROM scratch_total;
-- A writer that is neither owner nor superuser: its change is tracked like any other.
CREATE ROLE refresh_writer;
GRANT USAGE ON SCHEMA rt TO refresh_writer;
GRANT INSERT ON scratch TO refresh_writer;
SET ROLE refresh_writer;
INSERT INTO scratch VALUES (17);
RESET ROLE;
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');
SELECT n = (SELECT count(*) FROM scratch) AS view_matches_data FROM scratch_total;
-- A change not yet committed is not there to see: skipped; once committed, refreshed.
SELECT dblink_exec('writer', 'BEGIN');
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (3)');
SELECT status FROM ntsb_perf.refresh('scratch_total');
SELECT dblink_exec('writer', 'COMMIT');
SELECT status FROM ntsb_perf.refresh('scratch_total');
SELECT n AS count_after_commit FROM scratch_total;
-- A rolled-back change leaves nothing to refresh.
SELECT dblink_exec('writer', 'BEGIN');
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (4)');
SELECT dblink_exec('writer', 'ROLLBACK');
SELECT status FROM ntsb_perf.refresh('scratch_total');
-- A dropped and re-created tracking trigger (changes may have been missed meanwhile): refreshed.
DROP TRIGGER ntsb_perf_track_changes ON scratch;
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');
SELECT ntsb_perf.schedule_refresh('scratch_total', '@daily', concurrently => false) > 0 AS rescheduled;
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');
SELECT status, reason FROM ntsb_perf.refresh('scratch_total');

-- The same view is never refreshed twice at once: a second caller waits (here it gives up after
-- lock_timeout), then finds the work done.
SELECT dblink_exec('writer', 'INSERT INTO rt.scratch VALUES (5)');
SELECT dblink_exec('writer', 'BEGIN');
SELECT status FROM dblink('writer', $$SELECT status FROM ntsb_perf.refresh('rt.scratch_total')$$) AS t(status text);
SET lock_timeout = '300ms';
SELECT status FROM ntsb_perf.refresh('scratch_total');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET lock_timeout;
SELECT dblink_exec('writer', 'COMMIT');
SELECT status FROM ntsb_perf.refresh('scratch_total');

-- A view created WITH NO DATA is refreshed non-concurrently first, then concurrently.
CREATE MATERIALIZED VIEW severities AS SELECT injury_severity, count(*) AS n FROM events GROUP BY 1 WITH NO DATA;
CREATE UNIQUE INDEX ON severities (injury_severity);
SELECT status, reason, concurrent FROM ntsb_perf.refresh('severities');
SELECT status, reason, concurrent FROM ntsb_perf.refresh('severities', true);

-- Failure isolation: a view whose refresh fails keeps its old rows and is logged; the other
-- views of the same run are refreshed; a view reading the failed one is skipped.
CREATE TABLE knobs (k int PRIMARY KEY, divisor int);
INSERT INTO knobs VALUES (1, 1);
CREATE MATERIALIZED VIEW fragile AS SELECT k, 100 / divisor AS q FROM knobs;
CREATE UNIQUE INDEX ON fragile (k);
CREATE MATERIALIZED VIEW dashboard AS
    SELECT y.year, y.accidents, f.q FROM accident_stats_by_year y CROSS JOIN fragile f;
CREATE UNIQUE INDEX ON dashboard (year);
SELECT ntsb_perf.schedule_refresh('dashboard', '0 3 * * *') AS dash_job \gset
SELECT view, status FROM ntsb_perf.refresh('dashboard');
UPDATE knobs SET divisor = 0;
INSERT INTO events (id, ev_id, event_date, injury_severity, total_fatalities)
VALUES (920000000, 'RTF1', date '2017-01-01', 'Fatal', 1);
SELECT view, status, reason, error FROM ntsb_perf.refresh('dashboard');
SELECT q AS fragile_kept_old_rows FROM fragile;
SELECT view, status, error FROM ntsb_perf.refresh_log WHERE status = 'failed' ORDER BY id;
SELECT view, last_status, last_error IS NOT NULL AS has_error, sources_changed
FROM ntsb_perf.refresh_status ORDER BY view::text;

-- A real pg_cron run: the dashboard job (every minute) runs ntsb_perf.refresh; once the knob is
-- fixed, both refresh_log and cron.job_run_details show it.
UPDATE knobs SET divisor = 4;
SELECT max(id) AS log_before FROM ntsb_perf.refresh_log \gset
SELECT ntsb_perf.schedule_refresh('dashboard', '* * * * *') = :dash_job AS same_job;
CREATE PROCEDURE pg_temp.wait_for_cron(job bigint, after bigint) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM ntsb_perf.refresh_log WHERE id > after AND view = 'rt.dashboard'::regclass AND target = view)
              AND EXISTS (SELECT 1 FROM cron.job_run_details WHERE jobid = job AND status IN ('succeeded', 'failed'));
        COMMIT;
        PERFORM pg_sleep(1);
    END LOOP;
END $$;
CALL pg_temp.wait_for_cron(:dash_job, :log_before);
-- (Only the dashboard job's rows: the yearly view's own job, every 10 minutes, may run meanwhile.)
SELECT view, status, run_by FROM ntsb_perf.refresh_log WHERE id > :log_before AND target = 'dashboard'::regclass ORDER BY id;
SELECT status, return_message FROM cron.job_run_details WHERE jobid = :dash_job ORDER BY runid LIMIT 1;
SELECT view, last_status, job_last_status, job_last_run IS NOT NULL AS job_ran, sources_changed
FROM ntsb_perf.refresh_status WHERE view = 'dashboard'::regclass;

-- Unscheduling removes policy and job; a second time says so.
SELECT ntsb_perf.unschedule_refresh('dashboard');
SELECT ntsb_perf.unschedule_refresh('dashboard');
SELECT count(*) AS dashboard_jobs FROM cron.job WHERE jobid = :dash_job;
SELECT ntsb_perf.unschedule_refresh('accident_stats_by_year');
SELECT ntsb_perf.unschedule_refresh('scratch_total');
SELECT count(*) AS policies_left, (SELECT count(*) FROM cron.job) AS jobs_left FROM ntsb_perf.refresh_policy;

SELECT dblink_disconnect('writer');
RESET search_path;
DROP SCHEMA rt CASCADE;
DROP ROLE refresh_nobody;
DROP ROLE refresh_writer;
