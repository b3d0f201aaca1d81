-- Every SQL function of ntsb_perf called by an unprivileged role with hostile arguments: NULL in
-- each argument, wrong relkinds, other roles' objects, dropped OIDs, extreme numbers (0, -1,
-- 2^31, 2^63, NaN, infinity), hostile identifiers and malformed text. Each argument is varied
-- on its own while the others hold ordinary values (and every relation argument is tried with
-- each relation), so each check inside a function is reached. No call may end in XX000, and the
-- server must not restart (checked in its log at the end). A function whose argument type has
-- no probe values here is listed at the end, so that a new signature cannot slip past.
SET client_min_messages = warning;
CREATE ROLE hostile_user NOLOGIN IN ROLE pg_stat_scan_tables;
CREATE ROLE hostile_other NOLOGIN;
CREATE SCHEMA hostile AUTHORIZATION hostile_user;
GRANT USAGE, CREATE ON SCHEMA hostile TO hostile_other;
-- Objects of the caller and of another role, of every relkind the functions may meet.
SET ROLE hostile_other;
CREATE TABLE hostile.others_table (id int PRIMARY KEY, v text);
INSERT INTO hostile.others_table SELECT g, g::text FROM generate_series(1, 200) g;
CREATE MATERIALIZED VIEW hostile.others_mv AS SELECT count(*) AS n FROM hostile.others_table;
RESET ROLE;
SET ROLE hostile_user;
CREATE TABLE hostile.t (id int PRIMARY KEY, v text, b box, geom public.geometry(Point, 4326),
                        event_date date, aircraft_category text, injury_severity text,
                        total_fatalities int, total_injuries int, total_uninjured int);
INSERT INTO hostile.t SELECT g, md5(g::text), box(point(g, g), point(g + 1, g + 1)),
       public.ST_SetSRID(public.ST_MakePoint(-112 + g / 1000.0, 33 + g / 1000.0), 4326),
       date '2020-01-01' + g, 'Airplane', 'FATAL(1)', 1, 0, 2
FROM generate_series(1, 500) g;
CREATE INDEX t_v_hash ON hostile.t USING hash (v);
CREATE INDEX t_b_gist ON hostile.t USING gist (b);
CREATE INDEX t_geom_gist ON hostile.t USING gist (geom);
CREATE INDEX t_v_brin ON hostile.t USING brin (id);
CREATE VIEW hostile.v AS SELECT * FROM hostile.t;
CREATE MATERIALIZED VIEW hostile."mv ""; DROP TABLE hostile.t; --" AS SELECT id FROM hostile.t;
CREATE UNIQUE INDEX ON hostile."mv ""; DROP TABLE hostile.t; --" (id);
CREATE SEQUENCE hostile.s;
CREATE TABLE hostile.parted (id int) PARTITION BY RANGE (id);
CREATE TABLE hostile.parted_1 PARTITION OF hostile.parted FOR VALUES FROM (0) TO (100);
CREATE INDEX parted_id ON hostile.parted (id);
CREATE TYPE hostile.composite AS (a int);
CREATE TABLE hostile.dropped (id int);
SELECT 'hostile.dropped'::regclass::oid AS dropped_oid \gset
DROP TABLE hostile.dropped;
RESET ROLE;

-- Probe values: a SQL expression per type.
CREATE TEMP TABLE probe_values (typ regtype, expr text);
INSERT INTO probe_values VALUES
  ('regclass', 'NULL'), ('regclass', '0'), ('regclass', :'dropped_oid'), ('regclass', '''hostile.t'''),
  ('regclass', '''hostile.t_pkey'''), ('regclass', '''hostile.t_v_hash'''), ('regclass', '''hostile.t_b_gist'''),
  ('regclass', '''hostile.t_geom_gist'''), ('regclass', '''hostile.t_v_brin'''), ('regclass', '''hostile.v'''),
  ('regclass', '''hostile."mv ""; DROP TABLE hostile.t; --"'''), ('regclass', '''hostile.s'''),
  ('regclass', '''hostile.parted'''), ('regclass', '''hostile.parted_id'''), ('regclass', '''hostile.composite'''),
  ('regclass', '''hostile.others_table'''), ('regclass', '''hostile.others_table_pkey'''),
  ('regclass', '''hostile.others_mv'''), ('regclass', '''pg_class'''), ('regclass', '''pg_class_oid_index'''),
  ('regclass', '''pg_toast.pg_toast_2619'''), ('regclass', '4294967295'),
  ('text', 'NULL'), ('text', ''''''), ('text', '''garbage'''), ('text', 'repeat(''x'', 100)'),
  ('text', 'repeat(''é'', 40)'), ('text', '''"; DROP TABLE hostile.t; --'''), ('text', '''SELECT 1'''),
  ('text', '''SELECT count(*) FROM hostile.t'''), ('text', '''DELETE FROM hostile.t'''),
  ('text', '''* * * * *'''), ('text', '''99 99 99 99 99'''), ('text', '''@reboot'''), ('text', '''geom'''),
  ('text', '''{"accidents": 1}'''), ('text', 'E''\\x01\\x02'''),
  ('text[]', 'NULL'), ('text[]', '''{}'''), ('text[]', '''{NULL,""}'''), ('text[]', 'ARRAY[repeat(''x'', 100)]'),
  ('integer', 'NULL'), ('integer', '1'), ('integer', '0'), ('integer', '-1'), ('integer', '2147483647'),
  ('integer', '(-2147483648)'),
  ('bigint', 'NULL'), ('bigint', '0'), ('bigint', '-1'), ('bigint', '9223372036854775807'),
  ('bigint', '(-9223372036854775808)'), ('bigint', '2147483648'),
  ('double precision', 'NULL'), ('double precision', '1'), ('double precision', '0'),
  ('double precision', '-1'), ('double precision', '50'), ('double precision', '''NaN'''),
  ('double precision', '''Infinity'''), ('double precision', '''-Infinity'''), ('double precision', '1e308'),
  ('double precision', '1e-300'), ('double precision', '2147483648'), ('double precision', '9.3e18'),
  ('double precision[]', 'NULL'), ('double precision[]', '''{0,1,2,3,4}'''), ('double precision[]', '''{}'''),
  ('double precision[]', '''{NULL,NULL,NULL,NULL}'''), ('double precision[]', '''{NaN,Infinity,-Infinity,1e308,-1e308}'''),
  ('double precision[]', 'array_fill(1e300::float8, ARRAY[5000])'),
  ('double precision[]', 'ARRAY(SELECT g::float8 FROM generate_series(1, 3000) g)'),
  ('boolean', 'NULL'), ('boolean', 'true'), ('boolean', 'false'),
  ('interval', 'NULL'), ('interval', '''0'''), ('interval', '''-1 day'''), ('interval', '''1 second'''),
  ('interval', '''178000000 years'''),
  ('timestamp with time zone', 'NULL'), ('timestamp with time zone', 'now()'),
  ('timestamp with time zone', '''infinity'''), ('timestamp with time zone', '''-infinity'''),
  ('timestamp with time zone', '''4713-01-01 00:00:00+00 BC'''), ('timestamp with time zone', '''294276-12-31 23:59:59+00'''),
  ('jsonb', 'NULL'), ('jsonb', '''{}'''), ('jsonb', '''[]'''), ('jsonb', '''null'''), ('jsonb', '''{"cells": 5}'''),
  ('jsonb', '''{"cells": [{"lon": "x", "accidents": 1e300}, 7, null]}'''),
  ('ntsb_perf.accident_stats', 'NULL'),
  ('ntsb_perf.accident_stats', '''{"accidents":1,"by_severity":[1,0,0,0,0],"fatalities":{"known":1,"sum":2,"sum_sq_hi":0,"sum_sq_lo":4},"serious":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"minor":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"uninjured":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"injuries_known":0}'''),
  ('anyelement', 'NULL::public.geometry'), ('anyelement', '''POINT(1 1)''::public.geometry'),
  ('anyelement', '''SRID=3857;POINT(1 1)''::public.geometry'), ('anyelement', '1'),
  ('anyelement', '''x''::text'), ('anyelement', 'ROW(1)::hostile.composite'),
  ('internal', 'NULL'),
  ('oid', 'NULL'), ('oid', '''hostile.t''::regclass'), ('oid', '0'), ('oid', '4294967295'), ('oid', :'dropped_oid'),
  ('oid', '''hostile.others_table''::regclass'), ('oid', '''pg_class''::regclass'),
  ('oid[]', 'NULL'), ('oid[]', 'ARRAY[''hostile.t''::regclass::oid]'), ('oid[]', '''{}'''), ('oid[]', '''{0,NULL,4294967295}'''),
  ('oid[]', 'ARRAY[''hostile.others_table''::regclass::oid, ''pg_class''::regclass::oid]'),
  ('name', 'NULL'), ('name', 'current_user'), ('name', '''nobody at all'''), ('name', 'repeat(''n'', 100)'),
  ('"char"', 'NULL'), ('"char"', '''r'''), ('"char"', '''?'''), ('"char"', '''\001'''),
  ('bytea', 'NULL'), ('bytea', '''\x'''), ('bytea', '''\x01'''), ('bytea', 'decode(repeat(''ff'', 185), ''hex'')'),
  ('bytea', '''\x01'' || decode(repeat(''00'', 184), ''hex'')'), ('bytea', 'decode(repeat(''00'', 52), ''hex'')'),
  ('cstring', 'NULL'), ('cstring', '''garbage'''), ('cstring', '''{}''');

-- The functions: every one in the schema, aggregates called as aggregates.
CREATE TEMP TABLE probe_functions AS
SELECT p.oid AS fn, p.proname::text AS name, p.prokind, p.provariadic <> 0 AS variadic, p.prorettype AS rettype,
       ARRAY(SELECT t FROM unnest(p.proargtypes::regtype[]) WITH ORDINALITY a(t, o) ORDER BY o) AS argtypes
FROM pg_proc p WHERE p.pronamespace = 'ntsb_perf'::regnamespace;
-- internals: the message, DETAIL or HINT shows Rust's internals (a backtrace, a source path);
-- the server runs with RUST_BACKTRACE set (scripts/regress.sh), as a DBA's may.
CREATE TEMP TABLE probe_results (name text, call text, sqlstate text, message text, internals boolean DEFAULT false);
GRANT SELECT ON probe_values, probe_functions TO hostile_user;
GRANT ALL ON probe_results TO hostile_user;

SET ROLE hostile_user;
-- (a guard against a call that hangs: statement_timeout covers the whole DO block below, not
-- each call in it)
SET statement_timeout = '300s';
SET lock_timeout = '2s';
DO $probe$
DECLARE
    f record;
    pos int;
    base text[];
    rel text;
    v record;
    args text[];
    call text;
    st text;
    msg text;
    det text;
    hnt text;
    rels text[] := ARRAY(SELECT expr FROM probe_values WHERE typ = 'regclass'::regtype);
BEGIN
    FOR f IN SELECT * FROM probe_functions ORDER BY name, fn LOOP
        -- Ordinary value of each argument: its declared default, else the second probe value of
        -- its type (the first is NULL).
        base := ARRAY(SELECT '(' || coalesce(pg_get_function_arg_default(f.fn, o::int),
                                             (SELECT pv.expr FROM probe_values pv WHERE pv.typ = t
                                              ORDER BY pv.ctid OFFSET 1 LIMIT 1), 'NULL') || ')::' || t::text
                      FROM unnest(f.argtypes) WITH ORDINALITY a(t, o) ORDER BY o);
        FOR pos IN 1 .. coalesce(array_length(f.argtypes, 1), 0) LOOP
            FOR rel IN SELECT unnest(CASE WHEN 'regclass'::regtype = ANY (f.argtypes)
                                          AND f.argtypes[pos] <> 'regclass'::regtype
                                          THEN rels ELSE ARRAY[NULL] END) LOOP
                FOR v IN SELECT expr FROM probe_values WHERE typ = f.argtypes[pos] ORDER BY ctid LOOP
                    args := base;
                    IF rel IS NOT NULL THEN
                        FOR i IN 1 .. array_length(args, 1) LOOP
                            IF f.argtypes[i] = 'regclass'::regtype THEN args[i] := rel || '::regclass'; END IF;
                        END LOOP;
                    END IF;
                    args[pos] := '(' || v.expr || ')::' || f.argtypes[pos]::text;
                    IF f.variadic THEN
                        args[array_length(args, 1)] := 'VARIADIC ' || args[array_length(args, 1)];
                    END IF;
                    call := format('ntsb_perf.%I(%s)', f.name, array_to_string(args, ', '));
                    call := CASE f.prokind WHEN 'a' THEN 'SELECT ' || call || ' FROM (VALUES (1)) one'
                                           WHEN 'p' THEN 'CALL ' || call
                                           ELSE 'SELECT * FROM ' || call END;
                    BEGIN
                        EXECUTE call;
                        st := '00000'; msg := NULL; det := NULL; hnt := NULL;
                    EXCEPTION WHEN OTHERS THEN
                        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
                    END;
                    INSERT INTO probe_results VALUES (f.name, call, st, msg, concat(msg, det, hnt) ~* 'backtrace|\.rs:|rustc|\.cargo|/root/|pgrx');
                END LOOP;
            END LOOP;
        END LOOP;
        IF coalesce(array_length(f.argtypes, 1), 0) = 0 THEN
            call := format('SELECT * FROM ntsb_perf.%I()', f.name);
            BEGIN
                EXECUTE call; st := '00000'; msg := NULL; det := NULL; hnt := NULL;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
            END;
            INSERT INTO probe_results VALUES (f.name, call, st, msg, concat(msg, det, hnt) ~* 'backtrace|\.rs:|rustc|\.cargo|/root/|pgrx');
        END IF;
    END LOOP;
END
$probe$;
-- Every type of the extension read from malformed text in a table column (a NULL from an input
-- function crashed the server there) and from literals.
CREATE TEMP TABLE probe_text AS
SELECT x FROM (VALUES ('garbage'), (''), ('{}'), ('[]'), ('null'), ('{"accidents": 1e400}'),
                      (repeat('[', 10000)), (E'\\x01\\x02')) v(x);
DO $types$
DECLARE
    t regtype;
    x text;
    st text;
    msg text;
    det text;
    hnt text;
BEGIN
    FOR t IN SELECT oid::regtype FROM pg_type
             WHERE typnamespace = 'ntsb_perf'::regnamespace AND typtype = 'b' AND typelem = 0 LOOP
        FOR x IN SELECT probe_text.x FROM probe_text LOOP
            BEGIN
                EXECUTE format('SELECT x::%s FROM probe_text WHERE x = $1', t) USING x;
                st := '00000'; msg := NULL; det := NULL; hnt := NULL;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
            END;
            INSERT INTO probe_results VALUES (t::text || ' input', left(x, 40), st, msg, concat(msg, det, hnt) ~* 'backtrace|\.rs:|rustc|\.cargo|/root/|pgrx');
        END LOOP;
    END LOOP;
END
$types$;
RESET statement_timeout;
RESET lock_timeout;
RESET ROLE;

-- Every function was called, many times; none ended in XX000 (internal error).
SELECT count(DISTINCT name) FILTER (WHERE name LIKE '% input') AS types_read,
       count(DISTINCT name) FILTER (WHERE name NOT LIKE '% input')
       = (SELECT count(DISTINCT name) FROM probe_functions) AS every_function_called,
       count(*) > 2000 AS thousands_of_calls
FROM probe_results;
SELECT name AS not_called FROM probe_functions EXCEPT SELECT name FROM probe_results ORDER BY 1;
-- Calls that got through: most functions really ran on some arguments (not only errors).
-- (aggregate support functions take `internal`, which SQL cannot pass, and trigger and event
-- trigger functions refuse to be called but as triggers: they only get errors; nor do functions
-- closed to PUBLIC, which the role may not execute)
SELECT count(DISTINCT r.name) FILTER (WHERE r.sqlstate = '00000') >= 0.8 * count(DISTINCT r.name) AS most_functions_ran
FROM probe_results r JOIN probe_functions f USING (name)
WHERE NOT 'internal'::regtype = ANY (f.argtypes) AND f.rettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
  AND has_function_privilege('hostile_user', f.fn, 'EXECUTE');
SELECT name, call, message FROM probe_results WHERE sqlstate = 'XX000' ORDER BY name, call;
-- None showed a Rust backtrace or a build path in its message, DETAIL or HINT.
SELECT name, call, message FROM probe_results WHERE internals ORDER BY name, call;
-- Argument types without probe values (extend probe_values when this lists one).
SELECT DISTINCT f.name, t::text AS type FROM probe_functions f, unnest(f.argtypes) t
WHERE NOT EXISTS (SELECT 1 FROM probe_values v WHERE v.typ = t) ORDER BY 1, 2;
-- The hostile identifiers did not run as SQL, and the other role's objects are untouched.
SELECT count(*) AS t_rows FROM hostile.t;
SELECT count(*) AS others_rows FROM hostile.others_table;
-- The server never restarted: no backend died on a signal since the cluster started.
SELECT count(*) AS crashes
FROM regexp_split_to_table(pg_read_file(current_setting('data_directory') || '/../server.log'), E'\n') l
WHERE l ~ '(terminated by signal|was terminated by exception|PANIC:|server process .* exited with exit code [^0])';


DROP TABLE probe_values, probe_functions, probe_results, probe_text;
DROP SCHEMA hostile CASCADE;
DROP ROLE hostile_user;
DROP ROLE hostile_other;
