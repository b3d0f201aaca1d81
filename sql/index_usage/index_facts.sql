-- Facts the redundancy rule (ntsb_perf_core::index_usage) needs, one row per index.
-- @NULLS_NOT_DISTINCT@ is replaced by the catalog column on PostgreSQL 15+, by false before.
SELECT ic.index_oid, ic.table_oid, ic.schema_name, ic.table_name, ic.index_name, ic.access_method,
       ARRAY(SELECT CASE WHEN i.indkey[k] = 0
                         THEN 'expr:' || pg_get_indexdef(i.indexrelid, k + 1, false)
                         ELSE 'col:' || i.indkey[k] END
             FROM generate_series(0, i.indnkeyatts - 1) k ORDER BY k)          AS key_columns,
       ARRAY(SELECT i.indclass[k]::bigint
             FROM generate_series(0, i.indnkeyatts - 1) k ORDER BY k)          AS key_opclasses,
       ARRAY(SELECT i.indcollation[k]::bigint
             FROM generate_series(0, i.indnkeyatts - 1) k ORDER BY k)          AS key_collations,
       ARRAY(SELECT i.indoption[k]::int
             FROM generate_series(0, i.indnkeyatts - 1) k ORDER BY k)          AS key_options,
       ARRAY(SELECT 'col:' || i.indkey[k]
             FROM generate_series(i.indnkeyatts, i.indnatts - 1) k ORDER BY k) AS include_columns,
       pg_get_expr(i.indpred, i.indrelid)                                       AS predicate,
       ic.is_unique, ic.is_primary, @NULLS_NOT_DISTINCT@ AS nulls_not_distinct,
       ic.backs_constraint, ic.is_replica_identity, ic.is_clustered,
       (ic.is_valid AND ic.is_ready AND ic.is_live)                             AS is_usable,
       NOT (ic.is_attached_partition OR ic.is_extension_member)                 AS droppable,
       ic.index_bytes, pg_size_pretty(ic.index_bytes) AS index_size,
       ic.drop_statement,
       pg_get_indexdef(ic.index_oid)                                            AS index_definition
FROM ntsb_perf.index_catalog ic
JOIN pg_index i ON i.indexrelid = ic.index_oid
ORDER BY ic.table_oid, ic.index_oid
