-- Index history, the forecast: each index's bloat trend since its last rebuild, compared with its
-- baseline, and when it crosses the rebuild thresholds (bloat_forecast). See
-- docs/index-history.md.

-- The rebuild thresholds: not NULL and in range (what reindex_plan, auto_reindex, its schedule
-- and bloat_forecast take).
CREATE FUNCTION ntsb_perf._reindex_check_thresholds(min_bloat_ratio float8, min_bytes bigint,
                                                    max_leaf_density float8, max_fragmentation float8,
                                                    sample_pages integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF min_bloat_ratio IS NULL OR min_bytes IS NULL OR max_leaf_density IS NULL OR max_fragmentation IS NULL THEN
        RAISE EXCEPTION 'the thresholds must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT (min_bloat_ratio > 0 AND min_bloat_ratio < 'Infinity' AND min_bytes >= 0
            AND max_leaf_density BETWEEN 0 AND 100 AND max_fragmentation BETWEEN 0 AND 100) THEN
        RAISE EXCEPTION 'thresholds out of range: min_bloat_ratio > 0, min_bytes >= 0, max_leaf_density and max_fragmentation from 0 to 100'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF sample_pages <= 0 THEN
        RAISE EXCEPTION 'sample_pages must be a positive number of pages, not %', sample_pages
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass NULL for an exact scan of every page.';
    END IF;
END $$;

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

-- The public entry point, a SQL function over the one above: its argument schema_name is also
-- one of its output columns, which PostgreSQL refuses in a PL/pgSQL function ("parameter name
-- used more than once"), and the names of both are the documented surface.
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
