-- The kinds of pg_cron jobs ntsb_perf creates, in one place: DROP EXTENSION ntsb_perf
-- (sql/uninstall.sql) lists or removes every job of this database that is of one of these
-- kinds, and the schedule functions take the names of their jobs from here. A new kind of job
-- is one more row. See docs/operations.md, "Uninstalling".

-- One row per kind:
--   job_name          the job's exact name, for kinds with one job per database (NULL: one job
--                     per object, named as job_name_pattern says);
--   job_name_pattern  a LIKE pattern (backslash escapes) every job of the kind is named by;
--   command_pattern   a LIKE pattern of the job's command, `{jobid}` standing for the job's own
--                     id (a refresh job's command names its job);
--   description       what such a job does (in messages: "pg_cron job 7 "<name>" <description>");
--   remove_with       how its owner removes one without dropping anything else.
-- The patterns escape `_` and `%` (a database called `a_b` does not make `aXb`'s job look like
-- its own).
CREATE FUNCTION ntsb_perf._job_kinds()
RETURNS TABLE (kind text, job_name text, job_name_pattern text, command_pattern text, description text,
               remove_with text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.kind, k.job_name,
           coalesce(replace(replace(replace(k.job_name, '\', '\\'), '%', '\%'), '_', '\_'), k.name_pattern),
           k.command_pattern, k.description, k.remove_with
    FROM (VALUES
        -- schedule_refresh: 'ntsb_perf refresh <view OID> <view>' (ntsb_perf._job_name), running
        -- exactly ntsb_perf._job_command(<its id>)
        (1, 'refresh', NULL, 'ntsb\_perf refresh %', 'SELECT ntsb\_perf.\_scheduled\_refresh({jobid})',
         'refreshes a materialized view (ntsb_perf.schedule_refresh)',
         'SELECT ntsb_perf.unschedule_refresh(view) for each scheduled view'),
        -- schedule_auto_reindex
        (2, 'auto_reindex', 'ntsb_perf auto_reindex ' || current_database(), NULL, 'CALL ntsb\_perf.auto\_reindex(%',
         'runs ntsb_perf.auto_reindex (ntsb_perf.schedule_auto_reindex)',
         'SELECT ntsb_perf.unschedule_auto_reindex() as the job''s role'),
        -- schedule_index_snapshots
        (3, 'index_snapshots', 'ntsb_perf index snapshots ' || current_database(), NULL,
         'SELECT * FROM ntsb\_perf.snapshot\_indexes(%',
         'takes index snapshots (ntsb_perf.schedule_index_snapshots)',
         'SELECT ntsb_perf.unschedule_index_snapshots() as the job''s role')
    ) AS k(ord, kind, job_name, name_pattern, command_pattern, description, remove_with)
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
