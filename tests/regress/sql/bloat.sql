-- Index bloat from the pages, for every access method: agreement with pgstatindex, fresh
-- builds at ratio 1.00 ± 0.05, bloated indexes (70% deleted + VACUUM), sampling, errors,
-- permissions and a concurrent writer.
CREATE EXTENSION IF NOT EXISTS ntsb_perf;
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pgstattuple;
CREATE EXTENSION IF NOT EXISTS dblink;
-- How the other sessions of this test (dblink) connect back to this database.
SELECT format('host=%s port=%s dbname=%s user=%s', current_setting('unix_socket_directories'),
              current_setting('port'), current_database(), current_user) AS conninfo \gset
SET client_min_messages = warning;
SET max_parallel_maintenance_workers = 0;
SELECT setseed(0.42);

CREATE TABLE acc (
    id int PRIMARY KEY, ev_id text, sev text, d date, n int,
    tags int[], p point, geom geometry(Point, 4326));
INSERT INTO acc
SELECT g, 'ERA' || lpad(g::text, 8, '0'),
       (ARRAY['NON-FATAL', 'FATAL(1)', 'INCIDENT', 'MINOR'])[1 + (g * 7) % 4],
       date '2000-01-01' + g / 30, (g * 7919) % 100003,
       ARRAY[g % 50, g % 7, g % 1000],
       point(g % 997, g % 991),
       ST_SetSRID(ST_MakePoint(-125 + random() * 58, 25 + random() * 24), 4326)
FROM generate_series(1, 120000) g;
CREATE INDEX acc_btree_n ON acc (n);
CREATE INDEX acc_btree_sev ON acc (sev);           -- deduplicated (4 distinct values)
CREATE INDEX acc_btree_ff70 ON acc (ev_id) WITH (fillfactor = 70);
CREATE INDEX acc_gist_geom ON acc USING gist (geom);
CREATE INDEX acc_gist_p ON acc USING gist (p);
-- box has no sort support: a REINDEX inserts tuple by tuple (random order here).
CREATE INDEX acc_gist_box ON acc USING gist (box(point(ST_X(geom), ST_Y(geom)), point(ST_X(geom), ST_Y(geom))));
CREATE INDEX acc_btree_partial ON acc (n) WHERE sev = 'FATAL(1)';
CREATE INDEX acc_btree_expr ON acc (lower(ev_id));
CREATE INDEX acc_spgist_p ON acc USING spgist (p);
CREATE INDEX acc_spgist_geom ON acc USING spgist (geom);   -- PostGIS 2-D quad tree
CREATE INDEX acc_gin_tags ON acc USING gin (tags) WITH (fastupdate = off);
CREATE INDEX acc_hash_n ON acc USING hash (n);
CREATE INDEX acc_brin_d ON acc USING brin (d);
VACUUM ANALYZE acc;

-- One row per index, every access method, exact.
SELECT index_name, access_method, method, pages_read = total_pages AS read_all,
       index_bytes = pg_relation_size(index_name::regclass) AS bytes_ok,
       leaf_pages > 0 AS has_leaves, live_items > 0 AS has_items, dead_items,
       reclaimable_bytes = greatest(index_bytes - expected_bytes, 0) AS reclaim_ok,
       bloat_ratio BETWEEN 0.95 AND 1.05 AS fresh_ratio_ok
FROM ntsb_perf.index_bloat_report('public', 0) WHERE table_name = 'acc' ORDER BY index_name;
-- The ratios themselves (printed so a regression shows the number).
SELECT index_name, bloat_ratio FROM ntsb_perf.index_bloat_report('public', 0)
WHERE table_name = 'acc' AND bloat_ratio NOT BETWEEN 0.95 AND 1.05 ORDER BY 1;

-- B-tree figures equal pgstatindex's (fresh, then deleted-from and vacuumed, then REINDEX).
CREATE VIEW btree_vs_pgstatindex AS
SELECT i.relname AS index_name,
       abs(b.avg_leaf_density - s.avg_leaf_density) <= 0.01 AS density_equal,
       abs(b.leaf_fragmentation - s.leaf_fragmentation) <= 0.01 AS fragmentation_equal,
       b.leaf_pages = s.leaf_pages AS leaves_equal, b.internal_pages = s.internal_pages AS internal_equal,
       b.empty_pages = s.empty_pages AS empty_equal, b.deleted_pages = s.deleted_pages AS deleted_equal
FROM pg_class i, LATERAL ntsb_perf.index_bloat(i.oid) b, LATERAL pgstatindex(i.oid) s
WHERE i.relname IN ('acc_pkey', 'acc_btree_n', 'acc_btree_sev', 'acc_btree_ff70', 'acc_btree_partial', 'acc_btree_expr');
SELECT * FROM btree_vs_pgstatindex ORDER BY 1;
-- How a rebuild would build each GiST index, and the leaf fill it is expected to reach (by
-- operator class for GiST built by insertion and for SP-GiST): this sets the expected size.
SELECT index_name, access_method, details->>'fresh_build' AS fresh_build,
       details->>'fresh_leaf_fill' AS fresh_leaf_fill
FROM ntsb_perf.index_bloat_report('public', 0) WHERE access_method IN ('gist', 'spgist') ORDER BY 1;

-- Fragmented, with deleted pages: keys arrive in random order (leaf splits scatter the leaves
-- over the file), then a contiguous key range is deleted and vacuumed (its leaves become
-- deleted pages). Both figures are non-zero and equal pgstatindex's.
CREATE TABLE frag (n int);
CREATE INDEX frag_n ON frag (n);
INSERT INTO frag SELECT (random() * 1e6)::int FROM generate_series(1, 60000);
DELETE FROM frag WHERE n BETWEEN 200000 AND 600000;
VACUUM frag;
SELECT b.leaf_fragmentation > 10 AS fragmented, b.deleted_pages > 10 AS has_deleted_pages,
       abs(b.avg_leaf_density - s.avg_leaf_density) <= 0.01 AS density_equal,
       abs(b.leaf_fragmentation - s.leaf_fragmentation) <= 0.01 AS fragmentation_equal,
       b.leaf_pages = s.leaf_pages AS leaves_equal, b.internal_pages = s.internal_pages AS internal_equal,
       b.deleted_pages = s.deleted_pages AS deleted_equal, b.empty_pages = s.empty_pages AS empty_equal
FROM ntsb_perf.index_bloat('frag_n') b, pgstatindex('frag_n') s;
DROP TABLE frag;

-- Bloat on purpose: delete 70% of the rows at random, VACUUM.
DELETE FROM acc WHERE random() < 0.7;
-- Before VACUUM: an index scan marks the deleted rows' items LP_DEAD (kill_prior_tuple). Live and
-- dead items of every B-tree leaf equal a line-pointer walk with pageinspect, whether a page is
-- counted from its header (no LP_DEAD hint) or walked (BTP_HAS_GARBAGE set).
CREATE EXTENSION IF NOT EXISTS pageinspect;
SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
SELECT sum(id) > 0 AS scanned FROM acc WHERE n >= 0;
SELECT sum(n) > 0 AS scanned FROM acc WHERE id > 0;
SELECT sum(id) > 0 AS scanned FROM acc WHERE geom && ST_MakeEnvelope(-180, -90, 180, 90, 4326);
RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_indexonlyscan;
SELECT i AS index_name, b.live_items = w.live AS live_equal, b.dead_items = w.dead AS dead_equal,
       w.dead > 0 AS has_dead_items, w.garbage_pages > 0 AS has_garbage_pages
FROM unnest(ARRAY['acc_btree_n', 'acc_btree_sev', 'acc_pkey']) i,
     LATERAL ntsb_perf.index_bloat(i::regclass) b,
     LATERAL (SELECT count(*) FILTER (WHERE NOT it.dead) AS live, count(*) FILTER (WHERE it.dead) AS dead,
                     count(DISTINCT blk) FILTER (WHERE st.btpo_flags & 64 <> 0) AS garbage_pages
              FROM generate_series(1, pg_relation_size(i::regclass) / 8192 - 1) blk,
                   LATERAL bt_page_stats(i, blk::int) st, LATERAL bt_page_items(i, blk::int) it
              WHERE st.type = 'l' AND NOT (st.btpo_next <> 0 AND it.itemoffset = 1)) w
ORDER BY 1;
-- The same for GiST leaves (F_HAS_GARBAGE set where items were killed).
SELECT b.live_items = w.live AS live_equal, b.dead_items = w.dead AS dead_equal,
       w.dead > 0 AS has_dead_items, w.garbage_pages > 0 AS has_garbage_pages
FROM ntsb_perf.index_bloat('acc_gist_geom') b,
     LATERAL (SELECT count(*) FILTER (WHERE NOT it.dead) AS live, count(*) FILTER (WHERE it.dead) AS dead,
                     count(DISTINCT blk) FILTER (WHERE 'has_garbage' = ANY (o.flags)) AS garbage_pages
              FROM generate_series(0, pg_relation_size('acc_gist_geom') / 8192 - 1) blk,
                   LATERAL get_raw_page('acc_gist_geom', blk::int) pg,
                   LATERAL gist_page_opaque_info(pg) o,
                   LATERAL gist_page_items_bytea(pg) it
              WHERE 'leaf' = ANY (o.flags)) w;
VACUUM acc;
SELECT * FROM btree_vs_pgstatindex ORDER BY 1;
SELECT index_name, bloat_ratio > 1.5 AS bloated, reclaimable_bytes > 0 AS reclaimable,
       avg_leaf_density < 60 OR access_method IN ('brin', 'hash') AS sparse
FROM ntsb_perf.index_bloat_report('public', 0) WHERE table_name = 'acc' ORDER BY index_name;
-- The report's own order is worst first: most reclaimable bytes, then highest ratio.
SELECT count(*) AS rows, count(DISTINCT reclaimable_bytes) > 5 AS varied,
       bool_and(prev_bytes IS NULL OR prev_bytes > reclaimable_bytes
                OR (prev_bytes = reclaimable_bytes AND prev_ratio >= coalesce(bloat_ratio, -1))) AS worst_first
FROM (SELECT reclaimable_bytes, bloat_ratio,
             lag(reclaimable_bytes) OVER (ORDER BY ordinality) AS prev_bytes,
             lag(coalesce(bloat_ratio, -1)) OVER (ORDER BY ordinality) AS prev_ratio
      FROM ntsb_perf.index_bloat_report('public', 0) WITH ORDINALITY) r;

-- Sampled estimates: pages_read as asked, interval around the estimate, close to exact.
SELECT e.index_name, s.method, s.pages_read, s.density_ci_low <= s.avg_leaf_density
       AND s.avg_leaf_density <= s.density_ci_high AS ci_brackets,
       abs(s.avg_leaf_density - e.avg_leaf_density) <= 4 AS close_to_exact,
       e.density_ci_low IS NULL AS exact_has_no_ci
FROM ntsb_perf.index_bloat_report('public', 0) e,
     LATERAL ntsb_perf.index_bloat(e.index_name::regclass, 40) s
WHERE e.table_name = 'acc' AND e.access_method IN ('btree', 'gist') ORDER BY 1;
-- The 95% interval covers the exact density in most samples (9 indexes x 5 sample sizes; an
-- interval computed too narrow or off-centre fails this).
SELECT count(*) AS samples,
       count(*) FILTER (WHERE s.density_ci_low <= e.avg_leaf_density
                        AND e.avg_leaf_density <= s.density_ci_high) >= 0.8 * count(*) AS ci_covers_exact
FROM ntsb_perf.index_bloat_report('public', 0) e, unnest(ARRAY[20, 30, 40, 60, 80]) k,
     LATERAL ntsb_perf.index_bloat(e.index_name::regclass, k) s
WHERE e.table_name = 'acc' AND e.access_method IN ('btree', 'gist') AND s.method = 'sampled';
-- Asking for more pages than the index has reads each page once: an exact result.
SELECT method, pages_read = total_pages AS all_pages FROM ntsb_perf.index_bloat('acc_brin_d', 100000);

REINDEX TABLE acc;
SELECT * FROM btree_vs_pgstatindex ORDER BY 1;
SELECT index_name, bloat_ratio BETWEEN 0.95 AND 1.05 AS rebuilt_ratio_ok
FROM ntsb_perf.index_bloat_report('public', 0) WHERE table_name = 'acc' ORDER BY index_name;
SELECT index_name, bloat_ratio FROM ntsb_perf.index_bloat_report('public', 0)
WHERE table_name = 'acc' AND bloat_ratio NOT BETWEEN 0.95 AND 1.05 ORDER BY 1;

-- Details per access method.
SELECT index_name, details ? 'pending_pages' AS gin, details ? 'overflow_pages' AS hash,
       details ? 'revmap_pages' AS brin, leaf_fragmentation IS NULL AS no_fragmentation
FROM ntsb_perf.index_bloat_report('public', 0)
WHERE index_name IN ('acc_gin_tags', 'acc_hash_n', 'acc_brin_d', 'acc_gist_geom') ORDER BY 1;

-- GIN pending list (fastupdate): entries wait there until cleanup.
CREATE TABLE tagged (id int, tags int[]);
CREATE INDEX tagged_gin ON tagged USING gin (tags) WITH (fastupdate = on);
INSERT INTO tagged SELECT g, ARRAY[g % 10, g % 3] FROM generate_series(1, 2000) g;
SELECT (details->>'pending_pages')::int > 0 AS has_pending_pages,
       (details->>'pending_tuples')::int AS pending_tuples
FROM ntsb_perf.index_bloat('tagged_gin');
-- Equal to pgstatginindex's, also through the sampled path (the metapage is read for its
-- totals and may also be in the sample: counted once).
SELECT (b.details->>'pending_pages')::int = s.pending_pages AS pending_pages_equal,
       (b.details->>'pending_tuples')::bigint = s.pending_tuples AS pending_tuples_equal,
       (x.details->>'pending_tuples')::bigint = s.pending_tuples AS sampled_pending_tuples_equal,
       x.pages_read = x.total_pages AS sample_read_all
FROM ntsb_perf.index_bloat('tagged_gin') b, ntsb_perf.index_bloat('tagged_gin', 1000) x,
     pgstatginindex('tagged_gin') s;

-- Hash figures equal pgstathashindex's: skewed keys (overflow pages), items killed by index
-- scans (dead), then VACUUM (overflow pages freed: unused).
CREATE TABLE hs (k int);
CREATE INDEX hs_k ON hs USING hash (k);
INSERT INTO hs SELECT CASE WHEN g % 2 = 0 THEN g % 40 ELSE g END FROM generate_series(1, 80000) g;
CREATE VIEW hash_vs_pgstathashindex AS
SELECT (b.details->>'bucket_pages')::int = s.bucket_pages AS buckets_equal,
       (b.details->>'overflow_pages')::int = s.overflow_pages AS overflow_equal,
       (b.details->>'bitmap_pages')::int = s.bitmap_pages AS bitmap_equal,
       (b.details->>'unused_pages')::int = s.unused_pages AS unused_equal,
       b.live_items = s.live_items AS live_equal, b.dead_items = s.dead_items AS dead_equal,
       abs((b.details->>'free_percent')::float8 - s.free_percent) <= 0.01 AS free_equal,
       s.overflow_pages > 0 AS has_overflow, s.dead_items > 0 AS has_dead, s.unused_pages > 0 AS has_unused
FROM ntsb_perf.index_bloat('hs_k') b, pgstathashindex('hs_k') s;
SELECT * FROM hash_vs_pgstathashindex;
DELETE FROM hs WHERE k < 40 AND random() < 0.8;
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT sum((SELECT count(*) FROM hs WHERE k = i)) > 0 AS scanned FROM generate_series(0, 39) i;
RESET enable_seqscan; RESET enable_bitmapscan;
SELECT * FROM hash_vs_pgstathashindex;
VACUUM hs;
SELECT * FROM hash_vs_pgstathashindex;
DROP TABLE hs CASCADE;

-- BRIN page types equal pageinspect's, free space too (one range per heap page: several
-- regular and revmap pages).
CREATE TABLE br AS SELECT g AS n, repeat('x', 200) AS pad FROM generate_series(1, 100000) g;
CREATE INDEX br_n ON br USING brin (n) WITH (pages_per_range = 1);
SELECT (b.details->>'meta_pages')::int = p.meta AS meta_equal,
       (b.details->>'revmap_pages')::int = p.revmap AS revmap_equal,
       (b.details->>'regular_pages')::int = p.regular AS regular_equal,
       b.free_bytes = p.free AS free_equal, p.revmap > 1 AND p.regular > 1 AS several
FROM ntsb_perf.index_bloat('br_n') b,
     (SELECT count(*) FILTER (WHERE t = 'meta') AS meta, count(*) FILTER (WHERE t = 'revmap') AS revmap,
             count(*) FILTER (WHERE t = 'regular') AS regular,
             sum(greatest(h.upper - h.lower - 4, 0)) FILTER (WHERE t = 'regular') AS free
      FROM generate_series(0, pg_relation_size('br_n') / 8192 - 1) k,
           LATERAL (SELECT brin_page_type(get_raw_page('br_n', k::int)) AS t) x,
           LATERAL page_header(get_raw_page('br_n', k::int)) h) p;
DROP TABLE br;

-- Bad input: clear errors with real SQLSTATEs.
\set VERBOSITY terse
SELECT * FROM ntsb_perf.index_bloat('acc');
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE VIEW acc_view AS SELECT * FROM acc;
SELECT * FROM ntsb_perf.index_bloat('acc_view');
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE TABLE parted (d date) PARTITION BY RANGE (d);
CREATE INDEX parted_d ON parted (d);
SELECT * FROM ntsb_perf.index_bloat('parted_d');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.index_bloat('acc_pkey', 0);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.index_bloat(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.index_bloat(999999999::oid::regclass);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.index_bloat_report(NULL, -1);
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE EXTENSION IF NOT EXISTS bloom;
CREATE INDEX acc_bloom ON acc USING bloom (n);
SELECT * FROM ntsb_perf.index_bloat('acc_bloom');
\echo sqlstate :LAST_ERROR_SQLSTATE
DROP INDEX acc_bloom;
-- Another session's temporary index.
SELECT dblink_connect('other', :'conninfo');
SELECT dblink_exec('other', 'CREATE TEMP TABLE tmp_acc (n int); CREATE INDEX tmp_acc_n ON tmp_acc (n)');
SELECT oid AS tmp_oid FROM pg_class WHERE relname = 'tmp_acc_n' \gset
SELECT * FROM ntsb_perf.index_bloat(:tmp_oid);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT dblink_disconnect('other');
-- Our own temporary index is fine.
CREATE TEMP TABLE my_tmp AS SELECT g AS n FROM generate_series(1, 1000) g;
CREATE INDEX my_tmp_n ON my_tmp (n);
SELECT live_items FROM ntsb_perf.index_bloat('my_tmp_n');
\set VERBOSITY default

-- A cancel (here: statement_timeout) stops a scan at once: interrupts are checked per page.
SET statement_timeout = '1ms';
SELECT count(*) FROM generate_series(1, 20) r, LATERAL ntsb_perf.index_bloat_report(CASE WHEN r > 0 THEN 'public' END, 0) b;
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET statement_timeout;

-- Closed to PUBLIC, open to pg_stat_scan_tables.
CREATE ROLE bloat_nobody;
CREATE ROLE bloat_scanner IN ROLE pg_stat_scan_tables;
SET ROLE bloat_nobody;
\set VERBOSITY terse
SELECT * FROM ntsb_perf.index_bloat('acc_pkey');
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
RESET ROLE;
SET ROLE bloat_scanner;
SELECT index_name, live_items > 0 AS ok FROM ntsb_perf.index_bloat('acc_pkey');
-- The report lists every index to pg_stat_scan_tables members, also of tables they may not read.
SELECT has_table_privilege('acc', 'SELECT') AS can_select_acc,
       count(*) = (SELECT count(*) FROM pg_index WHERE indrelid = 'acc'::regclass) AS all_acc_indexes
FROM ntsb_perf.index_bloat_report('public', 0) WHERE table_name = 'acc';
RESET ROLE;
DROP ROLE bloat_nobody;
DROP ROLE bloat_scanner;

-- A concurrent writer and VACUUM keep running while we scan (no lock conflict, no error).
SELECT dblink_connect('writer', :'conninfo');
SELECT dblink_connect('vacuum', :'conninfo');
SELECT dblink_send_query('writer', $q$
    DO $$ BEGIN
        FOR i IN 1..40 LOOP
            INSERT INTO acc SELECT 200000 + i * 1000 + g, 'W' || g, 'MINOR', current_date, g, ARRAY[g], point(g, g),
                   ST_SetSRID(ST_MakePoint(-100, 40), 4326) FROM generate_series(1, 500) g;
            UPDATE acc SET n = n + 1 WHERE id % 97 = i;
            COMMIT;
        END LOOP;
    END $$ $q$);
SELECT dblink_send_query('vacuum', 'VACUUM acc');
SELECT count(*) AS scans_done FROM generate_series(1, 5) r,
       LATERAL ntsb_perf.index_bloat_report(CASE WHEN r > 0 THEN 'public' END, 0) b WHERE b.table_name = 'acc';
SELECT * FROM dblink_get_result('writer') AS r(status text);
SELECT * FROM dblink_get_result('vacuum') AS r(status text);
SELECT dblink_disconnect('writer');
SELECT dblink_disconnect('vacuum');
SELECT count(*) > 120000 * 0.3 AS writer_committed FROM acc;

-- Parallel exact scans: an index of ntsb_perf.bloat_parallel_min_pages or more is read by this
-- backend and parallel workers (max_parallel_maintenance_workers of them at most, and one less
-- than the CPUs). The default is 128MB; 64MB here, and fillfactor 10, keep this test's indexes
-- small. Every figure equals the serial scan's, and pgstatindex's for the B-tree.
SHOW ntsb_perf.bloat_parallel_min_pages;
SET ntsb_perf.bloat_parallel_min_pages = '64MB';
CREATE TABLE big (n int, p point);
INSERT INTO big SELECT (g::bigint * 7919) % 1000003, point(g % 1013, g % 1009) FROM generate_series(1, 400000) g;
CREATE INDEX big_btree ON big (n) WITH (fillfactor = 10);
CREATE INDEX big_gist ON big USING gist (box(p, p)) WITH (fillfactor = 10);  -- no sorted build
CREATE INDEX big_spgist ON big USING spgist (p) WITH (fillfactor = 10);
DELETE FROM big WHERE n % 3 = 0;
VACUUM big;
-- Skewed keys (0..10, each twice as frequent as the one before): posting trees and hash
-- overflow chains of very different sizes, so sizing each on its own matters
-- (built after the delete).
CREATE INDEX big_hash ON big USING hash ((floor(log(2, (1 + n % 1024)::numeric))::int));
CREATE INDEX big_gin ON big USING gin ((ARRAY[floor(log(2, (1 + n % 1024)::numeric))::int, n])) WITH (fastupdate = off);
SET max_parallel_maintenance_workers = 2;
CREATE TEMP TABLE par AS SELECT * FROM ntsb_perf.index_bloat_report('public', 0) WHERE table_name = 'big';
SET max_parallel_maintenance_workers = 0;
CREATE TEMP TABLE ser AS SELECT * FROM ntsb_perf.index_bloat_report('public', 0) WHERE table_name = 'big';
SELECT p.index_name, p.total_pages >= 8192 AS large, (p.details->>'parallel_workers')::int > 0 AS parallel,
       (s.details->>'parallel_workers')::int AS ser_workers, p.pages_read = p.total_pages AS read_all,
       to_jsonb(p) - 'details' = to_jsonb(s) - 'details' AS same_figures,
       p.details - 'parallel_workers' - 'worker_pages' = s.details - 'parallel_workers' - 'worker_pages' AS same_details
FROM par p JOIN ser s USING (index_name) ORDER BY 1;
-- Smaller indexes get workers too when ntsb_perf.bloat_parallel_min_pages is lowered further.
-- With parallel_leader_participation off the workers read every page (the backend only adds
-- up): every access method, GIN posting trees and hash buckets carried over.
SET ntsb_perf.bloat_parallel_min_pages = '2MB';
SET max_parallel_maintenance_workers = 2;
SET parallel_leader_participation = off;
SELECT p.index_name, p.access_method, (p.details->>'parallel_workers')::int > 0 AS parallel,
       (p.details->>'worker_pages')::bigint = p.total_pages AS workers_read_all,
       to_jsonb(p) - 'details' = to_jsonb(s) - 'details' AS same_figures,
       p.details - 'parallel_workers' - 'worker_pages' = s.details - 'parallel_workers' - 'worker_pages' AS same_details
FROM ntsb_perf.index_bloat_report('public', 0) p JOIN ser s USING (index_name)
WHERE p.table_name = 'big' ORDER BY 1;
SELECT details->'posting_trees' AS posting_trees, details->'overflow_pages' AS overflow_pages
FROM ser WHERE index_name IN ('big_gin', 'big_hash') ORDER BY index_name;
SET ntsb_perf.bloat_parallel_min_pages = '64MB';
RESET parallel_leader_participation;
SELECT abs(b.avg_leaf_density - s.avg_leaf_density) <= 0.01 AS density_equal,
       abs(b.leaf_fragmentation - s.leaf_fragmentation) <= 0.01 AS fragmentation_equal,
       b.leaf_pages = s.leaf_pages AS leaves_equal, b.internal_pages = s.internal_pages AS internal_equal,
       b.deleted_pages = s.deleted_pages AS deleted_equal, b.empty_pages = s.empty_pages AS empty_equal,
       (b.details->>'parallel_workers')::int > 0 AS parallel
FROM ntsb_perf.index_bloat('big_btree') b, pgstatindex('big_btree') s;
-- No worker slot free (max_parallel_workers = 0): the backend reads every chunk itself.
SET max_parallel_workers = 0;
SELECT (b.details->>'parallel_workers')::int AS workers, b.pages_read = b.total_pages AS read_all,
       to_jsonb(b) - 'details' = (SELECT to_jsonb(s) - 'details' FROM ser s WHERE s.index_name = 'big_gist') AS same_figures
FROM ntsb_perf.index_bloat('big_gist') b;
RESET max_parallel_workers;
-- A temporary index lives in this backend's local buffers: always read by the backend alone.
SET ntsb_perf.bloat_parallel_min_pages = 1;
CREATE TEMP TABLE big_tmp AS SELECT n FROM big;
CREATE INDEX big_tmp_n ON big_tmp (n);
SELECT (details->>'parallel_workers')::int AS workers, pages_read = total_pages AS read_all,
       live_items = (SELECT count(*) FROM big_tmp) AS all_items
FROM ntsb_perf.index_bloat('big_tmp_n');
DROP TABLE big_tmp;
-- An index created in the same, still open transaction: the workers share its snapshot and see it.
BEGIN;
CREATE TABLE big_new AS SELECT n FROM big;
CREATE INDEX big_new_n ON big_new (n);
-- (the row count is taken first: a count(*) beside the call could run as a parallel query,
-- inside which the scan stays in one process)
SELECT count(*) AS big_new_rows FROM big_new \gset
SELECT (details->>'parallel_workers')::int > 0 AS parallel, pages_read = total_pages AS read_all,
       live_items = :big_new_rows AS all_items
FROM ntsb_perf.index_bloat('big_new_n');
ROLLBACK;
SET ntsb_perf.bloat_parallel_min_pages = '64MB';
-- Inside a parallel query (here the whole query runs in a worker) there are no nested workers:
-- the scan is serial, with the same figures.
-- (force_parallel_mode on 15; PostgreSQL 16 renamed it debug_parallel_query.)
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'debug_parallel_query'
            ELSE 'force_parallel_mode' END AS parallel_guc \gset
SET :parallel_guc = on;
SELECT (b.details->>'parallel_workers')::int AS workers,
       to_jsonb(b) - 'details' = (SELECT to_jsonb(s) - 'details' FROM ser s WHERE s.index_name = 'big_gist') AS same_figures
FROM ntsb_perf.index_bloat('big_gist') b;
RESET :parallel_guc;
-- A cancel stops the leader and its workers; the session goes on.
SET statement_timeout = '5ms';
SELECT count(*) FROM generate_series(1, 20) r, LATERAL ntsb_perf.index_bloat(CASE WHEN r > 0 THEN 'big_gist'::regclass END) b;
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT (details->>'parallel_workers')::int > 0 AS parallel, pages_read = total_pages AS read_all
FROM ntsb_perf.index_bloat('big_gist');
-- A cancel from another session, half a second into a long run of scans (so it lands in the
-- page loop, serial and parallel): the statement stops with 57014 and that backend goes on.
SELECT dblink_connect('scanner', :'conninfo');
SELECT pid AS scanner_pid FROM dblink('scanner', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT dblink_exec('scanner', 'SET ntsb_perf.bloat_parallel_min_pages = ''64MB''');
-- While that backend scans, it holds only AccessShareLock on the table and the index, and
-- an insert, an update and a VACUUM of the table go through under a 2 s lock_timeout.
CREATE FUNCTION scan_lock_modes(p int) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE modes text[];
BEGIN
    FOR i IN 1..600 LOOP
        SELECT array_agg(DISTINCT mode ORDER BY mode) INTO modes FROM pg_locks
        WHERE pid = p AND locktype = 'relation' AND relation IN ('big'::regclass, 'big_gist'::regclass)
        HAVING bool_or(relation = 'big_gist'::regclass AND granted);
        IF modes IS NOT NULL THEN RETURN modes; END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN NULL;
END $$;
SELECT dblink_exec('scanner', 'SET max_parallel_maintenance_workers = 0');
SELECT dblink_send_query('scanner', 'SELECT count(*) FROM generate_series(1, 1000) r, LATERAL ntsb_perf.index_bloat(CASE WHEN r > 0 THEN ''big_gist''::regclass END) b');
SELECT scan_lock_modes(:scanner_pid) AS scanner_lock_modes;
SET lock_timeout = '2s';
INSERT INTO big VALUES (5, point(0, 0));
UPDATE big SET p = point(1, 1) WHERE n = 5;
VACUUM big;
RESET lock_timeout;
SELECT state = 'active' AND query LIKE '%big_gist%' AS scan_still_running
FROM pg_stat_activity WHERE pid = :scanner_pid;
SELECT pg_cancel_backend(:scanner_pid);
SELECT count(*) AS rows_back FROM dblink_get_result('scanner', false) AS t(n bigint);
SELECT count(*) AS drained FROM dblink_get_result('scanner', false) AS t(n bigint);
\set workers 0
\i sql/cancel_scan.inc
\set workers 2
\i sql/cancel_scan.inc
SELECT dblink_disconnect('scanner');
SET max_parallel_maintenance_workers = 0;
RESET ntsb_perf.bloat_parallel_min_pages;
DROP TABLE big;

-- An index dropped while the call waits for its table's lock: index_bloat raises 42P01 (not an
-- internal error) and the report skips it.
CREATE TABLE victim AS SELECT g AS n FROM generate_series(1, 1000) g;
CREATE INDEX victim_n ON victim (n);
CREATE INDEX victim_k ON victim ((n % 7));
CREATE INDEX victim_m ON victim ((n % 11));
CREATE FUNCTION try_bloat(idx oid) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM * FROM ntsb_perf.index_bloat(idx::regclass);
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
CREATE FUNCTION wait_for_lock_wait(p int) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..1000 LOOP
        IF EXISTS (SELECT 1 FROM pg_locks WHERE pid = p AND NOT granted) THEN RETURN true; END IF;
        PERFORM pg_sleep(0.01);
    END LOOP;
    RETURN false;
END $$;
SELECT dblink_connect('locker', :'conninfo');
SELECT dblink_connect('waiter', :'conninfo');
SELECT pid AS waiter_pid FROM dblink('waiter', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT 'victim_n'::regclass::oid AS victim_oid \gset
SELECT dblink_exec('locker', 'BEGIN');
SELECT dblink_exec('locker', 'LOCK TABLE victim IN ACCESS EXCLUSIVE MODE');
SELECT dblink_send_query('waiter', format('SELECT try_bloat(%s)', :victim_oid));
SELECT wait_for_lock_wait(:waiter_pid) AS waiting;
SELECT dblink_exec('locker', 'DROP INDEX victim_n');
SELECT dblink_exec('locker', 'COMMIT');
SELECT * FROM dblink_get_result('waiter') AS t(sqlstate text);
SELECT count(*) AS drained FROM dblink_get_result('waiter') AS t(sqlstate text);
SELECT dblink_exec('locker', 'BEGIN');
SELECT dblink_exec('locker', 'LOCK TABLE victim IN ACCESS EXCLUSIVE MODE');
SELECT dblink_send_query('waiter', $q$SELECT string_agg(index_name, ',' ORDER BY index_name) FROM ntsb_perf.index_bloat_report('public', 0) WHERE table_name = 'victim'$q$);
SELECT wait_for_lock_wait(:waiter_pid) AS waiting;
SELECT dblink_exec('locker', 'DROP INDEX victim_m');
SELECT dblink_exec('locker', 'COMMIT');
SELECT * FROM dblink_get_result('waiter') AS t(measured text);
SELECT dblink_disconnect('locker');
SELECT dblink_disconnect('waiter');
DROP TABLE victim;

-- An index file really damaged on disk. A page header PostgreSQL's own check rejects gives its
-- XX001 (invalid page); damage behind a valid header (special space, line pointers), which only
-- the page parser can see, gives XX002 naming the index and the block; never a crash, and the
-- session goes on. The indexes are moved to another tablespace first: that copies their files
-- below shared buffers (none of their pages is resident, pg_buffercache shows it), so the
-- damaged pages are read from disk.
CREATE EXTENSION IF NOT EXISTS pg_buffercache;
SELECT regexp_replace(current_setting('data_directory'), '/[^/]+/?$', '') || '/corrupt_ts' AS ts_dir \gset
-- (an empty directory beside the data directory, made by the server, which owns it)
DO $$ BEGIN
    EXECUTE format('COPY (SELECT 1 WHERE false) TO PROGRAM %L',
        format('rm -rf ''%1$s'' && mkdir ''%1$s''',
               regexp_replace(current_setting('data_directory'), '/[^/]+/?$', '') || '/corrupt_ts'));
END $$;
CREATE TABLESPACE corrupt_ts LOCATION :'ts_dir';
CREATE TABLE crpt (n int, p point, a int[]) WITH (autovacuum_enabled = off);
INSERT INTO crpt SELECT g, point(g % 100, g / 100), ARRAY[g % 10, g] FROM generate_series(1, 5000) g;
CREATE INDEX crpt_btree ON crpt (n);
CREATE INDEX crpt_btree_lp ON crpt (n);
CREATE INDEX crpt_btree_header ON crpt (n);
CREATE INDEX crpt_btree_intact ON crpt (n);
CREATE INDEX crpt_gist ON crpt USING gist (p);
CREATE INDEX crpt_spgist ON crpt USING spgist (p);
CREATE INDEX crpt_gin ON crpt USING gin (a);
CREATE INDEX crpt_hash ON crpt USING hash (n);
CREATE INDEX crpt_hash_lp ON crpt USING hash (n);
CREATE INDEX crpt_brin ON crpt USING brin (n) WITH (pages_per_range = 1);
SELECT format('ALTER INDEX %I SET TABLESPACE corrupt_ts', relname)
FROM pg_class WHERE relname LIKE 'crpt\_%' AND relkind = 'i' ORDER BY relname \gexec
-- Overwrites `len` bytes at `off` of block `blk` of the index's file with 0xFF (the server
-- runs dd, as the owner of the file).
CREATE FUNCTION damage(idx regclass, blk int, off int, len int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT 1 WHERE false) TO PROGRAM %L',
        format('head -c %s /dev/zero | tr ''\000'' ''\377'' | dd of=''%s/%s'' bs=1 seek=%s conv=notrunc status=none',
               len, current_setting('data_directory'), pg_relation_filepath(idx), blk * 8192 + off));
END $$;
CREATE FUNCTION try_bloat_msg(idx regclass, sample int DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM * FROM ntsb_perf.index_bloat(idx, sample);
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    -- PostgreSQL's own message names the file (OIDs): only its SQLSTATE is shown.
    RETURN SQLSTATE || CASE WHEN SQLSTATE = 'XX002' THEN ': ' || SQLERRM ELSE '' END;
END $$;
-- The special space (last 8 bytes of a page: flags, page id or page type of every access
-- method) of a data page: block 1 (B-tree leaf, GiST inner page, SP-GiST root, GIN root, hash
-- bucket), BRIN's block 2 (its first regular page).
SELECT damage(i, CASE WHEN i = 'crpt_brin'::regclass THEN 2 ELSE 1 END, 8184, 8)
FROM unnest(ARRAY['crpt_btree', 'crpt_gist', 'crpt_spgist', 'crpt_gin', 'crpt_hash', 'crpt_brin']::regclass[]) i;
-- The first line pointer of a B-tree leaf (its high key) and of a hash bucket page.
SELECT damage('crpt_btree_lp', 1, 24, 4), damage('crpt_hash_lp', 1, 24, 4);
-- pd_lower beyond pd_upper: PostgreSQL rejects the page when it reads it.
SELECT damage('crpt_btree_header', 1, 12, 2);
SELECT count(*) AS resident_buffers FROM pg_buffercache b JOIN pg_class c ON b.relfilenode = c.relfilenode
WHERE c.relname LIKE 'crpt\_%' AND c.relkind = 'i' AND b.reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database());
SELECT relname AS index_name, try_bloat_msg(oid) AS exact, try_bloat_msg(oid, 1000) AS sampled
FROM pg_class WHERE relname LIKE 'crpt\_%' AND relkind = 'i' ORDER BY relname;
-- The report stops at the first damaged index it reads, with that error.
DO $$
BEGIN
    PERFORM * FROM ntsb_perf.index_bloat_report('public', 0);
    RAISE NOTICE 'report: no error';
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'report: data corrupted error: %', SQLSTATE IN ('XX001', 'XX002');
END $$;
SELECT 'session goes on' AS still_here, live_items FROM ntsb_perf.index_bloat('crpt_btree_intact');
DROP TABLE crpt;
DROP FUNCTION damage(regclass, int, int, int);
DROP FUNCTION try_bloat_msg(regclass, int);
DROP TABLESPACE corrupt_ts;

-- Few distinct keys (500 over 200,000 rows): a hash index's duplicates pile into some buckets
-- (overflow chains) while other buckets stay empty. Fresh: 1.00 +- 5% (pgstathashindex shows
-- the chains); the expected size follows the bucket count hash build chooses (split points:
-- 652 wanted buckets are 768) and each bucket's own bytes. A deduplicated B-tree on the same
-- keys too. Then 70% of the rows deleted and vacuumed: the hash index reads bloated (a fresh
-- build has 256 buckets; each bucket's bytes are folded onto them).
SET max_parallel_maintenance_workers = 0;
CREATE TABLE fewkeys AS SELECT g, (g * 7919) % 500 AS k FROM generate_series(1, 200000) g;
ANALYZE fewkeys;
CREATE INDEX fewkeys_hash ON fewkeys USING hash (k);
CREATE INDEX fewkeys_btree ON fewkeys (k);
SELECT b.index_name, b.bloat_ratio BETWEEN 0.95 AND 1.05 AS fresh_ratio_ok
FROM ntsb_perf.index_bloat_report('public', 0) b WHERE b.table_name = 'fewkeys' ORDER BY 1;
SELECT s.bucket_pages, s.overflow_pages > 100 AS has_chains,
       (b.details->>'overflow_pages')::int = s.overflow_pages AS overflow_equal,
       b.expected_bytes / 8192 BETWEEN b.total_pages - 5 AND b.total_pages + 5 AS expected_close
FROM ntsb_perf.index_bloat('fewkeys_hash') b, pgstathashindex('fewkeys_hash') s;
DELETE FROM fewkeys WHERE g % 10 < 7;
VACUUM fewkeys;
SELECT index_name, bloat_ratio > 2 AS bloated FROM ntsb_perf.index_bloat('fewkeys_hash');
REINDEX INDEX fewkeys_hash;
SELECT index_name, bloat_ratio BETWEEN 0.95 AND 1.05 AS rebuilt_ratio_ok FROM ntsb_perf.index_bloat('fewkeys_hash');
DROP TABLE fewkeys;
RESET max_parallel_maintenance_workers;
