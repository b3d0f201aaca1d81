-- Index history and forecasting: one row per index per snapshot (size, bloat, usage counters),
-- usage counted from the snapshots across statistics resets, and each index's bloat trend
-- since its last rebuild. See docs/index-history.md.

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
-- that is not an index. Plain SQL with every name qualified (no SET clause), inlined into the
-- snapshot's INSERT.
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

-- Called by ntsb_perf._on_sql_drop (sql/refresh/refresh.sql), the sql_drop event trigger, in the
-- dropping transaction: the history of each dropped index ends there. Its rows (by its OID, and
-- under its name the rows bound to no index that exists: restored from a dump and not bound yet,
-- or of an OID a REINDEX CONCURRENTLY outside ntsb_perf replaced) get dropped_at and lose the
-- OID, so that they are never bound to a new index of the same name (nor to whatever gets the
-- OID later); table_dropped when no table of their table_name is left. A dropped table marks
-- the rows of its indexes dropped before it. (REINDEX CONCURRENTLY fires no event trigger: the
-- history follows the index to its new OID.)
CREATE FUNCTION ntsb_perf._index_history_dropped() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    at timestamptz := statement_timestamp();
BEGIN
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

-- The roles other than `except_role` that have a snapshot job in this database (pg_cron shows a
-- role only its own jobs: SECURITY DEFINER to see them all; it tells role names, nothing else).
CREATE FUNCTION ntsb_perf._snapshot_job_owners(except_role name) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owners text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT string_agg(DISTINCT username::text, '', '') FROM cron.job WHERE jobname = $1 AND username <> $2'
        INTO owners USING ntsb_perf._job_name_of('index_snapshots'), except_role;
    RETURN owners;
END $$;

REVOKE ALL ON FUNCTION ntsb_perf._snapshot_job_owners(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ntsb_perf._snapshot_job_owners(name) TO pg_stat_scan_tables;

-- The pg_cron job that runs snapshot_indexes: one per database, as the role that scheduled it.
CREATE FUNCTION ntsb_perf.schedule_index_snapshots(schedule text, sample_pages integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job text := ntsb_perf._job_name_of('index_snapshots');
    other text;
    id bigint;
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
    PERFORM ntsb_perf._require_pg_cron();
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'role "%" may not log in: pg_cron could not run the job as it', current_user
            USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    other := ntsb_perf._snapshot_job_owners(current_user);
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'index snapshots of database % are already scheduled by %', current_database(), other
            USING ERRCODE = 'duplicate_object',
                  HINT = 'One schedule per database: that role can change it, or remove it with ntsb_perf.unschedule_index_snapshots().';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id
        USING job, schedule, format('SELECT * FROM ntsb_perf.snapshot_indexes(sample_pages => %L::integer)', sample_pages);
    RETURN id;
END $$;

-- Removes this role's snapshot job of this database (false, with a notice, when there is none).
CREATE FUNCTION ntsb_perf.unschedule_index_snapshots() RETURNS boolean
LANGUAGE sql AS $$
    SELECT ntsb_perf._unschedule_own_job(ntsb_perf._job_name_of('index_snapshots'), 'index snapshots are')
$$;

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
