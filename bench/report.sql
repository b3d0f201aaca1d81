-- R1 on the generated events (:rows): health_report in sampled mode against the reports it is
-- made of, run alone (the same queries the report runs, in one statement), median of :rounds
-- interleaved rounds. Goal: <= 2.
\set QUIET on
SET client_min_messages = warning;
\ir timing.sql
CREATE TEMP TABLE results (bench text, what text, ours_ms numeric, anchor_ms numeric, ratio numeric, goal text);
\set ours 'SELECT length(ntsb_perf.health_report(NULL, ' :sample '))'
\set parts 'SELECT (SELECT count(*) FROM ntsb_perf.index_usage(NULL) u LEFT JOIN pg_index i ON i.indexrelid = u.index_oid LEFT JOIN pg_stat_all_tables s ON s.relid = i.indrelid), (SELECT count(*) FROM ntsb_perf.unused_indexes()), (SELECT count(*) FROM ntsb_perf.duplicate_indexes()), (SELECT count(*) FROM ntsb_perf.invalid_indexes()), (SELECT count(*) FROM ntsb_perf.index_bloat_report(NULL, 0, ' :sample ') b LEFT JOIN ntsb_perf.reindex_baseline bl ON bl.index_oid = to_regclass(format(''%I.%I'', b.schema_name, b.index_name))), (SELECT count(*) FROM (SELECT * FROM ntsb_perf.reindex_history ORDER BY started_at DESC LIMIT 1000) h), (SELECT count(*) FROM ntsb_perf.reindex_status), (SELECT count(*) FROM ntsb_perf.refresh_status), (SELECT count(*) FROM ntsb_perf.refresh_log WHERE status = ''failed''), (SELECT count(*) FROM (SELECT extract(year FROM event_date)::int, ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries, NULL, total_uninjured) FROM events GROUP BY 1) y), (SELECT ntsb_perf.accident_hotspots(geom, ntsb_perf.normalize_severity(injury_severity) = ''FATL'', 50, 25) FROM events) IS NOT NULL'
INSERT INTO results SELECT 'R1', format('health_report(sample_pages => %s) / its reports run alone', :sample),
       round(q_ms::numeric, 1), round(a_ms::numeric, 1), round((q_ms / a_ms)::numeric, 3), '<= 2'
FROM pg_temp.vs(:'ours', :'parts', :rounds);
\set QUIET off
SELECT * FROM results;
