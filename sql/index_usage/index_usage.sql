-- $1: schema_name filter (NULL = every schema)
SELECT schema_name, table_name, index_name, access_method,
       idx_scan, idx_tup_read, idx_tup_fetch,
       index_bytes, pg_size_pretty(index_bytes) AS index_size,
       table_bytes, pg_size_pretty(table_bytes) AS table_size,
       CASE WHEN table_bytes > 0
            THEN round(100.0 * index_bytes / table_bytes, 2)::float8 END AS index_ratio,
       is_unique, is_primary, is_valid, backs_constraint, is_partial,
       is_partitioned, partitions::int AS partitions, index_oid,
       pg_get_indexdef(index_oid) AS index_definition, last_scan
FROM ntsb_perf.index_catalog
WHERE $1::text IS NULL OR schema_name = $1::text
ORDER BY idx_scan DESC, index_bytes DESC, schema_name, table_name, index_name
