-- B1: ntsb_perf.index_usage() over :n_indexes indexes against the same catalog query run
-- as plain SQL (sql/index_usage/index_usage.sql, passed in as :'plain_sql'). Both are
-- consumed row by row in PL/pgSQL, interleaved, :rounds times; the ratio of medians is printed.
\set QUIET on
SELECT format('CREATE TABLE bench_t%s (a int, b int, c int, d int, e int, f text, g text, h date, i int, j int)', t)
FROM generate_series(1, :n_indexes / 10) t \gexec
SELECT format('INSERT INTO bench_t%s SELECT x, x, x, x, x, x::text, x::text, date ''2000-01-01'' + x, x, x FROM generate_series(1, 50) x', t)
FROM generate_series(1, :n_indexes / 10) t \gexec
SELECT format('CREATE INDEX ON bench_t%s (%s)', t, col)
FROM generate_series(1, :n_indexes / 10) t, unnest(ARRAY['a','b','c','d','e','f','g','h','i','j']) col \gexec
ANALYZE;

CREATE FUNCTION pg_temp.time_it(q text, ext boolean) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    r record;
    n int := 0;
BEGIN
    IF ext THEN
        FOR r IN SELECT * FROM ntsb_perf.index_usage() LOOP n := n + 1; END LOOP;
    ELSE
        FOR r IN EXECUTE q USING NULL::text LOOP n := n + 1; END LOOP;
    END IF;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

SELECT pg_temp.time_it(:'plain_sql', true) + pg_temp.time_it(:'plain_sql', false) AS warm_up \gset
CREATE TEMP TABLE b1 AS
SELECT r,
       CASE WHEN r % 2 = 0 THEN pg_temp.time_it(:'plain_sql', true) END AS ext_first,
       pg_temp.time_it(:'plain_sql', false) AS plain_ms,
       CASE WHEN r % 2 = 1 THEN pg_temp.time_it(:'plain_sql', true) END AS ext_last
FROM generate_series(1, :rounds) r;
\set QUIET off
SELECT 'B1' AS bench,
       (SELECT count(*) FROM ntsb_perf.index_usage()) AS indexes,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(ext_first, ext_last))::numeric, 2) AS ext_median_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY plain_ms)::numeric, 2) AS plain_median_ms,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(ext_first, ext_last))
            / percentile_cont(0.5) WITHIN GROUP (ORDER BY plain_ms))::numeric, 3) AS ratio,
       '<= 1.2' AS goal
FROM b1;
