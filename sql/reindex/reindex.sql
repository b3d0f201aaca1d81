-- Auto-reindex: plan, history, baselines, the waiting procedures and the schedule. See
-- docs/auto-reindex.md. The rebuild itself runs in a background worker (src/reindex/worker.rs).

-- One row per rebuild (per partition for a partitioned index), written as 'running' when the
-- rebuild starts and given its outcome when it ends; a run whose session died before that (the
-- caller terminated or cancelled, or a server restart) is marked 'terminated' by the next
-- reindex_index or auto_reindex (_reindex_sweep). Written only from the runs' own facts: by
-- _reindex_begin when the rebuild starts, by the worker when it ends (it records the outcome
-- itself, as the extension's owner, so that a caller cancelled or gone changes nothing of it),
-- by _reindex_finish when the worker died without a word, and by _reindex_sweep (all SECURITY
-- DEFINER); readable by everyone.
CREATE TABLE ntsb_perf.reindex_history (
    id                bigserial PRIMARY KEY,
    index             oid,        -- the index's OID while it exists (see _reindex_history_index)
    index_name        text        NOT NULL,
    table_name        text        NOT NULL,
    started_at        timestamptz NOT NULL,
    duration          interval,   -- NULL while running, and for a run that never reported
    bytes_before      bigint      NOT NULL,
    bytes_after       bigint,
    predicted_reclaim bigint,
    density_before    float8,
    density_after     float8,
    status            text        NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'terminated')),
    sqlstate          text,
    error             text,
    triggered_by      text        NOT NULL CHECK (triggered_by IN ('manual', 'auto', 'schedule')),
    run_by            name        NOT NULL,
    statement         text        NOT NULL,
    caller_pid        integer,    -- the calling session (its pid and start) while it runs
    caller_started    timestamptz
);
CREATE INDEX reindex_history_started_at ON ntsb_perf.reindex_history (started_at DESC);
-- What each index measured right after its last successful rebuild: the plan compares with it.
-- Keyed by the index's name (quoted and qualified, as in reindex_history.index_name), which a
-- dump and restore keeps and REINDEX CONCURRENTLY (a new OID under the same name) keeps;
-- index_oid binds it to that index while it exists (a renamed index keeps its baseline, and a
-- new index under the old name does not get it). NULL until rebound: a baseline restored from
-- a dump (OIDs of another cluster) is used for the index of that name.
CREATE TABLE ntsb_perf.reindex_baseline (
    index_oid     oid,
    density       float8,
    bloat_ratio   float8,
    fragmentation float8,
    measured_at   timestamptz NOT NULL,
    index_name    text PRIMARY KEY
);

-- pg_dump dumps the history (and its sequence) and the baselines of existing indexes. An index
-- OID means nothing in another cluster, and an index cannot be named in the dumped data either
-- (a regclass would be restored as a name before pg_restore creates the indexes, in its
-- post-data section, and fail): the OID columns are plain oids, and a row that comes in with an
-- OID that is not (now) the index of its name gets NULL there (triggers below).
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_history', '');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_history_id_seq', '');
-- (The baselines dumped are those the plan uses: of an index of that name, bound to it or to no
-- index that exists.)
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_baseline',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.relkind OPERATOR(pg_catalog.=) ANY (''{i,I}''::pg_catalog."char"[]) AND pg_catalog.format(''%I.%I'', n.nspname, c.relname) OPERATOR(pg_catalog.=) reindex_baseline.index_name AND (c.oid OPERATOR(pg_catalog.=) reindex_baseline.index_oid OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c2 WHERE c2.oid OPERATOR(pg_catalog.=) reindex_baseline.index_oid)))');

-- Whether `idx` is the index (leaf or partitioned) whose quoted, qualified name is `qname`.
-- Plain SQL with every name qualified (no SET clause), so that it is inlined where it is used.
CREATE FUNCTION ntsb_perf._is_index_named(idx oid, qname text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                   ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                   WHERE c.oid OPERATOR(pg_catalog.=) idx
                     AND c.relkind OPERATOR(pg_catalog.=) ANY ('{i,I}'::"char"[])
                     AND pg_catalog.format('%I.%I', n.nspname, c.relname) OPERATOR(pg_catalog.=) qname)
$$;

-- Clears the OID column named by TG_ARGV[0] of a row whose index-name column (TG_ARGV[1]) does
-- not name the index of that OID (a row restored from another cluster, or a stale OID). The
-- triggers call it only for such rows (their WHEN clause), so that ordinary inserts pay little.
CREATE FUNCTION ntsb_perf._index_oid_of_name() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r jsonb := to_jsonb(NEW);
BEGIN
    IF (r ->> TG_ARGV[0]) IS NOT NULL
       AND NOT ntsb_perf._is_index_named((r ->> TG_ARGV[0])::oid, r ->> TG_ARGV[1]) THEN
        NEW := jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[0], NULL));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER index_oid BEFORE INSERT ON ntsb_perf.reindex_history
    FOR EACH ROW WHEN (NEW.index IS NOT NULL AND NOT ntsb_perf._is_index_named(NEW.index, NEW.index_name))
    EXECUTE FUNCTION ntsb_perf._index_oid_of_name('index', 'index_name');
CREATE TRIGGER index_oid BEFORE INSERT ON ntsb_perf.reindex_baseline
    FOR EACH ROW WHEN (NEW.index_oid IS NOT NULL AND NOT ntsb_perf._is_index_named(NEW.index_oid, NEW.index_name))
    EXECUTE FUNCTION ntsb_perf._index_oid_of_name('index_oid', 'index_name');

REVOKE ALL ON ntsb_perf.reindex_history, ntsb_perf.reindex_baseline FROM PUBLIC;
GRANT SELECT ON ntsb_perf.reindex_history, ntsb_perf.reindex_baseline TO PUBLIC;
REVOKE ALL ON FUNCTION ntsb_perf._reindex_finish(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ntsb_perf._reindex_finish(integer, text) TO PUBLIC;

-- Marks 'terminated' the 'running' rows whose calling session is no longer inside a call (it
-- ended, a restart ended it, or its CALL was cancelled); only those. Returns how many.
CREATE FUNCTION ntsb_perf._reindex_sweep() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH swept AS (
        UPDATE ntsb_perf.reindex_history h
        SET status = 'terminated',
            error = 'the run ended without a result: its session was terminated or cancelled, or a server '
                    'restart ended it, before the rebuild reported (the next auto_reindex drops any leftover)'
        WHERE h.status = 'running'
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                          WHERE a.pid = h.caller_pid AND a.backend_start = h.caller_started
                            AND a.state = 'active' AND a.pid <> pg_backend_pid())
        RETURNING 1)
    SELECT count(*) FROM swept
$$;

CREATE FUNCTION ntsb_perf._reindex_check_thresholds(min_bloat_ratio float8, min_bytes bigint,
                                                    max_leaf_density float8, max_fragmentation float8,
                                                    sample_pages integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF min_bloat_ratio IS NULL OR min_bytes IS NULL OR max_leaf_density IS NULL OR max_fragmentation IS NULL THEN
        RAISE EXCEPTION 'the thresholds must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT (min_bloat_ratio > 0 AND min_bloat_ratio < 'Infinity' AND min_bytes >= 0
            AND max_leaf_density BETWEEN 0 AND 100 AND max_fragmentation BETWEEN 0 AND 100) THEN
        RAISE EXCEPTION 'thresholds out of range: min_bloat_ratio > 0, min_bytes >= 0, max_leaf_density and max_fragmentation from 0 to 100'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF sample_pages <= 0 THEN
        RAISE EXCEPTION 'sample_pages must be a positive number of pages, not %', sample_pages
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass NULL for an exact scan of every page.';
    END IF;
END $$;

-- The plan reads every candidate's pages (index_bloat): refused at once, with the GRANT to ask
-- for, to a role that may not. `ahead` must be a time the forecast can reach.
CREATE FUNCTION ntsb_perf._reindex_check_rights_and_ahead(ahead interval) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT has_function_privilege('ntsb_perf.index_bloat(regclass, integer)', 'EXECUTE') THEN
        RAISE EXCEPTION 'role "%" may not read index pages, which the rebuild plan measures', current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT pg_stat_scan_tables TO %I; (as a superuser), then run it again.', current_user);
    END IF;
    IF ahead < interval '0' OR ahead > interval '100 years' THEN
        RAISE EXCEPTION 'ahead must be from 0 to 100 years, not %', ahead USING ERRCODE = 'invalid_parameter_value',
            HINT = 'It is how far ahead the forecast may look, e.g. interval ''7 days''.';
    END IF;
END $$;

-- Candidates for a rebuild, most reclaimable first. With a baseline (the index's own figures
-- right after its last rebuild) the thresholds apply relative to it: an index that is fresh at
-- 69% density, or whose model ratio reads 1.4 fresh, is not rebuilt for that.
CREATE FUNCTION ntsb_perf._reindex_plan(p_min_bloat_ratio float8, p_min_bytes bigint, p_max_leaf_density float8,
                                        p_max_fragmentation float8, p_sample_pages integer, p_schema_name text,
                                        p_ahead interval)
RETURNS TABLE (schema_name text, table_name text, index_name text, access_method text,
               index_bytes bigint, expected_bytes bigint, reclaimable_bytes bigint, reclaimable_size text,
               bloat_ratio float8, avg_leaf_density float8, leaf_fragmentation float8,
               baseline_density float8, reason text, statement text, index_oid oid,
               predicted_crossing timestamptz)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    not_owned bigint;
BEGIN
    PERFORM ntsb_perf._reindex_check_thresholds(p_min_bloat_ratio, p_min_bytes, p_max_leaf_density,
                                                p_max_fragmentation, p_sample_pages);
    PERFORM ntsb_perf._reindex_check_rights_and_ahead(p_ahead);
    -- What the plan may rebuild: valid leaf indexes of every supported access method, at least
    -- min_bytes, outside system and temporary schemas (the worker cannot see temporary tables).
    CREATE TEMP TABLE IF NOT EXISTS ntsb_perf_plan_scope (oid oid, owned boolean) ON COMMIT DROP;
    TRUNCATE ntsb_perf_plan_scope;
    INSERT INTO ntsb_perf_plan_scope
    SELECT c.oid, pg_has_role(c.relowner, 'USAGE')
    FROM pg_index i
    JOIN pg_class c     ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_am am       ON am.oid = c.relam
    WHERE i.indisvalid AND c.relkind = 'i' AND c.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
      AND (p_schema_name IS NULL OR n.nspname = p_schema_name)
      AND am.amname IN ('btree', 'hash', 'gist', 'gin', 'spgist', 'brin')
      AND pg_relation_size(c.oid) >= p_min_bytes;
    SELECT count(*) INTO not_owned FROM ntsb_perf_plan_scope WHERE NOT owned;
    IF not_owned > 0 THEN
        RAISE NOTICE 'skipped % index(es) of tables owned by other roles (only a table''s owner may rebuild its indexes)', not_owned;
    END IF;
    RETURN QUERY
    WITH forecast AS (
        SELECT f.index_oid, f.predicted_crossing, f.crossing_reason
        FROM ntsb_perf._bloat_forecast(p_min_bloat_ratio, p_max_leaf_density, p_max_fragmentation, p_schema_name) f
    ), measured AS (
        SELECT r.*, k.oid AS oid, b.density AS base_density, b.bloat_ratio AS base_ratio,
               b.fragmentation AS base_fragmentation, fc.predicted_crossing, fc.crossing_reason
        FROM ntsb_perf_plan_scope k
        CROSS JOIN LATERAL ntsb_perf.index_bloat(k.oid::regclass, p_sample_pages) r
        LEFT JOIN LATERAL ntsb_perf._baseline_of(k.oid) b ON true
        LEFT JOIN forecast fc ON fc.index_oid = k.oid
        WHERE k.owned
    ), judged AS (
        SELECT m.*,
               concat_ws('; ',
                   CASE WHEN m.bloat_ratio / coalesce(nullif(m.base_ratio, 0), 1) >= p_min_bloat_ratio
                        THEN format('bloat ratio %s >= %s%s', round(m.bloat_ratio::numeric, 2), p_min_bloat_ratio,
                                    CASE WHEN m.base_ratio IS NOT NULL
                                         THEN format(' times its fresh %s', round(m.base_ratio::numeric, 2)) END) END,
                   CASE WHEN m.avg_leaf_density < p_max_leaf_density
                         AND (m.base_density IS NULL OR m.avg_leaf_density < m.base_density * 0.9)
                        THEN format('leaf density %s%% < %s%%%s', round(m.avg_leaf_density::numeric, 1), p_max_leaf_density,
                                    CASE WHEN m.base_density IS NOT NULL
                                         THEN format(' and < 90%% of its fresh %s%%', round(m.base_density::numeric, 1)) END) END,
                   CASE WHEN m.leaf_fragmentation > p_max_fragmentation
                         AND (m.base_fragmentation IS NULL OR m.leaf_fragmentation > m.base_fragmentation + 10)
                        THEN format('leaf fragmentation %s%% > %s%%', round(m.leaf_fragmentation::numeric, 1), p_max_fragmentation) END
               ) AS now_why,
               round(m.expected_bytes * coalesce(nullif(m.base_ratio, 0), 1))::bigint AS expected_fresh
        FROM measured m
    ), with_forecast AS (
        -- ahead: also what the forecast says crosses a threshold within that time
        SELECT j.*,
               CASE WHEN j.now_why <> '' THEN j.now_why
                    WHEN p_ahead IS NOT NULL AND j.predicted_crossing <= now() + p_ahead
                    THEN format('forecast to cross %s by %s (within ahead %s)', j.crossing_reason,
                                to_char(j.predicted_crossing, 'YYYY-MM-DD HH24:MI TZ'), p_ahead)
                    ELSE '' END AS why
        FROM judged j
    )
    SELECT j.schema_name, j.table_name, j.index_name, j.access_method, j.index_bytes, j.expected_fresh,
           greatest(j.index_bytes - j.expected_fresh, 0), pg_size_pretty(greatest(j.index_bytes - j.expected_fresh, 0)),
           j.bloat_ratio, j.avg_leaf_density, j.leaf_fragmentation, j.base_density, j.why,
           format('REINDEX INDEX CONCURRENTLY %I.%I', j.schema_name, j.index_name), j.oid, j.predicted_crossing
    FROM with_forecast j
    WHERE j.why <> ''
    ORDER BY 7 DESC, j.schema_name, j.index_name;
END $$;

CREATE FUNCTION ntsb_perf.reindex_plan(min_bloat_ratio float8 DEFAULT 1.3, min_bytes bigint DEFAULT 10485760,
                                       max_leaf_density float8 DEFAULT 70, max_fragmentation float8 DEFAULT 30,
                                       sample_pages integer DEFAULT NULL, schema_name text DEFAULT NULL,
                                       ahead interval DEFAULT NULL)
RETURNS TABLE (schema_name text, table_name text, index_name text, access_method text,
               index_bytes bigint, expected_bytes bigint, reclaimable_bytes bigint, reclaimable_size text,
               bloat_ratio float8, avg_leaf_density float8, leaf_fragmentation float8,
               baseline_density float8, reason text, statement text, index_oid oid,
               predicted_crossing timestamptz)
LANGUAGE sql VOLATILE AS 'SELECT * FROM ntsb_perf._reindex_plan($1, $2, $3, $4, $5, $6, $7)';

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

-- One pg_cron job per database and role that runs auto_reindex; checked now.
CREATE FUNCTION ntsb_perf.schedule_auto_reindex(schedule text, dry_run boolean DEFAULT false,
                                                min_bloat_ratio float8 DEFAULT 1.3, min_bytes bigint DEFAULT 10485760,
                                                max_leaf_density float8 DEFAULT 70, max_fragmentation float8 DEFAULT 30,
                                                sample_pages integer DEFAULT NULL, schema_name text DEFAULT NULL,
                                                max_runtime interval DEFAULT NULL, max_wait interval DEFAULT NULL,
                                                ahead interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cmd text;
    id bigint;
BEGIN
    IF schedule IS NULL OR dry_run IS NULL THEN
        RAISE EXCEPTION 'schedule and dry_run must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM ntsb_perf.parse_cron(schedule);
    PERFORM ntsb_perf._reindex_check_thresholds(min_bloat_ratio, min_bytes, max_leaf_density,
                                                max_fragmentation, sample_pages);
    IF max_runtime < interval '0' OR max_wait < interval '0' THEN
        RAISE EXCEPTION 'max_runtime and max_wait must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM ntsb_perf._reindex_check_rights_and_ahead(ahead);
    PERFORM ntsb_perf._require_pg_cron();
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'role "%" may not log in: pg_cron could not run the job as it', current_user
            USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    -- Every value goes in as a quoted literal of its type.
    cmd := format('CALL ntsb_perf.auto_reindex(dry_run => %L::boolean, min_bloat_ratio => %L::float8, '
                  'min_bytes => %L::bigint, max_leaf_density => %L::float8, max_fragmentation => %L::float8, '
                  'sample_pages => %L::integer, schema_name => %L::text, max_runtime => %L::interval, '
                  'max_wait => %L::interval, ahead => %L::interval)',
                  dry_run, min_bloat_ratio, min_bytes, max_leaf_density, max_fragmentation, sample_pages,
                  schema_name, max_runtime, max_wait, ahead);
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id
        USING ntsb_perf._job_name_of('auto_reindex'), schedule, cmd;
    RETURN id;
END $$;

-- Removes the calling role's pg_cron job `job_name` (false, with a notice naming `what`, when it
-- has none). What unschedule_auto_reindex and unschedule_index_snapshots do.
CREATE FUNCTION ntsb_perf._unschedule_own_job(job_name text, what text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM ntsb_perf._require_pg_cron();
    EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1 AND username = current_user' INTO id USING job_name;
    IF id IS NULL THEN
        RAISE NOTICE 'no % scheduled in database % for role %', what, current_database(), current_user;
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1)' USING id;
    RETURN true;
END $$;

-- Removes this role's auto_reindex job of this database (false, with a notice, when there is none).
CREATE FUNCTION ntsb_perf.unschedule_auto_reindex() RETURNS boolean
LANGUAGE sql AS $$
    SELECT ntsb_perf._unschedule_own_job(ntsb_perf._job_name_of('auto_reindex'), 'auto_reindex job is')
$$;

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
