-- DROP EXTENSION ntsb_perf and the pg_cron jobs ntsb_perf created. See src/uninstall.rs and
-- docs/operations.md, "Uninstalling".

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
    removal text;
    n bigint;
BEGIN
    SELECT e.oid, e.extowner INTO ext FROM pg_extension e WHERE e.extname = 'ntsb_perf';
    IF NOT FOUND OR NOT pg_has_role(ext.extowner, 'USAGE') THEN
        RETURN;
    END IF;
    -- ntsb_perf's jobs of this database, as pg_cron shows them to the caller: every job of one
    -- of the kinds in ntsb_perf._job_kinds() (refresh jobs with or without a policy, the
    -- auto_reindex and index snapshot jobs), whoever scheduled it; and the other jobs of this
    -- database whose command mentions ntsb_perf.
    IF ntsb_perf._cron_readable() THEN
        EXECUTE $q$
            WITH j AS (
                SELECT j.jobid, k.kind,
                       CASE WHEN k.kind = 'refresh' AND p.view IS NOT NULL
                            THEN format('pg_cron job %s refreshes materialized view %s (schedule ''%s'', role %s)',
                                        j.jobid, p.view, j.schedule, j.username)
                            WHEN k.kind IS NOT NULL
                            THEN format('pg_cron job %s "%s" %s (schedule ''%s'', role %s)',
                                        j.jobid, j.jobname, k.description, j.schedule, j.username)
                            ELSE format('pg_cron job %s "%s" (schedule ''%s'', role %s) runs: %s',
                                        j.jobid, coalesce(j.jobname, ''), j.schedule, j.username, left(j.command, 200))
                       END AS what
                FROM cron.job j
                LEFT JOIN ntsb_perf._job_kinds() k ON k.kind = ntsb_perf._job_kind(j.jobid, j.jobname, j.command)
                -- (a refresh job held by a policy is described by its view)
                LEFT JOIN ntsb_perf.refresh_policy p ON p.jobid = j.jobid AND p.job_name = j.jobname
                WHERE j.database = current_database() AND j.command ~* 'ntsb_perf')
            SELECT array_agg(what ORDER BY jobid) FILTER (WHERE kind IS NOT NULL),
                   array_agg(jobid ORDER BY jobid) FILTER (WHERE kind IS NOT NULL),
                   array_agg(what ORDER BY jobid) FILTER (WHERE kind IS NULL),
                   -- how to remove each kind present, in the kinds' order
                   (SELECT string_agg(k.remove_with, ', ' ORDER BY k.o)
                    FROM ntsb_perf._job_kinds() WITH ORDINALITY
                         AS k(kind, job_name, job_name_pattern, command_pattern, description, remove_with, o)
                    WHERE k.kind IN (SELECT j2.kind FROM j j2))
            FROM j $q$
        INTO mine, ids, others, removal;
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
                         'or remove the jobs first: ' || removal || ' (or SELECT cron.unschedule(jobid)).';
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
