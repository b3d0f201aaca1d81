-- Refresh, the run: refresh(view) refreshes a view after the materialized views it reads, each
-- only when something it reads changed, under the view's refresh lock, and logs each one. See
-- docs/refresh.md.

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
