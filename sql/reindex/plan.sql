-- Auto-reindex, the plan: which indexes to rebuild, most reclaimable first, measured now and
-- compared with each index's baseline (reindex_plan). See docs/auto-reindex.md.

-- The plan reads every candidate's pages (index_bloat): refused at once, with the GRANT to ask
-- for, to a role that may not. `ahead` must be a time the forecast can reach.
CREATE FUNCTION ntsb_perf._reindex_check_rights_and_ahead(ahead interval) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT has_function_privilege('ntsb_perf.index_bloat(regclass, integer)', 'EXECUTE') THEN
        RAISE EXCEPTION 'role "%" may not read index pages, which the rebuild plan measures', current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('GRANT pg_stat_scan_tables TO %I; (as a superuser), then run it again.', current_user);
    END IF;
    IF ahead < interval '0' OR ahead > interval '100 years' THEN
        RAISE EXCEPTION 'ahead must be from 0 to 100 years, not %', ahead USING ERRCODE = 'invalid_parameter_value',
            HINT = 'It is how far ahead the forecast may look, e.g. interval ''7 days''.';
    END IF;
END $$;

-- Candidates for a rebuild, most reclaimable first. With a baseline (the index's own figures
-- right after its last rebuild) the thresholds apply relative to it: an index that is fresh at
-- 69% density, or whose model ratio reads 1.4 fresh, is not rebuilt for that.
CREATE FUNCTION ntsb_perf._reindex_plan(p_min_bloat_ratio float8, p_min_bytes bigint, p_max_leaf_density float8,
                                        p_max_fragmentation float8, p_sample_pages integer, p_schema_name text,
                                        p_ahead interval)
RETURNS TABLE (schema_name text, table_name text, index_name text, access_method text,
               index_bytes bigint, expected_bytes bigint, reclaimable_bytes bigint, reclaimable_size text,
               bloat_ratio float8, avg_leaf_density float8, leaf_fragmentation float8,
               baseline_density float8, reason text, statement text, index_oid oid,
               predicted_crossing timestamptz)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    not_owned bigint;
BEGIN
    PERFORM ntsb_perf._reindex_check_thresholds(p_min_bloat_ratio, p_min_bytes, p_max_leaf_density,
                                                p_max_fragmentation, p_sample_pages);
    PERFORM ntsb_perf._reindex_check_rights_and_ahead(p_ahead);
    -- What the plan may rebuild: valid leaf indexes of every supported access method, at least
    -- min_bytes, outside system and temporary schemas (the worker cannot see temporary tables).
    CREATE TEMP TABLE IF NOT EXISTS ntsb_perf_plan_scope (oid oid, owned boolean) ON COMMIT DROP;
    TRUNCATE ntsb_perf_plan_scope;
    INSERT INTO ntsb_perf_plan_scope
    SELECT c.oid, pg_has_role(c.relowner, 'USAGE')
    FROM pg_index i
    JOIN pg_class c     ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_am am       ON am.oid = c.relam
    WHERE i.indisvalid AND c.relkind = 'i' AND c.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
      AND (p_schema_name IS NULL OR n.nspname = p_schema_name)
      AND am.amname IN ('btree', 'hash', 'gist', 'gin', 'spgist', 'brin')
      AND pg_relation_size(c.oid) >= p_min_bytes;
    SELECT count(*) INTO not_owned FROM ntsb_perf_plan_scope WHERE NOT owned;
    IF not_owned > 0 THEN
        RAISE NOTICE 'skipped % index(es) of tables owned by other roles (only a table''s owner may rebuild its indexes)', not_owned;
    END IF;
    RETURN QUERY
    WITH forecast AS (
        SELECT f.index_oid, f.predicted_crossing, f.crossing_reason
        FROM ntsb_perf._bloat_forecast(p_min_bloat_ratio, p_max_leaf_density, p_max_fragmentation, p_schema_name) f
    ), measured AS (
        SELECT r.*, k.oid AS oid, b.density AS base_density, b.bloat_ratio AS base_ratio,
               b.fragmentation AS base_fragmentation, fc.predicted_crossing, fc.crossing_reason
        FROM ntsb_perf_plan_scope k
        CROSS JOIN LATERAL ntsb_perf.index_bloat(k.oid::regclass, p_sample_pages) r
        LEFT JOIN LATERAL ntsb_perf._baseline_of(k.oid) b ON true
        LEFT JOIN forecast fc ON fc.index_oid = k.oid
        WHERE k.owned
    ), judged AS (
        SELECT m.*,
               concat_ws('; ',
                   CASE WHEN m.bloat_ratio / coalesce(nullif(m.base_ratio, 0), 1) >= p_min_bloat_ratio
                        THEN format('bloat ratio %s >= %s%s', round(m.bloat_ratio::numeric, 2), p_min_bloat_ratio,
                                    CASE WHEN m.base_ratio IS NOT NULL
                                         THEN format(' times its fresh %s', round(m.base_ratio::numeric, 2)) END) END,
                   CASE WHEN m.avg_leaf_density < p_max_leaf_density
                         AND (m.base_density IS NULL OR m.avg_leaf_density < m.base_density * 0.9)
                        THEN format('leaf density %s%% < %s%%%s', round(m.avg_leaf_density::numeric, 1), p_max_leaf_density,
                                    CASE WHEN m.base_density IS NOT NULL
                                         THEN format(' and < 90%% of its fresh %s%%', round(m.base_density::numeric, 1)) END) END,
                   CASE WHEN m.leaf_fragmentation > p_max_fragmentation
                         AND (m.base_fragmentation IS NULL OR m.leaf_fragmentation > m.base_fragmentation + 10)
                        THEN format('leaf fragmentation %s%% > %s%%', round(m.leaf_fragmentation::numeric, 1), p_max_fragmentation) END
               ) AS now_why,
               round(m.expected_bytes * coalesce(nullif(m.base_ratio, 0), 1))::bigint AS expected_fresh
        FROM measured m
    ), with_forecast AS (
        -- ahead: also what the forecast says crosses a threshold within that time
        SELECT j.*,
               CASE WHEN j.now_why <> '' THEN j.now_why
                    WHEN p_ahead IS NOT NULL AND j.predicted_crossing <= now() + p_ahead
                    THEN format('forecast to cross %s by %s (within ahead %s)', j.crossing_reason,
                                to_char(j.predicted_crossing, 'YYYY-MM-DD HH24:MI TZ'), p_ahead)
                    ELSE '' END AS why
        FROM judged j
    )
    SELECT j.schema_name, j.table_name, j.index_name, j.access_method, j.index_bytes, j.expected_fresh,
           greatest(j.index_bytes - j.expected_fresh, 0), pg_size_pretty(greatest(j.index_bytes - j.expected_fresh, 0)),
           j.bloat_ratio, j.avg_leaf_density, j.leaf_fragmentation, j.base_density, j.why,
           format('REINDEX INDEX CONCURRENTLY %I.%I', j.schema_name, j.index_name), j.oid, j.predicted_crossing
    FROM with_forecast j
    WHERE j.why <> ''
    ORDER BY 7 DESC, j.schema_name, j.index_name;
END $$;

CREATE FUNCTION ntsb_perf.reindex_plan(min_bloat_ratio float8 DEFAULT 1.3, min_bytes bigint DEFAULT 10485760,
                                       max_leaf_density float8 DEFAULT 70, max_fragmentation float8 DEFAULT 30,
                                       sample_pages integer DEFAULT NULL, schema_name text DEFAULT NULL,
                                       ahead interval DEFAULT NULL)
RETURNS TABLE (schema_name text, table_name text, index_name text, access_method text,
               index_bytes bigint, expected_bytes bigint, reclaimable_bytes bigint, reclaimable_size text,
               bloat_ratio float8, avg_leaf_density float8, leaf_fragmentation float8,
               baseline_density float8, reason text, statement text, index_oid oid,
               predicted_crossing timestamptz)
LANGUAGE sql VOLATILE AS 'SELECT * FROM ntsb_perf._reindex_plan($1, $2, $3, $4, $5, $6, $7)';
