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
CREATE VIEW ntsb_perf.index_catalog AS
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
CREATE FUNCTION ntsb_perf._is_index_named(idx oid, qname text) RETURNS boolean
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ntsb_perf_is_index_named';

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
