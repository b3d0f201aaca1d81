-- Issue 16, parts 2 (backups) and 4 (uninstall): the changes to the extension's SQL surface,
-- as upgrade statements. They assume the surface of main's 0.2.0 (commit 84b824e) and are
-- meant to be appended to sql/ntsb_perf--0.1.0--0.2.0.sql after everything that creates that
-- surface (the reindex tables and functions, refresh.sql's functions). Function bodies are
-- copied verbatim from sql/refresh/refresh.sql, sql/reindex/reindex.sql and sql/uninstall.sql,
-- so that an upgraded catalog and a fresh install are the same (the reindex tables are new in
-- 0.2.0: if the upgrade script creates them, it can equally take their new definitions from
-- sql/reindex/reindex.sql and skip the ALTER TABLE statements below; column order and
-- constraint names are the same either way).

-- 1. reindex_history.index: regclass -> oid (binary coercible: no rewrite). A regclass naming an
--    index cannot be restored (the data is loaded before the indexes are created), and the OID
--    of a dropped one would name another relation after a restore.
ALTER TABLE ntsb_perf.reindex_history ALTER COLUMN index TYPE oid;

-- 2. reindex_baseline: keyed by the index's quoted, qualified name (new last column
--    index_name), index_oid nullable. Baselines of indexes that no longer exist are dropped.
ALTER TABLE ntsb_perf.reindex_baseline ADD COLUMN index_name text;
UPDATE ntsb_perf.reindex_baseline b SET index_name = format('%I.%I', n.nspname, c.relname)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = b.index_oid;
DELETE FROM ntsb_perf.reindex_baseline WHERE index_name IS NULL;
ALTER TABLE ntsb_perf.reindex_baseline DROP CONSTRAINT reindex_baseline_pkey,
    ALTER COLUMN index_oid DROP NOT NULL,
    ADD PRIMARY KEY (index_name);

-- 3. What pg_dump dumps: the history, its sequence and the baselines (new), and only the
--    policies and log rows whose relations exist (new filters; config_dump replaces a
--    table's condition when the table is already listed).

SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_history', '');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_history_id_seq', '');
-- (The baselines dumped are those the plan uses: of an index of that name, bound to it or to no
-- index that exists.)
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_baseline',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.relkind OPERATOR(pg_catalog.=) ANY (''{i,I}''::pg_catalog."char"[]) AND pg_catalog.format(''%I.%I'', n.nspname, c.relname) OPERATOR(pg_catalog.=) reindex_baseline.index_name AND (c.oid OPERATOR(pg_catalog.=) reindex_baseline.index_oid OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c2 WHERE c2.oid OPERATOR(pg_catalog.=) reindex_baseline.index_oid)))');

SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_policy',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_policy.view::pg_catalog.oid AND c.relkind OPERATOR(pg_catalog.=) ''m'')');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_log',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_log.view::pg_catalog.oid) AND (refresh_log.target IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_log.target::pg_catalog.oid))');


-- 4. The triggers that clear an OID that does not name its index (a restored row).

CREATE FUNCTION ntsb_perf._reindex_history_index() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.index IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = NEW.index AND c.relkind IN ('i', 'I') AND format('%I.%I', n.nspname, c.relname) = NEW.index_name) THEN
        NEW.index := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER index_oid BEFORE INSERT ON ntsb_perf.reindex_history
    FOR EACH ROW EXECUTE FUNCTION ntsb_perf._reindex_history_index();
CREATE FUNCTION ntsb_perf._reindex_baseline_index() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.index_oid IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = NEW.index_oid AND c.relkind IN ('i', 'I') AND format('%I.%I', n.nspname, c.relname) = NEW.index_name) THEN
        NEW.index_oid := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER index_oid BEFORE INSERT ON ntsb_perf.reindex_baseline
    FOR EACH ROW EXECUTE FUNCTION ntsb_perf._reindex_baseline_index();


-- 5. Changed functions: the policy check (restored rows: times kept, job moved here or policy
--    kept without a job), _forget (clears log targets), the sql_drop trigger (dropped indexes),
--    the scheduled run (attaches a policy restored before its job; no policy: fails, keeps the
--    job), the plan (baselines by name).

CREATE OR REPLACE FUNCTION ntsb_perf._check_policy() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    su boolean := coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false);
    moved bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.created_by := coalesce(NEW.created_by, current_user);
        NEW.created_at := CASE WHEN su THEN coalesce(NEW.created_at, now()) ELSE now() END;
        NEW.updated_at := CASE WHEN su THEN coalesce(NEW.updated_at, now()) ELSE now() END;
    ELSE
        NEW.created_at := OLD.created_at;
        NEW.updated_at := now();
    END IF;
    IF NEW.created_by <> current_user AND NOT su THEN
        RAISE EXCEPTION 'a refresh policy must name the pg_cron job ntsb_perf.schedule_refresh created for it'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Use ntsb_perf.schedule_refresh and ntsb_perf.unschedule_refresh.';
    END IF;
    IF ntsb_perf._job_ok(NEW.jobid, NEW.job_name, NEW.created_by, NEW.schedule) THEN
        IF su AND TG_OP = 'INSERT' THEN
            EXECUTE 'UPDATE cron.job j SET database = current_database(), nodeport = current_setting(''port'')::int
                     WHERE j.jobid = $1 AND (j.database <> current_database() OR j.nodeport <> current_setting(''port'')::int)
                     RETURNING j.jobid'
                INTO moved USING NEW.jobid;
            IF moved IS NOT NULL THEN
                RAISE NOTICE 'ntsb_perf: pg_cron job % of the refresh policy of % now runs in % on port %',
                    NEW.jobid, NEW.view, current_database(), current_setting('port');
            END IF;
        END IF;
        RETURN NEW;
    END IF;
    IF su AND TG_OP = 'INSERT' THEN
        RAISE WARNING 'ntsb_perf: pg_cron job % of the refresh policy of % is not here, or is not the job ntsb_perf created for it: the policy is kept without a job (a job restored later attaches it at its first run)', NEW.jobid, NEW.view
            USING DETAIL = CASE WHEN NOT ntsb_perf._cron_readable() THEN format('pg_cron is not installed in database %s.', current_database())
                                ELSE format('No pg_cron job %s named "%s" runs %s as role %s on schedule %s.',
                                            NEW.jobid, NEW.job_name, ntsb_perf._job_command(NEW.jobid), NEW.created_by, NEW.schedule) END,
                  HINT = format('SELECT ntsb_perf.schedule_refresh(%L, %L, %L, %L) schedules it again.',
                                NEW.view::text, NEW.schedule, NEW.concurrent, NEW.skip_if_unchanged);
        NEW.jobid := NULL;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a refresh policy must name the pg_cron job ntsb_perf.schedule_refresh created for it'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Use ntsb_perf.schedule_refresh and ntsb_perf.unschedule_refresh.';
END $$;

CREATE OR REPLACE FUNCTION ntsb_perf._forget(rel oid, log_it boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE pol record; job bigint; had boolean := false;
BEGIN
    IF rel IS NULL OR EXISTS (SELECT 1 FROM pg_class WHERE oid = rel) THEN
        RETURN NULL;
    END IF;
    DELETE FROM ntsb_perf.refresh_change WHERE source = rel;
    FOR pol IN DELETE FROM ntsb_perf.refresh_policy p WHERE p.view = rel RETURNING * LOOP
        had := true;
        IF ntsb_perf._job_ok(pol.jobid, pol.job_name, pol.created_by) THEN
            EXECUTE 'SELECT cron.unschedule($1)' USING pol.jobid;
            job := pol.jobid;
        END IF;
    END LOOP;
    DELETE FROM ntsb_perf.refresh_state s WHERE s.view = rel;
    DELETE FROM ntsb_perf.refresh_log l WHERE l.view = rel;
    UPDATE ntsb_perf.refresh_log l SET target = NULL WHERE l.target = rel;
    IF had AND coalesce(log_it, false) THEN
        INSERT INTO ntsb_perf.refresh_log (view, started_at, duration, status, reason, run_by)
        VALUES (rel::regclass, clock_timestamp(), '0'::interval, 'dropped',
                format('the materialized view no longer exists: its policy and pg_cron job %s were removed',
                       coalesce(job::text, '(none left)')),
                session_user);
    END IF;
    RETURN job;
END $$;

CREATE OR REPLACE FUNCTION ntsb_perf._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE d record; job bigint;
BEGIN
    FOR d IN SELECT o.objid, o.object_identity FROM pg_event_trigger_dropped_objects() o
             WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0
               AND o.object_type IN ('table', 'materialized view') LOOP
        BEGIN
            job := ntsb_perf._forget(d.objid);
            IF job IS NOT NULL THEN
                RAISE NOTICE 'ntsb_perf: removed the refresh policy and pg_cron job % of dropped materialized view %', job, d.object_identity;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            -- Never make a DROP fail: the job's next run cleans up instead.
            RAISE WARNING 'ntsb_perf: could not clean up after dropped %: % (SQLSTATE %)', d.object_identity, SQLERRM, SQLSTATE;
        END;
    END LOOP;
    BEGIN
        UPDATE ntsb_perf.reindex_history h SET index = NULL
        FROM pg_event_trigger_dropped_objects() o
        WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type = 'index'
          AND h.index = o.objid;
        DELETE FROM ntsb_perf.reindex_baseline b
        USING pg_event_trigger_dropped_objects() o
        WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type = 'index'
          AND (b.index_oid = o.objid OR (b.index_oid IS NULL AND b.index_name = o.object_identity));
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'ntsb_perf: could not clean up the rebuild history of dropped indexes: % (SQLSTATE %)', SQLERRM, SQLSTATE;
    END;
END $$;

CREATE OR REPLACE FUNCTION ntsb_perf._scheduled_refresh(job bigint) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE v oid; removed bigint;
BEGIN
    IF job IS NULL THEN
        RAISE EXCEPTION 'job must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT p.view::oid INTO v FROM ntsb_perf.refresh_policy p WHERE p.jobid = job;
    IF NOT FOUND THEN
        UPDATE ntsb_perf.refresh_policy p SET jobid = job
        WHERE p.jobid IS NULL AND p.created_by = current_user
          AND ntsb_perf._job_ok(job, p.job_name, p.created_by, p.schedule)
        RETURNING p.view::oid INTO v;
    END IF;
    IF v IS NULL THEN
        RAISE EXCEPTION 'ntsb_perf: no refresh policy holds pg_cron job %', job
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'Its policy was removed without the job, or is not restored yet.',
                  HINT = format('Remove the job if it is not needed (SELECT cron.unschedule(%s)); '
                                'ntsb_perf.schedule_refresh schedules a view again.', job);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = v) THEN
        removed := ntsb_perf._forget(v, true);
        RAISE WARNING 'ntsb_perf: materialized view % no longer exists: removed its refresh policy and pg_cron job %', v, removed;
        RETURN 0;
    END IF;
    RETURN (SELECT count(*) FROM ntsb_perf.refresh(v::regclass));
END $$;

CREATE OR REPLACE FUNCTION ntsb_perf._reindex_plan(p_min_bloat_ratio float8, p_min_bytes bigint, p_max_leaf_density float8,
                                        p_max_fragmentation float8, p_sample_pages integer, p_schema_name text)
RETURNS TABLE (schema_name text, table_name text, index_name text, access_method text,
               index_bytes bigint, expected_bytes bigint, reclaimable_bytes bigint, reclaimable_size text,
               bloat_ratio float8, avg_leaf_density float8, leaf_fragmentation float8,
               baseline_density float8, reason text, statement text, index_oid oid)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    not_owned bigint;
BEGIN
    PERFORM ntsb_perf._reindex_check_thresholds(p_min_bloat_ratio, p_min_bytes, p_max_leaf_density,
                                                p_max_fragmentation, p_sample_pages);
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
    WITH measured AS (
        SELECT r.*, k.oid AS oid, b.density AS base_density, b.bloat_ratio AS base_ratio,
               b.fragmentation AS base_fragmentation
        FROM ntsb_perf_plan_scope k
        CROSS JOIN LATERAL ntsb_perf.index_bloat(k.oid::regclass, p_sample_pages) r
        -- its baseline: the one bound to it, else one of its name that is bound to no index
        -- that exists (restored from a dump, or left by a REINDEX CONCURRENTLY outside ntsb_perf)
        LEFT JOIN LATERAL (
            SELECT bl.* FROM ntsb_perf.reindex_baseline bl
            WHERE bl.index_oid = k.oid
               OR (bl.index_name = (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                                    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = k.oid)
                   AND NOT EXISTS (SELECT 1 FROM pg_class c2 WHERE c2.oid = bl.index_oid))
            ORDER BY bl.index_oid IS NOT DISTINCT FROM k.oid DESC
            LIMIT 1) b ON true
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
               ) AS why,
               round(m.expected_bytes * coalesce(nullif(m.base_ratio, 0), 1))::bigint AS expected_fresh
        FROM measured m
    )
    SELECT j.schema_name, j.table_name, j.index_name, j.access_method, j.index_bytes, j.expected_fresh,
           greatest(j.index_bytes - j.expected_fresh, 0), pg_size_pretty(greatest(j.index_bytes - j.expected_fresh, 0)),
           j.bloat_ratio, j.avg_leaf_density, j.leaf_fragmentation, j.base_density, j.why,
           format('REINDEX INDEX CONCURRENTLY %I.%I', j.schema_name, j.index_name), j.oid
    FROM judged j
    WHERE j.why <> ''
    ORDER BY 7 DESC, j.schema_name, j.index_name;
END $$;


-- 6. DROP EXTENSION ntsb_perf and ntsb_perf's pg_cron jobs (new: sql/uninstall.sql, whole).

-- Called by the event trigger below when a statement is about to drop ntsb_perf, with whether
-- it says CASCADE. Without CASCADE, while ntsb_perf's pg_cron jobs exist: 2BP01 like
-- PostgreSQL's own dependency error, the jobs and the objects outside the extension that
-- depend on it in the DETAIL. With CASCADE: removes those jobs (cron.unschedule, in the dropping
-- transaction: a drop that fails later keeps them) and says so. Other jobs whose command
-- mentions ntsb_perf are not ntsb_perf's: left alone, with a warning. For a role that may not
-- drop the extension it does nothing (PostgreSQL refuses the statement itself).
CREATE FUNCTION ntsb_perf._drop_extension_jobs(with_cascade boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ext record;
    mine text[];
    ids bigint[];
    others text[];
    deps text[];
    n bigint;
BEGIN
    SELECT e.oid, e.extowner INTO ext FROM pg_extension e WHERE e.extname = 'ntsb_perf';
    IF NOT FOUND OR NOT pg_has_role(ext.extowner, 'USAGE') THEN
        RETURN;
    END IF;
    -- ntsb_perf's jobs of this database, as pg_cron shows them to the caller: every refresh job
    -- (named 'ntsb_perf refresh ...', running exactly ntsb_perf._scheduled_refresh(<its id>)),
    -- with or without a policy, and every auto_reindex job (named 'ntsb_perf auto_reindex <this
    -- database>', running CALL ntsb_perf.auto_reindex(...)); and the other jobs of this database
    -- whose command mentions ntsb_perf.
    IF ntsb_perf._cron_readable() THEN
        EXECUTE $q$
            WITH j AS (
                SELECT j.jobid,
                       (j.jobname LIKE 'ntsb_perf refresh %' AND j.command = ntsb_perf._job_command(j.jobid))
                       OR (j.jobname = 'ntsb_perf auto_reindex ' || current_database()
                           AND j.command LIKE 'CALL ntsb_perf.auto_reindex(%') AS ours,
                       CASE WHEN p.view IS NOT NULL
                            THEN format('pg_cron job %s refreshes materialized view %s (schedule ''%s'', role %s)',
                                        j.jobid, p.view, j.schedule, j.username)
                            WHEN j.jobname LIKE 'ntsb_perf refresh %'
                            THEN format('pg_cron job %s "%s" (schedule ''%s'', role %s) has no refresh policy',
                                        j.jobid, j.jobname, j.schedule, j.username)
                            WHEN j.jobname = 'ntsb_perf auto_reindex ' || current_database()
                            THEN format('pg_cron job %s runs ntsb_perf.auto_reindex (schedule ''%s'', role %s)',
                                        j.jobid, j.schedule, j.username)
                            ELSE format('pg_cron job %s "%s" (schedule ''%s'', role %s) runs: %s',
                                        j.jobid, coalesce(j.jobname, ''), j.schedule, j.username, left(j.command, 200))
                       END AS what
                FROM cron.job j
                LEFT JOIN ntsb_perf.refresh_policy p ON p.jobid = j.jobid AND p.job_name = j.jobname
                WHERE j.database = current_database() AND j.command ~* 'ntsb_perf')
            SELECT array_agg(what ORDER BY jobid) FILTER (WHERE ours),
                   array_agg(jobid ORDER BY jobid) FILTER (WHERE ours),
                   array_agg(what ORDER BY jobid) FILTER (WHERE NOT ours)
            FROM j $q$
        INTO mine, ids, others;
    END IF;
    IF others IS NOT NULL THEN
        RAISE WARNING 'ntsb_perf: % pg_cron job(s) of this database use ntsb_perf but were not created by it: left alone, they fail once ntsb_perf is gone', cardinality(others)
            USING DETAIL = array_to_string(others, E'\n'),
                  HINT = 'Remove them with cron.unschedule(jobid) if they are not needed.';
    END IF;
    IF ids IS NULL THEN
        RETURN;   -- PostgreSQL checks (and with CASCADE drops) everything else
    END IF;
    IF NOT coalesce(with_cascade, false) THEN
        -- What PostgreSQL would list too: objects outside the extension that depend on its
        -- objects (tracking triggers on the caller's tables, views and columns using its types
        -- and functions), one level, as "<object> depends on <object>".
        WITH RECURSIVE owned(classid, objid) AS (
            SELECT d.classid, d.objid FROM pg_depend d
            WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
            UNION
            SELECT d.classid, d.objid FROM pg_depend d JOIN owned o ON d.refclassid = o.classid AND d.refobjid = o.objid
            WHERE d.deptype IN ('a', 'i')
        ), dep AS (
            SELECT DISTINCT
                   coalesce((SELECT pg_describe_object('pg_class'::regclass, r.ev_class, 0) FROM pg_rewrite r
                             WHERE d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid AND r.rulename = '_RETURN'),
                            pg_describe_object(d.classid, d.objid, d.objsubid))
                   || ' depends on ' || pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) AS line
            FROM pg_depend d JOIN owned o ON d.refclassid = o.classid AND d.refobjid = o.objid
            WHERE d.deptype = 'n'
              AND NOT EXISTS (SELECT 1 FROM owned o2 WHERE o2.classid = d.classid AND o2.objid = d.objid)
        )
        SELECT (array_agg(line ORDER BY line))[1:50], count(*) INTO deps, n FROM dep;
        IF n > 50 THEN
            deps := deps || format('and %s other objects', n - 50);
        END IF;
        RAISE EXCEPTION 'cannot drop extension ntsb_perf because other objects depend on it'
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = array_to_string(mine || coalesce(deps, '{}'), E'\n'),
                  HINT = 'Use DROP ... CASCADE to drop the dependent objects too and remove these pg_cron jobs, '
                         'or remove the jobs first: SELECT ntsb_perf.unschedule_refresh(view) for each scheduled view, '
                         'SELECT ntsb_perf.unschedule_auto_reindex() as the role of an auto_reindex job '
                         '(or SELECT cron.unschedule(jobid)).';
    END IF;
    FOR i IN 1 .. cardinality(ids) LOOP
        EXECUTE 'SELECT cron.unschedule($1)' USING ids[i];
    END LOOP;
    RAISE NOTICE 'ntsb_perf: removed % pg_cron job(s): %', cardinality(ids), array_to_string(ids, ', ')
        USING DETAIL = array_to_string(mine, E'\n');
END $$;

CREATE FUNCTION ntsb_perf._on_drop_command() RETURNS event_trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'ntsb_perf_on_drop_command';
-- Enabled ALWAYS, like ntsb_perf_forget_dropped (also under session_replication_role = replica).
CREATE EVENT TRIGGER ntsb_perf_drop_extension ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
    EXECUTE FUNCTION ntsb_perf._on_drop_command();
ALTER EVENT TRIGGER ntsb_perf_drop_extension ENABLE ALWAYS;
