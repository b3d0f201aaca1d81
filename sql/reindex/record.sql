-- Writes one rebuild's history row (run by _reindex_begin and _reindex_finish, SECURITY DEFINER,
-- and by the worker as the extension's owner, search_path pg_catalog, pg_temp) from the facts
-- kept since its start: first as 'running' (no duration or size after yet), then
-- its outcome into the same row; after a successful rebuild the fresh density is measured and
-- kept as the index's baseline (keyed by its name, bound to its OID) and as a row of the index
-- history (rebuild = true). REINDEX CONCURRENTLY gives
-- the index a new OID under the same name, so the index is found again by its (quoted,
-- qualified) name, and the earlier rows of the old OID (of both histories) are given the new one. $1 index
-- oid at the start, $2 index name, $3 table name, $4 started_at (seconds since the epoch), $5 bytes_before,
-- $6 predicted_reclaim, $7 density_before, $8 status, $9 sqlstate, $10 error, $11 triggered_by,
-- $12 role oid, $13 statement, $14 the row's id when it was written before (NULL: a new row).
WITH now_index AS (
    SELECT coalesce(pg_catalog.to_regclass($2)::oid, $1) AS oid
), fresh AS (
    -- (an index of an access method ntsb_perf cannot read, bloom say, is recorded without
    -- figures, baseline or history row)
    SELECT b.*
    FROM now_index i
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.oid
    JOIN pg_catalog.pg_am a ON a.oid OPERATOR(pg_catalog.=) c.relam
    CROSS JOIN LATERAL ntsb_perf.index_bloat(i.oid::regclass) b
    WHERE $8 OPERATOR(pg_catalog.=) 'done'
      AND a.amname OPERATOR(pg_catalog.=) ANY ('{btree,hash,gist,gin,spgist,brin}'::pg_catalog.name[])
), rebuilt AS (
    -- the index history's row of the rebuild (an exact measurement, where a forecast restarts)
    INSERT INTO ntsb_perf.index_history
        (taken_at, index_oid, index_name, table_name, access_method, relfilenode, index_bytes, live_items,
         avg_leaf_density, leaf_fragmentation, expected_bytes, reclaimable_bytes, bloat_ratio, method,
         pages_read, density_ci_low, density_ci_high, idx_scan, idx_tup_read, table_writes, db_xact_commit,
         stats_reset, rebuild)
    SELECT pg_catalog.clock_timestamp(), i.oid, $2,
           pg_catalog.format('%I.%I', tn.nspname, t.relname), f.access_method, c.relfilenode, f.index_bytes,
           f.live_items, f.avg_leaf_density, f.leaf_fragmentation, f.expected_bytes, f.reclaimable_bytes,
           f.bloat_ratio, f.method, f.pages_read, f.density_ci_low, f.density_ci_high, u.idx_scan, u.idx_tup_read,
           u.table_writes, u.db_xact_commit, u.stats_reset, true
    FROM fresh f, now_index i
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.oid
    JOIN pg_catalog.pg_index x ON x.indexrelid OPERATOR(pg_catalog.=) i.oid
    JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) x.indrelid
    JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.relnamespace
    CROSS JOIN LATERAL ntsb_perf._usage_counters(i.oid) u
    RETURNING 1
), stale AS (
    -- baselines of this index kept under another name (it was renamed since)
    DELETE FROM ntsb_perf.reindex_baseline b
    USING now_index i, fresh f
    WHERE b.index_oid = i.oid AND b.index_name <> $2
    RETURNING 1
), baseline AS (
    INSERT INTO ntsb_perf.reindex_baseline AS r (index_oid, density, bloat_ratio, fragmentation, measured_at, index_name)
    SELECT i.oid, f.avg_leaf_density, f.bloat_ratio, f.leaf_fragmentation, pg_catalog.now(), $2
    FROM fresh f, now_index i
    ON CONFLICT (index_name) DO UPDATE
        SET index_oid = EXCLUDED.index_oid, density = EXCLUDED.density, bloat_ratio = EXCLUDED.bloat_ratio,
            fragmentation = EXCLUDED.fragmentation, measured_at = EXCLUDED.measured_at
    RETURNING 1
), repoint_snapshots AS (
    UPDATE ntsb_perf.index_history h SET index_oid = i.oid
    FROM now_index i
    WHERE $8 = 'done' AND i.oid <> $1 AND h.index_oid = $1
    RETURNING 1
), repoint AS (
    UPDATE ntsb_perf.reindex_history h SET index = i.oid
    FROM now_index i
    WHERE $8 = 'done' AND i.oid <> $1 AND h.index = $1 AND h.id IS DISTINCT FROM $14
    RETURNING 1
)
INSERT INTO ntsb_perf.reindex_history AS h
    (id, index, index_name, table_name, started_at, duration, bytes_before, bytes_after, predicted_reclaim,
     density_before, density_after, status, sqlstate, error, triggered_by, run_by, statement,
     caller_pid, caller_started)
SELECT coalesce($14, pg_catalog.nextval('ntsb_perf.reindex_history_id_seq'::pg_catalog.regclass)),
       i.oid, $2, $3, pg_catalog.to_timestamp($4),
       CASE WHEN $8 <> 'running' THEN pg_catalog.clock_timestamp() - pg_catalog.to_timestamp($4) END, $5,
       CASE WHEN $8 <> 'running' THEN
           (SELECT pg_catalog.pg_relation_size(c.oid) FROM pg_catalog.pg_class c WHERE c.oid = i.oid) END,
       $6, $7, (SELECT avg_leaf_density FROM fresh), $8, $9, $10, $11,
       (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = $12), $13,
       pg_catalog.pg_backend_pid(),
       (SELECT a.backend_start FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid())
FROM now_index i
ON CONFLICT (id) DO UPDATE
    SET index = EXCLUDED.index, duration = EXCLUDED.duration, bytes_after = EXCLUDED.bytes_after,
        density_after = EXCLUDED.density_after, status = EXCLUDED.status, sqlstate = EXCLUDED.sqlstate,
        error = EXCLUDED.error
RETURNING id
