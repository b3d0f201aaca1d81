-- Auto-reindex, the runs: reindex_index and auto_reindex, procedures that start the rebuild in a
-- background worker (src/reindex/worker.rs) and wait for it, committing between polls, and
-- reindex_status, what is being rebuilt right now. See docs/auto-reindex.md.

-- Refuses to run inside a transaction block, before anything starts: the waiting procedures
-- COMMIT between polls (a caller holding a snapshot would wait for itself).
CREATE FUNCTION ntsb_perf._reindex_require_autocommit(what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ntsb_perf._reindex_in_block() THEN
        RAISE EXCEPTION '% cannot run inside a transaction block or an EXCEPTION block', what
            USING ERRCODE = 'active_sql_transaction',
                  DETAIL = 'It waits for a concurrent rebuild and commits while it waits; inside BEGIN ... it would wait for its own snapshot.',
                  HINT = format('CALL %s outside BEGIN/COMMIT (psql autocommit, or a pg_cron job).', what);
    END IF;
END $$;

-- Rebuilds one leaf index through the worker and waits, committing between polls; says every
-- few seconds what the rebuild waits for; gives up after max_wait of waiting on other sessions.
-- Records the rebuild (history, baseline) and reports it; a failed rebuild's leftover is dropped
-- (through the worker too) and its error is raised as the worker's own (same SQLSTATE, message,
-- detail, hint) when raise_error.
CREATE PROCEDURE ntsb_perf._reindex_one(idx regclass, conc boolean, max_wait interval, auto boolean,
                                        raise_error boolean, INOUT status text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    run int;
    o record;
    w record;
    h record;
    last_notice timestamptz := clock_timestamp();
    last_poll timestamptz := clock_timestamp();
    waited interval := '0';
    cancelled text;
    leftover regclass;
    hid bigint;
    base_name name := (SELECT relname FROM pg_class WHERE oid = idx);
    tbl oid := (SELECT indrelid FROM pg_index WHERE indexrelid = idx);
BEGIN
    -- Fails at once (2D000) in a context that cannot commit, before any worker starts.
    COMMIT;
    run := ntsb_perf._reindex_start(idx, conc, auto);
    COMMIT;
    LOOP
        SELECT * INTO o FROM ntsb_perf._reindex_poll(run);
        EXIT WHEN o.phase IN ('done', 'failed', 'gone');
        SELECT p.phase, p.current_locker_pid, a.xact_start, left(a.query, 200) AS query
        INTO w
        FROM pg_stat_progress_create_index p
        LEFT JOIN pg_stat_activity a ON a.pid = p.current_locker_pid
        WHERE p.pid = o.pid;
        -- (between its polls this session holds a snapshot for a moment: the rebuild may wait
        -- on it briefly, which is neither news nor a reason to give up)
        IF w.phase LIKE 'waiting for%' AND w.current_locker_pid IS DISTINCT FROM pg_backend_pid() THEN
            waited := waited + (clock_timestamp() - last_poll);
            IF clock_timestamp() - last_notice >= interval '5 s' THEN
                RAISE NOTICE 'rebuilding %: % (pid %, in a transaction since %: %)', idx, w.phase,
                    w.current_locker_pid, w.xact_start, coalesce(w.query, '?');
                last_notice := clock_timestamp();
            END IF;
            IF max_wait IS NOT NULL AND waited > max_wait AND cancelled IS NULL THEN
                cancelled := format('gave up after waiting %s (max_wait %s) %s for pid %s: %s',
                                    date_trunc('second', waited), max_wait, w.phase, w.current_locker_pid,
                                    coalesce(w.query, '?'));
                PERFORM ntsb_perf._reindex_cancel(run, cancelled);
            END IF;
        END IF;
        last_poll := clock_timestamp();
        COMMIT;
        -- Short: while it sleeps this session holds a snapshot, which REINDEX CONCURRENTLY's wait
        -- for old snapshots waits for until the COMMIT below (measured: 50 ms polls cost a
        -- 1.7 s rebuild 4-8%, 10 ms ones 2-4%).
        PERFORM pg_sleep(0.02);
        COMMIT;
    END LOOP;
    hid := ntsb_perf._reindex_finish(run, cancelled);
    SELECT * INTO h FROM ntsb_perf.reindex_history WHERE id = hid;
    COMMIT;
    status := h.status;
    IF h.status <> 'done' AND conc THEN
        -- An interrupted REINDEX CONCURRENTLY leaves an invalid copy (<name>_ccnew) or, late in
        -- its work, the invalid old index (<name>_ccold): drop ours through the worker as well.
        FOR leftover IN
            SELECT c.oid::regclass
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE NOT i.indisvalid AND i.indrelid = tbl
              AND left(c.relname, length(base_name)) = base_name
              AND substr(c.relname, length(base_name) + 1) ~ '^_cc(new|old)[0-9]*$'
        LOOP
            CALL ntsb_perf._reindex_drop(leftover, max_wait);
        END LOOP;
    END IF;
    RAISE NOTICE '% %: % (% -> % bytes) in %', h.statement, h.status, coalesce(h.error, 'ok'),
        h.bytes_before, coalesce(h.bytes_after::text, '?'), date_trunc('milliseconds', h.duration);
    IF h.status <> 'done' AND raise_error THEN
        IF o.sqlstate IS NOT NULL AND h.status = 'failed' THEN
            -- the worker's own error: same SQLSTATE, message, detail and hint
            IF o.detail IS NOT NULL AND o.hint IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = o.sqlstate, MESSAGE = o.message, DETAIL = o.detail, HINT = o.hint;
            ELSIF o.detail IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = o.sqlstate, MESSAGE = o.message, DETAIL = o.detail;
            ELSIF o.hint IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = o.sqlstate, MESSAGE = o.message, HINT = o.hint;
            ELSE
                RAISE EXCEPTION USING ERRCODE = o.sqlstate, MESSAGE = o.message;
            END IF;
        ELSIF h.status = 'cancelled' THEN
            RAISE EXCEPTION 'rebuild of % cancelled: %', idx, h.error USING ERRCODE = 'query_canceled';
        ELSE
            RAISE EXCEPTION 'rebuild of % ended without a result: %', idx, h.error
                USING ERRCODE = 'connection_failure', HINT = 'The worker was terminated or killed; the next auto_reindex drops what it left.';
        END IF;
    END IF;
END $$;

-- DROP INDEX CONCURRENTLY of an invalid leftover, through the worker (top level, as the caller).
-- It waits for the transactions that use the table; after max_wait (30 s when NULL) it gives up
-- and leaves the leftover to the next auto_reindex, with a warning.
CREATE PROCEDURE ntsb_perf._reindex_drop(leftover regclass, max_wait interval DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    run int;
    o record;
    t0 timestamptz := clock_timestamp();
    gave_up boolean := false;
    name text := leftover::text;
BEGIN
    COMMIT;
    run := ntsb_perf._reindex_drop_start(leftover);
    COMMIT;
    LOOP
        SELECT * INTO o FROM ntsb_perf._reindex_poll(run);
        EXIT WHEN o.phase IN ('done', 'failed', 'gone');
        IF NOT gave_up AND clock_timestamp() - t0 > coalesce(max_wait, interval '30 s') THEN
            gave_up := true;
            PERFORM ntsb_perf._reindex_cancel(run, 'gave up waiting to drop the leftover');
        END IF;
        COMMIT;
        PERFORM pg_sleep(0.05);
        COMMIT;
    END LOOP;
    PERFORM ntsb_perf._reindex_forget(run);
    IF o.phase = 'done' THEN
        RAISE NOTICE 'dropped the leftover %', name;
    ELSE
        RAISE WARNING 'could not drop the leftover % now (%): the next auto_reindex drops it', name,
            CASE WHEN gave_up THEN 'other transactions still use its table' ELSE coalesce(o.message, 'the worker exited') END;
    END IF;
END $$;

-- Rebuilds one index (a partitioned index: each partition's index, one step each).
CREATE PROCEDURE ntsb_perf.reindex_index(index regclass, "concurrently" boolean DEFAULT true,
                                         max_wait interval DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    leaf regclass;
    st text;
    n int;
BEGIN
    PERFORM ntsb_perf._reindex_require_autocommit('ntsb_perf.reindex_index');
    PERFORM ntsb_perf._reindex_sweep();
    IF index IS NULL OR "concurrently" IS NULL THEN
        RAISE EXCEPTION 'index and concurrently must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_wait < interval '0' THEN
        RAISE EXCEPTION 'max_wait must not be negative, not %', max_wait USING ERRCODE = 'invalid_parameter_value',
            HINT = 'It is how long the rebuild may wait for other sessions, e.g. interval ''5 minutes''; NULL waits as long as it takes.';
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = index) = 'I' THEN
        n := 0;
        FOR leaf IN SELECT t.relid FROM pg_partition_tree(index) t
                    JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf AND c.relkind = 'i' ORDER BY t.relid::text LOOP
            CALL ntsb_perf._reindex_one(leaf, "concurrently", max_wait, false, true, st);
            n := n + 1;
        END LOOP;
        IF n = 0 THEN
            RAISE NOTICE '% is a partitioned index with no partitions: nothing to rebuild', index;
        END IF;
        RETURN;
    END IF;
    CALL ntsb_perf._reindex_one(index, "concurrently", max_wait, false, true, st);
END $$;

-- Whether this session is pg_cron running the job schedule_auto_reindex created for the
-- session's role in this database: pg_cron's own record of the running job (cron.job_run_details,
-- kept while cron.log_run is on) names this backend's pid, and started after this backend did.
-- SECURITY DEFINER to read pg_cron's tables whatever the caller may see; says yes or no only.
-- (SET application_name = 'pg_cron' makes nothing 'schedule'.)
CREATE FUNCTION ntsb_perf._reindex_scheduled_run() RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    yes boolean;
BEGIN
    -- pg_cron's tables are in its schema cron (which CREATE EXTENSION pg_cron makes: it fails
    -- when a schema of that name exists already), members of the extension
    IF NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                   WHERE e.extname = 'pg_cron' AND d.deptype = 'e' AND d.classid = 'pg_class'::regclass
                     AND d.objid = to_regclass('cron.job_run_details')) THEN
        RETURN false;
    END IF;
    EXECUTE $q$
        SELECT EXISTS (
            SELECT 1 FROM cron.job_run_details d JOIN cron.job j ON j.jobid = d.jobid
            WHERE d.job_pid = pg_backend_pid() AND d.status = 'running'
              AND d.start_time >= (SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid())
              AND ntsb_perf._job_kind(j.jobid, j.jobname, j.command) = 'auto_reindex'
              AND j.username = session_user AND j.database = current_database())$q$
    INTO yes;
    RETURN coalesce(yes, false);
END $$;
REVOKE ALL ON FUNCTION ntsb_perf._reindex_scheduled_run() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ntsb_perf._reindex_scheduled_run() TO PUBLIC;

-- Plans, then (not dry run) rebuilds one index at a time, most reclaimable first, starting no new
-- rebuild after max_runtime. Drops the leftovers of earlier interrupted rebuilds first. One run
-- at a time per database; a failed rebuild is recorded and the run goes on.
CREATE PROCEDURE ntsb_perf.auto_reindex(dry_run boolean DEFAULT true, min_bloat_ratio float8 DEFAULT 1.3,
                                        min_bytes bigint DEFAULT 10485760, max_leaf_density float8 DEFAULT 70,
                                        max_fragmentation float8 DEFAULT 30, sample_pages integer DEFAULT NULL,
                                        schema_name text DEFAULT NULL, max_runtime interval DEFAULT NULL,
                                        max_wait interval DEFAULT NULL, ahead interval DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
    p record;
    l regclass;
    n int := 0;
    done int := 0;
    failed int := 0;
    st text;
    holder record;
    plan jsonb;
BEGIN
    PERFORM ntsb_perf._reindex_require_autocommit('ntsb_perf.auto_reindex');
    IF dry_run IS NULL THEN
        RAISE EXCEPTION 'dry_run must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_runtime < interval '0' OR max_wait < interval '0' THEN
        RAISE EXCEPTION 'max_runtime and max_wait must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM ntsb_perf._reindex_check_rights_and_ahead(ahead);
    -- One run at a time per role and database: a session lock that only ntsb_perf's code can
    -- take (not an advisory key, which any role could hold to keep every run from starting),
    -- held across the commits, released at the end or by an abort of this session's transaction.
    IF NOT ntsb_perf._reindex_run_lock() THEN
        SELECT * INTO holder FROM ntsb_perf._run_lock_holder('run', current_user::regrole::oid);
        IF ntsb_perf._reindex_scheduled_run() THEN
            -- pg_cron records this run as failed with this message: skipped, not done
            RAISE EXCEPTION 'auto_reindex skipped: another run of role % is going on in database % (pid %, since %)',
                current_user, current_database(), coalesce(holder.pid::text, '?'), coalesce(holder.since::text, '?')
                USING ERRCODE = 'lock_not_available',
                      HINT = 'The next scheduled run starts once it has ended; ntsb_perf.reindex_status shows what it rebuilds.';
        END IF;
        RAISE NOTICE 'auto_reindex skipped: another run of role % is going on in database % (pid %, since %): not starting a second one',
            current_user, current_database(), coalesce(holder.pid::text, '?'), coalesce(holder.since::text, '?');
        RETURN;
    END IF;
    n := ntsb_perf._reindex_sweep();
    IF n > 0 THEN
        RAISE NOTICE '% earlier run(s) that never reported marked terminated in ntsb_perf.reindex_history', n;
    END IF;
    n := 0;
    -- Leftovers of interrupted rebuilds (invalid *_ccnew / *_ccold no longer being built).
    FOR l IN
        SELECT c.oid::regclass
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE NOT i.indisvalid AND c.relname ~ '_cc(new|old)[0-9]*$' AND c.relpersistence <> 't'
          AND pg_has_role(c.relowner, 'USAGE')
          AND (auto_reindex.schema_name IS NULL OR ns.nspname = auto_reindex.schema_name)
          AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index pr WHERE pr.relid = i.indrelid)
        ORDER BY 1::text
    LOOP
        IF dry_run THEN
            RAISE NOTICE 'would drop the leftover % (DROP INDEX CONCURRENTLY)', l;
        ELSE
            CALL ntsb_perf._reindex_drop(l, max_wait);
        END IF;
    END LOOP;
    -- The plan, kept in a variable across the commits (no table left in the caller's session).
    SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.reclaimable_bytes DESC, r.schema_name, r.index_name), '[]')
    INTO plan
    FROM ntsb_perf.reindex_plan(min_bloat_ratio, min_bytes, max_leaf_density, max_fragmentation,
                                sample_pages, schema_name, ahead) r;
    COMMIT;
    FOR p IN SELECT (e.j ->> 'index_oid')::oid AS index_oid, e.j ->> 'index_name' AS index_name,
                    e.j ->> 'statement' AS statement, e.j ->> 'reason' AS reason,
                    e.j ->> 'reclaimable_size' AS reclaimable_size, (e.j ->> 'index_bytes')::bigint AS index_bytes,
                    (e.j ->> 'reclaimable_bytes')::bigint AS reclaimable_bytes,
                    (e.j ->> 'avg_leaf_density')::float8 AS avg_leaf_density
             FROM jsonb_array_elements(plan) WITH ORDINALITY e(j, i) ORDER BY e.i LOOP
        n := n + 1;
        IF dry_run THEN
            RAISE NOTICE '%. % (% reclaimable of %): %', n, p.statement, p.reclaimable_size,
                pg_size_pretty(p.index_bytes), p.reason;
            CONTINUE;
        END IF;
        IF max_runtime IS NOT NULL AND clock_timestamp() - started >= max_runtime THEN
            RAISE NOTICE 'max_runtime % reached: % rebuild(s) left for the next run',
                max_runtime, jsonb_array_length(plan) - n + 1;
            EXIT;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = p.index_oid AND relkind = 'i') THEN
            RAISE NOTICE '% was dropped since the plan was made: skipped', p.index_name;
            CONTINUE;
        END IF;
        CALL ntsb_perf._reindex_one(p.index_oid::regclass, true, max_wait, true, false, st);
        IF st = 'done' THEN done := done + 1; ELSE failed := failed + 1; END IF;
    END LOOP;
    IF dry_run THEN
        RAISE NOTICE 'dry run: % index(es) would be rebuilt; nothing was changed', n;
    ELSE
        RAISE NOTICE 'auto_reindex: % rebuilt, % failed (see ntsb_perf.reindex_history)', done, failed;
    END IF;
    PERFORM ntsb_perf._reindex_run_unlock();
END $$;

-- What is being rebuilt right now: the worker's statement, its phase, and whom it waits for.
CREATE VIEW ntsb_perf.reindex_status AS
SELECT a.pid, a.usename AS run_by, a.query AS statement, a.query_start AS started_at,
       clock_timestamp() - a.query_start AS running_for, p.phase, p.relid::regclass AS table_name,
       p.index_relid::regclass AS index_being_built, p.blocks_done, p.blocks_total, p.tuples_done,
       p.tuples_total, p.lockers_total, p.lockers_done, p.current_locker_pid AS waiting_for_pid,
       w.usename AS waiting_for_user, w.xact_start AS waiting_for_xact_start, w.state AS waiting_for_state,
       w.query AS waiting_for_query, c.caller_pid,
       -- the worker cancels its rebuild within a second or two once its caller is gone
       NOT EXISTS (SELECT 1 FROM pg_stat_activity x WHERE x.pid = c.caller_pid) AS caller_gone
FROM pg_stat_activity a
CROSS JOIN LATERAL (SELECT substring(a.application_name FROM '^ntsb_perf reindex for pid ([0-9]+)$')::int AS caller_pid) c
LEFT JOIN pg_stat_progress_create_index p ON p.pid = a.pid
LEFT JOIN pg_stat_activity w ON w.pid = p.current_locker_pid AND p.current_locker_pid <> 0
WHERE a.backend_type = 'ntsb_perf reindex';
GRANT SELECT ON ntsb_perf.reindex_status TO PUBLIC;
