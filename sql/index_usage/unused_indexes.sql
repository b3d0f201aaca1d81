-- $1: min_bytes. "Unused" means, from the best source there is: when the server recorded the
-- index's last scan (PostgreSQL 16 and later), none in the last 30 days; else, with snapshots
-- (ntsb_perf.index_history) that reach back 30 days, no scan in the last 30 days, counted from
-- the snapshots across statistics resets; with a shorter history (or none), no scan since the
-- counters were last reset and none in the snapshots there are.
SELECT ic.schema_name, ic.table_name, ic.index_name, ic.access_method,
       ic.index_bytes, pg_size_pretty(ic.index_bytes) AS index_size, ic.idx_scan,
       pg_stat_get_db_stat_reset_time(
           (SELECT oid FROM pg_database WHERE datname = current_database())) AS stats_since,
       pg_stat_get_tuples_inserted(ic.table_oid) + pg_stat_get_tuples_updated(ic.table_oid)
           + pg_stat_get_tuples_deleted(ic.table_oid) AS table_writes,
       ic.drop_statement,
       ic.index_oid, pg_get_indexdef(ic.index_oid) AS index_definition,
       h.scans AS scans_last_30_days, h.observed_since, ic.last_scan
FROM ntsb_perf.index_catalog ic
LEFT JOIN ntsb_perf._index_scans_since(now() - interval '30 days') h ON h.index_oid = ic.index_oid
WHERE CASE WHEN ic.last_scan IS NOT NULL THEN ic.last_scan < now() - interval '30 days'
           WHEN h.observed_since <= now() - interval '30 days' THEN h.scans = 0
           ELSE ic.idx_scan = 0 AND coalesce(h.scans, 0) = 0 END
  AND ic.is_valid
  AND NOT ic.is_primary AND NOT ic.is_unique AND NOT ic.backs_constraint AND NOT ic.is_replica_identity
  AND NOT ic.is_attached_partition AND NOT ic.is_extension_member
  AND ic.index_bytes >= $1::bigint
ORDER BY ic.index_bytes DESC, ic.schema_name, ic.table_name, ic.index_name
