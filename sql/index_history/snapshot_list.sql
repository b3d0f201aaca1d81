-- The indexes a snapshot records: every leaf index outside the system schemas (temporary ones
-- aside: they end with their session), biggest last. not_measured says why an index gets no
-- bloat figures (its usage counters are recorded all the same).
SELECT c.oid, (pg_relation_size(c.oid) / current_setting('block_size')::int)::bigint AS pages,
       CASE WHEN NOT i.indisvalid THEN 'invalid index: not measured'
            WHEN am.amname NOT IN ('btree', 'hash', 'gist', 'gin', 'spgist', 'brin')
            THEN format('access method %s is not read by ntsb_perf', am.amname) END AS not_measured
FROM pg_index i
JOIN pg_class c     ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am       ON am.oid = c.relam
WHERE c.relkind = 'i' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY pages, c.oid
