-- Index history, usage: scans counted from the snapshots across statistics resets
-- (index_usage_history, and the counts unused_indexes shows). See docs/index-history.md.

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
