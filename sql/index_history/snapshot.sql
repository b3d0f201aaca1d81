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
-- closed to PUBLIC, granted to pg_stat_scan_tables (it reads every index's pages). JIT off:
-- the planner's costs of these statements grow with the number of indexes and passed
-- jit_above_cost, and compiling took 25 ms of a 2,000-index snapshot's 75 (measured).
CREATE FUNCTION ntsb_perf.snapshot_indexes(sample_pages integer DEFAULT NULL)
RETURNS TABLE (taken_at timestamptz, indexes integer, measured_exactly integer, sampled integer,
               not_measured integer, pages_read bigint, total_pages bigint, rows_deleted bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    holder record;
    unbound_oids oid[];
    unbound_names text[];
    unbound_tables text[];
    unbound_definitions text[];
    t timestamptz;
    n_indexes integer;
    n_exact integer;
    n_sampled integer;
    n_not_measured integer;
    n_pages_read bigint;
    n_total_pages bigint;
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
    -- its own history). The indexes without rows are found first, so that this costs next to
    -- nothing when there are none, however long the history is: those in the latest snapshot
    -- (its rows, by the history's index on taken_at) have rows; each of the others is looked up
    -- by its OID (OFFSET 0 keeps that a lookup per index: as an anti join the planner read the
    -- whole history, 9 µs per index with 28 snapshots and growing with every one). Only when
    -- there are such indexes is the history searched for rows under their names.
    WITH latest AS MATERIALIZED (
        SELECT h.index_oid, h.index_name FROM ntsb_perf.index_history h
        WHERE h.taken_at = (SELECT max(h1.taken_at) FROM ntsb_perf.index_history h1 WHERE NOT h1.rebuild)
    ), not_in_latest AS MATERIALIZED (
        SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS qname, i.indrelid
        FROM pg_class c
        JOIN pg_namespace n  ON n.oid = c.relnamespace
        JOIN pg_index i      ON i.indexrelid = c.oid
        WHERE c.relkind = 'i' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\_toast%'
          AND NOT EXISTS (SELECT 1 FROM latest l
                          WHERE l.index_oid = c.oid AND l.index_name = format('%I.%I', n.nspname, c.relname))
    )
    SELECT coalesce(array_agg(x.oid), '{}'), array_agg(x.qname), array_agg(format('%I.%I', tn.nspname, t.relname)),
           array_agg(ntsb_perf._index_definition(x.oid))
    INTO unbound_oids, unbound_names, unbound_tables, unbound_definitions
    FROM not_in_latest x
    JOIN pg_class t      ON t.oid = x.indrelid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    WHERE NOT EXISTS (SELECT 1 FROM ntsb_perf.index_history h2
                      WHERE h2.index_oid = x.oid AND h2.index_name = x.qname OFFSET 0);
    IF cardinality(unbound_oids) > 0 THEN
        WITH orphans AS (
            -- per earlier OID (or none) under such a name, its latest row
            SELECT DISTINCT ON (h.index_oid, h.index_name)
                   h.index_oid AS old_oid, h.index_name, h.table_name, h.index_definition, u.oid AS new_oid,
                   u.tname, u.def
            FROM unnest(unbound_oids, unbound_names, unbound_tables, unbound_definitions) AS u(oid, qname, tname, def)
            JOIN ntsb_perf.index_history h ON h.index_name = u.qname
            WHERE h.dropped_at IS NULL
              AND (h.index_oid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_class c2 WHERE c2.oid = h.index_oid))
            ORDER BY h.index_oid, h.index_name, h.taken_at DESC, h.id DESC
        )
        UPDATE ntsb_perf.index_history h SET index_oid = o.new_oid
        FROM orphans o
        WHERE o.table_name = o.tname AND (o.index_definition IS NULL OR o.index_definition = o.def)
          AND h.index_name = o.index_name AND h.index_oid IS NOT DISTINCT FROM o.old_oid AND h.dropped_at IS NULL;
    END IF;
    -- One statement measures and writes: the measuring (a function scan, which runs to its end
    -- when its first row is asked for) is over before the first row is written, and the
    -- counters are read with the rows, after the pages; taken_at is the time of the first row
    -- (an InitPlan, evaluated once). Counters this transaction cached earlier are let go first.
    -- (The measured rows went through jsonb before: 8% of a snapshot of 2,000 small indexes.)
    PERFORM pg_stat_clear_snapshot();
    WITH m AS MATERIALIZED (
        SELECT * FROM ntsb_perf._snapshot_measure(snapshot_indexes.sample_pages)
    ), written AS (
        INSERT INTO ntsb_perf.index_history AS h
            (taken_at, index_oid, index_name, table_name, access_method, relfilenode, index_bytes, live_items,
             avg_leaf_density, leaf_fragmentation, expected_bytes, reclaimable_bytes, bloat_ratio, method,
             pages_read, density_ci_low, density_ci_high, idx_scan, idx_tup_read, table_writes, db_xact_commit,
             stats_reset, rebuild, note, index_definition)
        SELECT (SELECT clock_timestamp()), c.oid, format('%I.%I', n.nspname, c.relname),
               format('%I.%I', tn.nspname, tc.relname), am.amname, c.relfilenode,
               coalesce(m.index_bytes, pg_relation_size(c.oid)), m.live_items, m.avg_leaf_density,
               m.leaf_fragmentation, m.expected_bytes, m.reclaimable_bytes, m.bloat_ratio, m.method, m.pages_read,
               m.density_ci_low, m.density_ci_high, u.idx_scan, u.idx_tup_read, u.table_writes, u.db_xact_commit,
               u.stats_reset, false, m.note, ntsb_perf._index_definition(c.oid)
        FROM m
        JOIN pg_class c      ON c.oid = m.index_oid
        JOIN pg_namespace n  ON n.oid = c.relnamespace
        JOIN pg_am am        ON am.oid = c.relam
        JOIN pg_index i      ON i.indexrelid = c.oid
        JOIN pg_class tc     ON tc.oid = i.indrelid
        JOIN pg_namespace tn ON tn.oid = tc.relnamespace
        CROSS JOIN LATERAL ntsb_perf._usage_counters(c.oid) u
        RETURNING h.taken_at
    )
    SELECT (SELECT max(w.taken_at) FROM written w), count(*)::int, (count(*) FILTER (WHERE m.method = 'exact'))::int,
           (count(*) FILTER (WHERE m.method = 'sampled'))::int, (count(*) FILTER (WHERE m.method IS NULL))::int,
           coalesce(sum(m.pages_read), 0)::bigint, coalesce(sum(m.total_pages), 0)::bigint
    INTO t, n_indexes, n_exact, n_sampled, n_not_measured, n_pages_read, n_total_pages
    FROM m;
    t := coalesce(t, clock_timestamp());
    DELETE FROM ntsb_perf.index_history h
    WHERE h.taken_at < t - make_interval(mins => ntsb_perf._index_history_retention());
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN QUERY
    SELECT t, n_indexes, n_exact, n_sampled, n_not_measured, n_pages_read, n_total_pages, deleted;
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
