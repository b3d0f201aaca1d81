-- $1: schema filter (NULL = all), $2: min_bytes. Every valid index with pages of its own,
-- outside the system schemas and other sessions' temporary schemas. No table-privilege filter:
-- the report is granted to pg_stat_scan_tables, whose members may read any relation's pages
-- (index_bloat() and pgstattuple's functions do not ask for table privileges either).
SELECT c.oid
FROM pg_index i
JOIN pg_class c     ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am       ON am.oid = c.relam
WHERE i.indisvalid AND c.relkind = 'i'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND (n.nspname NOT LIKE 'pg\_temp\_%' OR n.oid = pg_my_temp_schema())
  AND ($1::text IS NULL OR n.nspname = $1::text)
  AND am.amname IN ('btree', 'hash', 'gist', 'gin', 'spgist', 'brin')
  AND pg_relation_size(c.oid) >= $2::bigint
ORDER BY pg_relation_size(c.oid) DESC
