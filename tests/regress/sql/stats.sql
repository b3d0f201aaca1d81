-- accident_stats: every accessor against plain SQL on the accident table loaded by
-- scripts/regress.sh (the real CSV when ../shared is there, else the generator), serial and
-- parallel plans, rollup of monthly states, empty groups, NULLs.
SET client_min_messages = warning;
SET search_path = src, public;
SELECT v AS source_value, ntsb_perf.normalize_severity(v) AS code
FROM (VALUES ('NON-FATAL'), ('FATAL(1)'), ('FATAL(265)'), (''), ('INCIDENT'), ('FATAL'), ('MINOR'),
             ('SIRUOSE'), ('UNAVAILABLE'), (NULL), (' fatal (3) '), ('SERIOUS'), ('what?')) t(v);
SELECT count(*) > 1000 AS enough_rows FROM accidents_src;

CREATE TEMP VIEW plain AS
SELECT count(*) AS accidents,
       count(*) FILTER (WHERE injury_severity LIKE 'FATAL%') AS fatal_accidents,
       sum(total_fatalities) AS fatalities, sum(total_injuries) AS serious,
       sum(total_uninjured) AS uninjured,
       count(*) FILTER (WHERE injury_severity LIKE 'FATAL%')::float8 / count(*) AS fatal_rate,
       avg(total_fatalities)::float8 AS fat_mean, var_samp(total_fatalities)::float8 AS fat_var,
       sum(total_injuries)::float8 / count(total_injuries) AS injuries_per_accident
FROM accidents_src;
CREATE TEMP VIEW ours AS
SELECT ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries, NULL, total_uninjured) AS s
FROM accidents_src;
SELECT ntsb_perf.accidents(s) = p.accidents AS accidents_ok,
       ntsb_perf.fatal_accidents(s) = p.fatal_accidents AS fatal_ok,
       ntsb_perf.fatalities(s) = p.fatalities AS fatalities_ok,
       ntsb_perf.serious_injuries(s) = p.serious AS serious_ok,
       ntsb_perf.minor_injuries(s) IS NULL AS minor_unknown,
       ntsb_perf.uninjured(s) = p.uninjured AS uninjured_ok,
       abs(ntsb_perf.fatal_rate(s) - p.fatal_rate) < 1e-12 AS rate_ok,
       abs(ntsb_perf.fatalities_mean(s) - p.fat_mean) < 1e-9 AS mean_ok,
       abs(ntsb_perf.fatalities_variance(s) - p.fat_var) < 1e-9 AS variance_ok,
       abs(ntsb_perf.injuries_per_accident(s) - p.injuries_per_accident) < 1e-12 AS per_accident_ok,
       (SELECT sum(value::bigint) FROM jsonb_each_text(ntsb_perf.severity_counts(s))) = p.accidents AS counts_sum_ok,
       (ntsb_perf.severity_counts(s)->>'FATL')::bigint = p.fatal_accidents AS fatl_count_ok
FROM ours, plain p;

-- The same column passed as minor injuries lands there.
SELECT ntsb_perf.minor_injuries(s) = (SELECT sum(total_injuries) FROM accidents_src) AS minor_ok,
       ntsb_perf.serious_injuries(s) IS NULL AS serious_unknown
FROM (SELECT ntsb_perf.accident_stats(injury_severity, total_fatalities, NULL, total_injuries, total_uninjured) AS s
      FROM accidents_src) x;

-- A forced parallel plan gives exactly the same state as a serial one.
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_result AS SELECT s::text AS s FROM ours;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO j;
    RETURN j::text;
END $$;
SELECT pg_temp.plan_of('SELECT ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries, NULL, total_uninjured) FROM accidents_src')
       LIKE '%"Partial Mode": "Partial"%' AS partial_aggregate_in_plan;
SELECT (SELECT s::text FROM ours) = (SELECT s FROM serial_result) AS parallel_equals_serial;

-- Two steps: monthly states stored (a plain table, so workers can scan it), rolled up to
-- years and to everything.
CREATE TABLE monthly AS
SELECT date_trunc('month', event_date)::date AS month, aircraft_category,
       ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries, NULL, total_uninjured) AS stats
FROM accidents_src GROUP BY 1, 2;
SELECT (SELECT ntsb_perf.rollup(stats)::text FROM monthly) = (SELECT s FROM serial_result) AS rollup_equals_raw;
SELECT pg_temp.plan_of('SELECT ntsb_perf.rollup(stats) FROM monthly') LIKE '%"Partial Mode": "Partial"%' AS rollup_parallel;
SELECT count(*) AS years_differing FROM (
    SELECT extract(year FROM month) AS y, ntsb_perf.rollup(stats)::text AS r FROM monthly GROUP BY 1) a
JOIN (
    SELECT extract(year FROM event_date) AS y,
           ntsb_perf.accident_stats(injury_severity, total_fatalities, total_injuries, NULL, total_uninjured)::text AS r
    FROM accidents_src GROUP BY 1) b USING (y)
WHERE a.r <> b.r;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- Empty groups and NULLs.
SELECT ntsb_perf.accident_stats(injury_severity, total_fatalities, NULL, NULL, NULL) IS NULL AS empty_is_null
FROM accidents_src WHERE false;
SELECT ntsb_perf.rollup(stats) IS NULL AS empty_rollup_is_null FROM monthly WHERE false;
SELECT ntsb_perf.fatal_rate(NULL) IS NULL AS null_in_null_out;
SELECT ntsb_perf.accidents(s), ntsb_perf.fatal_accidents(s), ntsb_perf.fatalities(s),
       ntsb_perf.fatalities_variance(s), ntsb_perf.severity_counts(s)
FROM (SELECT ntsb_perf.accident_stats(sev, f, NULL, NULL, NULL) AS s
      FROM (VALUES ('FATAL(1)', 1), (NULL, NULL), ('gibberish', NULL)) v(sev, f)) x;
DROP TABLE monthly;

-- The seed's monthly view, created for a table: rolled up it equals the raw aggregate, and it
-- refreshes concurrently.
SELECT ntsb_perf.create_accident_stats_view('src.accidents_src', 'Accident Stats "by month"');
SELECT (SELECT ntsb_perf.rollup(stats)::text FROM src."Accident Stats ""by month""")
     = (SELECT s FROM serial_result) AS view_rollup_equals_raw;
REFRESH MATERIALIZED VIEW CONCURRENTLY src."Accident Stats ""by month""";
SELECT count(*) > 0 AS has_unique_index FROM pg_index
WHERE indrelid = 'src."Accident Stats ""by month"""'::regclass AND indisunique;
\set VERBOSITY terse
SELECT ntsb_perf.create_accident_stats_view('src.accidents_src', 'Accident Stats "by month"');
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE TABLE src.not_accidents (event_date date, something int);
SELECT ntsb_perf.create_accident_stats_view('src.not_accidents', 'nope');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT ntsb_perf.create_accident_stats_view(NULL, 'nope');
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default
DROP TABLE src.not_accidents;
