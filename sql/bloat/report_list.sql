-- $1: schema filter (NULL = all), $2: min_bytes. Valid indexes with pages of their own.
SELECT index_oid
FROM ntsb_perf.index_catalog
WHERE is_valid AND NOT is_partitioned
  AND ($1::text IS NULL OR schema_name = $1::text)
  AND index_bytes >= $2::bigint
  AND access_method IN ('btree', 'hash', 'gist', 'gin', 'spgist', 'brin')
ORDER BY index_bytes DESC
