-- Refresh, exact change tracking: what a view reads (refresh_plan, refresh_sources), the
-- tracking triggers on those tables and their fingerprint, and why a view must be refreshed now
-- (refresh_reason). The trigger function itself is ntsb_perf.track_change (src/refresh). See
-- docs/refresh.md "How it works".

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

-- Puts ntsb_perf's tracking triggers on every table `view` reads (where missing), so all its
-- changes are recorded, logical replication's included: the statement trigger
-- ntsb_perf_track_changes enabled ALWAYS and, on plain tables and partitions, the row trigger
-- ntsb_perf_track_replica enabled REPLICA (see _tracking_triggers). Enabling a trigger ALWAYS or
-- REPLICA needs the table's owner, so a table still lacking them must be owned by the caller.
CREATE FUNCTION ntsb_perf._ensure_tracking(view regclass) RETURNS void
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
