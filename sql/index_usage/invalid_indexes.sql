SELECT ic.schema_name, ic.table_name, ic.index_name, ic.access_method,
       ic.index_bytes, pg_size_pretty(ic.index_bytes) AS index_size,
       ic.is_ready, ic.is_partitioned,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
               WHERE p.relid = ic.table_oid OR p.index_relid = ic.index_oid) AS build_in_progress,
       ic.drop_statement,
       ic.index_oid, pg_get_indexdef(ic.index_oid) AS index_definition
FROM ntsb_perf.index_catalog ic
WHERE NOT ic.is_valid
ORDER BY ic.schema_name, ic.table_name, ic.index_name
