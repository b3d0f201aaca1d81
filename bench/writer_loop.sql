-- Writer cost of change tracking without a client in the way: a procedure commits :n single-row
-- INSERT transactions into events, with the tracking trigger disabled and enabled, 3 interleaved
-- rounds each after a warm-up; prints microseconds per transaction and their ratio.
\set QUIET on
SET client_min_messages = warning;
CREATE SEQUENCE IF NOT EXISTS pgbench_ev_seq;
CREATE PROCEDURE pg_temp.inserts(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        INSERT INTO events (ev_id, event_date, state, injury_severity, total_fatalities, aircraft_category)
        VALUES ('WLP' || nextval('pgbench_ev_seq'), date '2021-01-01', 'AZ', 'NON-FATAL', 0, 'Airplane');
        COMMIT;
    END LOOP;
END $$;
CREATE TEMP TABLE writer_loop (tracking boolean, us_per_txn float8);
CREATE PROCEDURE pg_temp.round(tracking boolean, n int) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
    EXECUTE format('ALTER TABLE events %s TRIGGER ntsb_perf_track_changes',
                   CASE WHEN tracking THEN 'ENABLE ALWAYS' ELSE 'DISABLE' END);
    COMMIT;
    t0 := clock_timestamp();
    CALL pg_temp.inserts(n);
    INSERT INTO writer_loop VALUES (tracking, extract(epoch FROM clock_timestamp() - t0) * 1e6 / n);
    COMMIT;
END $$;
CALL pg_temp.round(false, :n);
CALL pg_temp.round(true, :n);
TRUNCATE writer_loop;
CALL pg_temp.round(false, :n);
CALL pg_temp.round(true, :n);
CALL pg_temp.round(true, :n);
CALL pg_temp.round(false, :n);
CALL pg_temp.round(false, :n);
CALL pg_temp.round(true, :n);
\set QUIET off
SELECT 'writer loop' AS bench,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY us_per_txn) FILTER (WHERE tracking))::numeric, 2) AS us_per_txn_with,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY us_per_txn) FILTER (WHERE NOT tracking))::numeric, 2) AS us_per_txn_without,
       round(((percentile_cont(0.5) WITHIN GROUP (ORDER BY us_per_txn) FILTER (WHERE NOT tracking))
            / (percentile_cont(0.5) WITHIN GROUP (ORDER BY us_per_txn) FILTER (WHERE tracking)))::numeric, 3)
           AS throughput_ratio
FROM writer_loop;
