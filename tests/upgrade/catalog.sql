-- The SQL surface of the installed ntsb_perf, one line per fact, sorted: every object that is a
-- member of the extension with what a user or a plan depends on (signatures, defaults, result
-- types, volatility, parallel safety, strictness, security, settings, ACLs, bodies, aggregate
-- support functions, column types and defaults, constraints, indexes, policies, triggers,
-- event triggers, grants, configuration dumps, comments). OIDs never appear, only names, so
-- the output of an upgraded database and of a fresh install compare with diff.
-- Run with psql -AtX; tests/upgrade/upgrade.sh diffs the two.
WITH ext AS (
    SELECT oid, extname, extconfig, extcondition, extversion FROM pg_extension WHERE extname = 'ntsb_perf'
), members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), acl AS (
    -- ACL entries by role name (role OIDs differ between databases' clusters only by name).
    SELECT NULL::oid AS dummy
), facts(fact) AS (
    -- functions, procedures, aggregates
    SELECT format('function %s | kind=%s lang=%s returns=%s | args=%s | vol=%s par=%s strict=%s secdef=%s leakproof=%s cost=%s rows=%s | config=%s | acl=%s | body=%s | comment=%s',
                  p.oid::regprocedure, p.prokind, l.lanname,
                  coalesce(pg_get_function_result(p.oid), '-'),
                  pg_get_function_arguments(p.oid),
                  p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proleakproof,
                  p.procost, p.prorows, coalesce(array_to_string(p.proconfig, ','), '-'),
                  coalesce(p.proacl::text, '-'),
                  CASE WHEN l.lanname = 'c' THEN p.prosrc ELSE md5(p.prosrc) END,
                  coalesce(md5(obj_description(p.oid, 'pg_proc')), '-'))
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    JOIN pg_language l ON l.oid = p.prolang
    UNION ALL
    SELECT format('aggregate %s | kind=%s trans=%s final=%s(extra=%s modify=%s) combine=%s serial=%s deserial=%s mtrans=%s stype=%s sspace=%s init=%s',
                  a.aggfnoid::regprocedure, a.aggkind, a.aggtransfn::regprocedure, a.aggfinalfn,
                  a.aggfinalextra, a.aggfinalmodify, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn,
                  a.aggmtransfn, format_type(a.aggtranstype, NULL), a.aggtransspace, coalesce(a.agginitval, '-'))
    FROM members m JOIN pg_aggregate a ON m.classid = 'pg_proc'::regclass AND a.aggfnoid = m.objid
    UNION ALL
    -- types
    SELECT format('type %s | type=%s len=%s byval=%s cat=%s in=%s out=%s recv=%s send=%s align=%s storage=%s acl=%s',
                  format_type(t.oid, NULL), t.typtype, t.typlen, t.typbyval, t.typcategory,
                  t.typinput, t.typoutput, t.typreceive, t.typsend, t.typalign, t.typstorage,
                  coalesce(t.typacl::text, '-'))
    FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
    UNION ALL
    -- relations: tables, views, sequences, indexes of them
    SELECT format('relation %s | kind=%s persistence=%s options=%s rls=%s/%s acl=%s comment=%s',
                  c.oid::regclass, c.relkind, c.relpersistence, coalesce(c.reloptions::text, '-'),
                  c.relrowsecurity, c.relforcerowsecurity, coalesce(c.relacl::text, '-'),
                  coalesce(md5(obj_description(c.oid, 'pg_class')), '-'))
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    SELECT format('column %s.%s | #%s type=%s notnull=%s default=%s identity=%s generated=%s acl=%s',
                  c.oid::regclass, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-'), a.attidentity, a.attgenerated,
                  coalesce(a.attacl::text, '-'))
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    UNION ALL
    SELECT format('view %s | %s', c.oid::regclass, md5(pg_get_viewdef(c.oid)))
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid AND c.relkind IN ('v', 'm')
    UNION ALL
    SELECT format('sequence %s | type=%s start=%s inc=%s min=%s max=%s cache=%s cycle=%s owned_by=%s',
                  s.seqrelid::regclass, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
                  s.seqmax, s.seqcache, s.seqcycle,
                  coalesce((SELECT d.refobjid::regclass || '.' || a.attname FROM pg_depend d
                            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                              AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'), '-'))
    FROM members m JOIN pg_sequence s ON m.classid = 'pg_class'::regclass AND s.seqrelid = m.objid
    UNION ALL
    SELECT format('constraint %s.%s | %s', co.conrelid::regclass, co.conname, pg_get_constraintdef(co.oid))
    FROM members m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
    UNION ALL
    SELECT format('index %s | %s', i.indexrelid::regclass, pg_get_indexdef(i.indexrelid))
    FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
    UNION ALL
    SELECT format('policy %s.%s | cmd=%s permissive=%s roles=%s using=%s check=%s',
                  po.polrelid::regclass, po.polname, po.polcmd, po.polpermissive,
                  (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY r) FROM unnest(po.polroles) r),
                  coalesce(pg_get_expr(po.polqual, po.polrelid), '-'), coalesce(pg_get_expr(po.polwithcheck, po.polrelid), '-'))
    FROM members m JOIN pg_policy po ON m.classid = 'pg_class'::regclass AND po.polrelid = m.objid
    UNION ALL
    SELECT format('trigger %s.%s | enabled=%s %s', t.tgrelid::regclass, t.tgname, t.tgenabled, pg_get_triggerdef(t.oid))
    FROM members m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid AND NOT t.tgisinternal
    UNION ALL
    SELECT format('event trigger %s | on=%s fn=%s enabled=%s tags=%s',
                  e.evtname, e.evtevent, e.evtfoid::regprocedure, e.evtenabled, coalesce(e.evttags::text, '-'))
    FROM members m JOIN pg_event_trigger e ON m.classid = 'pg_event_trigger'::regclass AND e.oid = m.objid
    UNION ALL
    -- anything else the extension owns (casts, operators, schemas, ...): by its description
    SELECT format('member %s', pg_describe_object(m.classid, m.objid, 0))
    FROM members m
    WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_type'::regclass, 'pg_class'::regclass, 'pg_event_trigger'::regclass)
    UNION ALL
    SELECT format('schema %s | owner=%s acl=%s', n.nspname, pg_get_userbyid(n.nspowner), coalesce(n.nspacl::text, '-'))
    FROM pg_namespace n WHERE n.nspname = 'ntsb_perf'
    UNION ALL
    SELECT format('config dump %s | condition=%s', c::regclass, coalesce(ext.extcondition[i], '-'))
    FROM ext, unnest(ext.extconfig) WITH ORDINALITY u(c, i)
    UNION ALL
    SELECT format('extension version %s', ext.extversion) FROM ext
)
SELECT fact FROM facts ORDER BY fact COLLATE "C";
