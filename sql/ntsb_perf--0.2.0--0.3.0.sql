-- ntsb_perf 0.2.0 (commit c7fb9f5) -> 0.3.0, run by ALTER EXTENSION ntsb_perf UPDATE.
--
-- 0.3.0 builds on PostgreSQL 15, 17 and 18 (one SQL surface for all three), and:
--   * parse_cron and cron_schedule_is_valid follow the grammar of the pg_cron the server runs
--     (1.4, or 1.6 with interval schedules such as '30 seconds' and '$' for the last day of the
--     month); both read the catalog for it, so they are STABLE, no longer IMMUTABLE, and
--     parse_cron gains two columns (seconds, last_day_of_month);
--   * the index reports show when each index was last scanned where the server records it
--     (PostgreSQL 16 and later; NULL on 15): index_catalog, index_usage and unused_indexes gain
--     the column last_scan, and unused_indexes counts an index last scanned 30 or more days ago
--     as unused;
--   * _is_index_named and _index_definition, which every index history row calls, are written
--     in Rust (same results, without an executor start per row).
-- Nothing stored changes: no table, no row is touched.

-- 1. Functions whose result type changes are created again below.
DROP FUNCTION ntsb_perf.parse_cron(text);
DROP FUNCTION ntsb_perf.index_usage(text);
DROP FUNCTION ntsb_perf.unused_indexes(bigint);

-- 2. New and changed functions, as 0.3.0's install script creates them (scripts/upgrade_objects.sh
--    writes this section from the generated install script)

CREATE  FUNCTION "_index_last_scan"(
	"index" oid /* pg_sys :: Oid */
) RETURNS timestamp with time zone /* Option < pgrx :: datum :: TimestampWithTimeZone > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_index_last_scan_wrapper';

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
           n.nspname, c.relname)                   AS drop_statement,
    -- When the index was last scanned (PostgreSQL 16 and later; NULL on 15 and for an index not
    -- scanned since its statistics were reset). A partitioned index: the latest of its leaves'.
    CASE WHEN c.relkind = 'I' THEN ip.last_scan
         ELSE ntsb_perf._index_last_scan(i.indexrelid) END    AS last_scan
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
           sum(pg_relation_size(p.relid))::bigint            AS bytes,
           max(ntsb_perf._index_last_scan(p.relid))          AS last_scan
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
-- Whether `idx` is the index (leaf or partitioned) whose quoted, qualified name is `qname`
-- (format('%I.%I', schema, name)); false when either is NULL. In Rust (src/index_catalog.rs):
-- every row the triggers below check calls it, and a SQL function was an executor start each.
CREATE OR REPLACE FUNCTION ntsb_perf._is_index_named(idx oid, qname text) RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ntsb_perf_is_index_named';

CREATE OR REPLACE FUNCTION "cron_schedule_is_valid"(
	"schedule" TEXT /* & str */
) RETURNS bool /* bool */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'cron_schedule_is_valid_wrapper';

-- The definition of index `idx` without its own name and its table's: `USING btree (k)`,
-- `UNIQUE USING btree (a) INCLUDE (b) WHERE (b > 0)`, as pg_get_indexdef writes it under the
-- caller's search_path (every caller here has pg_catalog, pg_temp). What a REINDEX CONCURRENTLY
-- keeps and a different index created under the same name usually does not. NULL for an OID
-- that is not an index. In Rust (src/index_catalog.rs): every history row calls it, and a SQL
-- function was an executor start per row.
CREATE OR REPLACE FUNCTION ntsb_perf._index_definition(idx oid) RETURNS text
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ntsb_perf_index_definition';

-- Appends one row per index (leaf indexes outside the system schemas), measured by
-- _snapshot_measure, then deletes the rows older than ntsb_perf.index_history_retention.
-- SECURITY DEFINER so that the history can be written only through here and by rebuilds;
-- closed to PUBLIC, granted to pg_stat_scan_tables (it reads every index's pages). JIT off:
-- the planner's costs of these statements grow with the number of indexes and passed
-- jit_above_cost, and compiling took 25 ms of a 2,000-index snapshot's 75 (measured).
CREATE OR REPLACE FUNCTION ntsb_perf.snapshot_indexes(sample_pages integer DEFAULT NULL)
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

CREATE  FUNCTION "index_usage"(
	"schema_name" TEXT DEFAULT NULL /* Option < String > */
) RETURNS TABLE (
	"schema_name" TEXT,  /* String */
	"table_name" TEXT,  /* String */
	"index_name" TEXT,  /* String */
	"access_method" TEXT,  /* String */
	"idx_scan" bigint,  /* i64 */
	"idx_tup_read" bigint,  /* i64 */
	"idx_tup_fetch" bigint,  /* i64 */
	"index_bytes" bigint,  /* i64 */
	"index_size" TEXT,  /* String */
	"table_bytes" bigint,  /* i64 */
	"table_size" TEXT,  /* String */
	"index_ratio" double precision,  /* Option < f64 > */
	"is_unique" bool,  /* bool */
	"is_primary" bool,  /* bool */
	"is_valid" bool,  /* bool */
	"backs_constraint" bool,  /* bool */
	"is_partial" bool,  /* bool */
	"is_partitioned" bool,  /* bool */
	"partitions" INT,  /* Option < i32 > */
	"index_oid" oid,  /* pg_sys :: Oid */
	"index_definition" TEXT,  /* String */
	"last_scan" timestamp with time zone  /* Option < pgrx :: datum :: TimestampWithTimeZone > */
)
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'index_usage_wrapper';

CREATE  FUNCTION "parse_cron"(
	"schedule" TEXT /* Option < & str > */
) RETURNS TABLE (
	"minutes" INT[],  /* Vec < i32 > */
	"hours" INT[],  /* Vec < i32 > */
	"days_of_month" INT[],  /* Vec < i32 > */
	"months" INT[],  /* Vec < i32 > */
	"days_of_week" INT[],  /* Vec < i32 > */
	"at_start" bool,  /* bool */
	"seconds" INT,  /* Option < i32 > */
	"last_day_of_month" bool  /* bool */
)
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'parse_cron_wrapper';

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
	"observed_since" timestamp with time zone,  /* Option < pgrx :: datum :: TimestampWithTimeZone > */
	"last_scan" timestamp with time zone  /* Option < pgrx :: datum :: TimestampWithTimeZone > */
)
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'unused_indexes_wrapper';


-- 3. End.
