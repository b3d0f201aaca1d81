-- The definitions of ntsb_perf's views, one line each (whitespace folded), sorted: what
-- tests/upgrade/catalog_major.sh compares between majors. catalog.sql keeps only an md5 of each,
-- and PostgreSQL 16 and later deparse a view over one relation without qualifying its columns
-- (`SELECT schema_name` where 15 prints `SELECT bloat_forecast.schema_name`), so the text is
-- compared with the qualifiers of column references removed on both sides. Run with psql -AtX.
SELECT format('view %s | %s', c.oid::regclass,
              regexp_replace(regexp_replace(pg_get_viewdef(c.oid), '\s+', ' ', 'g'),
                             '\m[a-z_][a-z0-9_]*\.(?=[a-z_])', '', 'g'))
FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ntsb_perf'
JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid AND c.relkind = 'v'
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
ORDER BY 1;
