-- Scheduling: the pg_cron jobs ntsb_perf creates, their whole life cycle in one place. The kinds
-- of job (their names, commands, how many may exist, how to remove one), the checks every
-- schedule_* function makes, the naming, creating and unscheduling of jobs, reading pg_cron's
-- side of a job, and what DROP EXTENSION ntsb_perf removes (sql/uninstall.sql reads the kinds).
-- A new kind of job is one more row of _job_kinds() and a call of _schedule_job. The cron
-- grammar itself is src/schedule.rs (parse_cron). See docs/operations.md "Uninstalling" and the
-- capability pages (docs/refresh.md, docs/auto-reindex.md, docs/index-history.md).

-- One row per kind:
--   job_name          the job's exact name, for kinds with one job per database and role (NULL:
--                     one job per object, named as job_name_pattern says: _job_name);
--   job_name_pattern  a LIKE pattern (backslash escapes) every job of the kind is named by;
--   command_pattern   a LIKE pattern of the job's command, `{jobid}` standing for the job's own
--                     id (a refresh job's command names its job);
--   description       what such a job does (in messages: "pg_cron job 7 "<name>" <description>");
--   remove_with       how its owner removes one without dropping anything else;
--   one_per           'object' (one job per scheduled object), 'role' (one per database and role)
--                     or 'database' (one per database, whichever role scheduled it);
--   what, is_are      what the jobs do, as a subject in messages ("index snapshots" "are");
--   unschedule_with   the function that removes the caller's job of the kind.
-- The patterns escape `_` and `%` (a database called `a_b` does not make `aXb`'s job look like
-- its own).
CREATE FUNCTION ntsb_perf._job_kinds()
RETURNS TABLE (kind text, job_name text, job_name_pattern text, command_pattern text, description text,
               remove_with text, one_per text, what text, is_are text, unschedule_with text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.kind, k.job_name,
           coalesce(replace(replace(replace(k.job_name, '\', '\\'), '%', '\%'), '_', '\_'), k.name_pattern),
           k.command_pattern, k.description, k.remove_with, k.one_per, k.what, k.is_are, k.unschedule_with
    FROM (VALUES
        -- schedule_refresh: 'ntsb_perf refresh <view OID> <view>' (ntsb_perf._job_name), running
        -- exactly ntsb_perf._job_command(<its id>)
        (1, 'refresh', NULL, 'ntsb\_perf refresh %', 'SELECT ntsb\_perf.\_scheduled\_refresh({jobid})',
         'refreshes a materialized view (ntsb_perf.schedule_refresh)',
         'SELECT ntsb_perf.unschedule_refresh(view) for each scheduled view',
         'object', 'the refresh of a materialized view', 'is', 'ntsb_perf.unschedule_refresh(view)'),
        -- schedule_auto_reindex
        (2, 'auto_reindex', 'ntsb_perf auto_reindex ' || current_database(), NULL, 'CALL ntsb\_perf.auto\_reindex(%',
         'runs ntsb_perf.auto_reindex (ntsb_perf.schedule_auto_reindex)',
         'SELECT ntsb_perf.unschedule_auto_reindex() as the job''s role',
         'role', 'auto_reindex job', 'is', 'ntsb_perf.unschedule_auto_reindex()'),
        -- schedule_index_snapshots
        (3, 'index_snapshots', 'ntsb_perf index snapshots ' || current_database(), NULL,
         'SELECT * FROM ntsb\_perf.snapshot\_indexes(%',
         'takes index snapshots (ntsb_perf.schedule_index_snapshots)',
         'SELECT ntsb_perf.unschedule_index_snapshots() as the job''s role',
         'database', 'index snapshots', 'are', 'ntsb_perf.unschedule_index_snapshots()')
    ) AS k(ord, kind, job_name, name_pattern, command_pattern, description, remove_with, one_per, what, is_are,
           unschedule_with)
    ORDER BY k.ord
$$;

-- The kind of pg_cron job `job` named `name` running `command`: NULL when it is not one
-- ntsb_perf creates (whatever its command mentions). The database is the caller's to check.
CREATE FUNCTION ntsb_perf._job_kind(job bigint, name text, command text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.kind FROM ntsb_perf._job_kinds() k
    WHERE _job_kind.name LIKE k.job_name_pattern
      AND _job_kind.command LIKE replace(k.command_pattern, '{jobid}', _job_kind.job::text)
    LIMIT 1
$$;

-- The exact name of the job of `kind` in this database (kinds with one job per database);
-- an unknown kind, or one named per object, is an error.
CREATE FUNCTION ntsb_perf._job_name_of(kind text) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n text;
BEGIN
    SELECT k.job_name INTO n FROM ntsb_perf._job_kinds() k WHERE k.kind = _job_name_of.kind;
    IF n IS NULL THEN
        RAISE EXCEPTION 'ntsb_perf has no pg_cron job of kind % with one name per database', coalesce(kind, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kinds are those of ntsb_perf._job_kinds() whose job_name is not NULL.';
    END IF;
    RETURN n;
END $$;

-- Whether this role can read pg_cron's tables here (pg_cron installed, USAGE on its schema).
CREATE FUNCTION ntsb_perf._cron_readable() RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE ns oid := (SELECT n.oid FROM pg_namespace n WHERE n.nspname = 'cron');
BEGIN
    -- (In this order: naming a table of a schema without USAGE on it is itself an error.)
    IF ns IS NULL OR NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')
       OR NOT has_schema_privilege(ns, 'USAGE') THEN
        RETURN false;
    END IF;
    RETURN has_table_privilege('cron.job', 'SELECT') AND has_table_privilege('cron.job_run_details', 'SELECT');
END $$;

CREATE FUNCTION ntsb_perf._require_pg_cron() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Add pg_cron to shared_preload_libraries and set cron.database_name = %L '
                                'in postgresql.conf, restart PostgreSQL, then run CREATE EXTENSION pg_cron.',
                                current_database());
    END IF;
    IF NOT ntsb_perf._cron_readable() THEN
        RAISE EXCEPTION 'permission denied for schema cron'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('Scheduling runs cron.schedule as the caller: GRANT USAGE ON SCHEMA cron TO %I.', current_user);
    END IF;
END $$;

-- Jobs of kind 'refresh', one per scheduled materialized view (schedule_refresh).

-- The pg_cron job of a policy: its name, 'ntsb_perf refresh <view OID> <schema>.<view>' cut to
-- 63 bytes (pg_cron's jobname is a name) at a character boundary; the OID keeps names of live
-- views apart however long their names are. Its command names the job's own id: the run
-- refreshes the view whose policy holds that job (a rename, or a dump and restore of both
-- pg_cron's jobs and the policies, does not break it; a run that finds the view dropped, or no
-- policy for it, cleans up).
CREATE FUNCTION ntsb_perf._job_name(v regclass) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE n text;
BEGIN
    n := 'ntsb_perf refresh ' || v::oid::text || ' ' ||
         (SELECT format('%I.%I', ns.nspname, c.relname)
          FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE c.oid = v);
    WHILE octet_length(n) > 63 LOOP
        n := left(n, -1);
    END LOOP;
    RETURN n;
END $$;

CREATE FUNCTION ntsb_perf._job_command(job bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('SELECT ntsb_perf._scheduled_refresh(%s)', job)
$$;

-- Whether pg_cron job `job` is one ntsb_perf created as role `username`: that job id, name,
-- command (which names the job id) and owner (and schedule, when given). Read with the caller's
-- rights: a role sees only its own jobs (pg_cron's row-level security), a superuser all of them.
CREATE FUNCTION ntsb_perf._job_ok(job bigint, jname text, username name, sched text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE ok boolean;
BEGIN
    IF job IS NULL OR NOT ntsb_perf._cron_readable() THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j WHERE j.jobid = $1 AND j.jobname = $2 AND j.command = $3
                            AND j.username = $4 AND ($5 IS NULL OR j.schedule = $5))'
        INTO ok USING job, jname, ntsb_perf._job_command(job), username, sched;
    RETURN ok;
END $$;

-- The pg_cron side of a job, as pg_cron shows it to the caller (nothing when pg_cron is not
-- installed, the caller may not read its schema, or pg_cron hides that job from the caller).
CREATE FUNCTION ntsb_perf._cron_job(job bigint,
    OUT active boolean, OUT last_start timestamptz, OUT last_end timestamptz, OUT last_status text,
    OUT last_message text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF job IS NULL OR NOT ntsb_perf._cron_readable() THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE
        'SELECT j.active, d.start_time, d.end_time, d.status, d.return_message
         FROM cron.job j
         LEFT JOIN LATERAL (SELECT * FROM cron.job_run_details r WHERE r.jobid = j.jobid
                            ORDER BY r.start_time DESC NULLS LAST LIMIT 1) d ON true
         WHERE j.jobid = $1' USING job;
END $$;

-- Checks every schedule_* function makes last, before it creates its job: pg_cron is there and
-- readable (_require_pg_cron), the caller can log in (pg_cron runs the job as it, over a
-- connection), and, for a kind with one job per database, no other role has one.
-- Creates (or, for the same role, updates) the caller's job of `kind` (one with a fixed name)
-- running `command` on `schedule`, and returns its id. cron.schedule runs as the caller.
CREATE FUNCTION ntsb_perf._schedule_job(kind text, schedule text, command text) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
    other text;
    id bigint;
BEGIN
    -- (_job_name_of refuses a kind that is not one with a fixed name)
    SELECT * INTO k FROM ntsb_perf._job_kinds() j WHERE j.job_name = ntsb_perf._job_name_of(_schedule_job.kind);
    PERFORM ntsb_perf._require_pg_cron();
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'role "%" may not log in: pg_cron could not run the job as it', current_user
            USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    IF k.one_per = 'database' THEN
        other := ntsb_perf._job_owners(kind, current_user);
        IF other IS NOT NULL THEN
            RAISE EXCEPTION '% of database % % already scheduled by %', k.what, current_database(), k.is_are, other
                USING ERRCODE = 'duplicate_object',
                      HINT = format('One schedule per database: that role can change it, or remove it with %s.',
                                    k.unschedule_with);
        END IF;
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING k.job_name, schedule, command;
    RETURN id;
END $$;

-- The roles other than `except_role` that have a job of `kind` in this database (pg_cron shows a
-- role only its own jobs: SECURITY DEFINER to see them all; it tells role names, nothing else).
-- For the kinds with one job per database; closed to PUBLIC (granted to the roles that may
-- schedule such a job).
CREATE FUNCTION ntsb_perf._job_owners(kind text, except_role name) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owners text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN NULL;
    END IF;
    -- (a kind that is not one with a fixed name has no such jobs: NULL)
    EXECUTE 'SELECT string_agg(DISTINCT username::text, '', '') FROM cron.job WHERE jobname = $1 AND username <> $2'
        INTO owners USING (SELECT k.job_name FROM ntsb_perf._job_kinds() k WHERE k.kind = _job_owners.kind), except_role;
    RETURN owners;
END $$;
REVOKE ALL ON FUNCTION ntsb_perf._job_owners(text, name) FROM PUBLIC;
-- (index snapshots, the one kind with one job per database, are scheduled by these roles)
GRANT EXECUTE ON FUNCTION ntsb_perf._job_owners(text, name) TO pg_stat_scan_tables;

-- Removes the calling role's job of `kind` in this database (false, with a notice, when it has
-- none). What unschedule_auto_reindex and unschedule_index_snapshots do.
CREATE FUNCTION ntsb_perf._unschedule_own_job(kind text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
    id bigint;
BEGIN
    -- (_job_name_of refuses a kind that is not one with a fixed name)
    SELECT * INTO k FROM ntsb_perf._job_kinds() j WHERE j.job_name = ntsb_perf._job_name_of(_unschedule_own_job.kind);
    PERFORM ntsb_perf._require_pg_cron();
    EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1 AND username = current_user' INTO id USING k.job_name;
    IF id IS NULL THEN
        RAISE NOTICE 'no % % scheduled in database % for role %', k.what, k.is_are, current_database(), current_user;
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1)' USING id;
    RETURN true;
END $$;
