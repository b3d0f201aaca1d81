-- Materialized-view refresh scheduling: policies, exact change tracking, refresh in dependency
-- order, log and status. See docs/refresh.md.

-- One policy per scheduled view (schedule_refresh / unschedule_refresh).
CREATE TABLE ntsb_perf.refresh_policy (
    view              regclass PRIMARY KEY,
    schedule          text        NOT NULL,
    concurrent    boolean     NOT NULL,
    skip_if_unchanged boolean     NOT NULL,
    jobid             bigint      UNIQUE,
    job_name          text        NOT NULL,
    created_by        name        NOT NULL DEFAULT current_user,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- What the last successful refresh of a view saw: the snapshot it was taken under (every
-- transaction visible in it is in the view), the tables it reads and their tracking triggers.
CREATE TABLE ntsb_perf.refresh_state (
    view          regclass PRIMARY KEY,
    last_snapshot pg_snapshot NOT NULL,
    sources       oid[]       NOT NULL,
    tracking      text,
    certain       boolean     NOT NULL DEFAULT true,
    refreshed_at  timestamptz NOT NULL
);

-- Change marks: for each tracked table and backend slot, the last transaction of that backend
-- that wrote the table. Written only by the tracking triggers (ntsb_perf.track_change, in Rust).
CREATE TABLE ntsb_perf.refresh_change (
    source  oid  NOT NULL,
    backend int  NOT NULL,
    xid     xid8 NOT NULL,
    PRIMARY KEY (source, backend)
) WITH (fillfactor = 50);

CREATE TABLE ntsb_perf.refresh_log (
    id           bigserial PRIMARY KEY,
    view         regclass    NOT NULL,
    started_at   timestamptz NOT NULL,
    duration     interval    NOT NULL,
    status       text        NOT NULL,
    rows         bigint,
    error        text,
    reason       text,
    concurrent boolean,
    target       regclass,
    run_by       name        NOT NULL DEFAULT current_user
);
CREATE INDEX refresh_log_view_started_at ON ntsb_perf.refresh_log (view, started_at DESC);

-- pg_dump dumps the policies and the log (and the log's sequence), not the refresh state nor the
-- change marks: a snapshot and table OIDs of another cluster would make refresh_reason trust a
-- view that is stale (after a restore the first refresh of every view refreshes it). A regclass
-- is dumped as the relation's name (restored as the new OID: the materialized views exist when
-- the data is loaded) or, for a relation that no longer exists, as a bare number that would name
-- some other relation after the restore: so only rows whose relations exist are dumped (the
-- sql_drop event trigger below removes the others in the dropping transaction anyway).
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_policy',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_policy.view::pg_catalog.oid AND c.relkind OPERATOR(pg_catalog.=) ''m'')');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_log',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_log.view::pg_catalog.oid) AND (refresh_log.target IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_log.target::pg_catalog.oid))');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_log_id_seq', '');

-- Who may do what. Everybody reads. Change marks are written only by the tracking trigger
-- (ntsb_perf.track_change, in Rust, as the owner of refresh_change: no role can forge, move back
-- or remove a mark). Policy, state and log rows are written only for views the role owns
-- (row-level security, checked against the view's owner); a policy row must name the pg_cron
-- job schedule_refresh creates for that view and role (trigger _check_policy), and a log row
-- records who inserted it (trigger _log_run_by). Every entry point, trigger, SECURITY DEFINER
-- function and the row-level-security check runs with search_path = pg_catalog, pg_temp, so
-- nothing a caller puts on search_path is resolved by them; the small SQL helpers they call
-- (inlined into their plans) and the per-view helpers run under that same path.
CREATE FUNCTION ntsb_perf._owns(rel regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = rel), false)
$$;
ALTER TABLE ntsb_perf.refresh_policy ENABLE ROW LEVEL SECURITY;
ALTER TABLE ntsb_perf.refresh_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE ntsb_perf.refresh_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON ntsb_perf.refresh_policy FOR SELECT USING (true);
CREATE POLICY owner_writes ON ntsb_perf.refresh_policy FOR ALL USING (ntsb_perf._owns(view)) WITH CHECK (ntsb_perf._owns(view));
CREATE POLICY read_all ON ntsb_perf.refresh_state FOR SELECT USING (true);
CREATE POLICY owner_writes ON ntsb_perf.refresh_state FOR ALL USING (ntsb_perf._owns(view)) WITH CHECK (ntsb_perf._owns(view));
CREATE POLICY read_all ON ntsb_perf.refresh_log FOR SELECT USING (true);
CREATE POLICY owner_writes ON ntsb_perf.refresh_log FOR INSERT WITH CHECK (ntsb_perf._owns(view));
GRANT SELECT, INSERT, UPDATE, DELETE ON ntsb_perf.refresh_policy, ntsb_perf.refresh_state TO PUBLIC;
GRANT SELECT, INSERT ON ntsb_perf.refresh_log TO PUBLIC;
GRANT USAGE ON SEQUENCE ntsb_perf.refresh_log_id_seq TO PUBLIC;
GRANT SELECT ON ntsb_perf.refresh_change TO PUBLIC;

-- Bumped by every refresh, under the exclusive tracking lock of its sources, before it takes
-- its snapshot; the tracking trigger (ntsb_perf.track_change, in Rust) reads it to know whether
-- a change mark it committed earlier can still be relied on. (Anyone may bump it: that only
-- makes writers write their marks again.)
CREATE SEQUENCE ntsb_perf.refresh_generation;
GRANT USAGE, SELECT ON SEQUENCE ntsb_perf.refresh_generation TO PUBLIC;

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
CREATE TRIGGER run_by BEFORE INSERT ON ntsb_perf.refresh_log
    FOR EACH ROW EXECUTE FUNCTION ntsb_perf._log_run_by();

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
CREATE TRIGGER check_policy BEFORE INSERT OR UPDATE ON ntsb_perf.refresh_policy
    FOR EACH ROW EXECUTE FUNCTION ntsb_perf._check_policy();

-- Relations a view or materialized view reads, through views, materialized views included
-- (walk), with their depth below `rel`.
CREATE FUNCTION ntsb_perf._reads(rel regclass)
RETURNS TABLE (relid oid, relkind "char", depth int)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE walk(relid, relkind, depth) AS (
        SELECT rel::oid, (SELECT c.relkind FROM pg_class c WHERE c.oid = rel), 0
        UNION ALL
        SELECT DISTINCT d.refobjid, c.relkind, w.depth + 1
        FROM walk w
        JOIN pg_rewrite rw ON rw.ev_class = w.relid
        JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                        AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> w.relid
        JOIN pg_class c ON c.oid = d.refobjid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        WHERE w.relkind IN ('v', 'm') AND w.depth < 100
    )
    SELECT w.relid, w.relkind, max(w.depth) FROM walk w WHERE w.depth > 0 GROUP BY 1, 2
$$;

-- The refresh order for `view`: every materialized view it reads (directly, through views, or
-- through other materialized views), deepest first, then the view itself; `reads` lists the
-- materialized views each one reads. (No rows for NULL.)
CREATE FUNCTION ntsb_perf.refresh_plan(view regclass)
RETURNS TABLE (step int, view regclass, reads regclass[])
LANGUAGE sql STABLE AS $$
    SELECT row_number() OVER (ORDER BY m.depth DESC, m.relid)::int, m.relid::regclass,
           ARRAY(SELECT r.relid::regclass FROM ntsb_perf._reads(m.relid::regclass) r
                 WHERE r.relkind = 'm' ORDER BY r.relid)
    FROM (SELECT $1::oid AS relid, 0 AS depth WHERE $1 IS NOT NULL
          UNION ALL
          SELECT r.relid, r.depth FROM ntsb_perf._reads($1) r WHERE r.relkind = 'm') m
$$;

-- The tables whose contents a view depends on: every table it reads through views and
-- materialized views, with all their partitions and inheritance children.
CREATE FUNCTION ntsb_perf.refresh_sources(view regclass)
RETURNS SETOF regclass
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE t(relid) AS (
        SELECT r.relid FROM ntsb_perf._reads($1) r WHERE r.relkind IN ('r', 'p', 'f')
        UNION
        SELECT i.inhrelid FROM t JOIN pg_inherits i ON i.inhparent = t.relid
    )
    SELECT relid::regclass FROM t ORDER BY relid
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
CREATE FUNCTION ntsb_perf._tracking(sources oid[], OUT fingerprint text, OUT untracked regclass)
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
CREATE FUNCTION ntsb_perf.refresh_reason(view regclass) RETURNS text
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
CREATE FUNCTION ntsb_perf.sources_changed(view regclass) RETURNS boolean
LANGUAGE sql STABLE STRICT AS $$ SELECT ntsb_perf.refresh_reason($1) IS NOT NULL $$;

CREATE FUNCTION ntsb_perf._relkind_name(k "char") RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE k WHEN 'r' THEN 'a table' WHEN 'p' THEN 'a partitioned table' WHEN 'v' THEN 'a view'
                  WHEN 'i' THEN 'an index' WHEN 'I' THEN 'a partitioned index' WHEN 'S' THEN 'a sequence'
                  WHEN 'f' THEN 'a foreign table' WHEN 'c' THEN 'a composite type'
                  WHEN 't' THEN 'a TOAST table' ELSE 'not a materialized view' END
$$;
-- Raises the errors every entry point shares: NULL, not a materialized view, not the owner.
CREATE FUNCTION ntsb_perf._check_matview(v regclass, what text) RETURNS void
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

-- Whether REFRESH ... CONCURRENTLY can run on `v`: a valid unique index without predicate and
-- on plain columns only, as PostgreSQL requires.
CREATE FUNCTION ntsb_perf._has_refresh_key(v regclass) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = v AND i.indisunique AND i.indimmediate AND i.indisvalid
                     AND i.indpred IS NULL AND i.indexprs IS NULL)
$$;

-- (0.1.0's advisory-lock key of a view; refreshes now take ntsb_perf._refresh_view_lock, which
-- no other role can take)
CREATE FUNCTION ntsb_perf._lock_key(v regclass) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (x'4e545342'::bigint << 32) | v::oid::bigint $$;

-- Refreshes `view` after every materialized view it reads, each only when something it reads
-- changed since its last refresh (unless force, or its policy has skip_if_unchanged off).
-- A view that fails is logged and left as it was; the others go on, except the views that read
-- it ('skipped: a view it reads failed'). A second caller for the same view waits until the first
-- one's transaction ends, then finds the view up to date.
CREATE FUNCTION ntsb_perf._refresh(target_view regclass, force_refresh boolean)
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
CREATE FUNCTION ntsb_perf.refresh(view regclass, force boolean DEFAULT false)
RETURNS TABLE (view regclass, status text, duration_ms double precision, rows bigint,
               reason text, error text, concurrent boolean)
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$ SELECT * FROM ntsb_perf._refresh($1, $2) $$;

-- Puts ntsb_perf's tracking triggers on every table `view` reads (where missing), so all its
-- changes are recorded, logical replication's included: the statement trigger
-- ntsb_perf_track_changes enabled ALWAYS and, on plain tables and partitions, the row trigger
-- ntsb_perf_track_replica enabled REPLICA (see _tracking_triggers). Enabling a trigger ALWAYS or
-- REPLICA needs the table's owner, so a table still lacking them must be owned by the caller.
CREATE FUNCTION ntsb_perf._ensure_tracking(view regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE s regclass; k "char"; qn text; need_stmt boolean; need_rep boolean;
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
        IF need_stmt THEN
            IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = s AND t.tgname = 'ntsb_perf_track_changes') THEN
                IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = s AND t.tgname = 'ntsb_perf_track_changes'
                           AND t.tgfoid = 'ntsb_perf.track_change()'::regprocedure AND t.tgtype = 62
                           AND t.tgqual IS NULL AND t.tgattr = ''::int2vector) THEN
                    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER ntsb_perf_track_changes', qn);
                ELSE
                    RAISE EXCEPTION 'table % has a trigger named ntsb_perf_track_changes that is not ntsb_perf''s change tracking', s
                        USING ERRCODE = 'duplicate_object',
                              HINT = format('Drop or rename that trigger (DROP TRIGGER ntsb_perf_track_changes ON %s), then schedule again.', qn);
                END IF;
            ELSE
                EXECUTE format('CREATE TRIGGER ntsb_perf_track_changes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                               'FOR EACH STATEMENT EXECUTE FUNCTION ntsb_perf.track_change()', qn);
                EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER ntsb_perf_track_changes', qn);
            END IF;
        END IF;
        IF need_rep THEN
            IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = s AND t.tgname = 'ntsb_perf_track_replica') THEN
                IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = s AND t.tgname = 'ntsb_perf_track_replica'
                           AND t.tgfoid = 'ntsb_perf.track_change()'::regprocedure AND t.tgtype = 29
                           AND t.tgqual IS NULL AND t.tgattr = ''::int2vector) THEN
                    EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER ntsb_perf_track_replica', qn);
                ELSE
                    RAISE EXCEPTION 'table % has a trigger named ntsb_perf_track_replica that is not ntsb_perf''s change tracking', s
                        USING ERRCODE = 'duplicate_object',
                              HINT = format('Drop or rename that trigger (DROP TRIGGER ntsb_perf_track_replica ON %s), then schedule again.', qn);
                END IF;
            ELSE
                EXECUTE format('CREATE TRIGGER ntsb_perf_track_replica AFTER INSERT OR UPDATE OR DELETE ON %s '
                               'FOR EACH ROW EXECUTE FUNCTION ntsb_perf.track_change()', qn);
                EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER ntsb_perf_track_replica', qn);
            END IF;
        END IF;
    END LOOP;
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

-- Schedules `view` to be refreshed by pg_cron (through ntsb_perf.refresh). Everything is checked
-- now. Called again for the same view, it updates the policy and the same job. Job identity is
-- the job id the policy holds, and only while that job is still the one ntsb_perf created (same
-- name, command and owner): a job ntsb_perf did not create is never adopted or changed.
CREATE FUNCTION ntsb_perf.schedule_refresh(view regclass, schedule text, "concurrently" boolean DEFAULT true,
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
CREATE FUNCTION ntsb_perf.unschedule_refresh(view regclass) RETURNS boolean
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

-- DROP of a materialized view (or of a table, or a schema with them) removes its policy, its
-- pg_cron job, its state and log rows, and the tables' change marks, in the dropping
-- transaction. DROP of an index (or of its table, or schema) removes its rebuild baseline and
-- the OID from its rebuild history (the rows stay, with the index's name): a dump would carry
-- the number, which names some other relation in the restored cluster; and it ends the index's
-- snapshot history (ntsb_perf._index_history_dropped, sql/index_history/history.sql), which is
-- then never given to a new index of the same name. Enabled ALWAYS (also
-- under session_replication_role = replica). It never makes a DROP fail (a failed cleanup is a
-- warning; the job's next run cleans up then).
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
    BEGIN
        PERFORM ntsb_perf._index_history_dropped();
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'ntsb_perf: could not end the index history of dropped indexes: % (SQLSTATE %)', SQLERRM, SQLSTATE;
    END;
END $$;
CREATE EVENT TRIGGER ntsb_perf_forget_dropped ON sql_drop EXECUTE FUNCTION ntsb_perf._on_sql_drop();
ALTER EVENT TRIGGER ntsb_perf_forget_dropped ENABLE ALWAYS;

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

CREATE VIEW ntsb_perf.refresh_status AS
SELECT p.view, p.schedule, p.concurrent, p.skip_if_unchanged,
       lr.started_at AS last_refresh, lr.duration AS last_duration, lr.rows AS last_rows,
       ll.started_at AS last_run, ll.status AS last_status, ll.error AS last_error,
       rr.reason IS NOT NULL AS sources_changed, rr.reason AS refresh_reason,
       p.jobid, j.active AS job_active, j.last_start AS job_last_run, j.last_status AS job_last_status,
       j.last_message AS job_last_message
FROM ntsb_perf.refresh_policy p
LEFT JOIN LATERAL (SELECT * FROM ntsb_perf.refresh_log l WHERE l.view = p.view AND l.status = 'refreshed'
                   ORDER BY l.started_at DESC LIMIT 1) lr ON true
LEFT JOIN LATERAL (SELECT * FROM ntsb_perf.refresh_log l WHERE l.view = p.view
                   ORDER BY l.started_at DESC LIMIT 1) ll ON true
LEFT JOIN LATERAL ntsb_perf._cron_job(p.jobid) j ON true
CROSS JOIN LATERAL (SELECT ntsb_perf.refresh_reason(p.view) AS reason OFFSET 0) rr;  -- OFFSET 0: evaluated once
GRANT SELECT ON ntsb_perf.refresh_status TO PUBLIC;
