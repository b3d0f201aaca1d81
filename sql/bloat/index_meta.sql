-- $1: relation OID. Names, kind and fillfactor of the relation index_bloat() was given.
SELECT n.nspname::text, coalesce(t.relname, '')::text, c.relname::text, coalesce(am.amname, '')::text,
       c.relkind::text,
       c.relpersistence = 't' AND c.relnamespace <> pg_my_temp_schema() AS other_temp,
       (SELECT o.option_value::int FROM pg_options_to_table(c.reloptions) o
        WHERE o.option_name = 'fillfactor') AS fillfactor,
       i.indrelid,
       (SELECT opc.opcname::text FROM pg_opclass opc WHERE opc.oid = i.indclass[0]) AS first_opclass
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_class t ON t.oid = i.indrelid
LEFT JOIN pg_am am ON am.oid = c.relam
WHERE c.oid = $1
