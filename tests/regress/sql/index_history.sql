-- Index history: snapshots against index_bloat and the statistics views, sampled
-- snapshots of a large index against an exact scan, retention, a statistics reset between two
-- snapshots (pg_stat_reset), a rebuild between snapshots, the forecast of a known series, the
-- plan's predicted crossing and auto_reindex's ahead, unused_indexes over 30 days of history,
-- the pg_cron schedule with a real run, privileges, and bad input; the history of a
-- dropped index is never given to a new index of its name, no crossing is forecast without a
-- trend and `crossed` comes with `crossed_at`, and each role reads the rows of the indexes
-- index_usage shows it (also logged in as a role with no grants). Times, OIDs and sizes that
-- vary are turned into booleans or differences.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ntsb_perf;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE ROLE ih_owner LOGIN IN ROLE pg_stat_scan_tables;
CREATE ROLE ih_plain LOGIN;
CREATE SCHEMA ih AUTHORIZATION ih_owner;
GRANT USAGE ON SCHEMA ih TO ih_plain;
GRANT USAGE ON SCHEMA cron TO ih_owner;
SET ROLE ih_owner;
CREATE TABLE ih.t (id int PRIMARY KEY, k int, v text);
INSERT INTO ih.t SELECT g, (g * 7919) % 100000, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX t_k ON ih.t (k);
CREATE INDEX t_v_hash ON ih.t USING hash (v);
-- large enough (over 1024 pages) to be sampled by default
CREATE TABLE ih.big (id bigint, k bigint);
INSERT INTO ih.big SELECT g, (g * 2654435761) % 1000003 FROM generate_series(1, 400000) g;
CREATE INDEX big_k ON ih.big (k);
DELETE FROM ih.big WHERE id % 3 = 0;
VACUUM ih.big;
CREATE TABLE ih."Table ""; DROP TABLE ih.t; --" (id int);
CREATE INDEX "idx ""; DROP TABLE ih.t; -- 0123456789012345678901234567890" ON ih."Table ""; DROP TABLE ih.t; --" (id);
RESET ROLE;

-- 1. A snapshot: one row per leaf index outside the system schemas, with index_bloat's figures
-- and the statistics views' counters.
SET ROLE ih_owner;
SELECT indexes = (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind = 'i' AND c.relpersistence <> 't'
                    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%')
           AS one_row_per_index,
       indexes = measured_exactly + sampled + not_measured AS counted, sampled >= 1 AS big_sampled,
       pages_read < total_pages AS read_less_than_all, rows_deleted
FROM ntsb_perf.snapshot_indexes();
RESET ROLE;
SELECT h.index_name, h.table_name, h.access_method, h.method,
       h.index_bytes = pg_relation_size(h.index_oid) AS bytes_ok,
       h.live_items = b.live_items AS live_items_ok, h.avg_leaf_density IS NOT DISTINCT FROM b.avg_leaf_density AS density_ok,
       h.expected_bytes = b.expected_bytes AS expected_ok, h.bloat_ratio = b.bloat_ratio AS ratio_ok,
       h.idx_scan = s.idx_scan AS scans_ok, h.table_writes = t.n_tup_ins + t.n_tup_upd + t.n_tup_del AS writes_ok,
       h.relfilenode = c.relfilenode AS relfilenode_ok, h.rebuild
FROM ntsb_perf.index_history h
JOIN pg_class c ON c.oid = h.index_oid
JOIN pg_stat_all_indexes s ON s.indexrelid = h.index_oid
JOIN pg_stat_all_tables t ON t.relid = s.relid
CROSS JOIN LATERAL ntsb_perf.index_bloat(h.index_oid::regclass) b
WHERE h.index_name LIKE 'ih.%' AND h.method = 'exact'
ORDER BY h.index_name;
-- The sampled index: density within 2 points of an exact scan, fewer pages read.
SELECT h.method, abs(h.avg_leaf_density - b.avg_leaf_density) <= 2 AS density_within_2_points,
       h.density_ci_low <= h.avg_leaf_density AND h.avg_leaf_density <= h.density_ci_high AS ci_holds_estimate,
       (h.density_ci_high - h.density_ci_low) / 2 <= 1 AS ci_half_width_at_most_1,
       h.pages_read < b.pages_read / 2 AS less_than_half_read,
       abs(h.live_items - b.live_items) < 0.05 * b.live_items AS live_items_within_5pct
FROM ntsb_perf.index_history h CROSS JOIN LATERAL ntsb_perf.index_bloat(h.index_oid::regclass) b
WHERE h.index_name = 'ih.big_k';
-- sample_pages given: that sample, for every index larger than it.
SELECT sum(pages_read) AS first_pages FROM ntsb_perf.index_history
WHERE taken_at = (SELECT min(taken_at) FROM ntsb_perf.index_history) \gset
SET ROLE ih_owner;
SELECT sampled >= 3 AS sampled_more, pages_read < :first_pages AS fewer_pages
FROM ntsb_perf.snapshot_indexes(sample_pages => 20);
RESET ROLE;
SELECT pages_read FROM ntsb_perf.index_history WHERE index_name = 'ih.big_k' ORDER BY taken_at DESC LIMIT 1;

-- 2. Usage across a statistics reset: scans counted between snapshots; a reset (counters went
-- down) gives the scans made since it, never a negative count.
DELETE FROM ntsb_perf.index_history;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM ntsb_perf.snapshot_indexes();
SELECT count(*) FROM ih.t WHERE k = 1;
SELECT count(*) FROM ih.t WHERE k = 2;
SELECT count(*) FROM ih.t WHERE k = 3;
SELECT pg_stat_force_next_flush();
SELECT count(*) FROM ntsb_perf.snapshot_indexes();
SELECT pg_stat_reset();
SELECT count(*) FROM ih.t WHERE k = 4;
SELECT count(*) FROM ih.t WHERE k = 5;
SELECT pg_stat_force_next_flush();
SELECT count(*) FROM ntsb_perf.snapshot_indexes();
SELECT count(*) FROM ih.t WHERE k = 6;
SELECT pg_stat_force_next_flush();
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT pg_stat_clear_snapshot();
SELECT source, idx_scan, scans, reset, method FROM ntsb_perf.index_usage_history('ih.t_k');
-- the sum of the intervals: every scan made (3 + 2 + 1), though the counter says 3
SELECT sum(scans) AS scans_counted, (SELECT idx_scan FROM pg_stat_all_indexes WHERE indexrelid = 'ih.t_k'::regclass) AS counter
FROM ntsb_perf.index_usage_history('ih.t_k');

-- 3. unused_indexes over the history: once the snapshots reach back 30 days, "unused" is no
-- scan in the last 30 days, whatever the counters say since a reset.
DELETE FROM ntsb_perf.index_history;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM ih.big WHERE k = 1;
SELECT count(*) FROM ih.big WHERE k = 2;
SELECT count(*) FROM ih.big WHERE k = 3;
SELECT count(*) FROM ih.big WHERE k = 4;
SELECT count(*) FROM ih.big WHERE k = 5;
SELECT pg_stat_force_next_flush();
RESET enable_seqscan;
RESET enable_bitmapscan;
SET ROLE ih_owner;
SELECT count(*) FROM ntsb_perf.snapshot_indexes();
RESET ROLE;
-- a day of history: the counters since the reset decide (big_k and t_k were scanned)
SELECT index_name, idx_scan, scans_last_30_days, observed_since IS NOT NULL AS has_history
FROM ntsb_perf.unused_indexes() WHERE schema_name = 'ih' ORDER BY index_name;
-- big_k: its 5 scans were made between 45 and 35 days ago, none since; t_v_hash: 0 on its
-- counter now, after a reset, but scanned 7 times between 20 and 10 days ago.
INSERT INTO ntsb_perf.index_history (taken_at, index_oid, index_name, table_name, access_method, index_bytes,
                                     idx_scan, idx_tup_read, table_writes, db_xact_commit, stats_reset)
SELECT now() - d * interval '1 day', index_oid, index_name, table_name, access_method, index_bytes,
       CASE WHEN d = 45 THEN 0 ELSE idx_scan END, idx_tup_read, table_writes, db_xact_commit, stats_reset
FROM ntsb_perf.index_history, unnest(ARRAY[45, 35]) d WHERE index_name = 'ih.big_k'
UNION ALL
SELECT now() - d * interval '1 day', index_oid, index_name, table_name, access_method, index_bytes,
       CASE WHEN d > 10 THEN 100 ELSE 107 END, idx_tup_read + 1000, table_writes, db_xact_commit + 1000,
       stats_reset - interval '40 days'
FROM ntsb_perf.index_history, unnest(ARRAY[30, 20, 10]) d WHERE index_name = 'ih.t_v_hash';
-- (PostgreSQL 16 and later record each index's last scan: big_k's, made by the queries above a
-- moment ago, outranks the history written here, so there big_k is not unused; that output is
-- expected/index_history_1.out, the only difference.)
SELECT index_name, idx_scan > 0 AS counter_above_0, scans_last_30_days,
       observed_since < now() - interval '30 days' AS full_window
FROM ntsb_perf.unused_indexes() WHERE schema_name = 'ih' ORDER BY index_name;
SELECT source, scans, reset, reset_at = stats_reset AS reset_at_stats_reset
FROM ntsb_perf.index_usage_history('ih.t_v_hash', '60 days');
SELECT source, scans, reset FROM ntsb_perf.index_usage_history('ih.big_k', '60 days');
-- A reset of another table's counters moves the database's stats_reset: the interval counts
-- big_k's whole counter (never fewer scans than were made), and the count is complete only from
-- the reset on, so the 30-day window is no longer full.
SELECT pg_stat_reset_single_table_counters('ih.t'::regclass);
SET ROLE ih_owner;
SELECT count(*) FROM ntsb_perf.snapshot_indexes();
RESET ROLE;
SELECT source, scans, reset FROM ntsb_perf.index_usage_history('ih.big_k', '60 days');
SELECT index_name, scans_last_30_days, observed_since > now() - interval '1 hour' AS counted_from_the_reset
FROM ntsb_perf.unused_indexes() WHERE schema_name = 'ih' ORDER BY index_name;
-- A partitioned index counts its partitions' indexes; a partition without history yet makes its
-- count unknown (NULL: the counters decide).
CREATE TABLE ih.parted (id int, k int) PARTITION BY RANGE (id);
CREATE TABLE ih.parted_1 PARTITION OF ih.parted FOR VALUES FROM (0) TO (1000);
CREATE INDEX parted_k ON ih.parted (k);
SET ROLE ih_owner;
SELECT count(*) FROM ntsb_perf.snapshot_indexes();
RESET ROLE;
SELECT index_name, scans_last_30_days, observed_since IS NOT NULL AS has_history
FROM ntsb_perf.unused_indexes() WHERE index_name = 'parted_k';
CREATE TABLE ih.parted_2 PARTITION OF ih.parted FOR VALUES FROM (1000) TO (2000);
SELECT index_name, scans_last_30_days, observed_since IS NOT NULL AS has_history
FROM ntsb_perf.unused_indexes() WHERE index_name = 'parted_k';
SELECT count(*) AS points FROM ntsb_perf.index_usage_history('ih.parted_k');
DROP TABLE ih.parted;

-- 4. Retention: rows older than ntsb_perf.index_history_retention go at the next snapshot;
-- only a superuser may change it.
DELETE FROM ntsb_perf.index_history;
SET ROLE ih_owner;
SELECT count(*) FROM ntsb_perf.snapshot_indexes();
\set VERBOSITY terse
SET ntsb_perf.index_history_retention = '1d';
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;
UPDATE ntsb_perf.index_history SET taken_at = taken_at - interval '2 days';
SET ROLE ih_owner;
SELECT rows_deleted AS deleted_at_400_days FROM ntsb_perf.snapshot_indexes();
RESET ROLE;
SHOW ntsb_perf.index_history_retention;
SET ntsb_perf.index_history_retention = '1d';
UPDATE ntsb_perf.index_history SET taken_at = taken_at - interval '2 days';
SET ROLE ih_owner;
SELECT rows_deleted = 2 * indexes AS both_old_snapshots_deleted FROM ntsb_perf.snapshot_indexes();
RESET ROLE;
SELECT count(DISTINCT taken_at) AS snapshots_left FROM ntsb_perf.index_history;
RESET ntsb_perf.index_history_retention;
SHOW ntsb_perf.index_history_retention;

-- 5. A rebuild between snapshots: the rebuild adds an exact row (rebuild = true), the earlier
-- rows follow the index to its new OID, and its usage history goes on across it.
DELETE FROM ntsb_perf.index_history;
SET ROLE ih_owner;
SELECT count(*) FROM ntsb_perf.snapshot_indexes();
CALL ntsb_perf.reindex_index('ih.big_k');
SELECT count(*) FROM ntsb_perf.snapshot_indexes();
RESET ROLE;
SELECT h.rebuild, h.method, h.index_oid = 'ih.big_k'::regclass AS current_oid,
       h.relfilenode = (SELECT relfilenode FROM pg_class WHERE oid = 'ih.big_k'::regclass) AS current_relfilenode,
       h.bloat_ratio < 1.05 AS fresh
FROM ntsb_perf.index_history h WHERE h.index_name = 'ih.big_k' ORDER BY h.taken_at;
SELECT source FROM ntsb_perf.index_usage_history('ih.big_k');

-- 6. The forecast of a known series: 7 daily snapshots of an index growing 1 MB a day over a
-- fresh size of 10 MB, density falling 2 points a day: the ratio reaches 1.3 (13 MB) on day 3,
-- the density 70% on day 10. One snapshot far off does not move it (Theil–Sen).
DELETE FROM ntsb_perf.index_history;
CREATE TABLE ih.fc (a int);
CREATE INDEX fc_a ON ih.fc (a);
CREATE INDEX fc_b ON ih.fc (a);
INSERT INTO ntsb_perf.index_history (taken_at, index_oid, index_name, table_name, access_method, relfilenode,
                                     index_bytes, expected_bytes, bloat_ratio, avg_leaf_density, leaf_fragmentation, method)
SELECT date_trunc('day', now()) - (6 - d) * interval '1 day', c.oid, 'ih.' || c.relname, 'ih.fc', 'btree', c.relfilenode,
       10000000 + d * 1000000 + CASE WHEN c.relname = 'fc_b' AND d = 4 THEN 50000000 ELSE 0 END,
       10000000, (10000000 + d * 1000000) / 1e7, 90 - 2 * d, 5, 'exact'
FROM pg_class c, generate_series(0, 6) d WHERE c.oid IN ('ih.fc_a'::regclass, 'ih.fc_b'::regclass);
SELECT index_name, snapshots, since = date_trunc('day', now()) - interval '6 days' AS since_ok,
       reclaimable_bytes_per_day, reclaimable_per_day_low <= 1e6 AND 1e6 <= reclaimable_per_day_high AS band_holds,
       density_per_day, round((extract(epoch FROM predicted_crossing - since) / 86400)::numeric, 3) AS crossing_day,
       crossing_reason, crossed,
       crossing_earliest <= predicted_crossing AND predicted_crossing <= crossing_latest AS ordered
FROM ntsb_perf.bloat_forecast WHERE schema_name = 'ih' ORDER BY index_name;
-- thresholds of the caller's: the density (70% on day 10) comes first at a ratio of 2.5
SELECT index_name, round((extract(epoch FROM predicted_crossing - since) / 86400)::numeric, 3) AS crossing_day,
       crossing_reason, crossed
FROM ntsb_perf.bloat_forecast(min_bloat_ratio => 2.5, schema_name => 'ih') ORDER BY index_name;
-- With a baseline (its fresh ratio 1.2, density 80%), the thresholds are relative to it as in
-- reindex_plan: 1.3 x 1.2 = 1.56 (day 5.6), density min(70, 0.9 x 80) = 70%.
INSERT INTO ntsb_perf.reindex_baseline VALUES ('ih.fc_a'::regclass, 80, 1.2, 5, now(), 'ih.fc_a');
SELECT index_name, round((extract(epoch FROM predicted_crossing - since) / 86400)::numeric, 3) AS crossing_day,
       crossing_reason
FROM ntsb_perf.bloat_forecast WHERE index_name = 'fc_a';
DELETE FROM ntsb_perf.reindex_baseline;
-- A flat series is listed with its trend and no crossing.
CREATE INDEX fc_flat ON ih.fc (a);
INSERT INTO ntsb_perf.index_history (taken_at, index_oid, index_name, table_name, access_method, relfilenode,
                                     index_bytes, expected_bytes, bloat_ratio, avg_leaf_density, leaf_fragmentation, method)
SELECT date_trunc('day', now()) - (6 - d) * interval '1 day', c.oid, 'ih.fc_flat', 'ih.fc', 'btree', c.relfilenode,
       10000000, 10000000, 1, 90, 5, 'exact'
FROM pg_class c, generate_series(0, 6) d WHERE c.oid = 'ih.fc_flat'::regclass;
SELECT index_name, reclaimable_bytes_per_day, density_per_day, predicted_crossing, crossing_reason, crossed, crossed_at
FROM ntsb_perf.bloat_forecast WHERE index_name = 'fc_flat';
-- A step is no trend: an index that went from empty to three rows and stayed so, in
-- four hourly snapshots. Half the pairs of snapshots straddle the step, so the median slope
-- of its size over the fresh size is not 0, but its interval reaches 0: no crossing is
-- forecast (it was "in 2 minutes"). Its density, 0.79% since the second snapshot, is past the
-- 70% threshold: crossed, since the first snapshot that measured a density.
CREATE INDEX fc_step ON ih.fc (a);
INSERT INTO ntsb_perf.index_history (taken_at, index_oid, index_name, table_name, access_method, relfilenode,
                                     index_bytes, live_items, expected_bytes, bloat_ratio, avg_leaf_density,
                                     leaf_fragmentation, method)
SELECT date_trunc('hour', now()) - (3 - d) * interval '1 hour', c.oid, 'ih.fc_step', 'ih.fc', 'btree', c.relfilenode,
       CASE WHEN d = 0 THEN 8192 ELSE 16384 END, CASE WHEN d = 0 THEN 0 ELSE 3 END, 16384,
       CASE WHEN d = 0 THEN 0.5 ELSE 1 END, CASE WHEN d > 0 THEN 0.79 END, CASE WHEN d > 0 THEN 0 END, 'exact'
FROM pg_class c, generate_series(0, 3) d WHERE c.oid = 'ih.fc_step'::regclass;
SELECT index_name, snapshots, bloat_ratio, bloat_ratio_per_day, reclaimable_bytes_per_day > 0 AS median_slope_above_0,
       predicted_crossing, crossing_earliest, crossing_latest, crossing_reason, crossed,
       crossed_at = date_trunc('hour', now()) - interval '2 hours' AS crossed_at_second_snapshot
FROM ntsb_perf.bloat_forecast WHERE index_name = 'fc_step';
SELECT * FROM ntsb_perf._forecast_fit('{0,1,2,3}', '{-13107,-4915,-4915,-4915}', 0, true);
-- Past a threshold and moving away from it (density rising below 70%): crossed, at the start.
UPDATE ntsb_perf.index_history SET avg_leaf_density = 50 + 5 * extract(hour FROM taken_at - (date_trunc('hour', now()) - interval '3 hours')),
                                   index_bytes = 16384, live_items = 3, bloat_ratio = 1
WHERE index_name = 'ih.fc_step';
SELECT index_name, predicted_crossing, crossing_reason, crossed,
       crossed_at = date_trunc('hour', now()) - interval '3 hours' AS crossed_at_first_snapshot
FROM ntsb_perf.bloat_forecast WHERE index_name = 'fc_step';
DROP INDEX ih.fc_step;
-- Every crossed forecast says when.
SELECT count(*) FILTER (WHERE crossed) AS crossed, count(*) FILTER (WHERE crossed AND crossed_at IS NULL) AS crossed_without_time,
       count(*) FILTER (WHERE NOT crossed AND crossed_at IS NOT NULL) AS time_without_crossed
FROM ntsb_perf.bloat_forecast(min_bloat_ratio => 1.05, max_leaf_density => 85);
-- Sampled snapshots whose density is not good to 2 points (sample_pages => 1) are left out.
UPDATE ntsb_perf.index_history SET method = 'sampled', density_ci_low = 50, density_ci_high = 60
WHERE index_name = 'ih.fc_flat' AND taken_at > date_trunc('day', now()) - interval '4 days';
SELECT count(*) AS forecasts FROM ntsb_perf.bloat_forecast WHERE index_name = 'fc_flat';
DROP INDEX ih.fc_flat;
-- Fewer than four snapshots since the last rebuild: no forecast.
UPDATE ntsb_perf.index_history SET rebuild = true WHERE index_name = 'ih.fc_b' AND taken_at = date_trunc('day', now()) - interval '2 days';
SELECT index_name FROM ntsb_perf.bloat_forecast WHERE schema_name = 'ih';
-- A rebuild outside ntsb_perf (new relfilenode): no forecast until four new snapshots.
REINDEX INDEX ih.fc_a;
SELECT count(*) AS forecasts FROM ntsb_perf.bloat_forecast WHERE schema_name = 'ih';

-- 7. The plan's predicted crossing, and auto_reindex(ahead): an index that does not cross any
-- threshold now but is forecast to within `ahead` is planned, with the reason.
DELETE FROM ntsb_perf.index_history;
INSERT INTO ntsb_perf.index_history (taken_at, index_oid, index_name, table_name, access_method, relfilenode,
                                     index_bytes, expected_bytes, bloat_ratio, avg_leaf_density, method)
SELECT now() - (6 - d) * interval '1 hour', c.oid, 'ih.t_k', 'ih.t', 'btree', c.relfilenode,
       1000000 + d * 10000, 1000000, (1000000 + d * 10000) / 1e6, 90, 'exact'
FROM pg_class c, generate_series(0, 6) d WHERE c.oid = 'ih.t_k'::regclass;
SET ROLE ih_owner;
SELECT index_name, bloat_ratio < 1.3 AS not_bloated_now FROM ntsb_perf.index_bloat_report('ih', 0) WHERE index_name = 't_k';
-- 30% growth at 1% an hour: crossing in about 24 hours from now
SELECT index_name, predicted_crossing BETWEEN now() + interval '23 hours' AND now() + interval '25 hours' AS in_a_day
FROM ntsb_perf.bloat_forecast WHERE schema_name = 'ih';
SELECT index_name, predicted_crossing IS NOT NULL AS has_forecast FROM ntsb_perf.reindex_plan(min_bytes => 0, schema_name => 'ih');
SELECT index_name, predicted_crossing IS NOT NULL AS has_forecast, reason ~ '^forecast to cross bloat ratio 1.30 by .* \(within ahead 2 days\)$' AS reason_ok
FROM ntsb_perf.reindex_plan(min_bytes => 0, schema_name => 'ih', ahead => '2 days');
SELECT count(*) AS within_an_hour FROM ntsb_perf.reindex_plan(min_bytes => 0, schema_name => 'ih', ahead => '1 hour')
WHERE index_name = 't_k';
CALL ntsb_perf.auto_reindex(dry_run => false, min_bytes => 0, schema_name => 'ih', ahead => '2 days');
RESET ROLE;
SELECT index_name, status, triggered_by FROM ntsb_perf.reindex_history WHERE index_name LIKE 'ih.%' ORDER BY id;
SELECT index_name, rebuild, method FROM ntsb_perf.index_history WHERE rebuild ORDER BY id;

-- 8. The schedule: one pg_cron job per database, a real run appends a snapshot.
DELETE FROM ntsb_perf.index_history;
SET ROLE ih_owner;
\set VERBOSITY terse
SELECT ntsb_perf.schedule_index_snapshots('61 * * * *');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.schedule_index_snapshots('* * * * *', sample_pages => 0);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.schedule_index_snapshots(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT ntsb_perf.schedule_index_snapshots('* * * * *', sample_pages => 50) > 0 AS scheduled;
SELECT jobname = 'ntsb_perf index snapshots ' || current_database() AS job_named, schedule, command, username
FROM cron.job WHERE jobname LIKE 'ntsb_perf index snapshots%';
RESET ROLE;
GRANT USAGE ON SCHEMA cron TO ih_plain;
SET ROLE ih_plain;
\set VERBOSITY terse
SELECT ntsb_perf.schedule_index_snapshots('* * * * *');
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;
GRANT pg_stat_scan_tables TO ih_plain;
SET ROLE ih_plain;
\set VERBOSITY terse
SELECT ntsb_perf.schedule_index_snapshots('* * * * *');
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;
REVOKE pg_stat_scan_tables FROM ih_plain;
REVOKE USAGE ON SCHEMA cron FROM ih_plain;
DO $$ BEGIN  -- pg_cron runs it within a minute or so
    FOR i IN 1 .. 300 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM ntsb_perf.index_history);
        COMMIT;
        PERFORM pg_sleep(0.5);
    END LOOP;
END $$;
SELECT count(*) > 0 AS snapshot_taken_by_pg_cron, bool_or(method = 'sampled') AS sampled
FROM ntsb_perf.index_history;
SET ROLE ih_owner;
SELECT ntsb_perf.unschedule_index_snapshots() AS removed;
SET client_min_messages = notice;
SELECT ntsb_perf.unschedule_index_snapshots() AS removed_again;
SET client_min_messages = warning;
RESET ROLE;
DO $$ BEGIN  -- a run pg_cron started just before the job was removed ends first
    FOR i IN 1 .. 240 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE '%ntsb_perf.snapshot_indexes%'
                                                               AND pid <> pg_backend_pid());
        COMMIT;
        PERFORM pg_sleep(0.5);
    END LOOP;
END $$;

-- 9. Privileges: the history is written only by snapshots and rebuilds; snapshots need
-- pg_stat_scan_tables; the retention is the superuser's.
SET ROLE ih_plain;
\set VERBOSITY terse
SELECT * FROM ntsb_perf.snapshot_indexes();
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf._snapshot_measure(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
INSERT INTO ntsb_perf.index_history (taken_at, index_name, table_name, access_method, index_bytes)
VALUES (now(), 'x', 'y', 'btree', 1);
\echo sqlstate :LAST_ERROR_SQLSTATE
UPDATE ntsb_perf.index_history SET idx_scan = 0;
\echo sqlstate :LAST_ERROR_SQLSTATE
DELETE FROM ntsb_perf.index_history;
\echo sqlstate :LAST_ERROR_SQLSTATE
SET ntsb_perf.index_history_retention = '1min';
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- (no privilege on ih's tables: index_usage shows ih_plain none of their indexes, and the
-- history none of their rows; section 12)
SELECT count(*) AS rows_of_ih FROM ntsb_perf.index_history WHERE table_name LIKE 'ih.%';
SELECT count(*) >= 0 AS usage_readable FROM ntsb_perf.index_usage_history('ih.t_k');
RESET ROLE;
SET ROLE ih_owner;
SELECT count(*) > 0 AS history_readable_by_owner FROM ntsb_perf.index_history;
RESET ROLE;
-- A look-alike of a catalog function on the snapshot's role's search_path is not called.
SET ROLE ih_owner;
CREATE FUNCTION ih.pg_relation_size(regclass) RETURNS bigint LANGUAGE sql AS 'SELECT -42::bigint';
CREATE FUNCTION ih.pg_stat_get_numscans(oid) RETURNS bigint LANGUAGE sql AS 'SELECT -7::bigint';
SET search_path = ih, pg_catalog;
SELECT indexes > 0 AS snapshot_taken FROM ntsb_perf.snapshot_indexes();
RESET search_path;
RESET ROLE;
SELECT count(*) FILTER (WHERE index_bytes < 0) AS negative_sizes,
       count(*) FILTER (WHERE idx_scan < 0) AS negative_scans
FROM ntsb_perf.index_history;
-- The hostile names are stored quoted, as format('%I.%I') gives them.
SELECT index_name, table_name FROM ntsb_perf.index_history WHERE index_name LIKE '%DROP TABLE%' ORDER BY id DESC LIMIT 1;

-- 10. Bad input: a real SQLSTATE each.
\set VERBOSITY terse
SELECT * FROM ntsb_perf.snapshot_indexes(0);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.snapshot_indexes(-1);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.index_usage_history(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.index_usage_history('ih.t_k', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.index_usage_history('ih.t');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.index_usage_history('ih.t_k', '-1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.index_usage_history(4294967295::oid::regclass);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.bloat_forecast(min_bloat_ratio => -1);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.bloat_forecast(max_leaf_density => NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.reindex_plan(ahead => '-1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
CALL ntsb_perf.auto_reindex(ahead => '-1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.schedule_auto_reindex('* * * * *', ahead => '-1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- the fit: NULL pairs left out; too few points, or values it cannot fit finitely, give no line
SELECT * FROM ntsb_perf._forecast_fit('{0,1,2,3,NULL}', '{1,3,5,7,100}', 9, true);
SELECT * FROM ntsb_perf._forecast_fit('{0,1,2}', '{1,3,5}', 9, true);
SELECT * FROM ntsb_perf._forecast_fit('{0,1,2,NaN}', '{1,3,5,7}', 9, true);
SELECT * FROM ntsb_perf._forecast_fit('{0,1,2,3}', '{1,3,5,1e308}', 9, true);
\set VERBOSITY terse
SELECT * FROM ntsb_perf._forecast_fit('{0,1,2,3}', '{1,3,5}', 9, true);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf._forecast_fit(array_fill(0::float8, ARRAY[100001]), array_fill(0::float8, ARRAY[100001]), 9, true);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- a threshold that is not a number: the line only
SELECT * FROM ntsb_perf._forecast_fit('{0,1,2,3}', '{1,3,5,7}', 'NaN', true);

-- 11. The history belongs to the index it measured. A DROP ends an index's history:
-- a new index created under its name starts its own (no old scans, no fake reset, and
-- unused_indexes lists it), whatever its definition. Only a REINDEX CONCURRENTLY's copy (same
-- table, same definition: it fires no event trigger) takes the history over; a drop the event
-- trigger did not see is told by the definition. Rows restored from a dump (no OID) are bound
-- to the index of their name.
DELETE FROM ntsb_perf.index_history;
CREATE TABLE ih.u (id int, k int, j int);
INSERT INTO ih.u SELECT g, g % 100, g % 7 FROM generate_series(1, 2000) g;
CREATE INDEX u_k ON ih.u (k);
ANALYZE ih.u;
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM ih.u WHERE k = 1;
SELECT count(*) FROM ih.u WHERE k = 2;
SELECT pg_stat_force_next_flush();
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SELECT source, idx_scan, scans, reset FROM ntsb_perf.index_usage_history('ih.u_k');
-- dropped, and created again with the same definition: another index
DROP INDEX ih.u_k;
SELECT index_oid IS NULL AS no_oid, dropped_at IS NOT NULL AS ended, table_dropped, count(*) AS rows
FROM ntsb_perf.index_history WHERE index_name = 'ih.u_k' GROUP BY 1, 2, 3;
CREATE INDEX u_k ON ih.u (k);
SELECT pg_stat_clear_snapshot();
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SELECT source, idx_scan, scans, reset FROM ntsb_perf.index_usage_history('ih.u_k');
SELECT index_name, idx_scan, scans_last_30_days, observed_since IS NOT NULL AS has_history
FROM ntsb_perf.unused_indexes() WHERE schema_name = 'ih' AND table_name = 'u';
SELECT index_oid = 'ih.u_k'::regclass AS new_index, dropped_at IS NOT NULL AS ended, count(*) AS rows
FROM ntsb_perf.index_history WHERE index_name = 'ih.u_k' GROUP BY 1, 2 ORDER BY 1, 2;
-- REINDEX CONCURRENTLY outside ntsb_perf (a new OID): the history follows, scans included.
SELECT count(*) FROM ih.u WHERE k = 3;
SELECT pg_stat_force_next_flush();
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SELECT 'ih.u_k'::regclass::oid AS u_k_before \gset
REINDEX INDEX CONCURRENTLY ih.u_k;
SELECT 'ih.u_k'::regclass::oid <> :u_k_before AS new_oid;
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SELECT index_definition, count(*) AS rows, bool_and(index_oid = 'ih.u_k'::regclass) AS all_bound
FROM ntsb_perf.index_history WHERE index_name = 'ih.u_k' AND dropped_at IS NULL GROUP BY 1;
SELECT source, scans FROM ntsb_perf.index_usage_history('ih.u_k');
-- A drop no event trigger saw (disabled), a new index of the same name and another definition:
-- not bound to the old rows.
ALTER EVENT TRIGGER ntsb_perf_forget_dropped DISABLE;
DROP INDEX ih.u_k;
CREATE INDEX u_k ON ih.u (j);
ALTER EVENT TRIGGER ntsb_perf_forget_dropped ENABLE ALWAYS;
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SELECT index_definition, count(*) AS rows, bool_and(index_oid = 'ih.u_k'::regclass) AS bound_to_u_k
FROM ntsb_perf.index_history WHERE index_name = 'ih.u_k' AND dropped_at IS NULL GROUP BY 1 ORDER BY 1;
SELECT source, idx_scan, scans, reset FROM ntsb_perf.index_usage_history('ih.u_k');
RESET enable_seqscan;
RESET enable_bitmapscan;
-- Rows restored from a dump come without OID: bound by name (same table, same definition).
INSERT INTO ntsb_perf.index_history (taken_at, index_oid, index_name, table_name, access_method, index_bytes,
                                     idx_scan, index_definition)
VALUES (now() - interval '1 day', NULL, 'ih.u_jk', 'ih.u', 'btree', 8192, 5, 'USING btree (j, k)'),
       (now() - interval '1 day', NULL, 'ih.u_other', 'ih.u', 'btree', 8192, 5, 'USING btree (k, j)');
CREATE INDEX u_jk ON ih.u (j, k);
CREATE INDEX u_other ON ih.u (j, k);
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SELECT index_name, count(*) AS rows, count(*) FILTER (WHERE index_oid = to_regclass(index_name)) AS bound
FROM ntsb_perf.index_history WHERE index_name IN ('ih.u_jk', 'ih.u_other') GROUP BY 1 ORDER BY 1;
-- A restored row of an index dropped before the dump stays ended (dropped_at is dumped).
INSERT INTO ntsb_perf.index_history (taken_at, index_oid, index_name, table_name, access_method, index_bytes,
                                     index_definition, dropped_at)
VALUES (now() - interval '1 day', NULL, 'ih.u_gone', 'ih.u', 'btree', 8192, 'USING btree (id)', now() - interval '1 hour');
CREATE INDEX u_gone ON ih.u (id);
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SELECT index_oid IS NOT NULL AS bound, dropped_at IS NOT NULL AS ended, count(*) AS rows
FROM ntsb_perf.index_history WHERE index_name = 'ih.u_gone' GROUP BY 1, 2 ORDER BY 1, 2;
-- A rolled-back DROP leaves the history as it was; DROP TABLE ends every index's, and marks
-- the table gone (also for the rows of indexes dropped before it).
BEGIN;
DROP INDEX ih.u_jk;
ROLLBACK;
SELECT count(*) FILTER (WHERE dropped_at IS NOT NULL) AS ended FROM ntsb_perf.index_history WHERE index_name = 'ih.u_jk';
DROP INDEX ih.u_other;
SELECT index_name, table_dropped, count(*) AS rows FROM ntsb_perf.index_history
WHERE index_name = 'ih.u_other' GROUP BY 1, 2;
DROP TABLE ih.u;
SELECT index_name, index_oid IS NULL AS no_oid, dropped_at IS NOT NULL AS ended, table_dropped, count(*) AS rows
FROM ntsb_perf.index_history WHERE table_name = 'ih.u' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;

-- 12. Who reads the history: the rows of the indexes index_usage shows the role
-- (the table's owner, a role with a privilege on the table or one of its columns), checked
-- logged in as each role. Rows of a dropped index: the same rule on its table while the table
-- exists; once it is gone, pg_read_all_stats (and superusers).
DELETE FROM ntsb_perf.index_history;
CREATE ROLE ih_nobody LOGIN;
CREATE TABLE public.ih_nobody_t (a int, b int);
CREATE INDEX ih_nobody_t_a ON public.ih_nobody_t (a);
CREATE INDEX ih_nobody_t_b ON public.ih_nobody_t (b);
ALTER TABLE public.ih_nobody_t OWNER TO ih_nobody;
CREATE SCHEMA ih_secret;
CREATE TABLE ih_secret.s (a int);
CREATE INDEX s_a ON ih_secret.s (a);
SELECT 'ih_secret.s_a'::regclass::oid AS secret_oid, 'ih.t_k'::regclass::oid AS t_k_oid \gset
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
SELECT count(*) > 0 AS snapshot FROM ntsb_perf.snapshot_indexes();
-- (every index with history, as the superuser sees them, for the roles to compare with)
CREATE TABLE public.ih_all_history AS
SELECT DISTINCT index_oid, index_name FROM ntsb_perf.index_history WHERE index_oid IS NOT NULL;
GRANT SELECT ON public.ih_all_history TO PUBLIC;
\c - ih_nobody
SET client_min_messages = warning;
SELECT current_user, session_user;
-- the indexes whose history it reads are those index_usage shows it: its own table's (and the
-- tables every role may read, e.g. pg_cron's and ntsb_perf's), none of a schema it may not use
SELECT count(*) > 20 AS indexes_with_history,
       count(*) FILTER (WHERE (a.index_oid IN (SELECT index_oid FROM ntsb_perf.index_usage()))
                              IS DISTINCT FROM EXISTS (SELECT 1 FROM ntsb_perf.index_history h
                                                       WHERE h.index_oid = a.index_oid)) AS differ_from_index_usage
FROM public.ih_all_history a;
SELECT a.index_name, EXISTS (SELECT 1 FROM ntsb_perf.index_history h WHERE h.index_oid = a.index_oid) AS reads_history
FROM public.ih_all_history a WHERE a.index_name ~ '^(ih|ih_secret|public\.ih_nobody)' ORDER BY 1;
SELECT count(*) AS rows_by_oid FROM ntsb_perf.index_history WHERE index_oid IN (:secret_oid, :t_k_oid);
-- the readers: its own index's history, forecast and usage; of an index in a schema it may
-- not use, nothing (as for an index without history)
SELECT count(*) FILTER (WHERE source = 'snapshot') AS snapshots, count(*) FILTER (WHERE source = 'now') AS now
FROM ntsb_perf.index_usage_history('public.ih_nobody_t_a');
SELECT count(*) AS points FROM ntsb_perf.index_usage_history(:secret_oid::oid::regclass);
SELECT index_name, snapshots FROM ntsb_perf.bloat_forecast WHERE schema_name IN ('public', 'ih', 'ih_secret') ORDER BY 1;
SELECT index_name, scans_last_30_days, observed_since IS NOT NULL AS has_history FROM ntsb_perf.unused_indexes()
WHERE schema_name IN ('public', 'ih', 'ih_secret') ORDER BY 1;
-- its history is still written only by snapshots and rebuilds
\set VERBOSITY terse
UPDATE ntsb_perf.index_history SET idx_scan = 0;
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- a dropped index of its table that is still there: still its own
DROP INDEX public.ih_nobody_t_b;
SELECT index_name, index_oid IS NULL AS no_oid, dropped_at IS NOT NULL AS ended, count(*) AS rows
FROM ntsb_perf.index_history WHERE table_name = 'public.ih_nobody_t' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
\c - ih_plain
SET client_min_messages = warning;
-- ih_plain may use schema ih but has no privilege on its tables: none of their rows; a
-- privilege on one column of ih.t shows ih.t's indexes, in index_usage and in the history alike
SELECT count(*) AS rows_of_ih FROM ntsb_perf.index_history WHERE table_name LIKE 'ih%.%';
\c - postgres
SET client_min_messages = warning;
GRANT SELECT (k) ON ih.t TO ih_plain;
\c - ih_plain
SET client_min_messages = warning;
SELECT index_name FROM ntsb_perf.index_usage() WHERE schema_name LIKE 'ih%' ORDER BY 1;
SELECT DISTINCT index_name FROM ntsb_perf.index_history WHERE table_name LIKE 'ih%.%' ORDER BY 1;
SELECT count(*) FILTER (WHERE source = 'snapshot') AS snapshots FROM ntsb_perf.index_usage_history('ih.t_k');
SELECT count(*) > 20 AS indexes_with_history,
       count(*) FILTER (WHERE (a.index_oid IN (SELECT index_oid FROM ntsb_perf.index_usage()))
                              IS DISTINCT FROM EXISTS (SELECT 1 FROM ntsb_perf.index_history h
                                                       WHERE h.index_oid = a.index_oid)) AS differ_from_index_usage
FROM public.ih_all_history a;
-- the owner's dropped index is not ih_plain's
SELECT count(*) AS rows_of_ih_nobody_t FROM ntsb_perf.index_history WHERE table_name = 'public.ih_nobody_t';
\c - postgres
SET client_min_messages = warning;
-- the table dropped too: the rows of its indexes are pg_read_all_stats' now
DROP TABLE public.ih_nobody_t;
SELECT index_name, table_dropped, count(*) AS rows FROM ntsb_perf.index_history
WHERE table_name = 'public.ih_nobody_t' GROUP BY 1, 2 ORDER BY 1, 2;
-- (a new table of the old name does not make them its owner's)
CREATE TABLE public.ih_nobody_t (a int);
ALTER TABLE public.ih_nobody_t OWNER TO ih_nobody;
\c - ih_nobody
SET client_min_messages = warning;
SELECT count(*) AS rows_of_ih_nobody_t FROM ntsb_perf.index_history WHERE table_name = 'public.ih_nobody_t';
\c - postgres
SET client_min_messages = warning;
DROP TABLE public.ih_nobody_t;
GRANT pg_read_all_stats TO ih_plain;
\c - ih_plain
SET client_min_messages = warning;
SELECT DISTINCT index_name, table_dropped FROM ntsb_perf.index_history WHERE dropped_at IS NOT NULL ORDER BY 1;
-- (pg_read_all_stats does not show it the live indexes index_usage does not show it)
SELECT count(*) AS rows_of_ih_secret FROM ntsb_perf.index_history WHERE table_name LIKE 'ih\_secret.%';
-- a look-alike of a catalog function on the reader's search_path does not change what it reads
\c - postgres
SET client_min_messages = warning;
REVOKE pg_read_all_stats FROM ih_plain;
CREATE SCHEMA ih_evil AUTHORIZATION ih_plain;
\c - ih_plain
SET client_min_messages = warning;
CREATE FUNCTION ih_evil.pg_has_role(name, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION ih_evil.pg_has_role(oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION ih_evil.has_table_privilege(oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION ih_evil.parse_ident(text, boolean DEFAULT true) RETURNS text[] LANGUAGE sql AS 'SELECT ARRAY[''ih'', ''t'']';
SET search_path = ih_evil, pg_catalog;
SELECT count(*) AS rows_of_others FROM ntsb_perf.index_history
WHERE table_name LIKE 'ih%.%' AND table_name <> 'ih.t' OR table_name = 'public.ih_nobody_t';
RESET search_path;
\c - postgres
SET client_min_messages = warning;
DROP SCHEMA ih_evil CASCADE;
DROP TABLE public.ih_all_history;
REVOKE SELECT (k) ON ih.t FROM ih_plain;
DROP SCHEMA ih_secret CASCADE;

DROP SCHEMA ih CASCADE;
DELETE FROM ntsb_perf.index_history;
DELETE FROM ntsb_perf.reindex_history;
DELETE FROM ntsb_perf.reindex_baseline;
REVOKE USAGE ON SCHEMA cron FROM ih_owner;
DROP ROLE ih_owner;
DROP ROLE ih_plain;
DROP ROLE ih_nobody;

-- The index identity's checks in Rust (_is_index_named, _index_definition; issue 27) against
-- their SQL definitions of 0.2.0 (the oracle, created here as temporary functions), on indexes
-- of every shape: unique, partial, expression, INCLUDE, partitioned (ONLY), names that need
-- quoting (63 bytes too), a table's OID, OID 0, a missing OID and NULL.
CREATE FUNCTION pg_temp.sql_index_definition(idx oid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT (SELECT CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END OPERATOR(pg_catalog.||)
                   CASE WHEN pg_catalog.starts_with(d.def, d.head)
                        THEN pg_catalog.substr(d.def, pg_catalog.length(d.head) OPERATOR(pg_catalog.+) 1)
                        ELSE d.def END
            FROM pg_catalog.pg_index i
            JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid
            JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) i.indrelid
            JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.relnamespace
            CROSS JOIN LATERAL (
                SELECT pg_catalog.pg_get_indexdef(i.indexrelid) AS def,
                       pg_catalog.format('CREATE %sINDEX %I ON %s%I.%I ', CASE WHEN i.indisunique THEN 'UNIQUE ' END,
                                         c.relname, CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'I' THEN 'ONLY ' END,
                                         tn.nspname, t.relname) AS head) d
            WHERE i.indexrelid OPERATOR(pg_catalog.=) idx)
$$;
CREATE FUNCTION pg_temp.sql_is_index_named(idx oid, qname text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n
                   ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                   WHERE c.oid OPERATOR(pg_catalog.=) idx
                     AND c.relkind OPERATOR(pg_catalog.=) ANY ('{i,I}'::"char"[])
                     AND pg_catalog.format('%I.%I', n.nspname, c.relname) OPERATOR(pg_catalog.=) qname)
$$;
CREATE SCHEMA "ih Id ""q""";
CREATE TABLE "ih Id ""q"""."T t" (a int, "B" text, c int);
CREATE UNIQUE INDEX "u ""x""" ON "ih Id ""q"""."T t" (a) INCLUDE ("B") WHERE c > 0;
CREATE INDEX ON "ih Id ""q"""."T t" (lower("B"), (a + c) DESC NULLS LAST);
CREATE INDEX ih_hash ON "ih Id ""q"""."T t" USING hash (c);
CREATE INDEX ihxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ON "ih Id ""q"""."T t" ("B" text_pattern_ops);
CREATE TABLE "ih Id ""q""".parted (k int, v int) PARTITION BY RANGE (k);
CREATE TABLE "ih Id ""q""".parted_1 PARTITION OF "ih Id ""q""".parted FOR VALUES FROM (0) TO (10);
CREATE INDEX parted_v ON "ih Id ""q""".parted (v) WHERE v IS NOT NULL;
-- The shapes _index_definition writes without pg_get_indexdef (columns only, each with its
-- type's default operator class, collation and order) and those next to it that it must leave
-- to pg_get_indexdef: order, collation, operator class and its options, a domain, a type whose
-- class is another type's (varchar, arrays), storage options, NULLS NOT DISTINCT, other access
-- methods, a temporary table (visible on every search_path).
CREATE DOMAIN "ih Id ""q""".dom AS int;
CREATE TABLE "ih Id ""q""".shapes (a int, "B" text, c text COLLATE "C", d "ih Id ""q""".dom, v varchar,
                                   arr int[], p point, ts tsvector);
CREATE INDEX ON "ih Id ""q""".shapes (a, "B", c);
CREATE UNIQUE INDEX ON "ih Id ""q""".shapes (a) INCLUDE ("B", c);
CREATE INDEX ON "ih Id ""q""".shapes (a DESC);
CREATE INDEX ON "ih Id ""q""".shapes (a NULLS FIRST);
CREATE INDEX ON "ih Id ""q""".shapes ("B" COLLATE "C");
CREATE INDEX ON "ih Id ""q""".shapes (c COLLATE "default");
CREATE INDEX ON "ih Id ""q""".shapes ("B" text_pattern_ops);
CREATE INDEX ON "ih Id ""q""".shapes (d);
CREATE INDEX ON "ih Id ""q""".shapes (v);
CREATE INDEX ON "ih Id ""q""".shapes USING gin (arr);
CREATE INDEX ON "ih Id ""q""".shapes USING gist (p);
CREATE INDEX ON "ih Id ""q""".shapes USING brin (a);
CREATE INDEX ON "ih Id ""q""".shapes USING gist (ts tsvector_ops (siglen = 100));
CREATE INDEX ON "ih Id ""q""".shapes (a) WITH (fillfactor = 70);
CREATE UNIQUE INDEX ON "ih Id ""q""".shapes (a, c) NULLS NOT DISTINCT;
CREATE INDEX ON "ih Id ""q""".shapes (c COLLATE "C");
ALTER TABLE "ih Id ""q""".shapes ADD "select" int, ADD "A" name, ADD e bpchar, ADD g int GENERATED ALWAYS AS (a + 1) STORED,
    ADD PRIMARY KEY (a), ADD EXCLUDE USING gist (p WITH ~=);
CREATE INDEX ON "ih Id ""q""".shapes ("select", "A", e, g);
CREATE INDEX ON "ih Id ""q""".shapes USING spgist (p);
CREATE INDEX ON "ih Id ""q""".shapes USING hash ("B");
CREATE INDEX ON "ih Id ""q""".parted_1 (k);
CREATE MATERIALIZED VIEW "ih Id ""q""".mv AS SELECT a, "B" FROM "ih Id ""q""".shapes;
CREATE INDEX ON "ih Id ""q""".mv (a);
CREATE TEMP TABLE ih_temp (a int);
CREATE INDEX ON ih_temp (a);
-- (this session's temporary table, hidden on the search_path by a table of its name)
CREATE TABLE public.ih_shadow (a int);
CREATE TEMP TABLE ih_shadow (a int);
CREATE UNIQUE INDEX ON pg_temp.ih_shadow (a);
CREATE TABLE public.ih_ids AS
SELECT c.oid AS idx, format('%I.%I', n.nspname, c.relname) AS qname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('ih Id "q"', 'ntsb_perf', 'public') OR c.oid = 'pg_class_oid_index'::regclass
   OR n.oid = pg_my_temp_schema();
INSERT INTO public.ih_ids VALUES (0, 'x.y', NULL), (NULL, 'public.ih_ids', NULL), (4294967295, NULL, NULL);
SELECT count(*) FILTER (WHERE relkind IN ('i', 'I')) >= 10 AS ten_indexes_or_more,
       count(*) FILTER (WHERE relkind = 'I') >= 1 AS a_partitioned_one,
       count(*) FILTER (WHERE ntsb_perf._index_definition(idx) IS DISTINCT FROM pg_temp.sql_index_definition(idx))
           AS other_definition,
       count(*) FILTER (WHERE ntsb_perf._is_index_named(idx, qname) <> pg_temp.sql_is_index_named(idx, qname)
                           OR ntsb_perf._is_index_named(idx, qname || ' ') <> pg_temp.sql_is_index_named(idx, qname || ' ')
                           OR ntsb_perf._is_index_named(idx, NULL) <> pg_temp.sql_is_index_named(idx, NULL)
                           OR ntsb_perf._is_index_named(idx, upper(qname)) <> pg_temp.sql_is_index_named(idx, upper(qname)))
           AS other_named,
       count(*) FILTER (WHERE ntsb_perf._is_index_named(idx, qname)) > 0 AS some_named
FROM public.ih_ids;
SELECT qname, ntsb_perf._index_definition(idx) FROM public.ih_ids
WHERE qname LIKE '"ih Id ""q""".%' AND relkind IN ('i', 'I') ORDER BY 1;
-- The same with the tables visible on the search_path, with the temporary table hidden behind
-- public.ih_shadow, with every identifier quoted, and after a column's rename (the definitions
-- follow the catalog).
SET search_path = "ih Id ""q""", public, pg_temp;
SELECT count(*) FILTER (WHERE ntsb_perf._index_definition(idx) IS DISTINCT FROM pg_temp.sql_index_definition(idx))
           AS other_definition_visible
FROM public.ih_ids;
SET quote_all_identifiers = on;
SELECT count(*) FILTER (WHERE ntsb_perf._index_definition(idx) IS DISTINCT FROM pg_temp.sql_index_definition(idx))
           AS other_definition_all_quoted
FROM public.ih_ids;
RESET quote_all_identifiers;
RESET search_path;
ALTER TABLE "ih Id ""q""".shapes RENAME COLUMN a TO "a 2";
SELECT count(*) FILTER (WHERE ntsb_perf._index_definition(idx) IS DISTINCT FROM pg_temp.sql_index_definition(idx))
           AS other_definition_renamed,
       count(*) FILTER (WHERE ntsb_perf._index_definition(idx) LIKE '%"a 2"%') AS renamed_column_shown
FROM public.ih_ids;
DROP TABLE public.ih_ids;
DROP TABLE public.ih_shadow;
DROP SCHEMA "ih Id ""q""" CASCADE;

-- A LATIN1 database: names that are not UTF-8 are read, compared and returned as the database
-- holds them (the SQL versions did; Rust strings would have refused them), and a snapshot there
-- records the right name and definition.
SELECT current_database() AS ih_orig_db \gset
CREATE DATABASE ih_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c ih_latin1
SET client_min_messages = warning;
-- (the client speaks UTF-8, the server converts: é is the one byte 0xE9 there, not UTF-8)
SET client_encoding = 'UTF8';
CREATE EXTENSION ntsb_perf;
CREATE TABLE "tablé" ("colé" int);
CREATE INDEX "idx_é" ON "tablé" ("colé") WHERE "colé" > 0;
CREATE INDEX "idx_é_all" ON "tablé" ("colé");
SELECT octet_length(convert_to(c.relname::text, 'LATIN1')) AS latin1_bytes_of_name,
       ntsb_perf._is_index_named(c.oid, format('%I.%I', n.nspname, c.relname)) AS named,
       ntsb_perf._is_index_named(c.oid, format('%I.%I', n.nspname, 'idx_e')) AS other_name,
       ntsb_perf._index_definition(c.oid) AS definition
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'idx_é';
SELECT indexes, not_measured FROM ntsb_perf.snapshot_indexes();
SELECT index_name, table_name, index_definition, method FROM ntsb_perf.index_history ORDER BY 1;
\c :ih_orig_db
DROP DATABASE ih_latin1;
