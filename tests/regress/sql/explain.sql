-- explain_query / compare_queries: plan facts, rollback of analysed writes, timeout, bad input.
SET client_min_messages = warning;
SET search_path = src, public;
ANALYZE accidents_src;
SELECT execution_ms > 0 AS ran, planning_ms >= 0 AS planned, total_cost > 0 AS costed, rows,
       index_used, indexes, seq_scanned_tables, shared_hit + shared_read > 0 AS touched_buffers,
       jsonb_typeof(plan) AS plan_type
FROM ntsb_perf.explain_query($$SELECT * FROM accidents_src WHERE ev_id = (SELECT min(ev_id) FROM accidents_src)$$);
SELECT index_used, seq_scanned_tables, execution_ms IS NULL AS not_run, rows > 0 AS estimated
FROM ntsb_perf.explain_query('SELECT count(*) FROM accidents_src WHERE total_uninjured > 3', false);

-- Analysed writes change nothing.
SELECT count(*) AS before FROM accidents_src \gset
SELECT rows > 0 AS deleted_some_in_plan FROM ntsb_perf.explain_query('DELETE FROM accidents_src WHERE id % 2 = 0');
SELECT rows AS inserted_in_plan FROM ntsb_perf.explain_query($$INSERT INTO accidents_src (ev_id, event_date) VALUES ('X1', '2020-01-01')$$);
SELECT count(*) = :before AS unchanged, count(*) FILTER (WHERE ev_id = 'X1') AS x1_rows FROM accidents_src;
-- and neither does one inside an open transaction, which goes on afterwards
BEGIN;
SELECT rows FROM ntsb_perf.explain_query('UPDATE accidents_src SET total_fatalities = 0 WHERE false');
SELECT count(*) = :before AS still_unchanged FROM accidents_src;
COMMIT;

-- The timeout applies, and the session's own statement_timeout is kept.
SET statement_timeout = '10s';
\set VERBOSITY terse
SELECT * FROM ntsb_perf.explain_query('SELECT pg_sleep(5)', true, 200);
\echo sqlstate :LAST_ERROR_SQLSTATE
SHOW statement_timeout;
-- A shorter session statement_timeout wins over timeout_ms (it used to be replaced by it: the
-- 3 s sleep ran to the end under a 1 s session timeout).
SET statement_timeout = '1s';
SELECT execution_ms FROM ntsb_perf.explain_query('SELECT pg_sleep(3)');
\echo sqlstate :LAST_ERROR_SQLSTATE
SHOW statement_timeout;
RESET statement_timeout;
-- Bad input.
SELECT * FROM ntsb_perf.explain_query('SELECT 1; SELECT 2');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.explain_query('');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.explain_query('SELEC 1');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.explain_query('VACUUM accidents_src');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.explain_query(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.explain_query('SELECT 1', true, 0);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM ntsb_perf.explain_query('SELECT 1/0');
\echo sqlstate :LAST_ERROR_SQLSTATE
\set VERBOSITY default

-- compare_queries: fastest first.
SELECT rank, query, slower_than_fastest >= 1 AS relative_ok
FROM ntsb_perf.compare_queries('SELECT pg_sleep(0.2)', 'SELECT 1', 'SELECT count(*) FROM accidents_src');
