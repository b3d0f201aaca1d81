-- ntsb_perf 0.1.0 (commit d5ba42d) -> 0.2.0, run by ALTER EXTENSION ntsb_perf UPDATE.
--
-- 0.2.0 hardens what 0.1.0 shipped (statistics states, bloat reads, refresh scheduling), adds
-- auto-reindex (reindex_index, auto_reindex, reindex_plan, reindex_history, reindex_status, a
-- background worker), keeps an index history (snapshot_indexes, index_history, bloat_forecast,
-- index_usage_history; unused_indexes counts scans from it), cleans up after dropped views (an
-- sql_drop event trigger), dumps the reindex history, the baselines and the index history with
-- pg_dump, and removes its pg_cron jobs with DROP EXTENSION ... CASCADE (a ddl_command_start
-- event trigger; without CASCADE it names them and refuses).
-- What this script does beyond creating and replacing functions:
--   * change marks: 0.1.0 let every role write ntsb_perf.refresh_change, so any role could make
--     an exact refresh skip a changed view. 0.2.0 writes marks as the table's owner only; the
--     grant is revoked, and every stored refresh state is distrusted (its tracking fingerprint
--     cleared), so each scheduled view refreshes once at its next run and skips again after.
--   * tracking triggers: 0.2.0 also tracks logical replication (a row trigger enabled REPLICA on
--     plain tables) and requires the statement trigger enabled ALWAYS; both are put in place
--     for every view scheduled with skip_if_unchanged (a WARNING names a table where that fails).
--   * pg_cron jobs: 0.1.0's refresh jobs ran "SELECT count(*) FROM ntsb_perf.refresh('v')",
--     0.2.0's run ntsb_perf._scheduled_refresh(jobid) (which also copes with renamed and dropped
--     views); jobs still as schedule_refresh made them are rewritten in place (same job id, name,
--     schedule and owner). A job someone changed since is left alone, and a WARNING says so.
--   * refresh_policy.jobid becomes UNIQUE (two policies sharing one job lose it, WARNING).
-- The stored accident_stats states need nothing: 0.2.0 reads 0.1.0's stored form as it is.
-- The library keeps 0.1.0's entry points of track_change (track_change_wrapper) and
-- _refresh_fence (refresh_fence_wrapper), so tables with tracking triggers stay writable and
-- views refresh between installing 0.2.0's files and running this.
\echo Use "ALTER EXTENSION ntsb_perf UPDATE TO '0.2.0'" to load this file. \quit

-- 1. Change marks are written by the tracking trigger as the owner of refresh_change, no longer
--    by the writer through _mark_change.
REVOKE INSERT, UPDATE ON ntsb_perf.refresh_change FROM PUBLIC;
DROP FUNCTION ntsb_perf._mark_change(oid);
-- unused_indexes gains two columns (scans_last_30_days, observed_since from the index history):
-- a new result type, so it is created again below.
DROP FUNCTION ntsb_perf.unused_indexes(bigint);

-- 2. New and changed functions, tables and views, as 0.2.0's install script creates them
--    (scripts/upgrade_objects.sh writes this section with scripts/sql_statements.py).

CREATE OR REPLACE FUNCTION ntsb_perf.track_change() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'ntsb_perf_track_change';

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

CREATE OR REPLACE FUNCTION ntsb_perf._require_pg_cron() RETURNS void
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
CREATE OR REPLACE FUNCTION ntsb_perf._cron_job(job bigint,
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

-- Whether the current role may see the indexes of table `tbl` in the index reports: it is the
-- table's owner (or a member of the owner's role), or it has some privilege on the table or on
-- one of its columns. NULL for an OID that is not a relation. The rule of index_catalog below,
-- and of the index history's rows (sql/index_history/schema.sql). Plain SQL with every name
-- qualified, so that it means the same under any caller's search_path, and no SET clause, which
-- would cost a configuration change on every call (its subquery keeps it from being inlined).
CREATE FUNCTION ntsb_perf._may_see_table(tbl oid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT (SELECT pg_catalog.pg_has_role(t.relowner, 'USAGE')
                   OR pg_catalog.has_table_privilege(t.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                   OR pg_catalog.has_any_column_privilege(t.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
            FROM pg_catalog.pg_class t WHERE t.oid OPERATOR(pg_catalog.=) tbl)
$$;

-- ntsb_perf.index_catalog: one row per index the caller can see, outside the system schemas.
-- Every index report reads this view, so the visibility rules, the partition totals and the
-- size figures are defined once. A partitioned (parent) index carries the totals of the leaf
-- indexes below it; each partition's own index is a row of its own as well.
CREATE OR REPLACE VIEW ntsb_perf.index_catalog AS
SELECT
    i.indexrelid                                   AS index_oid,
    i.indrelid                                     AS table_oid,
    n.nspname::text                                AS schema_name,
    t.relname::text                                AS table_name,
    c.relname::text                                AS index_name,
    am.amname::text                                AS access_method,
    c.relkind = 'I'                                AS is_partitioned,
    CASE WHEN c.relkind = 'I' THEN coalesce(ip.scans, 0)
         ELSE pg_stat_get_numscans(i.indexrelid) END          AS idx_scan,
    CASE WHEN c.relkind = 'I' THEN coalesce(ip.tup_read, 0)
         ELSE pg_stat_get_tuples_returned(i.indexrelid) END   AS idx_tup_read,
    CASE WHEN c.relkind = 'I' THEN coalesce(ip.tup_fetch, 0)
         ELSE pg_stat_get_tuples_fetched(i.indexrelid) END    AS idx_tup_fetch,
    CASE WHEN c.relkind = 'I' THEN coalesce(ip.bytes, 0)
         ELSE pg_relation_size(i.indexrelid) END              AS index_bytes,
    CASE WHEN t.relkind = 'p' THEN coalesce(tp.bytes, 0)
         ELSE pg_table_size(i.indrelid) END                   AS table_bytes,
    CASE WHEN c.relkind = 'I' THEN ip.partitions END          AS partitions,
    i.indisunique                                  AS is_unique,
    i.indisprimary                                 AS is_primary,
    i.indisvalid                                   AS is_valid,
    i.indisready                                   AS is_ready,
    i.indislive                                    AS is_live,
    i.indisexclusion                               AS is_exclusion,
    i.indisreplident                               AS is_replica_identity,
    i.indisclustered                               AS is_clustered,
    i.indpred IS NOT NULL                          AS is_partial,
    (i.indisprimary OR i.indisexclusion OR EXISTS (
        SELECT 1 FROM pg_constraint k
        WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x', 'f')))
                                                   AS backs_constraint,
    EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
                                                   AS is_attached_partition,
    EXISTS (SELECT 1 FROM pg_depend d
            WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indrelid AND d.deptype = 'e')
                                                   AS is_extension_member,
    -- Partitioned indexes cannot be dropped concurrently.
    format('DROP INDEX %s%I.%I', CASE WHEN c.relkind = 'I' THEN '' ELSE 'CONCURRENTLY ' END,
           n.nspname, c.relname)                   AS drop_statement
FROM pg_index i
JOIN pg_class c     ON c.oid = i.indexrelid
JOIN pg_class t     ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am       ON am.oid = c.relam
LEFT JOIN LATERAL (
    SELECT count(*)                                       AS partitions,
           sum(pg_stat_get_numscans(p.relid))::bigint        AS scans,
           sum(pg_stat_get_tuples_returned(p.relid))::bigint AS tup_read,
           sum(pg_stat_get_tuples_fetched(p.relid))::bigint  AS tup_fetch,
           sum(pg_relation_size(p.relid))::bigint            AS bytes
    FROM pg_partition_tree(i.indexrelid) p
    WHERE c.relkind = 'I' AND p.isleaf
) ip ON true
LEFT JOIN LATERAL (
    SELECT sum(pg_table_size(p.relid))::bigint AS bytes
    FROM pg_partition_tree(i.indrelid) p
    WHERE t.relkind = 'p' AND p.isleaf
) tp ON true
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND (n.nspname NOT LIKE 'pg\_temp\_%' OR n.oid = pg_my_temp_schema())
  AND ntsb_perf._may_see_table(t.oid);

COMMENT ON VIEW ntsb_perf.index_catalog IS
  'ntsb_perf: every index the caller can see, with usage counters, sizes and the flags the index reports use';

GRANT SELECT ON ntsb_perf.index_catalog TO PUBLIC;

-- Index identity across dumps and REINDEX CONCURRENTLY: rows that name an index (history,
-- rebuilds, baselines) keep its quoted, qualified name and, while it exists, its OID; these
-- check and clear an OID that is not the index of the row's name.
-- Whether `idx` is the index (leaf or partitioned) whose quoted, qualified name is `qname`.
-- Plain SQL with every name qualified and no SET clause, as _may_see_table above.
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

CREATE  FUNCTION "_forecast_fit"(
	"x" double precision[], /* Array < '_, f64 > */
	"y" double precision[], /* Array < '_, f64 > */
	"threshold" double precision, /* f64 */
	"rising" bool /* bool */
) RETURNS TABLE (
	"slope" double precision,  /* Option < f64 > */
	"slope_low" double precision,  /* Option < f64 > */
	"slope_high" double precision,  /* Option < f64 > */
	"crossing" double precision,  /* Option < f64 > */
	"crossing_earliest" double precision,  /* Option < f64 > */
	"crossing_latest" double precision,  /* Option < f64 > */
	"crossed" bool,  /* Option < bool > */
	"crossed_at" double precision  /* Option < f64 > */
)
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_forecast_fit_wrapper';

CREATE  FUNCTION "_index_history_retention"() RETURNS INT /* i32 */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_index_history_retention_wrapper';

CREATE  FUNCTION "_nondeterminism"(
	"rel" oid /* pg_sys :: Oid */
) RETURNS TEXT /* Option < String > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_nondeterminism_wrapper';

CREATE OR REPLACE FUNCTION "_refresh_fence"(
	"sources" oid[] /* Vec < Option < pg_sys :: Oid > > */
) RETURNS bool /* bool */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_refresh_fence_wrapper';

CREATE  FUNCTION "_refresh_view_lock"(
	"v" regclass /* Option < crate :: regclass :: RegClass > */
) RETURNS void
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_refresh_view_lock_wrapper';

CREATE  FUNCTION "_reindex_begin"() RETURNS bigint /* i64 */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reindex_begin_wrapper';

CREATE  FUNCTION "_reindex_cancel"(
	"run" INT, /* Option < i32 > */
	"reason" TEXT DEFAULT NULL /* Option < String > */
) RETURNS bool /* bool */
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reindex_cancel_wrapper';

CREATE  FUNCTION "_reindex_drop_start"(
	"index" regclass /* Option < RegClass > */
) RETURNS INT /* i32 */
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reindex_drop_start_wrapper';

CREATE  FUNCTION "_reindex_finish"(
	"run" INT, /* Option < i32 > */
	"cancelled_because" TEXT /* Option < String > */
) RETURNS bigint /* i64 */
VOLATILE SECURITY DEFINER
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reindex_finish_wrapper';

CREATE  FUNCTION "_reindex_forget"(
	"run" INT /* i32 */
) RETURNS void
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reindex_forget_wrapper';

CREATE  FUNCTION "_reindex_in_block"() RETURNS bool /* bool */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reindex_in_block_wrapper';

CREATE  FUNCTION "_reindex_poll"(
	"run" INT /* i32 */
) RETURNS TABLE (
	"phase" TEXT,  /* String */
	"pid" INT,  /* Option < i32 > */
	"sqlstate" TEXT,  /* Option < String > */
	"message" TEXT,  /* Option < String > */
	"detail" TEXT,  /* Option < String > */
	"hint" TEXT  /* Option < String > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reindex_poll_wrapper';

CREATE  FUNCTION "_reindex_run_lock"() RETURNS bool /* bool */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reindex_run_lock_wrapper';

CREATE  FUNCTION "_reindex_run_unlock"() RETURNS void
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reindex_run_unlock_wrapper';

CREATE  FUNCTION "_reindex_start"(
	"index" regclass, /* Option < RegClass > */
	"concurrently" bool, /* Option < bool > */
	"auto" bool /* Option < bool > */
) RETURNS INT /* i32 */
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_reindex_start_wrapper';

CREATE  FUNCTION "_snapshot_lock"(
	"wait_ms" INT /* Option < i32 > */
) RETURNS bool /* bool */
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_snapshot_lock_wrapper';

REVOKE ALL ON FUNCTION ntsb_perf._snapshot_lock(integer) FROM PUBLIC;

-- Who holds one of these locks: 'run' (auto_reindex of `role` in this database) or 'snapshot'.
CREATE FUNCTION ntsb_perf._run_lock_holder(kind text, role oid DEFAULT NULL)
RETURNS TABLE (pid integer, role_name name, since timestamptz, query text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT l.pid, a.usename, coalesce(a.xact_start, a.backend_start), left(a.query, 200)
    FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'object' AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND CASE kind WHEN 'run' THEN l.classid = 'pg_authid'::regclass AND l.objid = role AND l.objsubid = 1
                    WHEN 'snapshot' THEN l.classid = 'pg_extension'::regclass AND l.objsubid = 2
                         AND l.objid = (SELECT oid FROM pg_extension WHERE extname = 'ntsb_perf') END
    LIMIT 1
$$;

CREATE  FUNCTION "_snapshot_measure"(
	"sample_pages" INT /* Option < i32 > */
) RETURNS TABLE (
	"index_oid" oid,  /* pg_sys :: Oid */
	"method" TEXT,  /* Option < String > */
	"pages_read" bigint,  /* i64 */
	"total_pages" bigint,  /* i64 */
	"index_bytes" bigint,  /* Option < i64 > */
	"live_items" bigint,  /* Option < i64 > */
	"avg_leaf_density" double precision,  /* Option < f64 > */
	"leaf_fragmentation" double precision,  /* Option < f64 > */
	"expected_bytes" bigint,  /* Option < i64 > */
	"reclaimable_bytes" bigint,  /* Option < i64 > */
	"bloat_ratio" double precision,  /* Option < f64 > */
	"density_ci_low" double precision,  /* Option < f64 > */
	"density_ci_high" double precision,  /* Option < f64 > */
	"note" TEXT  /* Option < String > */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_snapshot_measure_wrapper';

-- Who may do what. Everybody reads. Change marks are written only by the tracking trigger
-- (ntsb_perf.track_change, in Rust, as the owner of refresh_change: no role can forge, move back
-- or remove a mark). Policy, state and log rows are written only for views the role owns
-- (row-level security, checked against the view's owner); a policy row must name the pg_cron
-- job schedule_refresh creates for that view and role (trigger _check_policy), and a log row
-- records who inserted it (trigger _log_run_by). Every entry point, trigger, SECURITY DEFINER
-- function and the row-level-security check runs with search_path = pg_catalog, pg_temp, so
-- nothing a caller puts on search_path is resolved by them; the small SQL helpers they call
-- and the per-view helpers run under that same path.
CREATE OR REPLACE FUNCTION ntsb_perf._owns(rel regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = rel), false)
$$;

-- refresh_log.run_by is the role that inserted the row (only a superuser, i.e. ntsb_perf's own
-- cleanup of a dropped view, may name another: the session user of the job that found it gone).
CREATE FUNCTION ntsb_perf._log_run_by() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.run_by IS NULL OR NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false) THEN
        NEW.run_by := current_user;
    END IF;
    RETURN NEW;
END $$;

-- A policy row is what schedule_refresh wrote: it names the pg_cron job ntsb_perf created for
-- this view, owned by the role in created_by (the caller, unless the caller is a superuser),
-- with the policy's schedule; created_at/updated_at are set here (a superuser's new row keeps
-- the times it gives: a restored dump brings them back).
-- A superuser's new row whose job does not check out (a restore into a database without
-- pg_cron, or whose pg_cron jobs are not the dumped ones, or a job restored after the policy) is
-- kept without a job (jobid NULL) and a WARNING says so: it never names a job ntsb_perf did not
-- create for it (a job restored after it attaches it at its first run: _scheduled_refresh). A superuser's new row whose job checks out but runs in another database or on
-- another port (pg_cron restores cron.job as it was: a dump restored into a server listening
-- elsewhere would run the job against the old server) gets its job pointed at this database
-- and server.
CREATE FUNCTION ntsb_perf._check_policy() RETURNS trigger
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

-- The refresh order for `view`: every materialized view it reads (directly, through views, or
-- through other materialized views), deepest first, then the view itself; `reads` lists the
-- materialized views each one reads. (No rows for NULL.)
CREATE OR REPLACE FUNCTION ntsb_perf.refresh_plan(view regclass)
RETURNS TABLE (step int, view regclass, reads regclass[])
LANGUAGE sql STABLE AS $$
    SELECT row_number() OVER (ORDER BY m.depth DESC, m.relid)::int, m.relid::regclass,
           ARRAY(SELECT r.relid::regclass FROM ntsb_perf._reads(m.relid::regclass) r
                 WHERE r.relkind = 'm' ORDER BY r.relid)
    FROM (SELECT $1::oid AS relid, 0 AS depth WHERE $1 IS NOT NULL
          UNION ALL
          SELECT r.relid, r.depth FROM ntsb_perf._reads($1) r WHERE r.relkind = 'm') m
$$;

-- ntsb_perf's tracking triggers are recognised by what they are, never by name: the function
-- ntsb_perf.track_change(), no WHEN clause, no column list, and
--   statement: BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE FOR EACH STATEMENT (tgtype 62),
--              enabled ALWAYS (it must fire in a logical-replication apply worker too, for
--              TRUNCATE and the initial table copy);
--   replica:   AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW (tgtype 29), enabled REPLICA or
--              ALWAYS (the apply worker fires row triggers only; enabled REPLICA it never fires
--              on the normal path).
CREATE FUNCTION ntsb_perf._tracking_triggers(tbl oid, kind text)
RETURNS TABLE (oid oid, row_version xid, tgenabled "char")
LANGUAGE sql STABLE AS $$
    SELECT t.oid, t.xmin, t.tgenabled FROM pg_trigger t
    WHERE t.tgrelid = tbl AND t.tgfoid = 'ntsb_perf.track_change()'::regprocedure
      AND t.tgqual IS NULL AND t.tgattr = ''::int2vector
      AND ((kind = 'statement' AND t.tgtype = 62 AND t.tgenabled = 'A')
        OR (kind = 'replica' AND t.tgtype = 29 AND t.tgenabled IN ('R', 'A')))
$$;

-- Fingerprint of the tracking triggers of `sources` (NULL and the first untracked table when
-- one lacks them: its changes cannot be known). Every table needs the statement trigger, plain
-- tables and partitions the replica row trigger too; foreign tables are never tracked. A
-- trigger dropped and re-created, disabled or re-enabled changes the fingerprint (OID, row
-- version), so changes made while it was missing are never trusted away.
CREATE OR REPLACE FUNCTION ntsb_perf._tracking(sources oid[], OUT fingerprint text, OUT untracked regclass)
LANGUAGE sql STABLE AS $$
    WITH t AS (
        SELECT s, c.relkind,
               (SELECT string_agg(g.oid::text || '.' || g.row_version::text || '.' || g.tgenabled::text, '/' ORDER BY g.oid)
                FROM ntsb_perf._tracking_triggers(s, 'statement') g) AS stmt,
               (SELECT string_agg(g.oid::text || '.' || g.row_version::text || '.' || g.tgenabled::text, '/' ORDER BY g.oid)
                FROM ntsb_perf._tracking_triggers(s, 'replica') g) AS rep
        FROM unnest(sources) s LEFT JOIN pg_class c ON c.oid = s
    ), u AS (
        SELECT *, (relkind IS NULL OR relkind = 'f' OR stmt IS NULL OR (relkind = 'r' AND rep IS NULL)) AS missing
        FROM t
    )
    SELECT CASE WHEN bool_or(missing) THEN NULL
                ELSE coalesce(string_agg(s::text || ':' || stmt || coalesce(':' || rep, ''), ',' ORDER BY s), '') END,
           (array_agg(s::regclass ORDER BY s) FILTER (WHERE missing))[1]
    FROM u
$$;

-- Whether the contents of `view` can change while the tables it reads do not: the first
-- non-immutable function its query calls (directly, through an operator or a cast, or in a
-- view it reads), CURRENT_DATE and the like, a sequence or TABLESAMPLE, as text; else NULL.
CREATE FUNCTION ntsb_perf._volatile_reason(view regclass) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN x.relid = $1::oid THEN format('it calls %s', x.what)
                ELSE format('%s, which it reads, calls %s', x.relid::regclass, x.what) END
    FROM (SELECT r.relid, r.depth, ntsb_perf._nondeterminism(r.relid) AS what
          FROM (SELECT $1::oid AS relid, 0 AS depth
                UNION ALL
                SELECT w.relid, w.depth FROM ntsb_perf._reads($1) w WHERE w.relkind IN ('v', 'm')) r) x
    WHERE x.what IS NOT NULL
    ORDER BY x.depth, x.relid
    LIMIT 1
$$;

-- Why `view` must be refreshed now, or NULL when nothing it reads has changed since its last
-- refresh through ntsb_perf. Exact: a change committed before this is called is either in the
-- view already (visible in the snapshot of its last refresh) or reported here.
CREATE OR REPLACE FUNCTION ntsb_perf.refresh_reason(view regclass) RETURNS text
LANGUAGE plpgsql STABLE STRICT AS $$
#variable_conflict use_column
DECLARE
    v regclass := $1;
    st record;
    tr record;
    srcs oid[];
    vol text;
BEGIN
    IF NOT (SELECT relispopulated FROM pg_class WHERE oid = v) THEN
        RETURN 'not populated';
    END IF;
    SELECT * INTO st FROM ntsb_perf.refresh_state s WHERE s.view = v;
    IF NOT FOUND THEN
        RETURN 'no earlier refresh through ntsb_perf';
    END IF;
    vol := ntsb_perf._volatile_reason(v);
    IF vol IS NOT NULL THEN
        RETURN vol;
    END IF;
    srcs := ARRAY(SELECT s::oid FROM ntsb_perf.refresh_sources(v) s);
    IF srcs IS DISTINCT FROM st.sources THEN
        RETURN 'the tables it reads changed (definition, partitions)';
    END IF;
    SELECT * INTO tr FROM ntsb_perf._tracking(srcs);
    IF tr.fingerprint IS NULL THEN
        RETURN format('%s has no change tracking', tr.untracked);
    END IF;
    IF tr.fingerprint IS DISTINCT FROM st.tracking THEN
        RETURN 'change tracking was re-created or re-enabled since the last refresh';
    END IF;
    IF NOT st.certain THEN
        RETURN 'writers of a table it reads were in flight during the last refresh';
    END IF;
    IF EXISTS (SELECT 1 FROM ntsb_perf.refresh_change c
               WHERE c.source = ANY (srcs) AND NOT pg_visible_in_snapshot(c.xid, st.last_snapshot)) THEN
        RETURN 'a table it reads changed';
    END IF;
    RETURN NULL;
END $$;

-- Whether anything `view` reads changed since its last refresh (refresh_reason IS NOT NULL).
CREATE OR REPLACE FUNCTION ntsb_perf.sources_changed(view regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$ SELECT ntsb_perf.refresh_reason($1) IS NOT NULL $$;

-- Puts ntsb_perf's tracking triggers on every table `view` reads (where missing), so all its
-- changes are recorded, logical replication's included: the statement trigger
-- ntsb_perf_track_changes enabled ALWAYS and, on plain tables and partitions, the row trigger
-- ntsb_perf_track_replica enabled REPLICA (see _tracking_triggers). Enabling a trigger ALWAYS or
-- REPLICA needs the table's owner, so a table still lacking them must be owned by the caller.
CREATE OR REPLACE FUNCTION ntsb_perf._ensure_tracking(view regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE s regclass; k "char"; qn text; need_stmt boolean; need_rep boolean; t record;
BEGIN
    FOR s IN SELECT * FROM ntsb_perf.refresh_sources(view) LOOP
        k := (SELECT relkind FROM pg_class WHERE oid = s);
        IF k = 'f' THEN
            RAISE NOTICE '% reads foreign table %: its changes cannot be tracked, so it is refreshed every time', view, s;
            CONTINUE;
        END IF;
        need_stmt := NOT EXISTS (SELECT 1 FROM ntsb_perf._tracking_triggers(s, 'statement'));
        need_rep := k = 'r' AND NOT EXISTS (SELECT 1 FROM ntsb_perf._tracking_triggers(s, 'replica'));
        IF NOT (need_stmt OR need_rep) THEN
            CONTINUE;
        END IF;
        IF NOT ntsb_perf._owns(s) THEN
            RAISE EXCEPTION 'permission denied to track changes of table %', s
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('skip_if_unchanged needs ntsb_perf''s tracking triggers on every table %s reads, '
                                      'enabled for logical replication too, which only the owner of %s can set up.', view, s),
                      HINT = format('The owner of %s can run ntsb_perf.schedule_refresh once for a view on it, '
                                    'or pass skip_if_unchanged => false.', s);
        END IF;
        qn := (SELECT format('%I.%I', ns.nspname, c.relname) FROM pg_class c
               JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE c.oid = s);
        -- Each trigger: a missing one is created, one of that name that is ntsb_perf's (same
        -- function, kind, no WHEN, no column list) is enabled as it must be, any other is an error.
        FOR t IN SELECT * FROM (VALUES
                     ('ntsb_perf_track_changes', 62, 'BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE', 'STATEMENT',
                      'ALWAYS', need_stmt),
                     ('ntsb_perf_track_replica', 29, 'AFTER INSERT OR UPDATE OR DELETE', 'ROW', 'REPLICA', need_rep))
                 AS x(name, tgtype, events, per, enable, needed)
                 WHERE x.needed LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_trigger tr WHERE tr.tgrelid = s AND tr.tgname = t.name) THEN
                EXECUTE format('CREATE TRIGGER %I %s ON %s FOR EACH %s EXECUTE FUNCTION ntsb_perf.track_change()',
                               t.name, t.events, qn, t.per);
            ELSIF NOT EXISTS (SELECT 1 FROM pg_trigger tr WHERE tr.tgrelid = s AND tr.tgname = t.name
                              AND tr.tgfoid = 'ntsb_perf.track_change()'::regprocedure AND tr.tgtype = t.tgtype
                              AND tr.tgqual IS NULL AND tr.tgattr = ''::int2vector) THEN
                RAISE EXCEPTION 'table % has a trigger named % that is not ntsb_perf''s change tracking', s, t.name
                    USING ERRCODE = 'duplicate_object',
                          HINT = format('Drop or rename that trigger (DROP TRIGGER %s ON %s), then schedule again.', t.name, qn);
            END IF;
            EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', qn, t.enable, t.name);
        END LOOP;
    END LOOP;
END $$;

-- Raises the errors every entry point shares: NULL, not a materialized view, not the owner.
CREATE OR REPLACE FUNCTION ntsb_perf._check_matview(v regclass, what text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE k "char";
BEGIN
    IF v IS NULL THEN
        RAISE EXCEPTION 'view must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT relkind INTO k FROM pg_class WHERE oid = v;
    IF k IS NULL THEN
        RAISE EXCEPTION 'relation with OID % does not exist', v::oid USING ERRCODE = 'undefined_table';
    END IF;
    IF k IS DISTINCT FROM 'm' THEN
        RAISE EXCEPTION '% is %, not a materialized view', v, ntsb_perf._relkind_name(k)
            USING ERRCODE = 'wrong_object_type',
                  HINT = format('%s works on materialized views (CREATE MATERIALIZED VIEW).', what);
    END IF;
    IF NOT ntsb_perf._owns(v) THEN
        RAISE EXCEPTION 'must be owner of materialized view %', v
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only the owner of a materialized view (or a member of its owning role) can refresh it.';
    END IF;
END $$;

-- Refreshes `view` after every materialized view it reads, each only when something it reads
-- changed since its last refresh (unless force, or its policy has skip_if_unchanged off).
-- A view that fails is logged and left as it was; the others go on, except the views that read
-- it ('skipped: a view it reads failed'). A second caller for the same view waits until the first
-- one's transaction ends, then finds the view up to date.
CREATE OR REPLACE FUNCTION ntsb_perf._refresh(target_view regclass, force_refresh boolean)
RETURNS TABLE (view regclass, status text, duration_ms double precision, rows bigint,
               reason text, error text, concurrent boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    target regclass := $1;
    forced boolean := coalesce($2, false);
    p record;
    pol record;
    v regclass;
    qname text;
    why text;
    conc boolean;
    snap pg_snapshot;
    sure boolean;
    srcs oid[];
    tr record;
    t0 timestamptz;
    started timestamptz;
    n bigint;
    bad regclass[] := '{}';
    done regclass[] := '{}';
BEGIN
    PERFORM ntsb_perf._check_matview(target, 'ntsb_perf.refresh');
    -- Every view of the plan: refreshable by this role, then locked in OID order (no deadlock
    -- between callers whose plans overlap).
    FOR p IN SELECT * FROM ntsb_perf.refresh_plan(target) ORDER BY view::oid LOOP
        PERFORM ntsb_perf._check_matview(p.view, 'ntsb_perf.refresh');
        PERFORM ntsb_perf._refresh_view_lock(p.view);
    END LOOP;

    FOR p IN SELECT * FROM ntsb_perf.refresh_plan(target) ORDER BY step LOOP
        v := p.view;
        started := clock_timestamp();
        SELECT * INTO pol FROM ntsb_perf.refresh_policy rp WHERE rp.view = v;
        n := NULL; error := NULL;
        qname := (SELECT format('%I.%I', ns.nspname, c.relname)
                  FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE c.oid = v);
        conc := coalesce(pol.concurrent, ntsb_perf._has_refresh_key(v))
                AND (SELECT relispopulated FROM pg_class WHERE oid = v);
        IF p.reads && bad THEN
            status := 'skipped: a view it reads failed';
            why := (SELECT string_agg(b::text, ', ') FROM unnest(bad) b WHERE b = ANY (p.reads));
        ELSE
            why := CASE WHEN forced THEN 'forced'
                        WHEN pol.skip_if_unchanged = false THEN 'skip_if_unchanged is off' END;
            why := coalesce(why, ntsb_perf.refresh_reason(v));
            IF why IS NULL AND p.reads && done THEN
                why := 'a view it reads was refreshed';
            END IF;
            IF why IS NULL THEN
                status := 'skipped: unchanged';
            ELSE
                BEGIN
                    srcs := ARRAY(SELECT s::oid FROM ntsb_perf.refresh_sources(v) s);
                    tr := ntsb_perf._tracking(srcs);
                    -- The tracking lock of every source, exclusively, held to commit: while a
                    -- writer holds it shared it may rely on an earlier mark instead of writing
                    -- one, so a refresh that cannot get it (never waits) is uncertain and the
                    -- next call refreshes again. Then the generation is bumped (writers stop
                    -- relying on marks older than this refresh) and the snapshot is taken,
                    -- before REFRESH starts, so every transaction visible in it is in what
                    -- REFRESH reads (its own snapshot is this one or newer).
                    sure := ntsb_perf._refresh_fence(srcs);
                    snap := pg_current_snapshot();
                    t0 := clock_timestamp();
                    IF conc THEN
                        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', qname);
                    ELSE
                        EXECUTE format('REFRESH MATERIALIZED VIEW %s', qname);
                    END IF;
                    EXECUTE format('SELECT count(*) FROM %s', qname) INTO n;
                    INSERT INTO ntsb_perf.refresh_state AS s (view, last_snapshot, sources, tracking, certain, refreshed_at)
                    VALUES (v, snap, srcs, tr.fingerprint, sure, t0)
                    ON CONFLICT ON CONSTRAINT refresh_state_pkey DO UPDATE
                        SET last_snapshot = EXCLUDED.last_snapshot, sources = EXCLUDED.sources,
                            tracking = EXCLUDED.tracking, certain = EXCLUDED.certain,
                            refreshed_at = EXCLUDED.refreshed_at;
                    status := 'refreshed';
                    done := done || v;
                EXCEPTION WHEN OTHERS THEN
                    status := 'failed';
                    error := SQLERRM || ' (SQLSTATE ' || SQLSTATE || ')';
                    n := NULL;
                    bad := bad || v;
                END;
            END IF;
        END IF;
        view := v;
        rows := n;
        reason := why;
        concurrent := CASE WHEN status = 'refreshed' THEN conc END;
        duration_ms := extract(epoch FROM clock_timestamp() - started) * 1000;
        INSERT INTO ntsb_perf.refresh_log (view, started_at, duration, status, rows, error, reason, concurrent, target)
        VALUES (v, started, clock_timestamp() - started, status, n, error, why, concurrent, target);
        RETURN NEXT;
    END LOOP;
END $$;

-- (PL/pgSQL cannot have an input and an output both named "view": this SQL function gives the
-- documented signature.)
CREATE OR REPLACE FUNCTION ntsb_perf.refresh(view regclass, force boolean DEFAULT false)
RETURNS TABLE (view regclass, status text, duration_ms double precision, rows bigint,
               reason text, error text, concurrent boolean)
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$ SELECT * FROM ntsb_perf._refresh($1, $2) $$;

-- Refresh, scheduling: a policy and a pg_cron job per view (schedule_refresh, unschedule_refresh),
-- what the job runs (_scheduled_refresh), forgetting a dropped view (_forget), and the status
-- view. The jobs' names, commands and checks are the scheduling module's (sql/schedule/jobs.sql).
-- See docs/refresh.md.

-- Schedules `view` to be refreshed by pg_cron (through ntsb_perf.refresh). Everything is checked
-- now. Called again for the same view, it updates the policy and the same job. Job identity is
-- the job id the policy holds, and only while that job is still the one ntsb_perf created (same
-- name, command and owner): a job ntsb_perf did not create is never adopted or changed.
CREATE OR REPLACE FUNCTION ntsb_perf.schedule_refresh(view regclass, schedule text, "concurrently" boolean DEFAULT true,
                                           skip_if_unchanged boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass := $1;
    sched text := $2;
    conc boolean := $3;
    skip boolean := $4;
    su boolean := coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false);
    pol record;
    jname text;
    owner name := current_user;
    other bigint;
    id bigint;
BEGIN
    PERFORM ntsb_perf._check_matview(v, 'ntsb_perf.schedule_refresh');
    IF sched IS NULL OR conc IS NULL OR skip IS NULL THEN
        RAISE EXCEPTION 'schedule, concurrently and skip_if_unchanged must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM ntsb_perf.parse_cron(sched);
    IF conc AND NOT ntsb_perf._has_refresh_key(v) THEN
        RAISE EXCEPTION 'materialized view % cannot be refreshed concurrently: it has no unique index on plain columns without a WHERE clause', v
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('CREATE UNIQUE INDEX ON %s (<columns that identify a row>), or pass concurrently => false (readers are then blocked during each refresh).', v);
    END IF;
    PERFORM ntsb_perf._require_pg_cron();
    IF skip THEN
        PERFORM ntsb_perf._ensure_tracking(v);
    END IF;
    -- One schedule_refresh per view at a time (the same lock refresh() takes).
    PERFORM ntsb_perf._refresh_view_lock(v);
    SELECT * INTO pol FROM ntsb_perf.refresh_policy p WHERE p.view = v;
    IF FOUND AND ntsb_perf._job_ok(pol.jobid, pol.job_name, pol.created_by) THEN
        -- The policy's own job: change its schedule in place.
        IF pol.created_by = current_user THEN
            EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING pol.job_name, sched, ntsb_perf._job_command(pol.jobid);
        ELSIF su THEN
            EXECUTE 'SELECT cron.alter_job($1, schedule => $2)' USING pol.jobid, sched;
            id := pol.jobid;
        ELSE
            RAISE EXCEPTION 'the refresh of % is scheduled by role %', v, pol.created_by
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('Only %I (or a superuser) can change or remove its pg_cron job.', pol.created_by);
        END IF;
        IF id IS DISTINCT FROM pol.jobid THEN
            RAISE EXCEPTION 'pg_cron did not update job % in place', pol.jobid USING ERRCODE = 'internal_error';
        END IF;
        jname := pol.job_name;
        owner := pol.created_by;
    ELSE
        -- No policy, or its job is gone or no longer ntsb_perf's: a new job (the old one, if
        -- any, is left alone). pg_cron's cron.schedule(name, ...) would take over a job of the
        -- same name and owner, so such a job must not exist.
        jname := ntsb_perf._job_name(v);
        EXECUTE 'SELECT min(j.jobid) FROM cron.job j WHERE j.jobname = $1 AND j.username = current_user'
            INTO other USING jname;
        IF other IS NOT NULL THEN
            RAISE EXCEPTION 'a pg_cron job named "%" already exists (job %), and this refresh policy did not create it', jname, other
                USING ERRCODE = 'duplicate_object',
                      HINT = format('Remove it (SELECT cron.unschedule(%s)) if it is not needed, then schedule again.', other);
        END IF;
        -- (The command names the job id, known once the job exists: created, then given its
        -- command under the same name and owner, which pg_cron applies to the same job.)
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING jname, sched, 'SELECT 1';
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO other USING jname, sched, ntsb_perf._job_command(id);
        IF other IS DISTINCT FROM id THEN
            RAISE EXCEPTION 'pg_cron did not update job % in place', id USING ERRCODE = 'internal_error';
        END IF;
    END IF;
    INSERT INTO ntsb_perf.refresh_policy AS p (view, schedule, concurrent, skip_if_unchanged, jobid, job_name, created_by)
    VALUES (v, sched, conc, skip, id, jname, owner)
    ON CONFLICT ON CONSTRAINT refresh_policy_pkey DO UPDATE
        SET schedule = EXCLUDED.schedule, concurrent = EXCLUDED.concurrent,
            skip_if_unchanged = EXCLUDED.skip_if_unchanged, jobid = EXCLUDED.jobid,
            job_name = EXCLUDED.job_name, created_by = EXCLUDED.created_by;
    RETURN id;
END $$;

-- Removes the policy and the pg_cron job of `view` (false, with a notice, when it had none).
-- The job is removed only while it is still the one ntsb_perf created for the policy.
-- Tracking triggers stay (other views or manual refresh() calls may rely on them).
CREATE OR REPLACE FUNCTION ntsb_perf.unschedule_refresh(view regclass) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass := $1;
    su boolean := coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false);
    pol record;
BEGIN
    PERFORM ntsb_perf._check_matview(v, 'ntsb_perf.unschedule_refresh');
    PERFORM ntsb_perf._refresh_view_lock(v);
    SELECT * INTO pol FROM ntsb_perf.refresh_policy p WHERE p.view = v;
    IF NOT FOUND THEN
        RAISE NOTICE 'no refresh is scheduled for %', v;
        RETURN false;
    END IF;
    IF ntsb_perf._job_ok(pol.jobid, pol.job_name, pol.created_by) THEN
        IF pol.created_by <> current_user AND NOT su THEN
            RAISE EXCEPTION 'the refresh of % is scheduled by role %', v, pol.created_by
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('Only %I (or a superuser) can change or remove its pg_cron job.', pol.created_by);
        END IF;
        EXECUTE 'SELECT cron.unschedule($1)' USING pol.jobid;
    ELSE
        RAISE NOTICE 'pg_cron job % of % is gone or no longer ntsb_perf''s: left alone', pol.jobid, v;
    END IF;
    DELETE FROM ntsb_perf.refresh_policy p WHERE p.view = v;
    RETURN true;
END $$;

-- Forgets everything ntsb_perf keeps for the relation `rel`, once it no longer exists: its
-- policy (and the policy's pg_cron job, while it is still ntsb_perf's), refresh state, log rows
-- and change marks; with `log_it`, a removed policy leaves one log row (status 'dropped',
-- run_by the session user). Anyone may call it: it does nothing for a relation that exists.
-- Returns the removed job's id (NULL: none).
CREATE FUNCTION ntsb_perf._forget(rel oid, log_it boolean DEFAULT false) RETURNS bigint
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

-- What a pg_cron job of ntsb_perf runs: refresh the view whose policy holds job `job`. A run
-- that finds that view gone (its DROP did not clean up, e.g. the event trigger was disabled)
-- removes its policy and this job, logs that, and says so in a warning. A policy kept without
-- a job because it was restored before its job (pg_restore -j) is attached again by the job's
-- own run, when the job is the one ntsb_perf created for it, as the caller (_check_policy
-- checks it). A run that finds no policy holding its job fails (and leaves the job alone):
-- during a restore pg_cron's jobs are loaded before ntsb_perf's policies, so a job may run
-- before its policy is back; DROP EXTENSION ntsb_perf removes ntsb_perf's jobs (CASCADE) or
-- refuses. Returns the number of views considered.
CREATE FUNCTION ntsb_perf._scheduled_refresh(job bigint) RETURNS bigint
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

-- Index history, the tables: one row per index per snapshot and per rebuild (size, bloat, usage
-- counters), who reads which rows, the baseline each rebuild leaves, and the end of a dropped
-- index's history. The other parts: snapshot.sql, usage.sql, forecast.sql. What measures an
-- index over time lives here; auto-reindex (sql/reindex/) writes rebuild rows and baselines
-- through sql/reindex/record.sql and reads them, never the other way. See docs/index-history.md.

-- One row per index per snapshot (snapshot_indexes), and one per rebuild by reindex_index /
-- auto_reindex (rebuild = true, measured exactly right after it). Written only by those
-- (SECURITY DEFINER) from their own measurements and by the DROP of an index or table
-- (_index_history_dropped). Each role reads the rows of the indexes index_usage shows it (row
-- level security below: the policy visible).
CREATE TABLE ntsb_perf.index_history (
    id                 bigserial PRIMARY KEY,
    taken_at           timestamptz NOT NULL,
    index_oid          oid,        -- the index's OID while it exists (NULL in rows restored from a dump until rebound)
    index_name         text        NOT NULL,  -- quoted and schema-qualified
    table_name         text        NOT NULL,
    access_method      text        NOT NULL,
    relfilenode        oid,        -- changes with every rebuild (REINDEX, VACUUM FULL, CLUSTER, TRUNCATE)
    index_bytes        bigint      NOT NULL,
    live_items         bigint,
    avg_leaf_density   float8,
    leaf_fragmentation float8,
    expected_bytes     bigint,
    reclaimable_bytes  bigint,
    bloat_ratio        float8,
    method             text CHECK (method IN ('exact', 'sampled')),  -- NULL: not measured (see note)
    pages_read         bigint,
    density_ci_low     float8,
    density_ci_high    float8,
    idx_scan           bigint,     -- the index's counters (pg_stat_user_indexes) when it was taken
    idx_tup_read       bigint,
    table_writes       bigint,     -- inserts + updates + deletes on its table
    db_xact_commit     bigint,     -- the database's commit counter: it goes down only when the statistics are reset
    stats_reset        timestamptz, -- pg_stat_database.stats_reset of this database
    rebuild            boolean     NOT NULL DEFAULT false,
    note               text,
    index_definition   text,       -- the index's definition without its name and table (_index_definition)
    dropped_at         timestamptz, -- when its index was dropped: its history ended (never bound to another index)
    table_dropped      boolean     NOT NULL DEFAULT false  -- its table is gone too (dropped, or not of this name any more)
);

CREATE INDEX index_history_index_taken ON ntsb_perf.index_history (index_oid, taken_at);

CREATE INDEX index_history_name_taken ON ntsb_perf.index_history (index_name, taken_at);

CREATE INDEX index_history_taken ON ntsb_perf.index_history (taken_at);

CREATE INDEX index_history_rebuilds ON ntsb_perf.index_history (index_oid, taken_at) WHERE rebuild;

-- (rows of dropped indexes whose table is still there: what a DROP TABLE marks)
CREATE INDEX index_history_dropped_table ON ntsb_perf.index_history (table_name) WHERE dropped_at IS NOT NULL AND NOT table_dropped;

COMMENT ON TABLE ntsb_perf.index_history IS
  'ntsb_perf: one row per index per snapshot_indexes() run and per rebuild: size, bloat and usage counters';

-- pg_dump dumps the history (an OID that is not, in the restored cluster, the index of its
-- name is cleared on the way in; the next snapshot binds the rows to the index of that name).
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.index_history', '');

SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.index_history_id_seq', '');

CREATE TRIGGER index_oid BEFORE INSERT ON ntsb_perf.index_history
    FOR EACH ROW WHEN (NEW.index_oid IS NOT NULL AND NOT ntsb_perf._is_index_named(NEW.index_oid, NEW.index_name))
    EXECUTE FUNCTION ntsb_perf._index_oid_of_name('index_oid', 'index_name');

-- The definition of index `idx` without its own name and its table's: `USING btree (k)`,
-- `UNIQUE USING btree (a) INCLUDE (b) WHERE (b > 0)`, as pg_get_indexdef writes it under the
-- caller's search_path (every caller here has pg_catalog, pg_temp). What a REINDEX CONCURRENTLY
-- keeps and a different index created under the same name usually does not. NULL for an OID
-- that is not an index. Plain SQL with every name qualified and no SET clause (which would cost
-- a configuration change per row of the snapshot's INSERT).
CREATE FUNCTION ntsb_perf._index_definition(idx oid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT (SELECT CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END OPERATOR(pg_catalog.||)
                   CASE WHEN pg_catalog.starts_with(d.def, d.head)
                        THEN pg_catalog.substr(d.def, pg_catalog.length(d.head) OPERATOR(pg_catalog.+) 1)
                        ELSE d.def END
            FROM pg_catalog.pg_index i
            JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid
            JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) i.indrelid
            JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.relnamespace
            CROSS JOIN LATERAL (
                SELECT pg_catalog.pg_get_indexdef(i.indexrelid) AS def,
                       pg_catalog.format('CREATE %sINDEX %I ON %s%I.%I ', CASE WHEN i.indisunique THEN 'UNIQUE ' END,
                                         c.relname, CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'I' THEN 'ONLY ' END,
                                         tn.nspname, t.relname) AS head) d
            WHERE i.indexrelid OPERATOR(pg_catalog.=) idx)
$$;

-- Rows written without a definition (a rebuild's, by sql/reindex/record.sql) get their index's.
CREATE FUNCTION ntsb_perf._index_history_definition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.index_definition := ntsb_perf._index_definition(NEW.index_oid);
    RETURN NEW;
END $$;

-- (after the trigger index_oid, which clears an OID that is not the index of the row's name)
CREATE TRIGGER index_oid_definition BEFORE INSERT ON ntsb_perf.index_history
    FOR EACH ROW WHEN (NEW.index_definition IS NULL AND NEW.index_oid IS NOT NULL)
    EXECUTE FUNCTION ntsb_perf._index_history_definition();

-- (one row each: the planner's default of 1,000 made the forecast's plan look so costly that
-- JIT compiled it, a second per call)
ALTER FUNCTION ntsb_perf._forecast_fit(double precision[], double precision[], double precision, boolean) ROWS 1;

ALTER FUNCTION ntsb_perf._snapshot_measure(integer) ROWS 500;

REVOKE ALL ON ntsb_perf.index_history FROM PUBLIC;

GRANT SELECT ON ntsb_perf.index_history TO PUBLIC;

-- Who reads which rows: index_usage's rule (ntsb_perf._may_see_table, the rule of
-- ntsb_perf.index_catalog) applied to the index's table. Rows of an index that no longer exists
-- (dropped; or restored from a dump, or replaced by a REINDEX CONCURRENTLY outside ntsb_perf,
-- until the next snapshot binds them): by the same rule on the table of their table_name while
-- it exists (and is not a table created after theirs was dropped: table_dropped); when it is
-- gone, only to members of pg_read_all_stats. Superusers bypass row level security, as the
-- extension's owner and so its SECURITY DEFINER functions (snapshots, rebuilds, the sql_drop
-- trigger, unused_indexes' scan counts) do.

-- The relation (table, partitioned table or materialized view) whose quoted, qualified name is
-- `qname` (as format('%I.%I') writes it); NULL when there is none or `qname` is not such a name
-- (never an error, whatever the text). Every name qualified: it runs under the reader's
-- search_path.
CREATE FUNCTION ntsb_perf._table_of_name(qname text) RETURNS oid
LANGUAGE sql STABLE AS $$
    SELECT (SELECT c.oid
            FROM pg_catalog.parse_ident(
                     CASE WHEN qname OPERATOR(pg_catalog.~)
                               '^(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_]*)\.(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_]*)$'
                          THEN qname END) p(parts)
            JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) p.parts[1]
            JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid
                                      AND c.relname OPERATOR(pg_catalog.=) p.parts[2]
            WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,m}'::"char"[]))
$$;

ALTER TABLE ntsb_perf.index_history ENABLE ROW LEVEL SECURITY;

-- (The policy's expression is stored resolved, so a reader's search_path does not change it;
-- the set of visible indexes is computed once per query, a hashed subplan, not per row.)
CREATE POLICY visible ON ntsb_perf.index_history FOR SELECT USING (
    index_oid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i WHERE ntsb_perf._may_see_table(i.indrelid))
    OR (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indexrelid = index_oid)
        AND coalesce(CASE WHEN NOT table_dropped THEN ntsb_perf._may_see_table(ntsb_perf._table_of_name(table_name)) END,
                     pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'))));

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

-- pg_dump dumps the baselines of existing indexes (an OID that is not the index of its name is
-- cleared on the way in, as for the history above).
-- (The baselines dumped are those the plan uses: of an index of that name, bound to it or to no
-- index that exists.)
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_baseline',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.relkind OPERATOR(pg_catalog.=) ANY (''{i,I}''::pg_catalog."char"[]) AND pg_catalog.format(''%I.%I'', n.nspname, c.relname) OPERATOR(pg_catalog.=) reindex_baseline.index_name AND (c.oid OPERATOR(pg_catalog.=) reindex_baseline.index_oid OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c2 WHERE c2.oid OPERATOR(pg_catalog.=) reindex_baseline.index_oid)))');

CREATE TRIGGER index_oid BEFORE INSERT ON ntsb_perf.reindex_baseline
    FOR EACH ROW WHEN (NEW.index_oid IS NOT NULL AND NOT ntsb_perf._is_index_named(NEW.index_oid, NEW.index_name))
    EXECUTE FUNCTION ntsb_perf._index_oid_of_name('index_oid', 'index_name');

REVOKE ALL ON ntsb_perf.reindex_baseline FROM PUBLIC;

GRANT SELECT ON ntsb_perf.reindex_baseline TO PUBLIC;

-- Called by ntsb_perf._on_sql_drop (sql/dropped_objects.sql), the sql_drop event trigger, in the
-- dropping transaction: the history of each dropped index ends there. Its rows (by its OID, and
-- under its name the rows bound to no index that exists: restored from a dump and not bound yet,
-- or of an OID a REINDEX CONCURRENTLY outside ntsb_perf replaced) get dropped_at and lose the
-- OID, so that they are never bound to a new index of the same name (nor to whatever gets the
-- OID later); table_dropped when no table of their table_name is left. A dropped table marks
-- the rows of its indexes dropped before it. (REINDEX CONCURRENTLY fires no event trigger: the
-- history follows the index to its new OID.) The baseline of a dropped index goes.
CREATE FUNCTION ntsb_perf._index_history_dropped() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    at timestamptz := statement_timestamp();
BEGIN
    DELETE FROM ntsb_perf.reindex_baseline b
    USING pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type = 'index'
      AND (b.index_oid = o.objid OR (b.index_oid IS NULL AND b.index_name = o.object_identity));
    UPDATE ntsb_perf.index_history h
    SET index_oid = NULL, dropped_at = at, table_dropped = ntsb_perf._table_of_name(h.table_name) IS NULL
    FROM pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type = 'index'
      AND h.index_oid = o.objid;
    UPDATE ntsb_perf.index_history h
    SET index_oid = NULL, dropped_at = at, table_dropped = ntsb_perf._table_of_name(h.table_name) IS NULL
    FROM pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type = 'index'
      AND h.index_name = o.object_identity AND h.dropped_at IS NULL
      AND (h.index_oid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = h.index_oid));
    UPDATE ntsb_perf.index_history h SET table_dropped = true
    FROM pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type IN ('table', 'materialized view')
      AND h.dropped_at IS NOT NULL AND NOT h.table_dropped AND h.table_name = o.object_identity;
END $$;

REVOKE ALL ON FUNCTION ntsb_perf._index_history_dropped() FROM PUBLIC;

-- Index history, the snapshots: snapshot_indexes appends one measured row per index, and its
-- pg_cron schedule (through the scheduling module, sql/schedule/jobs.sql). See
-- docs/index-history.md.

-- An index's usage counters now, and the database's: what every history row records. Plain SQL
-- with every name qualified (no SET clause), so that it is inlined into the snapshot's INSERT.
CREATE FUNCTION ntsb_perf._usage_counters(idx oid)
RETURNS TABLE (idx_scan bigint, idx_tup_read bigint, table_writes bigint, db_xact_commit bigint, stats_reset timestamptz)
LANGUAGE sql STABLE ROWS 1 AS $$
    SELECT pg_catalog.pg_stat_get_numscans(idx), pg_catalog.pg_stat_get_tuples_returned(idx),
           pg_catalog.pg_stat_get_tuples_inserted(i.indrelid)
               OPERATOR(pg_catalog.+) pg_catalog.pg_stat_get_tuples_updated(i.indrelid)
               OPERATOR(pg_catalog.+) pg_catalog.pg_stat_get_tuples_deleted(i.indrelid),
           pg_catalog.pg_stat_get_db_xact_commit(d.oid), pg_catalog.pg_stat_get_db_stat_reset_time(d.oid)
    FROM pg_catalog.pg_index i, pg_catalog.pg_database d
    WHERE i.indexrelid OPERATOR(pg_catalog.=) idx AND d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
$$;

-- Appends one row per index (leaf indexes outside the system schemas), measured by
-- _snapshot_measure, then deletes the rows older than ntsb_perf.index_history_retention.
-- SECURITY DEFINER so that the history can be written only through here and by rebuilds;
-- closed to PUBLIC, granted to pg_stat_scan_tables (it reads every index's pages).
CREATE FUNCTION ntsb_perf.snapshot_indexes(sample_pages integer DEFAULT NULL)
RETURNS TABLE (taken_at timestamptz, indexes integer, measured_exactly integer, sampled integer,
               not_measured integer, pages_read bigint, total_pages bigint, rows_deleted bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    holder record;
    measured jsonb;
    t timestamptz;
    deleted bigint;
BEGIN
    IF sample_pages <= 0 THEN
        RAISE EXCEPTION 'sample_pages must be a positive number of pages, not %', sample_pages
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL to measure each index exactly when small and by a growing sample when large.';
    END IF;
    -- One snapshot at a time per database: a lock only ntsb_perf's code can take (not an
    -- advisory key, which any role could hold to keep every snapshot waiting); a snapshot
    -- that another is still taking after 10 s skips, saying who (pg_cron records the error).
    IF NOT ntsb_perf._snapshot_lock(10000) THEN
        SELECT * INTO holder FROM ntsb_perf._run_lock_holder('snapshot');
        RAISE EXCEPTION 'snapshot_indexes skipped: another snapshot of database % is being taken (pid %, role %, since %)',
            current_database(), coalesce(holder.pid::text, '?'), coalesce(holder.role_name::text, '?'),
            coalesce(holder.since::text, '?')
            USING ERRCODE = 'lock_not_available',
                  HINT = 'Take it again once that one has ended.';
    END IF;
    -- Rows of an OID that is gone (a REINDEX CONCURRENTLY outside ntsb_perf, which fires no
    -- event trigger), or of none (restored from a dump), under the name of an index that has no
    -- rows of its own under that name yet: they are that index's history when their latest row
    -- is of the same table and the same definition (a rebuild's copy), and its index was not
    -- dropped (a DROP marks the rows dropped_at: a new index of a dropped one's name starts
    -- its own history). The indexes without rows are found first, by the history's index, so
    -- that this costs next to nothing when there are none, however long the history is.
    WITH unbound AS MATERIALIZED (
        SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS qname,
               format('%I.%I', tn.nspname, t.relname) AS tname, ntsb_perf._index_definition(c.oid) AS def
        FROM pg_class c
        JOIN pg_namespace n  ON n.oid = c.relnamespace
        JOIN pg_index i      ON i.indexrelid = c.oid
        JOIN pg_class t      ON t.oid = i.indrelid
        JOIN pg_namespace tn ON tn.oid = t.relnamespace
        WHERE c.relkind = 'i' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\_toast%'
          AND NOT EXISTS (SELECT 1 FROM ntsb_perf.index_history h2
                          WHERE h2.index_oid = c.oid AND h2.index_name = format('%I.%I', n.nspname, c.relname))
    ), orphans AS (
        -- per earlier OID (or none) under such a name, its latest row
        SELECT DISTINCT ON (h.index_oid, h.index_name)
               h.index_oid AS old_oid, h.index_name, h.table_name, h.index_definition, u.oid AS new_oid,
               u.tname, u.def
        FROM unbound u
        JOIN ntsb_perf.index_history h ON h.index_name = u.qname
        WHERE h.dropped_at IS NULL
          AND (h.index_oid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_class c2 WHERE c2.oid = h.index_oid))
        ORDER BY h.index_oid, h.index_name, h.taken_at DESC, h.id DESC
    )
    UPDATE ntsb_perf.index_history h SET index_oid = o.new_oid
    FROM orphans o
    WHERE o.table_name = o.tname AND (o.index_definition IS NULL OR o.index_definition = o.def)
      AND h.index_name = o.index_name AND h.index_oid IS NOT DISTINCT FROM o.old_oid AND h.dropped_at IS NULL;
    SELECT coalesce(jsonb_agg(to_jsonb(m)), '[]') INTO measured
    FROM ntsb_perf._snapshot_measure(snapshot_indexes.sample_pages) m;
    -- The counters are read together, after the pages.
    t := clock_timestamp();
    PERFORM pg_stat_clear_snapshot();
    INSERT INTO ntsb_perf.index_history AS h
        (taken_at, index_oid, index_name, table_name, access_method, relfilenode, index_bytes, live_items,
         avg_leaf_density, leaf_fragmentation, expected_bytes, reclaimable_bytes, bloat_ratio, method,
         pages_read, density_ci_low, density_ci_high, idx_scan, idx_tup_read, table_writes, db_xact_commit,
         stats_reset, rebuild, note, index_definition)
    SELECT t, c.oid, format('%I.%I', n.nspname, c.relname), format('%I.%I', tn.nspname, tc.relname), am.amname,
           c.relfilenode, coalesce(m.index_bytes, pg_relation_size(c.oid)), m.live_items, m.avg_leaf_density,
           m.leaf_fragmentation, m.expected_bytes, m.reclaimable_bytes, m.bloat_ratio, m.method, m.pages_read,
           m.density_ci_low, m.density_ci_high, u.idx_scan, u.idx_tup_read, u.table_writes, u.db_xact_commit,
           u.stats_reset, false, m.note, ntsb_perf._index_definition(c.oid)
    FROM jsonb_to_recordset(measured) AS m(index_oid oid, method text, pages_read bigint, total_pages bigint,
             index_bytes bigint, live_items bigint, avg_leaf_density float8, leaf_fragmentation float8,
             expected_bytes bigint, reclaimable_bytes bigint, bloat_ratio float8, density_ci_low float8,
             density_ci_high float8, note text)
    JOIN pg_class c      ON c.oid = m.index_oid
    JOIN pg_namespace n  ON n.oid = c.relnamespace
    JOIN pg_am am        ON am.oid = c.relam
    JOIN pg_index i      ON i.indexrelid = c.oid
    JOIN pg_class tc     ON tc.oid = i.indrelid
    JOIN pg_namespace tn ON tn.oid = tc.relnamespace
    CROSS JOIN LATERAL ntsb_perf._usage_counters(c.oid) u;
    DELETE FROM ntsb_perf.index_history h
    WHERE h.taken_at < t - make_interval(mins => ntsb_perf._index_history_retention());
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN QUERY
    SELECT t, count(*)::int, (count(*) FILTER (WHERE m.method = 'exact'))::int,
           (count(*) FILTER (WHERE m.method = 'sampled'))::int, (count(*) FILTER (WHERE m.method IS NULL))::int,
           coalesce(sum(m.pages_read), 0)::bigint, coalesce(sum(m.total_pages), 0)::bigint, deleted
    FROM jsonb_to_recordset(measured) AS m(method text, pages_read bigint, total_pages bigint);
END $$;

REVOKE ALL ON FUNCTION ntsb_perf.snapshot_indexes(integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION ntsb_perf.snapshot_indexes(integer) TO pg_stat_scan_tables;

REVOKE ALL ON FUNCTION ntsb_perf._snapshot_measure(integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION ntsb_perf._snapshot_measure(integer) TO pg_stat_scan_tables;

-- The pg_cron job that runs snapshot_indexes: one per database, as the role that scheduled it.
CREATE FUNCTION ntsb_perf.schedule_index_snapshots(schedule text, sample_pages integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM ntsb_perf.parse_cron(schedule);
    IF sample_pages <= 0 THEN
        RAISE EXCEPTION 'sample_pages must be a positive number of pages, not %', sample_pages
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT has_function_privilege('ntsb_perf.snapshot_indexes(integer)', 'EXECUTE') THEN
        RAISE EXCEPTION 'role "%" may not take index snapshots', current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('Snapshots read every index''s pages: GRANT pg_stat_scan_tables TO %I.', current_user);
    END IF;
    RETURN ntsb_perf._schedule_job('index_snapshots', schedule,
        format('SELECT * FROM ntsb_perf.snapshot_indexes(sample_pages => %L::integer)', sample_pages));
END $$;

-- Removes this role's snapshot job of this database (false, with a notice, when there is none).
CREATE FUNCTION ntsb_perf.unschedule_index_snapshots() RETURNS boolean
LANGUAGE sql AS $$
    SELECT ntsb_perf._unschedule_own_job('index_snapshots')
$$;

-- Index history, usage: scans counted from the snapshots across statistics resets
-- (index_usage_history, and the counts unused_indexes shows). See docs/index-history.md.

-- The usage of leaf indexes between consecutive points: their snapshots from the last one at or
-- before `since` (or the first, when the history starts later) to now (source 'now', the live
-- counters at `at_now`). An interval is a reset when the index's counters went down, the
-- database's commit counter went down (pg_stat_reset, a crash), or the database's stats_reset
-- moved (PostgreSQL 15 also moves it for a reset of a single table or index): its scans are then
-- the counter's value, those counted since the reset (the scans between the earlier snapshot and
-- the reset are lost; where no reset happened to this index, the whole counter is counted, which
-- errs toward "used"), never negative. reset_at: from when such an interval is known, the
-- reset's time when stats_reset says it, else the interval's end.
CREATE FUNCTION ntsb_perf._index_usage_points(indexes oid[], since timestamptz, at_now timestamptz)
RETURNS TABLE (index_oid oid, taken_at timestamptz, source text, idx_scan bigint, scans bigint,
               idx_tup_read bigint, tuples_read bigint, table_writes bigint, writes bigint,
               stats_reset timestamptz, reset boolean, reset_at timestamptz, index_bytes bigint,
               avg_leaf_density float8, bloat_ratio float8, method text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH base AS (
        SELECT o AS index_oid,
               coalesce((SELECT max(h.taken_at) FROM ntsb_perf.index_history h
                         WHERE h.index_oid = o AND h.taken_at <= since), '-infinity') AS from_at
        FROM unnest(indexes) o
        WHERE EXISTS (SELECT 1 FROM ntsb_perf.index_history h WHERE h.index_oid = o)
    ), points AS (
        SELECT h.index_oid, h.taken_at, CASE WHEN h.rebuild THEN 'rebuild' ELSE 'snapshot' END AS source,
               h.idx_scan, h.idx_tup_read, h.table_writes, h.db_xact_commit, h.stats_reset, h.index_bytes,
               h.avg_leaf_density, h.bloat_ratio, h.method
        FROM base b JOIN ntsb_perf.index_history h ON h.index_oid = b.index_oid AND h.taken_at >= b.from_at
        UNION ALL
        SELECT b.index_oid, at_now, 'now', u.idx_scan, u.idx_tup_read, u.table_writes, u.db_xact_commit,
               u.stats_reset, pg_relation_size(b.index_oid), NULL, NULL, NULL
        FROM base b CROSS JOIN LATERAL ntsb_perf._usage_counters(b.index_oid) u
    ), lagged AS (
        SELECT p.*,
               lag(p.taken_at) OVER w AS prev_at, lag(p.idx_scan) OVER w AS prev_scan,
               lag(p.idx_tup_read) OVER w AS prev_tup, lag(p.table_writes) OVER w AS prev_writes,
               lag(p.db_xact_commit) OVER w AS prev_xact, lag(p.stats_reset) OVER w AS prev_reset
        FROM points p
        WINDOW w AS (PARTITION BY p.index_oid ORDER BY p.taken_at, p.source = 'now')
    )
    SELECT l.index_oid, l.taken_at, l.source, l.idx_scan,
           CASE WHEN l.prev_at IS NULL THEN NULL WHEN r.reset THEN l.idx_scan ELSE l.idx_scan - l.prev_scan END,
           l.idx_tup_read,
           CASE WHEN l.prev_at IS NULL THEN NULL WHEN r.reset THEN l.idx_tup_read ELSE l.idx_tup_read - l.prev_tup END,
           l.table_writes,
           CASE WHEN l.prev_at IS NULL THEN NULL WHEN r.reset OR l.table_writes < l.prev_writes THEN l.table_writes
                ELSE l.table_writes - l.prev_writes END,
           l.stats_reset, r.reset,
           CASE WHEN r.reset THEN
                CASE WHEN l.stats_reset > l.prev_at AND l.stats_reset <= l.taken_at THEN l.stats_reset ELSE l.taken_at END
           END,
           l.index_bytes, l.avg_leaf_density, l.bloat_ratio, l.method
    FROM lagged l
    CROSS JOIN LATERAL (
        SELECT l.prev_at IS NOT NULL
               AND coalesce(l.idx_scan < l.prev_scan OR l.idx_tup_read < l.prev_tup OR l.db_xact_commit < l.prev_xact
                            OR l.stats_reset IS DISTINCT FROM l.prev_reset, true) AS reset
    ) r
$$;

-- One row per snapshot of `index` in the window (and the one before it, the base the first
-- interval counts from), then the live counters ('now'). A partitioned index: its partitions'
-- indexes summed per point in time.
CREATE FUNCTION ntsb_perf.index_usage_history(index regclass, since interval DEFAULT '30 days')
RETURNS TABLE (taken_at timestamptz, source text, idx_scan bigint, scans bigint, idx_tup_read bigint,
               tuples_read bigint, table_writes bigint, writes bigint, stats_reset timestamptz,
               reset boolean, reset_at timestamptz, index_bytes bigint, index_size text,
               avg_leaf_density float8, bloat_ratio float8, method text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kind "char";
    at_now timestamptz := clock_timestamp();
BEGIN
    IF index IS NULL OR since IS NULL THEN
        RAISE EXCEPTION 'index and since must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF since < interval '0' THEN
        RAISE EXCEPTION 'since must not be negative, not %', since USING ERRCODE = 'invalid_parameter_value',
            HINT = 'It is how far back to look, e.g. interval ''30 days''.';
    END IF;
    IF since > interval '1000 years' THEN
        RAISE EXCEPTION 'since must be at most 1000 years, not %', since USING ERRCODE = 'invalid_parameter_value',
            HINT = 'It is how far back to count, e.g. interval ''30 days''; the history starts with the first snapshot anyway.';
    END IF;
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = index;
    IF kind IS NULL THEN
        RAISE EXCEPTION 'relation with OID % does not exist', index::oid USING ERRCODE = 'undefined_table';
    ELSIF kind NOT IN ('i', 'I') THEN
        RAISE EXCEPTION '"%" is not an index', index USING ERRCODE = 'wrong_object_type';
    END IF;
    RETURN QUERY
    SELECT p.taken_at, min(p.source), sum(p.idx_scan)::bigint, sum(p.scans)::bigint, sum(p.idx_tup_read)::bigint,
           sum(p.tuples_read)::bigint, sum(p.table_writes)::bigint, sum(p.writes)::bigint, max(p.stats_reset),
           bool_or(p.reset), max(p.reset_at), sum(p.index_bytes)::bigint, pg_size_pretty(sum(p.index_bytes)),
           CASE WHEN count(*) = 1 THEN min(p.avg_leaf_density) END, CASE WHEN count(*) = 1 THEN min(p.bloat_ratio) END,
           CASE WHEN count(*) = 1 THEN min(p.method) END
    FROM ntsb_perf._index_usage_points(
             CASE WHEN kind = 'i' THEN ARRAY[index::oid]
                  ELSE ARRAY(SELECT t.relid FROM pg_partition_tree(index) t JOIN pg_class c ON c.oid = t.relid
                             WHERE c.relkind = 'i') END,
             now() - since, at_now) p
    GROUP BY p.taken_at
    ORDER BY p.taken_at;
END $$;

-- Scans of each index (a partitioned one: of its partitions' indexes) counted from the
-- snapshots since `since`, and from when the count is complete: the snapshot it starts from, or
-- a later reset in the window (what a reset took away before it is not known). A partitioned
-- index with a partition that has no history yet gets NULLs (its counters decide). SECURITY
-- DEFINER, so that unused_indexes works for every role: it returns scan counts only, which
-- pg_stat_all_indexes shows everyone.
CREATE FUNCTION ntsb_perf._index_scans_since(since timestamptz)
RETURNS TABLE (index_oid oid, scans bigint, observed_since timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH leaf AS (
        SELECT p.index_oid, sum(p.scans)::bigint AS scans,
               greatest(min(p.taken_at), max(p.reset_at)) AS first_at
        FROM ntsb_perf._index_usage_points(
                 ARRAY(SELECT c.oid FROM pg_class c WHERE c.relkind = 'i'), since, clock_timestamp()) p
        GROUP BY p.index_oid
    )
    SELECT l.index_oid, l.scans, l.first_at FROM leaf l
    UNION ALL
    SELECT i.indexrelid,
           CASE WHEN bool_and(l.index_oid IS NOT NULL) THEN sum(l.scans)::bigint END,
           CASE WHEN bool_and(l.index_oid IS NOT NULL) THEN max(l.first_at) END
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid AND c.relkind = 'I'
    CROSS JOIN LATERAL pg_partition_tree(i.indexrelid) t
    JOIN pg_class lc ON lc.oid = t.relid AND lc.relkind = 'i'
    LEFT JOIN leaf l ON l.index_oid = t.relid
    GROUP BY i.indexrelid
$$;

-- Index history, the forecast: each index's bloat trend since its last rebuild, compared with its
-- baseline, and when it crosses the rebuild thresholds (bloat_forecast). See
-- docs/index-history.md.

-- The rebuild thresholds: not NULL and in range (what reindex_plan, auto_reindex, its schedule
-- and bloat_forecast take).
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

-- The baseline of an index (its own figures right after its last rebuild): the one bound to
-- it, else one of its name bound to no index that exists (restored from a dump, or left by a
-- REINDEX CONCURRENTLY outside ntsb_perf). What reindex_plan and bloat_forecast compare with.
CREATE FUNCTION ntsb_perf._baseline_of(idx oid) RETURNS ntsb_perf.reindex_baseline
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT bl.* FROM ntsb_perf.reindex_baseline bl
    WHERE bl.index_oid = idx
       OR (bl.index_name = (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = idx)
           AND NOT EXISTS (SELECT 1 FROM pg_class c2 WHERE c2.oid = bl.index_oid))
    ORDER BY bl.index_oid IS NOT DISTINCT FROM idx DESC
    LIMIT 1
$$;

-- A crossing in days since `since` as a time (NULL beyond a thousand years either way).
CREATE FUNCTION ntsb_perf._days_after(since timestamptz, days float8) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN abs(days) <= 365000 THEN since + days * interval '1 day' END
$$;

-- Per index with at least four measured snapshots since its last rebuild (a rebuild resets the
-- series: a rebuild row, or a new relfilenode; at most the last 90 days, thinned to about 200
-- snapshots): the trend of its bloat (Theil–Sen lines, so
-- that one odd snapshot does not swing it) and when it will cross reindex_plan's thresholds
-- (relative to its baseline as the plan is), with the 95% band from the slopes' interval.
CREATE FUNCTION ntsb_perf._bloat_forecast(p_min_bloat_ratio float8, p_max_leaf_density float8,
                                          p_max_fragmentation float8, p_schema_name text)
RETURNS TABLE (schema_name text, table_name text, index_name text, access_method text, index_oid oid,
               snapshots integer, since timestamptz, last_snapshot timestamptz, index_bytes bigint,
               reclaimable_bytes bigint, bloat_ratio float8, avg_leaf_density float8,
               reclaimable_bytes_per_day float8, reclaimable_per_day_low float8, reclaimable_per_day_high float8,
               bloat_ratio_per_day float8, density_per_day float8, predicted_crossing timestamptz,
               crossing_earliest timestamptz, crossing_latest timestamptz, crossing_reason text, crossed boolean,
               crossed_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM ntsb_perf._reindex_check_thresholds(p_min_bloat_ratio, 0, p_max_leaf_density, p_max_fragmentation, NULL);
    RETURN QUERY
    WITH idx AS (
        SELECT c.oid, n.nspname::text AS nsp, t.relname::text AS tbl, c.relname::text AS name, am.amname::text AS am,
               c.relfilenode
        FROM pg_index i
        JOIN pg_class c     ON c.oid = i.indexrelid
        JOIN pg_class t     ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_am am       ON am.oid = c.relam
        WHERE c.relkind = 'i' AND (p_schema_name IS NULL OR n.nspname = p_schema_name)
          AND EXISTS (SELECT 1 FROM ntsb_perf.index_history h WHERE h.index_oid = c.oid)
    ), series AS (
        -- the measured rows of its current relfilenode, from its last rebuild row on
        SELECT x.*, b.density AS base_density, b.bloat_ratio AS base_ratio, b.fragmentation AS base_frag,
               s.n, s.first_at, s.last_at, s.xs, s.bytes, s.expected, s.ratios, s.densities, s.frags,
               s.last_bytes, s.last_expected, s.last_ratio, s.last_density
        FROM idx x
        LEFT JOIN LATERAL ntsb_perf._baseline_of(x.oid) b ON true
        CROSS JOIN LATERAL (
            SELECT count(*)::int AS n, min(h.base_at) AS first_at, max(h.taken_at) AS last_at,
                   array_agg(extract(epoch FROM h.taken_at - h.base_at)::float8 / 86400 ORDER BY h.taken_at) AS xs,
                   array_agg(h.index_bytes::float8 ORDER BY h.taken_at) AS bytes,
                   array_agg(h.expected_bytes::float8 ORDER BY h.taken_at) AS expected,
                   array_agg(h.bloat_ratio ORDER BY h.taken_at) AS ratios,
                   array_agg(h.avg_leaf_density ORDER BY h.taken_at) AS densities,
                   array_agg(h.leaf_fragmentation ORDER BY h.taken_at) AS frags,
                   (array_agg(h.index_bytes ORDER BY h.taken_at DESC))[1] AS last_bytes,
                   (array_agg(h.expected_bytes ORDER BY h.taken_at DESC))[1] AS last_expected,
                   (array_agg(h.bloat_ratio ORDER BY h.taken_at DESC))[1] AS last_ratio,
                   (array_agg(h.avg_leaf_density ORDER BY h.taken_at DESC))[1] AS last_density
            FROM (
                -- at most the last 90 days of it, thinned to about 200 points evenly (the newest
                -- kept): a line through a long hourly history needs no more, and Theil–Sen
                -- costs the square of the points
                SELECT h0.*, row_number() OVER (ORDER BY h0.taken_at DESC) AS rn, count(*) OVER () AS cnt,
                       min(h0.taken_at) OVER () AS base_at
                FROM ntsb_perf.index_history h0
                WHERE h0.index_oid = x.oid AND h0.relfilenode = x.relfilenode
                  -- measured, and a sample only when its density is good to 2 points (a
                  -- snapshot_indexes(sample_pages => 1) does not feed the forecast)
                  AND (h0.method = 'exact'
                       OR (h0.method = 'sampled' AND h0.density_ci_high - h0.density_ci_low <= 4))
                  AND h0.taken_at >= greatest(
                      coalesce((SELECT max(h3.taken_at) FROM ntsb_perf.index_history h3
                                WHERE h3.index_oid = x.oid AND h3.rebuild AND h3.relfilenode = x.relfilenode),
                               '-infinity'),
                      (SELECT max(h4.taken_at) FROM ntsb_perf.index_history h4 WHERE h4.index_oid = x.oid)
                          - interval '90 days')
            ) h
            WHERE (h.rn - 1) % greatest(ceil(h.cnt / 200.0)::int, 1) = 0
        ) s
        WHERE s.n >= 4
    ), fits AS (
        SELECT s.*, r.factor, d.density_threshold, fr.frag_threshold,
               rc.slope AS rc_slope, rc.slope_low AS rc_low, rc.slope_high AS rc_high,
               ra.slope AS ratio_slope, g.crossing AS g_at, g.crossing_earliest AS g_early,
               g.crossing_latest AS g_late, g.crossed AS g_crossed, g.crossed_at AS g_crossed_at,
               dn.slope AS dn_slope, dn.crossing AS dn_at, dn.crossing_earliest AS dn_early,
               dn.crossing_latest AS dn_late, dn.crossed AS dn_crossed, dn.crossed_at AS dn_crossed_at,
               ff.crossing AS ff_at, ff.crossing_earliest AS ff_early, ff.crossing_latest AS ff_late,
               ff.crossed AS ff_crossed, ff.crossed_at AS ff_crossed_at
        FROM series s
        CROSS JOIN LATERAL (SELECT coalesce(nullif(s.base_ratio, 0), 1) AS fresh,
                                   p_min_bloat_ratio * coalesce(nullif(s.base_ratio, 0), 1) AS factor) r
        CROSS JOIN LATERAL (SELECT CASE WHEN s.base_density IS NULL THEN p_max_leaf_density
                                        ELSE least(p_max_leaf_density, s.base_density * 0.9) END AS density_threshold) d
        CROSS JOIN LATERAL (SELECT CASE WHEN s.base_frag IS NULL THEN p_max_fragmentation
                                        ELSE greatest(p_max_fragmentation, s.base_frag + 10) END AS frag_threshold) fr
        -- reclaimable bytes (relative to the fresh size) and, for the ratio threshold, how far
        -- the size is above min_bloat_ratio times the fresh size: both straight lines when
        -- rows are deleted or updated at a steady rate, where the ratio itself is not
        CROSS JOIN LATERAL ntsb_perf._forecast_fit(s.xs,
            ARRAY(SELECT b - r.fresh * e FROM unnest(s.bytes, s.expected) u(b, e)), 0, true) rc
        CROSS JOIN LATERAL ntsb_perf._forecast_fit(s.xs,
            ARRAY(SELECT b - r.factor * e FROM unnest(s.bytes, s.expected) u(b, e)), 0, true) g
        CROSS JOIN LATERAL ntsb_perf._forecast_fit(s.xs, s.ratios, 'Infinity', true) ra
        CROSS JOIN LATERAL ntsb_perf._forecast_fit(s.xs, s.densities, d.density_threshold, false) dn
        CROSS JOIN LATERAL ntsb_perf._forecast_fit(s.xs, s.frags, fr.frag_threshold, true) ff
    ), crossings AS (
        SELECT f.*, c.*
        FROM fits f
        -- the threshold forecast to be crossed first (its crossing may be past); when none is
        -- forecast (no trend toward any), the one crossed first
        LEFT JOIN LATERAL (
            SELECT k.at_days, k.reason, k.early_days
            FROM (VALUES (f.g_at, f.g_early, f.g_crossed_at, format('bloat ratio %s', round((f.factor)::numeric, 2))),
                         (f.dn_at, f.dn_early, f.dn_crossed_at,
                          format('leaf density %s%%', round(f.density_threshold::numeric, 1))),
                         (f.ff_at, f.ff_early, f.ff_crossed_at,
                          format('leaf fragmentation %s%%', round(f.frag_threshold::numeric, 1))))
                 AS k(at_days, early_days, crossed_days, reason)
            WHERE coalesce(k.at_days, k.crossed_days) IS NOT NULL
            ORDER BY k.at_days IS NULL, coalesce(k.at_days, k.crossed_days)
            LIMIT 1
        ) c0 ON true
        CROSS JOIN LATERAL (
            SELECT c0.at_days, c0.reason,
                   -- when the first of the thresholds crossed was crossed (never before the series' start)
                   (SELECT min(v) FROM unnest(ARRAY[f.g_crossed_at, f.dn_crossed_at, f.ff_crossed_at]) v) AS crossed_days,
                   least(f.g_early, f.dn_early, f.ff_early) AS early_days,
                   -- the first crossing comes no later than the soonest of the band's later ends;
                   -- NULL when every criterion may never be crossed
                   (SELECT min(v) FROM unnest(ARRAY[f.g_late, f.dn_late, f.ff_late]) v) AS late_days
        ) c
    )
    SELECT c.nsp, c.tbl, c.name, c.am, c.oid, c.n, c.first_at, c.last_at, c.last_bytes,
           greatest(round(c.last_bytes - coalesce(nullif(c.base_ratio, 0), 1) * c.last_expected), 0)::bigint,
           c.last_ratio, c.last_density,
           c.rc_slope, c.rc_low, c.rc_high, c.ratio_slope, c.dn_slope,
           ntsb_perf._days_after(c.first_at, c.at_days), ntsb_perf._days_after(c.first_at, c.early_days),
           ntsb_perf._days_after(c.first_at, c.late_days), c.reason,
           coalesce(c.g_crossed, false) OR coalesce(c.dn_crossed, false) OR coalesce(c.ff_crossed, false),
           ntsb_perf._days_after(c.first_at, c.crossed_days)
    FROM crossings c
    ORDER BY ntsb_perf._days_after(c.first_at, c.at_days) NULLS LAST, c.nsp, c.name;
END $$;

CREATE FUNCTION ntsb_perf.bloat_forecast(min_bloat_ratio float8 DEFAULT 1.3, max_leaf_density float8 DEFAULT 70,
                                         max_fragmentation float8 DEFAULT 30, schema_name text DEFAULT NULL)
RETURNS TABLE (schema_name text, table_name text, index_name text, access_method text, index_oid oid,
               snapshots integer, since timestamptz, last_snapshot timestamptz, index_bytes bigint,
               reclaimable_bytes bigint, bloat_ratio float8, avg_leaf_density float8,
               reclaimable_bytes_per_day float8, reclaimable_per_day_low float8, reclaimable_per_day_high float8,
               bloat_ratio_per_day float8, density_per_day float8, predicted_crossing timestamptz,
               crossing_earliest timestamptz, crossing_latest timestamptz, crossing_reason text, crossed boolean,
               crossed_at timestamptz)
LANGUAGE sql STABLE AS 'SELECT * FROM ntsb_perf._bloat_forecast($1, $2, $3, $4)';

CREATE VIEW ntsb_perf.bloat_forecast AS SELECT * FROM ntsb_perf.bloat_forecast();

COMMENT ON VIEW ntsb_perf.bloat_forecast IS
  'ntsb_perf: per index with four or more snapshots since its last rebuild, the trend of its bloat and when it crosses auto_reindex''s default thresholds';

GRANT SELECT ON ntsb_perf.bloat_forecast TO PUBLIC;

-- Auto-reindex, the record of rebuilds: reindex_history and what keeps it true (a run whose
-- session died is swept to 'terminated'; a dropped index loses its OID there). The other parts:
-- plan.sql, run.sql, schedule.sql, record.sql (what the worker writes). The baselines a rebuild
-- leaves and the thresholds are the index history's (sql/index_history/). See
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
    index             oid,        -- the index's OID while it exists (cleared when it is dropped: _reindex_history_dropped)
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

-- pg_dump dumps the history (and its sequence). An index
-- OID means nothing in another cluster, and an index cannot be named in the dumped data either
-- (a regclass would be restored as a name before pg_restore creates the indexes, in its
-- post-data section, and fail): the OID columns are plain oids, and a row that comes in with an
-- OID that is not (now) the index of its name gets NULL there (trigger below;
-- the baselines: sql/index_history/schema.sql).
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_history', '');

SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_history_id_seq', '');

CREATE TRIGGER index_oid BEFORE INSERT ON ntsb_perf.reindex_history
    FOR EACH ROW WHEN (NEW.index IS NOT NULL AND NOT ntsb_perf._is_index_named(NEW.index, NEW.index_name))
    EXECUTE FUNCTION ntsb_perf._index_oid_of_name('index', 'index_name');

REVOKE ALL ON ntsb_perf.reindex_history FROM PUBLIC;

GRANT SELECT ON ntsb_perf.reindex_history TO PUBLIC;

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

-- Called by ntsb_perf._on_sql_drop (sql/dropped_objects.sql), the sql_drop event trigger, in the
-- dropping transaction: the rows of a dropped index keep its name and lose its OID (a dump would
-- carry the number, which names some other relation in the restored cluster).
CREATE FUNCTION ntsb_perf._reindex_history_dropped() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    UPDATE ntsb_perf.reindex_history h SET index = NULL
    FROM pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type = 'index'
      AND h.index = o.objid
$$;

REVOKE ALL ON FUNCTION ntsb_perf._reindex_history_dropped() FROM PUBLIC;

-- Auto-reindex, the plan: which indexes to rebuild, most reclaimable first, measured now and
-- compared with each index's baseline (reindex_plan). See docs/auto-reindex.md.

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

-- Auto-reindex, the schedule: one pg_cron job per database and role (through the scheduling
-- module, sql/schedule/jobs.sql). See docs/auto-reindex.md.

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
    -- Every value goes in as a quoted literal of its type.
    cmd := format('CALL ntsb_perf.auto_reindex(dry_run => %L::boolean, min_bloat_ratio => %L::float8, '
                  'min_bytes => %L::bigint, max_leaf_density => %L::float8, max_fragmentation => %L::float8, '
                  'sample_pages => %L::integer, schema_name => %L::text, max_runtime => %L::interval, '
                  'max_wait => %L::interval, ahead => %L::interval)',
                  dry_run, min_bloat_ratio, min_bytes, max_leaf_density, max_fragmentation, sample_pages,
                  schema_name, max_runtime, max_wait, ahead);
    RETURN ntsb_perf._schedule_job('auto_reindex', schedule, cmd);
END $$;

-- Removes this role's auto_reindex job of this database (false, with a notice, when there is none).
CREATE FUNCTION ntsb_perf.unschedule_auto_reindex() RETURNS boolean
LANGUAGE sql AS $$
    SELECT ntsb_perf._unschedule_own_job('auto_reindex')
$$;

-- DROP EXTENSION ntsb_perf and the pg_cron jobs ntsb_perf created (every kind of
-- ntsb_perf._job_kinds(), sql/schedule/jobs.sql). See src/uninstall.rs and docs/operations.md
-- "Uninstalling".

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
                         AS k(kind, job_name, job_name_pattern, command_pattern, description, remove_with, one_per,
                            what, is_are, unschedule_with, o)
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

-- What ntsb_perf keeps about a relation ends when the relation is dropped, in the dropping
-- transaction: the sql_drop event trigger calls each capability's own cleanup, in turn.
--   refresh (ntsb_perf._forget, sql/refresh/schedule.sql): DROP of a materialized view (or of a
--     table, or a schema with them) removes its policy, its pg_cron job, its state and log rows,
--     and the tables' change marks;
--   auto-reindex (ntsb_perf._reindex_history_dropped, sql/reindex/schema.sql): DROP of an index
--     (or of its table, or schema) removes the OID from its rebuild history (the rows stay, with
--     the index's name): a dump would carry the number, which names some other relation in the
--     restored cluster;
--   index history (ntsb_perf._index_history_dropped, sql/index_history/schema.sql): it ends the
--     index's snapshot history, which is then never given to a new index of the same name, and
--     removes its rebuild baseline.
-- Enabled ALWAYS (also under session_replication_role = replica). It never makes a DROP fail (a
-- failed cleanup is a warning; the job's next run cleans up then).
CREATE FUNCTION ntsb_perf._on_sql_drop() RETURNS event_trigger
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
        PERFORM ntsb_perf._reindex_history_dropped();
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'ntsb_perf: could not clean up the rebuild history of dropped indexes: % (SQLSTATE %)', SQLERRM, SQLSTATE;
    END;
    BEGIN
        PERFORM ntsb_perf._index_history_dropped();
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'ntsb_perf: could not end the index history of dropped indexes: % (SQLSTATE %)', SQLERRM, SQLSTATE;
    END;
END $$;

CREATE EVENT TRIGGER ntsb_perf_forget_dropped ON sql_drop EXECUTE FUNCTION ntsb_perf._on_sql_drop();

ALTER EVENT TRIGGER ntsb_perf_forget_dropped ENABLE ALWAYS;

CREATE  FUNCTION "unused_indexes"(
	"min_bytes" bigint DEFAULT 0 /* Option < i64 > */
) RETURNS TABLE (
	"schema_name" TEXT,  /* String */
	"table_name" TEXT,  /* String */
	"index_name" TEXT,  /* String */
	"access_method" TEXT,  /* String */
	"index_bytes" bigint,  /* i64 */
	"index_size" TEXT,  /* String */
	"idx_scan" bigint,  /* i64 */
	"stats_since" timestamp with time zone,  /* Option < pgrx :: datum :: TimestampWithTimeZone > */
	"table_writes" bigint,  /* i64 */
	"drop_statement" TEXT,  /* String */
	"index_oid" oid,  /* pg_sys :: Oid */
	"index_definition" TEXT,  /* String */
	"scans_last_30_days" bigint,  /* Option < i64 > */
	"observed_since" timestamp with time zone  /* Option < pgrx :: datum :: TimestampWithTimeZone > */
)
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'unused_indexes_wrapper';


-- 3. What pg_dump dumps of 0.1.0's tables: only policies and log rows of relations that still
--    exist (pg_extension_config_dump replaces a listed table's condition).
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_policy',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_policy.view::pg_catalog.oid AND c.relkind OPERATOR(pg_catalog.=) ''m'')');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_log',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_log.view::pg_catalog.oid) AND (refresh_log.target IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_log.target::pg_catalog.oid))');

-- 4. refresh_policy: one policy per pg_cron job.
DO $$
DECLARE j bigint;
BEGIN
    FOR j IN SELECT p.jobid FROM ntsb_perf.refresh_policy p WHERE p.jobid IS NOT NULL
             GROUP BY 1 HAVING count(*) > 1 LOOP
        RAISE WARNING 'ntsb_perf: refresh policies of % share pg_cron job %: none of them keeps it (schedule them again)',
            (SELECT string_agg(p.view::text, ', ' ORDER BY p.view::text) FROM ntsb_perf.refresh_policy p WHERE p.jobid = j), j;
        UPDATE ntsb_perf.refresh_policy p SET jobid = NULL WHERE p.jobid = j;
    END LOOP;
END $$;
ALTER TABLE ntsb_perf.refresh_policy ADD CONSTRAINT refresh_policy_jobid_key UNIQUE (jobid);

-- 5. pg_cron jobs made by 0.1.0's schedule_refresh run 0.2.0's command.
DO $$
DECLARE p record; n int := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN;
    END IF;
    FOR p IN SELECT pol.view, pol.jobid, pol.job_name, pol.created_by FROM ntsb_perf.refresh_policy pol
             WHERE pol.jobid IS NOT NULL ORDER BY pol.jobid LOOP
        EXECUTE 'SELECT count(*) FROM cron.job j WHERE j.jobid = $1 AND j.jobname = $2 AND j.username = $3
                   AND j.command ~ $4'
            INTO n USING p.jobid, p.job_name, p.created_by,
                         '^SELECT count\(\*\) FROM ntsb_perf\.refresh\(''.*''::regclass\)$';
        IF n = 1 THEN
            EXECUTE 'SELECT cron.alter_job($1, command => $2)' USING p.jobid, ntsb_perf._job_command(p.jobid);
        ELSIF NOT ntsb_perf._job_ok(p.jobid, p.job_name, p.created_by) THEN
            RAISE WARNING 'ntsb_perf: pg_cron job % of % is not as schedule_refresh made it: left alone (schedule the view again)',
                p.jobid, p.view;
        END IF;
    END LOOP;
END $$;

-- 6. Tracking triggers as 0.2.0 needs them, for every view scheduled with skip_if_unchanged.
DO $$
DECLARE p record;
BEGIN
    FOR p IN SELECT pol.view FROM ntsb_perf.refresh_policy pol
             WHERE pol.skip_if_unchanged AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = pol.view)
             ORDER BY pol.view::oid LOOP
        BEGIN
            PERFORM ntsb_perf._ensure_tracking(p.view);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'ntsb_perf: could not set up change tracking for %: % (it is refreshed at every run until it is scheduled again)',
                p.view, SQLERRM;
        END;
    END LOOP;
END $$;

-- 7. States resting on 0.1.0's change marks are not trusted (see the top).
UPDATE ntsb_perf.refresh_state SET tracking = NULL;

-- 8. 0.2.0 refreshes a view whose query calls a function that is not immutable at every run
--    (its contents can change while its tables do not). Views made by 0.1.0's
--    create_accident_stats_view call date(timestamptz): say so, and how to fix it. (A WARNING:
--    PostgreSQL holds back NOTICEs of extension scripts.)
DO $$
DECLARE p record; why text;
BEGIN
    FOR p IN SELECT pol.view FROM ntsb_perf.refresh_policy pol
             WHERE pol.skip_if_unchanged AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = pol.view)
             ORDER BY pol.view::text LOOP
        why := ntsb_perf._volatile_reason(p.view);
        IF why IS NOT NULL THEN
            RAISE WARNING 'ntsb_perf: % is refreshed at every scheduled run from now on: %', p.view, why
                USING HINT = 'A view made by 0.1.0''s create_accident_stats_view calls date(timestamptz); made again by '
                             'ntsb_perf.create_accident_stats_view() (0.2.0 truncates event_date::timestamp) it can skip.';
        END IF;
    END LOOP;
END $$;

-- 9. Who wrote a log row, and what a policy row may name, are checked from now on.
CREATE TRIGGER run_by BEFORE INSERT ON ntsb_perf.refresh_log
    FOR EACH ROW EXECUTE FUNCTION ntsb_perf._log_run_by();
CREATE TRIGGER check_policy BEFORE INSERT OR UPDATE ON ntsb_perf.refresh_policy
    FOR EACH ROW EXECUTE FUNCTION ntsb_perf._check_policy();

-- 10. The health report (one HTML page from the reports) and the hotspots as GeoJSON.
CREATE  FUNCTION "_hotspots_geojson"(
	"hotspots" TEXT /* & str */
) RETURNS jsonb /* JsonB */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_hotspots_geojson_wrapper';

CREATE FUNCTION ntsb_perf.hotspots_geojson(hotspots jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT ntsb_perf._hotspots_geojson(hotspots::text) $$;

COMMENT ON FUNCTION ntsb_perf.hotspots_geojson(jsonb) IS
    'an accident_hotspots result as an RFC 7946 FeatureCollection of cell polygons';

CREATE  FUNCTION "health_report"(
	"schema_name" TEXT DEFAULT NULL, /* Option < String > */
	"sample_pages" INT DEFAULT NULL /* Option < i32 > */
) RETURNS TEXT /* String */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'health_report_wrapper';

