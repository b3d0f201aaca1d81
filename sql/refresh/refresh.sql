-- Materialized-view refresh scheduling: policies, exact change tracking, refresh in dependency
-- order, log and status. See README "Refresh scheduling".

-- One policy per scheduled view (schedule_refresh / unschedule_refresh).
CREATE TABLE ntsb_perf.refresh_policy (
    view              regclass PRIMARY KEY,
    schedule          text        NOT NULL,
    concurrent    boolean     NOT NULL,
    skip_if_unchanged boolean     NOT NULL,
    jobid             bigint,
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
-- that wrote the table. Written through the statement trigger ntsb_perf.track_change().
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

SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_policy', '');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_log', '');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_log_id_seq', '');

-- Who may do what: everybody reads; policies, state and log rows are written only for views the
-- role owns (row-level security, checked against the view's owner); any writer of a tracked
-- table records its own change marks.
CREATE FUNCTION ntsb_perf._owns(rel regclass) RETURNS boolean
LANGUAGE sql STABLE AS $$
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
GRANT SELECT, INSERT, UPDATE ON ntsb_perf.refresh_change TO PUBLIC;

-- Bumped by every refresh, under the exclusive tracking lock of its sources, before it takes
-- its snapshot; the tracking trigger (ntsb_perf.track_change, in Rust) reads it to know whether
-- a change mark it committed earlier can still be relied on.
CREATE SEQUENCE ntsb_perf.refresh_generation;
GRANT USAGE, SELECT ON SEQUENCE ntsb_perf.refresh_generation TO PUBLIC;

-- Writes this backend's change mark for `source` in the writer's transaction (called by the
-- tracking trigger when it cannot rely on an earlier mark). The backend's row exists after its
-- first write: one HOT update (no index change), none when this transaction already wrote it.
CREATE FUNCTION ntsb_perf._mark_change(tbl oid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    me int := ntsb_perf.backend_slot();
    x xid8 := pg_current_xact_id();
BEGIN
    UPDATE ntsb_perf.refresh_change c SET xid = x WHERE c.source = $1 AND c.backend = me AND c.xid <> x;
    IF NOT FOUND AND NOT EXISTS (SELECT FROM ntsb_perf.refresh_change c
                                 WHERE c.source = $1 AND c.backend = me) THEN
        INSERT INTO ntsb_perf.refresh_change AS c (source, backend, xid) VALUES ($1, me, x)
        ON CONFLICT (source, backend) DO UPDATE SET xid = EXCLUDED.xid;
    END IF;
END $$;

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
-- materialized views each one reads.
CREATE FUNCTION ntsb_perf.refresh_plan(view regclass)
RETURNS TABLE (step int, view regclass, reads regclass[])
LANGUAGE sql STABLE AS $$
    SELECT row_number() OVER (ORDER BY m.depth DESC, m.relid)::int, m.relid::regclass,
           ARRAY(SELECT r.relid::regclass FROM ntsb_perf._reads(m.relid::regclass) r
                 WHERE r.relkind = 'm' ORDER BY r.relid)
    FROM (SELECT $1::oid AS relid, 0 AS depth
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

-- Fingerprint of the tracking triggers of `sources` (NULL and the first untracked table when
-- one has no enabled trigger: its changes cannot be known). A trigger dropped and re-created,
-- disabled or re-enabled changes the fingerprint (OID, row version), so changes made while it
-- was missing are never trusted away.
CREATE FUNCTION ntsb_perf._tracking(sources oid[], OUT fingerprint text, OUT untracked regclass)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN bool_or(t.oid IS NULL OR t.tgenabled = 'D') THEN NULL
                ELSE coalesce(string_agg(s::text || ':' || t.oid::text || ':' || t.xmin::text || ':' || t.tgenabled::text,
                                         ',' ORDER BY s), '') END,
           (array_agg(s::regclass ORDER BY s) FILTER (WHERE t.oid IS NULL OR t.tgenabled = 'D'))[1]
    FROM unnest(sources) s
    LEFT JOIN pg_trigger t ON t.tgrelid = s AND t.tgname = 'ntsb_perf_track_changes'
$$;

-- Why `view` must be refreshed now, or NULL when nothing it reads has changed since its last
-- refresh through ntsb_perf. Exact: a change committed before this is called is either in the
-- view already (visible in the snapshot of its last refresh) or reported here.
CREATE FUNCTION ntsb_perf.refresh_reason(view regclass) RETURNS text
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    v regclass := $1;
    st record;
    tr record;
    srcs oid[];
BEGIN
    IF NOT (SELECT relispopulated FROM pg_class WHERE oid = v) THEN
        RETURN 'not populated';
    END IF;
    SELECT * INTO st FROM ntsb_perf.refresh_state s WHERE s.view = v;
    IF NOT FOUND THEN
        RETURN 'no earlier refresh through ntsb_perf';
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
LANGUAGE sql STABLE AS $$ SELECT ntsb_perf.refresh_reason($1) IS NOT NULL $$;

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
LANGUAGE plpgsql AS $$
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
        PERFORM pg_advisory_xact_lock(ntsb_perf._lock_key(p.view));
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
LANGUAGE sql AS $$ SELECT * FROM ntsb_perf._refresh($1, $2) $$;

-- Puts a statement trigger on every table `view` reads (where missing), so its changes are
-- recorded. Needs the TRIGGER privilege on each; owners also get it enabled ALWAYS (so it fires
-- under session_replication_role = replica, e.g. for logical replication).
CREATE FUNCTION ntsb_perf._ensure_tracking(view regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE s regclass; qn text;
BEGIN
    FOR s IN SELECT * FROM ntsb_perf.refresh_sources(view) LOOP
        IF (SELECT relkind FROM pg_class WHERE oid = s) = 'f' THEN
            RAISE NOTICE '% reads foreign table %: its changes cannot be tracked, so it is refreshed every time', view, s;
            CONTINUE;
        END IF;
        IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = s AND tgname = 'ntsb_perf_track_changes') THEN
            CONTINUE;
        END IF;
        IF NOT has_table_privilege(s, 'TRIGGER') THEN
            RAISE EXCEPTION 'permission denied to track changes of table %', s
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('skip_if_unchanged needs a statement trigger on every table %s reads.', view),
                      HINT = format('GRANT TRIGGER ON %s TO %I (as its owner), or pass skip_if_unchanged => false.', s, current_user);
        END IF;
        qn := (SELECT format('%I.%I', ns.nspname, c.relname) FROM pg_class c
               JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE c.oid = s);
        EXECUTE format('CREATE TRIGGER ntsb_perf_track_changes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION ntsb_perf.track_change()', qn);
        IF ntsb_perf._owns(s) THEN
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER ntsb_perf_track_changes', qn);
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION ntsb_perf._require_pg_cron() RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database %', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Add pg_cron to shared_preload_libraries and set cron.database_name = %L '
                                'in postgresql.conf, restart PostgreSQL, then run CREATE EXTENSION pg_cron.',
                                current_database());
    END IF;
END $$;

-- Schedules `view` to be refreshed by pg_cron (through ntsb_perf.refresh). Everything is checked
-- now. Called again for the same view, it updates the policy and the same job.
CREATE FUNCTION ntsb_perf.schedule_refresh(view regclass, schedule text, "concurrently" boolean DEFAULT true,
                                           skip_if_unchanged boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v regclass := $1;
    sched text := $2;
    conc boolean := $3;
    skip boolean := $4;
    qname text;
    jname text;
    cmd text;
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
    qname := (SELECT format('%I.%I', ns.nspname, c.relname)
              FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE c.oid = v);
    jname := coalesce((SELECT job_name FROM ntsb_perf.refresh_policy p WHERE p.view = v),
                      'ntsb_perf refresh ' || qname);
    cmd := format('SELECT count(*) FROM ntsb_perf.refresh(%L::regclass)', qname);
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING jname, sched, cmd;
    INSERT INTO ntsb_perf.refresh_policy AS p (view, schedule, concurrent, skip_if_unchanged, jobid, job_name)
    VALUES (v, sched, conc, skip, id, jname)
    ON CONFLICT ON CONSTRAINT refresh_policy_pkey DO UPDATE
        SET schedule = EXCLUDED.schedule, concurrent = EXCLUDED.concurrent,
            skip_if_unchanged = EXCLUDED.skip_if_unchanged, jobid = EXCLUDED.jobid, updated_at = now();
    RETURN id;
END $$;

-- Removes the policy and the pg_cron job of `view` (false, with a notice, when it had none).
-- Tracking triggers stay (other views or manual refresh() calls may rely on them).
CREATE FUNCTION ntsb_perf.unschedule_refresh(view regclass) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v regclass := $1;
    pol record;
BEGIN
    PERFORM ntsb_perf._check_matview(v, 'ntsb_perf.unschedule_refresh');
    SELECT * INTO pol FROM ntsb_perf.refresh_policy p WHERE p.view = v;
    IF NOT FOUND THEN
        RAISE NOTICE 'no refresh is scheduled for %', v;
        RETURN false;
    END IF;
    IF pol.jobid IS NOT NULL AND to_regclass('cron.job') IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM cron.job j WHERE j.jobid = pol.jobid) THEN
            PERFORM cron.unschedule(pol.jobid);
        END IF;
    END IF;
    DELETE FROM ntsb_perf.refresh_policy p WHERE p.view = v;
    RETURN true;
END $$;

-- The pg_cron side of a job (nothing when pg_cron is not installed).
CREATE FUNCTION ntsb_perf._cron_job(job bigint,
    OUT active boolean, OUT last_start timestamptz, OUT last_end timestamptz, OUT last_status text,
    OUT last_message text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF job IS NULL OR to_regclass('cron.job_run_details') IS NULL THEN
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
