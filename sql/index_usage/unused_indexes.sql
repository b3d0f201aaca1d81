-- $1: min_bytes
SELECT schema_name, table_name, index_name, access_method,
       index_bytes, pg_size_pretty(index_bytes) AS index_size, idx_scan,
       pg_stat_get_db_stat_reset_time(
           (SELECT oid FROM pg_database WHERE datname = current_database())) AS stats_since,
       pg_stat_get_tuples_inserted(table_oid) + pg_stat_get_tuples_updated(table_oid)
           + pg_stat_get_tuples_deleted(table_oid) AS table_writes,
       drop_statement,
       index_oid, pg_get_indexdef(index_oid) AS index_definition
FROM ntsb_perf.index_catalog
WHERE idx_scan = 0
  AND is_valid
  AND NOT is_primary AND NOT is_unique AND NOT backs_constraint AND NOT is_replica_identity
  AND NOT is_attached_partition AND NOT is_extension_member
  AND index_bytes >= $1::bigint
ORDER BY index_bytes DESC, schema_name, table_name, index_name
