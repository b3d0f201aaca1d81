\pset footer on
\echo
\echo '== ntsb_perf.index_usage(''public'') =='
SELECT index_name, access_method AS am, idx_scan, idx_tup_read, index_size, table_size, index_ratio,
       is_unique AS uniq, backs_constraint AS constr
FROM ntsb_perf.index_usage('public');
\echo '== ntsb_perf.unused_indexes() =='
SELECT table_name, index_name, index_size, idx_scan, stats_since, drop_statement
FROM ntsb_perf.unused_indexes();
\echo '== ntsb_perf.duplicate_indexes() =='
SELECT table_name, index_name, covered_by, reason, reclaimable_size, drop_statement
FROM ntsb_perf.duplicate_indexes();
\echo '== ntsb_perf.invalid_indexes() =='
SELECT table_name, index_name, index_size, likely_cause, drop_statement
FROM ntsb_perf.invalid_indexes();
\echo '== ntsb_perf.index_bloat_report(''public'', 0) =='
SELECT index_name, access_method AS am, index_size, leaf_pages, avg_leaf_density AS density,
       leaf_fragmentation AS frag, bloat_ratio, reclaimable_size, method
FROM ntsb_perf.index_bloat_report('public', 0);
