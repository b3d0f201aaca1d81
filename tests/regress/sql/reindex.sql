-- Auto-reindex: the plan against index_bloat, dry run, rebuilds through the background
-- worker as the calling role (amcheck after each), the worker's errors forwarded as they are,
-- refusals before any worker starts, waits that give up cleanly, a terminated worker, a cancelled
-- caller, leftovers dropped, partitions, baselines, one run per database, and the pg_cron schedule
-- with a real run. Output that holds pids, times or sizes is turned into booleans.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ntsb_perf;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS amcheck;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE ROLE ri_owner LOGIN;
CREATE ROLE ri_other LOGIN;
CREATE ROLE ri_nologin NOLOGIN;
GRANT pg_stat_scan_tables TO ri_owner, ri_other, ri_nologin;
GRANT ri_owner TO ri_nologin;  -- may rebuild ri_owner's indexes, but not log in
CREATE SCHEMA ri AUTHORIZATION ri_owner;
GRANT USAGE ON SCHEMA ri TO ri_other, ri_nologin;
GRANT USAGE ON SCHEMA cron TO ri_owner;  -- pg_cron lets a role schedule its own jobs with this
SELECT format('host=%s port=%s dbname=%s user=postgres', current_setting('unix_socket_directories'),
              current_setting('port'), current_database()) AS conninfo \gset
SET ROLE ri_owner;
CREATE TABLE ri.flags (fail boolean, report_settings boolean DEFAULT false);
INSERT INTO ri.flags VALUES (false);
-- An index expression that fails on demand, or reports the settings of the session that
-- evaluates it (it lies about being immutable: test only).
CREATE FUNCTION ri.check_v(v text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF (SELECT fail FROM ri.flags) THEN RAISE EXCEPTION 'induced failure' USING ERRCODE = 'P0001'; END IF;
    IF (SELECT report_settings FROM ri.flags) THEN
        RAISE EXCEPTION 'built with maintenance_work_mem %, max_parallel_maintenance_workers %, lock_timeout %, as %',
            current_setting('maintenance_work_mem'), current_setting('max_parallel_maintenance_workers'),
            current_setting('lock_timeout'), current_user USING ERRCODE = 'P0002';
    END IF;
    RETURN v;
END $$;
CREATE TABLE ri.t (id int PRIMARY KEY, v text, b box);
INSERT INTO ri.t SELECT g, md5(g::text), box(point(g, g), point(g + 1, g + 1)) FROM generate_series(1, 60000) g;
CREATE INDEX t_v ON ri.t (v);
CREATE INDEX t_b ON ri.t USING gist (b);
CREATE INDEX t_expr ON ri.t (ri.check_v(v));
DELETE FROM ri.t WHERE id % 10 <> 0;
VACUUM ri.t;
RESET ROLE;

-- The plan: candidates with their reason and statement, most reclaimable first; its figures are
-- index_bloat's.
SET ROLE ri_owner;
CREATE TEMP TABLE plan1 AS SELECT * FROM ntsb_perf.reindex_plan(min_bytes => 100000, schema_name => 'ri');
SELECT index_name, access_method, reason ~ '^bloat ratio [0-9.]+ >= 1.3; leaf density' AS reason_named, statement
FROM plan1 ORDER BY reclaimable_bytes DESC, index_name;
SELECT bool_and(p.bloat_ratio = b.bloat_ratio AND p.reclaimable_bytes = b.reclaimable_bytes
                AND p.avg_leaf_density IS NOT DISTINCT FROM b.avg_leaf_density) AS figures_are_index_bloats
FROM plan1 p, LATERAL ntsb_perf.index_bloat(p.index_oid::regclass) b;
-- Another role sees no candidate of ri_owner's tables, and is told how many it skipped.
SET ROLE ri_other;
SET client_min_messages = notice;
SELECT count(*) AS others_candidates FROM ntsb_perf.reindex_plan(min_bytes => 100000, schema_name => 'ri');
SET client_min_messages = warning;
SET ROLE ri_owner;
\set VERBOSITY terse
SELECT * FROM ntsb_perf.reindex_plan(min_bloat_ratio => 0);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.reindex_plan(max_leaf_density => NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- Dry run: what it would do, in order; nothing changes.
-- (The leaf densities below follow the server's pgstatindex, which from PostgreSQL 18 on counts
-- a leaf page's free space 4 bytes larger: t_pkey's 9.3% is 9.2% there. expected/reindex_1.out
-- holds that output, the only difference.)
SELECT count(*) AS history_before FROM ntsb_perf.reindex_history;
SET client_min_messages = notice;
CALL ntsb_perf.auto_reindex(min_bytes => 100000, schema_name => 'ri');
SET client_min_messages = warning;
SELECT count(*) AS history_after_dry_run FROM ntsb_perf.reindex_history;

-- Refusals before any worker starts.
\set VERBOSITY terse
BEGIN;
CALL ntsb_perf.reindex_index('ri.t_v');
\echo sqlstate :LAST_ERROR_SQLSTATE
ROLLBACK;
CALL ntsb_perf.reindex_index(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
CALL ntsb_perf.reindex_index('ri.t');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE ri_nologin;
CALL ntsb_perf.reindex_index('ri.t_v');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- Another role's index: refused before any worker starts (42501), and no history row about it.
SET ROLE ri_other;
CALL ntsb_perf.reindex_index('ri.t_v');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
\set VERBOSITY default
SELECT status, sqlstate, error, run_by, triggered_by FROM ntsb_perf.reindex_history ORDER BY id;
-- Nobody writes the history or the baselines but the rebuild itself.
SET ROLE ri_other;
\set VERBOSITY terse
INSERT INTO ntsb_perf.reindex_history (index_name, table_name, started_at, duration, bytes_before, status,
                                       triggered_by, run_by, statement)
VALUES ('x', 'x', now(), '0', 0, 'done', 'manual', 'postgres', 'x');
\echo sqlstate :LAST_ERROR_SQLSTATE
DELETE FROM ntsb_perf.reindex_baseline;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf._reindex_finish(1, NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;

-- A real run: every candidate rebuilt one at a time; a failing one (its expression raises) is
-- recorded with the worker's error and the run goes on.
UPDATE ri.flags SET fail = true;
SET ROLE ri_owner;
CALL ntsb_perf.auto_reindex(dry_run => false, min_bytes => 100000, schema_name => 'ri');
RESET ROLE;
UPDATE ri.flags SET fail = false;
SELECT h.index_name, h.status, h.sqlstate, h.error, h.triggered_by, h.run_by,
       h.bytes_after < h.bytes_before AS smaller,
       abs((h.bytes_before - h.bytes_after) - h.predicted_reclaim) <= 0.1 * h.predicted_reclaim AS reclaim_as_predicted,
       h.density_after > h.density_before AS denser
FROM ntsb_perf.reindex_history h WHERE h.triggered_by = 'auto' ORDER BY h.id;
SELECT bt_index_check('ri.t_v', true)::text = '' AS t_v_checks, bt_index_check('ri.t_pkey', true)::text = '' AS pkey_checks;
-- GiST (no amcheck in 15): an index scan returns what a sequential scan returns.
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*) AS via_index FROM ri.t WHERE b && box(point(0, 0), point(30000, 30000));
RESET enable_seqscan; RESET enable_bitmapscan;
SET enable_indexscan = off; SET enable_bitmapscan = off;
SELECT count(*) AS via_seqscan FROM ri.t WHERE b && box(point(0, 0), point(30000, 30000));
RESET enable_indexscan; RESET enable_bitmapscan;
-- The failed rebuild left no invalid index behind; every index is valid.
SELECT count(*) AS invalid_indexes FROM pg_index WHERE indrelid = 'ri.t'::regclass AND NOT indisvalid;
-- Baselines: right after a rebuild nothing is a candidate again, not even with thresholds the
-- fresh figures meet (a fresh GiST is below 99% density).
SELECT count(*) AS baselines FROM ntsb_perf.reindex_baseline b JOIN pg_class c ON c.oid = b.index_oid
WHERE c.relnamespace = 'ri'::regnamespace;
SET ROLE ri_owner;
SELECT index_name FROM ntsb_perf.reindex_plan(min_bytes => 100000, max_leaf_density => 99, schema_name => 'ri')
WHERE index_name <> 't_expr' ORDER BY 1;
CREATE INDEX t_b_fresh ON ri.t USING gist (b);
SELECT index_name, reason FROM ntsb_perf.reindex_plan(min_bytes => 0, min_bloat_ratio => 100, max_leaf_density => 99,
                                                     schema_name => 'ri') WHERE index_name = 't_b_fresh';
CALL ntsb_perf.reindex_index('ri.t_b_fresh');
SELECT count(*) AS t_b_fresh_after_baseline FROM ntsb_perf.reindex_plan(min_bytes => 0, min_bloat_ratio => 100,
       max_leaf_density => 99, schema_name => 'ri') WHERE index_name = 't_b_fresh';
RESET ROLE;

-- lock_timeout of the caller applies in the worker: another session holds a conflicting lock.
SELECT dblink_connect('holder', :'conninfo');
SELECT dblink_exec('holder', 'BEGIN');
SELECT dblink_exec('holder', 'LOCK TABLE ri.t IN SHARE UPDATE EXCLUSIVE MODE');
SET ROLE ri_owner;
SET lock_timeout = '200ms';
\set VERBOSITY terse
CALL ntsb_perf.reindex_index('ri.t_v');
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET lock_timeout;
RESET ROLE;
SELECT dblink_exec('holder', 'COMMIT');
-- The caller's maintenance_work_mem, max_parallel_maintenance_workers and lock_timeout are the
-- worker's too: the index expression, evaluated by the rebuild in the worker, reports them.
UPDATE ri.flags SET report_settings = true;
SELECT set_config('role', 'ri_owner', false), set_config('maintenance_work_mem', '7MB', false),
       set_config('max_parallel_maintenance_workers', '1', false), set_config('lock_timeout', '4s', false);
\set VERBOSITY terse
CALL ntsb_perf.reindex_index('ri.t_expr');
\set VERBOSITY default
RESET ALL;  -- (role, the three settings; client_min_messages back to warning below)
SET client_min_messages = warning;
\echo sqlstate :LAST_ERROR_SQLSTATE
UPDATE ri.flags SET report_settings = false;
SELECT count(*) AS invalid_indexes FROM pg_index WHERE indrelid = 'ri.t'::regclass AND NOT indisvalid;

-- An old snapshot elsewhere: the rebuild waits for it; max_wait gives up, cancels the worker,
-- drops its leftover, and the history says why.
SELECT dblink_exec('holder', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT n > 0 AS holder_has_snapshot FROM dblink('holder', 'SELECT count(*) FROM pg_class') AS x(n bigint);
SET ROLE ri_owner;
\set VERBOSITY sqlstate
CALL ntsb_perf.reindex_index('ri.t_v', max_wait => '1 s');
\set VERBOSITY default
RESET ROLE;
SELECT status, sqlstate, error ~ '^gave up after waiting .* waiting for old snapshots for pid [0-9]+: ' AS says_why
FROM ntsb_perf.reindex_history ORDER BY id DESC LIMIT 1;
SELECT count(*) AS invalid_indexes FROM pg_index WHERE indrelid = 'ri.t'::regclass AND NOT indisvalid;
-- The watchers below poll with fresh statistics each time (some run in another session, through
-- dblink): act_when_waiting waits until a rebuild waits for another session, then records what
-- reindex_status shows, or cancels or terminates the pid given (the rebuild's worker when NULL);
-- workers_gone waits until no reindex worker is left. (Procedures, called non-atomically like
-- DO, so they hold no snapshot while they poll.)
CREATE PROCEDURE ri.act_when_waiting(action text, target int DEFAULT NULL) LANGUAGE plpgsql AS $$
DECLARE p int;
BEGIN
    FOR i IN 1 .. 400 LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT pid INTO p FROM ntsb_perf.reindex_status WHERE phase LIKE 'waiting for%' LIMIT 1;
        EXIT WHEN p IS NOT NULL;
        PERFORM pg_sleep(0.025);
    END LOOP;
    IF action = 'record' THEN  -- what reindex_status shows meanwhile
        CREATE TABLE ri.status_seen AS SELECT statement, phase, waiting_for_pid IS NOT NULL AS knows_pid,
            waiting_for_query IS NOT NULL AS knows_query, waiting_for_xact_start IS NOT NULL AS knows_since,
            running_for > '0' AS running FROM ntsb_perf.reindex_status;
    ELSIF action = 'terminate' THEN
        PERFORM pg_terminate_backend(coalesce(target, p));
    ELSIF action = 'cancel' THEN
        PERFORM pg_cancel_backend(coalesce(target, p));
    END IF;
END $$;
CREATE PROCEDURE ri.workers_gone() LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 400 LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'ntsb_perf reindex');
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
-- While it waits, reindex_status shows the phase and whom it waits for (seen from another session).
SELECT dblink_connect('watch', :'conninfo');
SELECT dblink_send_query('watch', $q$CALL ri.act_when_waiting('record')$q$);
SET ROLE ri_owner;
\set VERBOSITY sqlstate
CALL ntsb_perf.reindex_index('ri.t_v', max_wait => '2 s');
\set VERBOSITY default
RESET ROLE;
SELECT * FROM dblink_get_result('watch') AS r(x text);
SELECT * FROM dblink_get_result('watch') AS r(x text);  -- (the end of that result)
SELECT * FROM ri.status_seen;
-- A worker terminated mid-rebuild (pg_terminate_backend from another session): the caller says
-- so, the history records it, nothing is lost, no invalid index stays.
SELECT dblink_send_query('watch', $q$CALL ri.act_when_waiting('terminate')$q$);
SET ROLE ri_owner;
\set VERBOSITY sqlstate
CALL ntsb_perf.reindex_index('ri.t_v', max_wait => '30 s');  -- max_wait: only a safety net here
\set VERBOSITY default
RESET ROLE;
SELECT * FROM dblink_get_result('watch') AS r(x text);
SELECT * FROM dblink_get_result('watch') AS r(x text);  -- (the end of that result)
SELECT status, error FROM ntsb_perf.reindex_history ORDER BY id DESC LIMIT 1;
SELECT count(*) AS rows_kept FROM ri.t;
-- The caller cancelled while it waits (pg_cancel_backend): the worker is stopped with it, drops
-- what its rebuild left and records the run cancelled.
SELECT pg_backend_pid() AS me \gset
SELECT dblink_send_query('watch', format('CALL ri.act_when_waiting(%L, %s)', 'cancel', :me));
SET ROLE ri_owner;
\set VERBOSITY sqlstate
CALL ntsb_perf.reindex_index('ri.t_v', max_wait => '30 s');  -- max_wait: only a safety net here
\set VERBOSITY default
RESET ROLE;
SELECT * FROM dblink_get_result('watch') AS r(x text);
SELECT * FROM dblink_get_result('watch') AS r(x text);  -- (the end of that result)
SELECT dblink_exec('holder', 'COMMIT');
CALL ri.workers_gone();  -- the worker goes away with its caller
SELECT count(*) AS workers_left FROM pg_stat_activity WHERE backend_type = 'ntsb_perf reindex';
SELECT count(*) > 0 AS leftover_before FROM pg_index WHERE indrelid = 'ri.t'::regclass AND NOT indisvalid;
SET ROLE ri_owner;
CALL ntsb_perf.auto_reindex(dry_run => false, min_bytes => 100000, schema_name => 'ri');
RESET ROLE;
SELECT count(*) AS invalid_after_auto_reindex FROM pg_index WHERE indrelid = 'ri.t'::regclass AND NOT indisvalid;

-- The worker cancelled from outside (pg_cancel_backend of its pid): the caller raises the
-- worker's own 57014, the history says failed, and the rebuild's leftover is dropped at once.
SELECT dblink_exec('holder', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT n > 0 AS holder_has_snapshot FROM dblink('holder', 'SELECT count(*) FROM pg_class') AS x(n bigint);
SELECT dblink_send_query('watch', $q$CALL ri.act_when_waiting('cancel')$q$);
SET ROLE ri_owner;
\set VERBOSITY terse
CALL ntsb_perf.reindex_index('ri.t_v', max_wait => '30 s');  -- max_wait: only a safety net here
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;
SELECT * FROM dblink_get_result('watch') AS r(x text);
SELECT * FROM dblink_get_result('watch') AS r(x text);  -- (the end of that result)
SELECT status, sqlstate, error FROM ntsb_perf.reindex_history ORDER BY id DESC LIMIT 1;
SELECT count(*) AS invalid_indexes FROM pg_index WHERE indrelid = 'ri.t'::regclass AND NOT indisvalid;
-- The caller's statement_timeout ends the wait like a cancel: the worker goes with it.
SET ROLE ri_owner;
SET statement_timeout = '1s';
\set VERBOSITY terse
CALL ntsb_perf.reindex_index('ri.t_v');
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET statement_timeout;
RESET ROLE;
CALL ri.workers_gone();
SELECT count(*) AS workers_left_after_statement_timeout FROM pg_stat_activity WHERE backend_type = 'ntsb_perf reindex';
SELECT dblink_exec('holder', 'COMMIT');

-- An auto_reindex that ends in an error (statement_timeout while its rebuild waits) gives up its
-- one-run lock with the transaction: no other session is kept from running one.
SET ROLE ri_owner;
-- Keys inserted in descending order split each leaf in half: about 50% leaf density by
-- construction. (A DELETE and VACUUM made it sparse before, but a VACUUM that runs while any
-- other snapshot in the database (an autoanalyze) is older than the DELETE removes nothing, the
-- plan came out empty and the call ended before its timeout: seen once on 15 and once on 17.)
CREATE TABLE ri.lockt (id int);
CREATE INDEX lockt_id ON ri.lockt (id);
INSERT INTO ri.lockt SELECT g FROM generate_series(100000, 1, -1) g;
SELECT index_name, avg_leaf_density < 70 AS sparse
FROM ntsb_perf.reindex_plan(min_bytes => 100000, schema_name => 'ri') WHERE index_name = 'lockt_id';
RESET ROLE;
SELECT dblink_exec('holder', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT n > 0 AS holder_has_snapshot FROM dblink('holder', 'SELECT count(*) FROM pg_class') AS x(n bigint);
SET ROLE ri_owner;
SET statement_timeout = '2s';
\set VERBOSITY terse
CALL ntsb_perf.auto_reindex(dry_run => false, min_bytes => 100000, schema_name => 'ri');
\set VERBOSITY default
RESET statement_timeout;
RESET ROLE;
SELECT count(*) AS run_lock_kept FROM pg_locks
WHERE locktype = 'object' AND classid = 'pg_authid'::regclass AND objsubid = 1 AND pid = pg_backend_pid();
SELECT dblink_exec('holder', 'COMMIT');

-- The caller terminated while it waits (pg_terminate_backend of the calling session): its worker
-- goes with it (the abort callback runs on the way out), drops what it left and records its
-- history row (written 'running' when it started) terminated, at once.
SELECT max(id) AS before_terminated FROM ntsb_perf.reindex_history \gset
SELECT dblink_exec('holder', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT n > 0 AS holder_has_snapshot FROM dblink('holder', 'SELECT count(*) FROM pg_class') AS x(n bigint);
SELECT dblink_connect('caller', replace(:'conninfo', 'user=postgres', 'user=ri_owner'));
SELECT dblink_send_query('caller', $q$CALL ntsb_perf.reindex_index('ri.t_v', max_wait => '30 s')$q$);
DO $$ DECLARE p int; BEGIN
    FOR i IN 1 .. 400 LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN EXISTS (SELECT 1 FROM ntsb_perf.reindex_status WHERE phase LIKE 'waiting for%');
        PERFORM pg_sleep(0.025);
    END LOOP;
    SELECT pid INTO p FROM pg_stat_activity WHERE query LIKE 'CALL ntsb_perf.reindex_index(''ri.t_v''%'
                                            AND backend_type = 'client backend';
    IF (SELECT status FROM ntsb_perf.reindex_history ORDER BY id DESC LIMIT 1) <> 'running' THEN
        RAISE EXCEPTION 'the waiting rebuild has no running history row';
    END IF;
    PERFORM pg_terminate_backend(p);
    FOR i IN 1 .. 200 LOOP  -- the worker goes away with its caller, and the caller is gone
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'ntsb_perf reindex' OR pid = p);
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT count(*) AS workers_left_after_caller_terminated FROM pg_stat_activity WHERE backend_type = 'ntsb_perf reindex';
SELECT dblink_disconnect('caller');
SELECT dblink_exec('holder', 'COMMIT');
SET ROLE ri_owner;
CALL ntsb_perf.auto_reindex(dry_run => false, min_bytes => 100000, schema_name => 'ri');
RESET ROLE;
SELECT count(*) AS invalid_after_auto_reindex FROM pg_index WHERE indrelid = 'ri.t'::regclass AND NOT indisvalid;
SELECT index_name, status, duration IS NULL AS no_duration, regexp_replace(error, 'pid [0-9]+', 'pid N') AS error
FROM ntsb_perf.reindex_history WHERE id > :before_terminated AND status <> 'done' ORDER BY id;

-- No worker slot free (max_worker_processes is 16 here): 53400 with a hint, nothing started.
-- Sixteen superuser sessions (not held to ntsb_perf.max_rebuild_workers) each start a rebuild
-- that waits for an old snapshot, taking every slot.
SELECT dblink_exec('holder', 'BEGIN ISOLATION LEVEL REPEATABLE READ');
SELECT n > 0 AS holder_has_snapshot FROM dblink('holder', 'SELECT count(*) FROM pg_class') AS x(n bigint);
SELECT count(*) AS fillers FROM (
    SELECT dblink_connect('fill' || g, :'conninfo'),
           dblink_send_query('fill' || g, $q$CALL ntsb_perf.reindex_index('ri.t_b', max_wait => '60 s')$q$)
    FROM generate_series(1, 16) g) x;
DO $$ DECLARE n int; last int := -1; same int := 0; BEGIN  -- until the count of workers settles
    FOR i IN 1 .. 400 LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT count(*) INTO n FROM pg_stat_activity WHERE backend_type = 'ntsb_perf reindex';
        IF n = last AND n > 0 THEN same := same + 1; ELSE same := 0; END IF;
        EXIT WHEN same >= 20;
        last := n;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT count(*) AS history_rows FROM ntsb_perf.reindex_history \gset
SET ROLE ri_owner;
\set VERBOSITY terse
CALL ntsb_perf.reindex_index('ri.t_v', max_wait => '5 s');  -- max_wait: a safety net only
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;
SELECT count(*) = :history_rows AS nothing_recorded FROM ntsb_perf.reindex_history;
SELECT count(*) AS cancelled FROM (SELECT dblink_cancel_query('fill' || g) FROM generate_series(1, 16) g) x;
SELECT count(*) AS closed FROM (SELECT dblink_disconnect('fill' || g) FROM generate_series(1, 16) g) x;
SELECT dblink_exec('holder', 'COMMIT');
CALL ri.workers_gone();
SELECT count(*) AS workers_left FROM pg_stat_activity WHERE backend_type = 'ntsb_perf reindex';
SET ROLE ri_owner;
CALL ntsb_perf.auto_reindex(dry_run => false, min_bytes => 100000, schema_name => 'ri');
RESET ROLE;
SELECT count(*) AS invalid_after_auto_reindex FROM pg_index WHERE indrelid = 'ri.t'::regclass AND NOT indisvalid;

-- One auto_reindex per role and database: while another session of ri_owner runs one (holds its
-- run lock), a second one says so at once and does nothing. (reindex_hostile.sql:
-- no other role can take it, advisory keys do nothing.)
SELECT dblink_connect('ownerlock', replace(:'conninfo', 'user=postgres', 'user=ri_owner'));
SELECT * FROM dblink('ownerlock', 'SELECT ntsb_perf._reindex_run_lock()::text') AS x(locked text);
SELECT count(*) AS history_rows FROM ntsb_perf.reindex_history \gset
SET ROLE ri_owner;
CALL ntsb_perf.auto_reindex(dry_run => false, min_bytes => 0, schema_name => 'ri');
RESET ROLE;
SELECT count(*) = :history_rows AS nothing_rebuilt FROM ntsb_perf.reindex_history;
SELECT dblink_disconnect('ownerlock');

-- Partitioned index: each partition's index is a step of its own.
SET ROLE ri_owner;
CREATE TABLE ri.p (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE ri.p1 PARTITION OF ri.p FOR VALUES FROM (0) TO (1000);
CREATE TABLE ri.p2 PARTITION OF ri.p FOR VALUES FROM (1000) TO (2000);
INSERT INTO ri.p SELECT g, md5(g::text) FROM generate_series(0, 1999) g;
CREATE INDEX p_v ON ri.p (v);
CALL ntsb_perf.reindex_index('ri.p_v');
RESET ROLE;
SELECT index_name, table_name, status FROM ntsb_perf.reindex_history WHERE table_name LIKE 'ri.p%' ORDER BY id;

-- The schedule: one pg_cron job that runs auto_reindex with the values given (as literals),
-- checked now; a real run appears in the history as 'schedule'.
SET ROLE ri_owner;
\set VERBOSITY terse
SELECT ntsb_perf.schedule_auto_reindex('61 * * * *');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.schedule_auto_reindex('* * * * *', max_leaf_density => 101);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
DELETE FROM ri.t WHERE id % 20 = 0;
VACUUM ri.t;
SELECT ntsb_perf.schedule_auto_reindex('* * * * *', min_bytes => 0, schema_name => 'ri',
                                       max_wait => '30 s') > 0 AS scheduled;
SELECT jobname = 'ntsb_perf auto_reindex ' || current_database() AS job_named, schedule, command, username
FROM cron.job WHERE jobname LIKE 'ntsb_perf auto_reindex%';
RESET ROLE;
DO $$ BEGIN  -- pg_cron runs it within a minute or so; wait until that run has ended
    FOR i IN 1 .. 300 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM ntsb_perf.reindex_history WHERE triggered_by = 'schedule' AND status <> 'running')
              AND NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CALL ntsb_perf.auto_reindex%'
                                                              AND pid <> pg_backend_pid());
        COMMIT;
        PERFORM pg_sleep(0.5);
    END LOOP;
END $$;
SELECT count(*) > 0 AS scheduled_run_recorded, bool_and(run_by = 'ri_owner') AS as_its_owner
FROM ntsb_perf.reindex_history WHERE triggered_by = 'schedule';
SET ROLE ri_owner;
SELECT ntsb_perf.unschedule_auto_reindex() AS removed;
SET client_min_messages = notice;
SELECT ntsb_perf.unschedule_auto_reindex() AS removed_again;
SET client_min_messages = warning;
RESET ROLE;
DO $$ BEGIN  -- a run pg_cron started just before the job was removed ends first
    FOR i IN 1 .. 240 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CALL ntsb_perf.auto_reindex%'
                                                               AND pid <> pg_backend_pid());
        COMMIT;
        PERFORM pg_sleep(0.5);
    END LOOP;
END $$;

SELECT dblink_disconnect('holder');
SELECT dblink_disconnect('watch');
DROP SCHEMA ri CASCADE;
DELETE FROM ntsb_perf.reindex_history;
DELETE FROM ntsb_perf.reindex_baseline;
REVOKE USAGE ON SCHEMA cron FROM ri_owner;
DROP TABLE plan1;
DROP ROLE ri_owner;
DROP ROLE ri_other;
DROP ROLE ri_nologin;
