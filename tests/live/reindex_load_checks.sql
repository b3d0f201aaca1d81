-- After auto_reindex(dry_run => false) under write load (make bench's P7 and
-- tests/live/reindex_live.sh): one row per check, ok must be true. :committed is the count of
-- transactions pgbench committed, :'prefix' the ev_id prefix of the rows they inserted.
\pset footer off
SELECT 'inserted rows = committed transactions (' || count(*) || ' = ' || :committed || ')' AS "check",
       count(*) = :committed AS ok
FROM events WHERE ev_id LIKE :'prefix' || '%'
UNION ALL
-- amcheck on every B-tree of events, with every heap tuple looked up in the index
SELECT 'bt_index_check(' || c.relname || ', heapallindexed)', bt_index_check(c.oid, true)::text = ''
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
WHERE i.indrelid = 'events'::regclass AND a.amname = 'btree'
UNION ALL
SELECT 'no invalid index left', count(*) = 0 FROM pg_index WHERE NOT indisvalid;
-- GiST has no amcheck in 15: a forced index scan returns what a sequential scan returns.
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*) AS gist_index_scan FROM events WHERE geom && ST_MakeEnvelope(-120, 30, -100, 45, 4326) \gset
RESET enable_seqscan; RESET enable_bitmapscan;
SET enable_indexscan = off; SET enable_bitmapscan = off;
SELECT 'GiST index scan = sequential scan (' || :gist_index_scan || ' rows)' AS "check",
       count(*) = :gist_index_scan AS ok
FROM events WHERE geom && ST_MakeEnvelope(-120, 30, -100, 45, 4326);
RESET enable_indexscan; RESET enable_bitmapscan;
