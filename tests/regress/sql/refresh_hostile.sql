-- Refresh scheduling against hostile roles and odd objects: change marks nobody can
-- forge, look-alike triggers, views whose contents change without a table change, long view
-- names, dropped views, refresh_status for ordinary roles, NULL arguments. Two roles: rs_owner
-- (LOGIN: pg_cron runs its jobs as it) owns the views, rs_nobody has no privilege but reading.
CREATE EXTENSION IF NOT EXISTS ntsb_perf;
SET client_min_messages = warning;
-- A pg_cron of this file's own, so that its job ids start at 1 whatever ran before.
DROP EXTENSION IF EXISTS pg_cron;
CREATE EXTENSION pg_cron;
\set VERBOSITY terse
CREATE SCHEMA rs;
CREATE ROLE rs_owner LOGIN;
CREATE ROLE rs_nobody;
GRANT USAGE ON SCHEMA cron TO rs_owner;
GRANT USAGE, CREATE ON SCHEMA rs TO rs_owner;
GRANT USAGE ON SCHEMA rs TO rs_nobody;
SET search_path = rs, public;

SET ROLE rs_owner;
CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t SELECT g, g FROM generate_series(1, 10) g;
CREATE MATERIALIZED VIEW t_total AS SELECT count(*) AS n, sum(v) AS s FROM t;
CREATE UNIQUE INDEX ON t_total (n);
SELECT ntsb_perf.schedule_refresh('t_total', '@daily') AS t_job \gset
SELECT status, reason FROM ntsb_perf.refresh('t_total');
GRANT SELECT ON t TO rs_nobody;
RESET ROLE;
CREATE FUNCTION pg_temp.t_total_ok() RETURNS boolean LANGUAGE sql AS $$
    SELECT (n, s) = (SELECT count(*), sum(v) FROM rs.t) FROM rs.t_total
$$;

-- 3. Change marks: nobody but the tracking trigger writes them. A committed insert, then every
-- way an unprivileged role could write a mark fails, and the next refresh still refreshes.
SET ROLE rs_owner;
INSERT INTO t VALUES (11, 11);
RESET ROLE;
SET ROLE rs_nobody;
UPDATE ntsb_perf.refresh_change SET xid = '1';
\echo sqlstate :LAST_ERROR_SQLSTATE
INSERT INTO ntsb_perf.refresh_change VALUES ('rs.t'::regclass, 1, '1');
\echo sqlstate :LAST_ERROR_SQLSTATE
DELETE FROM ntsb_perf.refresh_change;
\echo sqlstate :LAST_ERROR_SQLSTATE
TRUNCATE ntsb_perf.refresh_change;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.track_change();
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) AS mark_writers FROM pg_proc
WHERE pronamespace = 'ntsb_perf'::regnamespace AND proname LIKE '%mark%';
-- Its own table with the tracking function as a trigger marks that table only.
CREATE TEMP TABLE mine (x int);
CREATE TRIGGER m AFTER INSERT ON mine FOR EACH ROW EXECUTE FUNCTION ntsb_perf.track_change();
INSERT INTO mine VALUES (1);
SELECT count(*) AS marks_for_mine FROM ntsb_perf.refresh_change WHERE source = 'mine'::regclass;
DROP TABLE mine;
RESET ROLE;
SELECT status, reason FROM ntsb_perf.refresh('t_total');
SELECT pg_temp.t_total_ok() AS view_matches_data;
-- A writer that is neither owner nor superuser writes its own mark through the trigger.
GRANT INSERT ON t TO rs_nobody;
SET ROLE rs_nobody;
INSERT INTO t VALUES (12, 12);
RESET ROLE;
SELECT status, reason FROM ntsb_perf.refresh('t_total');
SELECT pg_temp.t_total_ok() AS view_matches_data;
REVOKE INSERT ON t FROM rs_nobody;

-- Refresh state, policies and the log: nothing a non-owner can write; nothing an owner can
-- write about another role's view, even with look-alike functions first on its search_path.
CREATE MATERIALIZED VIEW admin_view AS SELECT count(*) AS n FROM t;
SELECT status FROM ntsb_perf.refresh('admin_view');
SET ROLE rs_nobody;
INSERT INTO ntsb_perf.refresh_state VALUES ('rs.t_total', pg_current_snapshot(), '{}', '', true, now());
\echo sqlstate :LAST_ERROR_SQLSTATE
WITH u AS (UPDATE ntsb_perf.refresh_state SET certain = true RETURNING 1) SELECT count(*) AS updated FROM u;
WITH d AS (DELETE FROM ntsb_perf.refresh_state RETURNING 1) SELECT count(*) AS deleted FROM d;
INSERT INTO ntsb_perf.refresh_policy (view, schedule, concurrent, skip_if_unchanged, jobid, job_name)
VALUES ('rs.t_total', '@daily', true, true, 1, 'x');
\echo sqlstate :LAST_ERROR_SQLSTATE
WITH u AS (UPDATE ntsb_perf.refresh_policy SET schedule = '@hourly' RETURNING 1) SELECT count(*) AS updated FROM u;
WITH d AS (DELETE FROM ntsb_perf.refresh_policy RETURNING 1) SELECT count(*) AS deleted FROM d;
INSERT INTO ntsb_perf.refresh_log (view, started_at, duration, status) VALUES ('rs.t_total', now(), '0', 'refreshed');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE rs_owner;
CREATE FUNCTION rs.pg_has_role(oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SET search_path = rs, pg_catalog;
WITH u AS (UPDATE ntsb_perf.refresh_state SET certain = true WHERE view = 'rs.admin_view'::regclass RETURNING 1)
SELECT count(*) AS updated FROM u;
INSERT INTO ntsb_perf.refresh_log (view, started_at, duration, status) VALUES ('rs.admin_view', now(), '0', 'refreshed');
\echo sqlstate :LAST_ERROR_SQLSTATE
SET search_path = rs, public;
DROP FUNCTION rs.pg_has_role(oid, text);
-- run_by is who wrote the row, whatever the row says.
INSERT INTO ntsb_perf.refresh_log (view, started_at, duration, status, run_by)
VALUES ('rs.t_total', now(), '0', 'refreshed', 'postgres') RETURNING status, run_by;
RESET ROLE;
SELECT count(*) AS admin_view_log_rows FROM ntsb_perf.refresh_log WHERE view = 'admin_view'::regclass;

-- 7. A policy row must name the job ntsb_perf created for that view and role: not another
-- view's job, not a job of another role, not a job by name. A superuser's schedule_refresh never
-- adopts a job it did not create.
SELECT cron.schedule('victim', '0 4 * * *', 'SELECT 1') AS victim_job \gset
SET ROLE rs_owner;
CREATE MATERIALIZED VIEW other AS SELECT max(v) AS m FROM t;
CREATE UNIQUE INDEX ON other (m);
INSERT INTO ntsb_perf.refresh_policy (view, schedule, concurrent, skip_if_unchanged, jobid, job_name)
VALUES ('other', '@daily', true, true, :victim_job, 'victim');
\echo sqlstate :LAST_ERROR_SQLSTATE
INSERT INTO ntsb_perf.refresh_policy (view, schedule, concurrent, skip_if_unchanged, jobid, job_name)
SELECT 'other', '@daily', true, true, jobid, job_name FROM ntsb_perf.refresh_policy WHERE view = 't_total'::regclass;
\echo sqlstate :LAST_ERROR_SQLSTATE
UPDATE ntsb_perf.refresh_policy SET jobid = :victim_job, job_name = 'victim' WHERE view = 't_total'::regclass;
\echo sqlstate :LAST_ERROR_SQLSTATE
UPDATE ntsb_perf.refresh_policy SET schedule = '@hourly' WHERE view = 't_total'::regclass;
\echo sqlstate :LAST_ERROR_SQLSTATE
UPDATE ntsb_perf.refresh_policy SET created_by = 'postgres' WHERE view = 't_total'::regclass;
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT ntsb_perf.schedule_refresh('other', '@daily') <> :victim_job AS own_job;
SELECT jobname, schedule, command FROM cron.job WHERE jobid = :victim_job;
-- The superuser changes rs_owner's schedule: the same job, still rs_owner's.
SELECT ntsb_perf.schedule_refresh('t_total', '0 5 * * *') = :t_job AS same_job;
SELECT username, schedule FROM cron.job WHERE jobid = :t_job;
SELECT created_by, schedule FROM ntsb_perf.refresh_policy WHERE view = 't_total'::regclass;
-- A job of the policy's name that the policy did not create is refused, not taken over.
SELECT ntsb_perf.unschedule_refresh('other');
SELECT cron.schedule(ntsb_perf._job_name('other'), '0 6 * * *', 'SELECT 2') AS squatter \gset
\set VERBOSITY sqlstate
SELECT ntsb_perf.schedule_refresh('other', '@daily');
\set VERBOSITY terse
SELECT schedule, command FROM cron.job WHERE jobid = :squatter;
SELECT cron.unschedule(:squatter);
-- A job run that finds no policy holding its job fails (42704) and leaves the job alone (during
-- a restore pg_cron's jobs come back before ntsb_perf's policies); so does any other job.
SELECT cron.schedule('orphan', '@daily', 'SELECT 1') AS orphan \gset
SELECT cron.schedule('orphan', '@daily', ntsb_perf._job_command(:orphan)) = :orphan AS same_job;
\set VERBOSITY sqlstate
SELECT ntsb_perf._scheduled_refresh(:orphan) AS views;
SELECT ntsb_perf._scheduled_refresh(:victim_job) AS views;
\set VERBOSITY terse
SELECT (SELECT count(*) FROM cron.job WHERE jobid = :orphan) AS orphan_jobs,
       (SELECT count(*) FROM cron.job WHERE jobid = :victim_job) AS victim_jobs;
SELECT cron.unschedule(:victim_job), cron.unschedule(:orphan);
-- A policy loaded before its job (pg_restore -j: pg_cron's and ntsb_perf's rows in parallel) is
-- kept without a job, with a warning; the job's first run attaches it again, run as the job's
-- role, and only to the job ntsb_perf created for it.
CREATE TEMP TABLE saved_policy AS SELECT * FROM ntsb_perf.refresh_policy WHERE view = 'rs.t_total'::regclass;
DELETE FROM ntsb_perf.refresh_policy WHERE view = 'rs.t_total'::regclass;
UPDATE cron.job SET jobname = jobname || ' (not yet)' WHERE jobid = :t_job;
INSERT INTO ntsb_perf.refresh_policy SELECT * FROM saved_policy;
UPDATE cron.job SET jobname = (SELECT job_name FROM saved_policy) WHERE jobid = :t_job;
SELECT jobid IS NULL AS detached, created_at = (SELECT created_at FROM saved_policy) AS created_at_kept
FROM ntsb_perf.refresh_policy WHERE view = 'rs.t_total'::regclass;
SET ROLE rs_nobody;
SELECT ntsb_perf._scheduled_refresh(:t_job) AS views;
\echo sqlstate :LAST_ERROR_SQLSTATE
SET ROLE rs_owner;
SELECT ntsb_perf._scheduled_refresh(:t_job) AS views;
RESET ROLE;
SELECT jobid = :t_job AS attached FROM ntsb_perf.refresh_policy WHERE view = 'rs.t_total'::regclass;

-- Two views whose 63-byte names share a 60-byte prefix (and one with multibyte characters at
-- the cut): one job each, each job refreshing its own view; unscheduling one keeps the other.
SET ROLE rs_owner;
CREATE MATERIALIZED VIEW "long_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_1" AS SELECT 1 AS one;
CREATE MATERIALIZED VIEW "long_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_2" AS SELECT 2 AS two;
CREATE MATERIALIZED VIEW "long_ééééééééééééééééééééééééééééé" AS SELECT 3 AS three;
SELECT ntsb_perf.schedule_refresh('"long_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_1"', '@daily', false) AS long1 \gset
SELECT ntsb_perf.schedule_refresh('"long_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_2"', '@daily', false) AS long2 \gset
SELECT ntsb_perf.schedule_refresh('"long_ééééééééééééééééééééééééééééé"', '@daily', false) AS long3 \gset
SELECT :long1 <> :long2 AS two_jobs, count(*) AS jobs, count(DISTINCT jobname) AS names,
       bool_and(octet_length(jobname) <= 63) AS names_fit,
       bool_and(command = ntsb_perf._job_command(j.jobid)) AS each_runs_its_policy
FROM cron.job j JOIN ntsb_perf.refresh_policy p ON p.jobid = j.jobid
WHERE j.jobid IN (:long1, :long2, :long3);
SELECT octet_length(jobname) BETWEEN 62 AND 63 AS cut_at_a_character,
       jobname LIKE 'ntsb_perf refresh % rs."long_éé%' AS readable
FROM cron.job WHERE jobid = :long3;
SELECT ntsb_perf.unschedule_refresh('"long_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_1"');
SELECT jobid = :long2 AS second_job_kept FROM cron.job WHERE jobid IN (:long1, :long2);
RESET ROLE;

-- 4. A look-alike trigger (our name, another function) by a role holding TRIGGER on the table
-- is not change tracking: such a table is refreshed every time, and scheduling says why.
CREATE TABLE la (x int);
INSERT INTO la VALUES (1);
CREATE MATERIALIZED VIEW la_total AS SELECT count(*) AS n FROM la;
GRANT TRIGGER ON la TO rs_owner;
SET ROLE rs_owner;
CREATE FUNCTION rs.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER ntsb_perf_track_changes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON la
    FOR EACH STATEMENT EXECUTE FUNCTION rs.noop();
CREATE TRIGGER ntsb_perf_track_replica AFTER INSERT OR UPDATE OR DELETE ON la
    FOR EACH ROW EXECUTE FUNCTION rs.noop();
RESET ROLE;
SELECT status, reason FROM ntsb_perf.refresh('la_total');
INSERT INTO la VALUES (2);
SELECT status, reason FROM ntsb_perf.refresh('la_total');
SELECT ntsb_perf.schedule_refresh('la_total', '@daily', false);
\echo sqlstate :LAST_ERROR_SQLSTATE
DROP TRIGGER ntsb_perf_track_changes ON la;
DROP TRIGGER ntsb_perf_track_replica ON la;
SELECT ntsb_perf.schedule_refresh('la_total', '@daily', false) > 0 AS scheduled;
SELECT tgname, tgenabled, tgfoid::regproc FROM pg_trigger WHERE tgrelid = 'la'::regclass ORDER BY tgname;
SELECT status, reason FROM ntsb_perf.refresh('la_total');
SELECT status, reason FROM ntsb_perf.refresh('la_total');
-- Ours, but enabled only for the origin (not in an apply worker), or disabled: not tracking.
ALTER TABLE la ENABLE TRIGGER ntsb_perf_track_changes;
SELECT status, reason FROM ntsb_perf.refresh('la_total');
ALTER TABLE la ENABLE ALWAYS TRIGGER ntsb_perf_track_changes;
ALTER TABLE la DISABLE TRIGGER ntsb_perf_track_replica;
SELECT status, reason FROM ntsb_perf.refresh('la_total');
SELECT ntsb_perf.schedule_refresh('la_total', '@daily', false) > 0 AS rescheduled;
SELECT status, reason FROM ntsb_perf.refresh('la_total');
SELECT status, reason FROM ntsb_perf.refresh('la_total');
-- A table the caller does not own and that lacks tracking: 42501, nothing created.
CREATE TABLE la2 (x int);
GRANT TRIGGER ON la2 TO rs_owner;
GRANT SELECT ON la2 TO rs_owner;
SET ROLE rs_owner;
CREATE MATERIALIZED VIEW la2_total AS SELECT count(*) AS n FROM la2;
SELECT ntsb_perf.schedule_refresh('la2_total', '@daily', false);
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS la2_triggers FROM pg_trigger WHERE tgrelid = 'la2'::regclass;

-- 6. Views whose contents change while no table they read does: never skipped, and the reason
-- names the function (a SQL function reading a table, the clock, an operator's or a cast's
-- function, CURRENT_DATE, a view it reads). An immutable-only view is skipped.
CREATE FUNCTION t_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM rs.t';
CREATE TABLE dates (d text);
INSERT INTO dates VALUES ('2020-01-01');
CREATE VIEW clock_v AS SELECT now() AS at;
CREATE MATERIALIZED VIEW via_fn AS SELECT t_count() AS n;
CREATE MATERIALIZED VIEW via_clock AS SELECT now() AS at;
CREATE MATERIALIZED VIEW via_operator AS SELECT 'n=' || count(*) AS n FROM t;
CREATE MATERIALIZED VIEW via_cast AS SELECT d::date AS d FROM dates;
CREATE MATERIALIZED VIEW via_current_date AS SELECT CURRENT_DATE AS today;
CREATE MATERIALIZED VIEW via_view AS SELECT at FROM clock_v;
CREATE MATERIALIZED VIEW immutable_only AS SELECT count(*) AS n, sum(v * 2) AS s FROM t WHERE v::numeric > 0.5;
CREATE TEMP TABLE vol_views (v regclass);
INSERT INTO vol_views VALUES ('via_fn'), ('via_clock'), ('via_operator'), ('via_cast'),
    ('via_current_date'), ('via_view'), ('immutable_only');
SELECT v, (SELECT r.status FROM ntsb_perf.refresh(v) r WHERE r.view = v) AS first FROM vol_views;
INSERT INTO t VALUES (13, 13);
SELECT v, r.status, r.reason FROM vol_views, LATERAL ntsb_perf.refresh(v) r WHERE r.view = v;
SELECT n = (SELECT count(*) FROM t) AS via_fn_matches FROM via_fn;
SELECT v, r.status, r.reason FROM vol_views, LATERAL ntsb_perf.refresh(v) r WHERE r.view = v;

-- 8. Dropping a scheduled view removes its policy, its job, its state and its log rows.
SET ROLE rs_owner;
CREATE MATERIALIZED VIEW dropme AS SELECT count(*) AS n FROM t;
SELECT ntsb_perf.schedule_refresh('dropme', '@daily', false) AS drop_job \gset
SELECT 'dropme'::regclass::oid AS drop_oid \gset
SELECT status FROM ntsb_perf.refresh('dropme');
DROP MATERIALIZED VIEW dropme;
RESET ROLE;
SELECT (SELECT count(*) FROM cron.job WHERE jobid = :drop_job) AS jobs,
       (SELECT count(*) FROM ntsb_perf.refresh_policy WHERE view = :drop_oid) AS policies,
       (SELECT count(*) FROM ntsb_perf.refresh_state WHERE view = :drop_oid) AS states,
       (SELECT count(*) FROM ntsb_perf.refresh_log WHERE view = :drop_oid) AS log_rows;
-- Without the event trigger, the next run of the job (a real pg_cron run, as rs_owner) finds
-- the view gone, removes policy and job, and logs it.
ALTER EVENT TRIGGER ntsb_perf_forget_dropped DISABLE;
SET ROLE rs_owner;
CREATE MATERIALIZED VIEW dropme2 AS SELECT count(*) AS n FROM t;
SELECT ntsb_perf.schedule_refresh('dropme2', '* * * * *', false) AS drop_job2 \gset
SELECT 'dropme2'::regclass::oid AS drop_oid2 \gset
DROP MATERIALIZED VIEW dropme2;
RESET ROLE;
ALTER EVENT TRIGGER ntsb_perf_forget_dropped ENABLE ALWAYS;
SELECT count(*) AS stale_policies FROM ntsb_perf.refresh_policy WHERE view = :drop_oid2;
CREATE PROCEDURE pg_temp.wait_for_cleanup(rel oid) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..150 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM ntsb_perf.refresh_log WHERE view = rel AND status = 'dropped');
        COMMIT;
        PERFORM pg_sleep(1);
    END LOOP;
END $$;
CALL pg_temp.wait_for_cleanup(:drop_oid2);
SELECT status, reason = format('the materialized view no longer exists: its policy and pg_cron job %s were removed', :drop_job2) AS says_so, run_by
FROM ntsb_perf.refresh_log WHERE view = :drop_oid2;
SELECT (SELECT count(*) FROM cron.job WHERE jobid = :drop_job2) AS jobs,
       (SELECT count(*) FROM ntsb_perf.refresh_policy WHERE view = :drop_oid2) AS policies;

-- 11. refresh_status works for every role; pg_cron's columns only where pg_cron shows the job.
SET ROLE rs_nobody;
SELECT view, job_active, last_status FROM ntsb_perf.refresh_status ORDER BY view::text;
RESET ROLE;
SET ROLE rs_owner;
SELECT view, job_active, last_status FROM ntsb_perf.refresh_status ORDER BY view::text;
RESET ROLE;

-- The only SECURITY DEFINER functions (cleanup after a DROP) run with a fixed search_path, do
-- nothing for a relation that exists, and the event trigger's cannot be called directly.
SELECT proname, proconfig FROM pg_proc
WHERE pronamespace = 'ntsb_perf'::regnamespace AND prosecdef ORDER BY proname;
SET ROLE rs_nobody;
SELECT ntsb_perf._forget('rs.t_total'::regclass::oid, true) AS removed_job;
SELECT ntsb_perf._on_sql_drop();
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS t_total_policy_kept FROM ntsb_perf.refresh_policy WHERE view = 'rs.t_total'::regclass;

-- NULL into every refresh function.
SELECT count(*) AS plan_rows FROM ntsb_perf.refresh_plan(NULL);
SELECT count(*) AS source_rows FROM ntsb_perf.refresh_sources(NULL);
SELECT ntsb_perf.refresh(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT status FROM ntsb_perf.refresh('t_total', NULL);
SELECT ntsb_perf.unschedule_refresh(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.schedule_refresh('t_total', '@daily', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.schedule_refresh('t_total', '@daily', true, NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf._scheduled_refresh(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.parse_cron(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.cron_schedule_is_valid(NULL) IS NULL AS null_out, ntsb_perf._forget(NULL) IS NULL AS forget_null,
       ntsb_perf._nondeterminism(NULL) IS NULL AS nondet_null;

-- Cleanup: dropping the schema removes every policy and job in it.
SET ROLE rs_owner;
SELECT ntsb_perf.unschedule_refresh('t_total');
RESET ROLE;
RESET search_path;
DROP SCHEMA rs CASCADE;
SELECT count(*) AS policies_left FROM ntsb_perf.refresh_policy;
SELECT count(*) AS jobs_left FROM cron.job;
REVOKE ALL ON SCHEMA cron FROM rs_owner;
DROP ROLE rs_owner;
DROP ROLE rs_nobody;
