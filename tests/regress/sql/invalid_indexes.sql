-- Real invalid indexes: a failed CREATE INDEX CONCURRENTLY, a REINDEX CONCURRENTLY leftover,
-- and a build in progress seen from another session.
CREATE EXTENSION IF NOT EXISTS ntsb_perf;
CREATE EXTENSION IF NOT EXISTS dblink;
SET client_min_messages = warning;
SET statement_timeout = '120s';
SET max_parallel_maintenance_workers = 0;

CREATE TABLE crashes (id int, code text, n int);
INSERT INTO crashes SELECT g, 'C' || (g % 500), g FROM generate_series(1, 5000) g;

-- 1. CREATE UNIQUE INDEX CONCURRENTLY on a duplicate key fails and leaves an invalid index.
CREATE UNIQUE INDEX CONCURRENTLY crashes_code_uq ON crashes (code);
SELECT index_name, likely_cause, drop_statement, is_ready FROM ntsb_perf.invalid_indexes();
-- Invalid indexes are not offered as unused or as duplicates.
CREATE INDEX crashes_code ON crashes (code);
SELECT count(*) AS unused_invalid FROM ntsb_perf.unused_indexes() WHERE index_name = 'crashes_code_uq';
SELECT count(*) AS dup_rows FROM ntsb_perf.duplicate_indexes() WHERE table_name = 'crashes';
SELECT drop_statement FROM ntsb_perf.invalid_indexes() \gexec
SELECT count(*) AS invalid_left FROM ntsb_perf.invalid_indexes();

-- 2. REINDEX CONCURRENTLY that fails half way leaves <name>_ccnew behind. The index
-- expression fails on purpose when the setting test.fail is on.
CREATE FUNCTION crash_check(n int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF current_setting('test.fail', true) = 'on' THEN
        RAISE EXCEPTION 'induced failure';
    END IF;
    RETURN n;
END $$;
CREATE INDEX crashes_expr ON crashes (crash_check(n));
SET test.fail = on;
REINDEX INDEX CONCURRENTLY crashes_expr;
RESET test.fail;
SELECT index_name, likely_cause, drop_statement FROM ntsb_perf.invalid_indexes();
SELECT drop_statement FROM ntsb_perf.invalid_indexes() \gexec

-- 3. A build in progress: another session's CREATE INDEX CONCURRENTLY waits for our open
-- write transaction; meanwhile its index is invalid and reported as 'in progress' without a
-- drop statement.
CREATE PROCEDURE wait_until_idle(conn text) LANGUAGE plpgsql AS $$
BEGIN
    -- Commit while polling: a CONCURRENTLY build waits for every transaction that holds an
    -- older snapshot, ours included.
    FOR i IN 1..1200 LOOP
        EXIT WHEN dblink_is_busy(conn) = 0;
        COMMIT;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT dblink_connect('builder', format('host=%s port=%s dbname=%s user=%s',
       current_setting('unix_socket_directories'), current_setting('port'), current_database(), current_user));
BEGIN;
INSERT INTO crashes VALUES (0, 'held', 0);
SELECT dblink_send_query('builder', 'CREATE INDEX CONCURRENTLY crashes_n_building ON crashes (n)');
DO $$
BEGIN
    FOR i IN 1..600 LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_progress_create_index
                          WHERE relid = 'crashes'::regclass AND phase LIKE 'waiting%');
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT index_name, likely_cause, drop_statement IS NULL AS no_drop_while_building
FROM ntsb_perf.invalid_indexes();
ROLLBACK;
CALL wait_until_idle('builder');
SELECT * FROM dblink_get_result('builder') AS r(status text);
SELECT dblink_disconnect('builder');
SELECT count(*) AS invalid_after_build FROM ntsb_perf.invalid_indexes();
SELECT index_name, is_valid FROM ntsb_perf.index_usage() WHERE index_name = 'crashes_n_building';
