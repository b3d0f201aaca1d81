-- accident_stats against hostile input: bad text raises 22P02 naming
-- the field (it used to crash the server when cast from a table column), counts and sums never
-- wrap (22003), impossible states are refused, and states stored by release 0.1.0 still read.
SET client_min_messages = warning;
CREATE ROLE stats_nobody NOLOGIN;
CREATE TABLE public.bad_states (x text);
INSERT INTO public.bad_states VALUES ('garbage');
GRANT SELECT ON public.bad_states TO stats_nobody;
-- A valid state to vary: 3 accidents, 1 fatal, fatalities 2 and 5 known.
\set good '{"accidents":3,"by_severity":[1,0,0,2,0],"fatalities":{"known":2,"sum":7,"sum_sq_hi":0,"sum_sq_lo":29},"serious":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"minor":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"uninjured":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"injuries_known":0}'
SELECT ntsb_perf.accidents(s), ntsb_perf.fatal_accidents(s), ntsb_perf.fatalities(s),
       ntsb_perf.fatalities_variance(s), s::text = :'good' AS text_round_trips
FROM (SELECT :'good'::ntsb_perf.accident_stats AS s) x;

\set VERBOSITY terse
-- 1. Bad text from a table column, as an unprivileged role: an error, and the server lives.
SET ROLE stats_nobody;
SELECT x::ntsb_perf.accident_stats FROM public.bad_states;
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT 'garbage'::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ''::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT replace(:'good', '"accidents":3', '"accidents":-3')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT replace(:'good', '"accidents":3,', '')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT replace(:'good', '"accidents":3', '"accidents":3,"extra":1')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT replace(:'good', '[1,0,0,2,0]', '[1,0,0,2]')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT replace(:'good', '"known":2', '"known":"2"')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT replace(:'good', '"sum":7', '"sum":7.5')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
-- 9. Impossible states: fatal accidents beyond accidents (fatal_rate > 1), severity counts that do
-- not add up, a negative variance, more known values than accidents.
SELECT replace(:'good', '[1,0,0,2,0]', '[4,0,0,0,0]')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT replace(:'good', '[1,0,0,2,0]', '[1,0,0,1,0]')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT replace(:'good', '"sum_sq_lo":29', '"sum_sq_lo":1')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT replace(:'good', '"known":2', '"known":4')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
-- 9. Counts beyond a bigint: 2^64 - 1 and 2^63 accidents are refused (accidents() read -1 before).
SELECT replace(replace(:'good', '"accidents":3', '"accidents":18446744073709551615'),
               '[1,0,0,2,0]', '[1,0,0,18446744073709551614,0]')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT replace(replace(:'good', '"accidents":3', '"accidents":9223372036854775808'),
               '[1,0,0,2,0]', '[1,0,0,9223372036854775807,0]')::ntsb_perf.accident_stats;
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- 2^63 - 1 accidents is the most a state holds; rolling two of them up is 22003, not NULL.
\set max_accidents '{"accidents":9223372036854775807,"by_severity":[0,0,0,0,9223372036854775807],"fatalities":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"serious":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"minor":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"uninjured":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"injuries_known":0}'
SELECT ntsb_perf.accidents(:'max_accidents'::ntsb_perf.accident_stats) AS max_accidents;
\set VERBOSITY terse
SELECT ntsb_perf.accidents(ntsb_perf.rollup(s))
FROM (VALUES (:'max_accidents'::ntsb_perf.accident_stats), (:'max_accidents'::ntsb_perf.accident_stats)) v(s);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- Fatalities summing to 2^63 - 1 (2^32 accidents of 2^31 - 1 each, nearly): twice is 22003, not -2.
\set max_fatal '{"accidents":4294967296,"by_severity":[4294967296,0,0,0,0],"fatalities":{"known":4294967296,"sum":9223372036854775807,"sum_sq_hi":1073741824,"sum_sq_lo":0},"serious":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"minor":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"uninjured":{"known":0,"sum":0,"sum_sq_hi":0,"sum_sq_lo":0},"injuries_known":0}'
SELECT ntsb_perf.fatalities(s), ntsb_perf.fatal_rate(s), ntsb_perf.fatalities_variance(s) >= 0 AS variance_not_negative
FROM (SELECT :'max_fatal'::ntsb_perf.accident_stats AS s) x;
\set VERBOSITY terse
SELECT ntsb_perf.fatalities(ntsb_perf.rollup(s))
FROM (VALUES (:'max_fatal'::ntsb_perf.accident_stats), (:'max_fatal'::ntsb_perf.accident_stats)) v(s);
\echo sqlstate :LAST_ERROR_SQLSTATE
-- A state at the limit rolled up with one more fatal accident from raw rows: 22003.
SELECT ntsb_perf.fatalities(ntsb_perf.rollup(s)) FROM (
    SELECT :'max_fatal'::ntsb_perf.accident_stats AS s
    UNION ALL
    SELECT ntsb_perf.accident_stats('FATAL', 2147483647, NULL, NULL, NULL)) v;
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- The stored form carries a version byte (1) and fixed-width integers.
CREATE CAST (bytea AS ntsb_perf.accident_stats) WITHOUT FUNCTION;
CREATE CAST (ntsb_perf.accident_stats AS bytea) WITHOUT FUNCTION;
SELECT get_byte(:'good'::ntsb_perf.accident_stats::bytea, 0) AS version_byte,
       length(:'good'::ntsb_perf.accident_stats::bytea) AS stored_bytes;
-- Stored bytes that lie are refused (22P03), whatever wrote them.
\set VERBOSITY terse
SELECT ntsb_perf.accidents(overlay(:'good'::ntsb_perf.accident_stats::bytea
                                   PLACING '\xffffffffffffffff'::bytea FROM 2)::ntsb_perf.accident_stats);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.accidents('\x0203'::bytea::ntsb_perf.accident_stats);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.accidents('\x'::bytea::ntsb_perf.accident_stats);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
\i sql/stats_legacy.inc

-- 13. create_accident_stats_view: a name PostgreSQL would cut is refused; 63 bytes work and the
-- real name is returned.
\set VERBOSITY terse
SELECT ntsb_perf.create_accident_stats_view('src.accidents_src', repeat('v', 100));
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.create_accident_stats_view('src.accidents_src', repeat('é', 32));
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT ntsb_perf.create_accident_stats_view('src.accidents_src', repeat('v', 63)) = 'src.' || repeat('v', 63) AS real_name;
DROP MATERIALIZED VIEW src.vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv;
-- 13. refresh(0) names the problem once; NULL in, NULL out for refresh_reason and sources_changed.
\set VERBOSITY terse
SELECT * FROM ntsb_perf.refresh(0);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.refresh(2147483647);
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT ntsb_perf.refresh_reason(NULL) IS NULL AS reason_null, ntsb_perf.sources_changed(NULL) IS NULL AS changed_null;

DROP CAST (bytea AS ntsb_perf.accident_stats);
DROP CAST (ntsb_perf.accident_stats AS bytea);
DROP TABLE public.bad_states;
DROP ROLE stats_nobody;

-- 14. accident_stats reads the severity as the bytes of the text datum, in place (issue 27).
-- Stored compressed in line, out of line (TOAST) with and without compression, and in line,
-- with ASCII and Unicode blanks around it: each row counts where normalize_severity (the text
-- path) puts it, and the storage kinds are really there.
CREATE TABLE public.sev_storage (how text, severity text);
CREATE TABLE public.sev_external (how text, severity text);
ALTER TABLE public.sev_external ALTER COLUMN severity SET STORAGE EXTERNAL;
INSERT INTO public.sev_storage VALUES
  ('compressed', repeat(' ', 6000) || 'FATAL(2)' || repeat(' ', 6000)),
  ('compressed unknown', repeat('FATAL', 3000)),
  ('out of line, not compressible', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i)),
  ('in line, unicode blanks', U&'\00A0 Serious\2003'),
  ('in line', ' SIRUOSE '),
  ('in line, null', NULL);
INSERT INTO public.sev_external VALUES
  ('external', repeat(' ', 6000) || 'minor' || repeat(' ', 6000)),
  ('external fatal', 'FATAL(7)' || repeat(E'\t', 5000));
SELECT how, pg_column_compression(severity) IS NOT NULL AS compressed,
       pg_column_size(severity) < octet_length(severity) AS smaller_than_value,
       ntsb_perf.normalize_severity(severity) AS text_path
FROM (SELECT * FROM public.sev_storage UNION ALL SELECT * FROM public.sev_external) s ORDER BY how;
SELECT relname, pg_relation_size(reltoastrelid) > 0 AS has_out_of_line_values
FROM pg_class WHERE oid IN ('public.sev_storage'::regclass, 'public.sev_external'::regclass) ORDER BY 1;
-- Per row (grouped: the aggregate gets the stored datum), then over all of them at once.
SELECT how, (ntsb_perf.severity_counts(ntsb_perf.accident_stats(severity, 0, 0, 0, 0))
             ->> ntsb_perf.normalize_severity(min(severity)))::int AS counted_where_text_path_puts_it
FROM (SELECT * FROM public.sev_storage UNION ALL SELECT * FROM public.sev_external) s
GROUP BY how ORDER BY how;
SELECT ntsb_perf.severity_counts(ntsb_perf.accident_stats(severity, 0, 0, 0, 0))
       = (SELECT jsonb_object_agg(c, (SELECT count(*) FROM (SELECT * FROM public.sev_storage UNION ALL SELECT * FROM public.sev_external) t
                                        WHERE ntsb_perf.normalize_severity(t.severity) = c))
          FROM unnest(ARRAY['FATL', 'SERS', 'MINR', 'NONE', 'UNKN']) c) AS all_rows_as_text_path
FROM (SELECT * FROM public.sev_storage UNION ALL SELECT * FROM public.sev_external) s;
DROP TABLE public.sev_storage, public.sev_external;
