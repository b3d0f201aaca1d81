-- 5. Changes applied by logical replication are tracked: a publication in a second database of
-- this cluster, a subscription here, and a view on the subscribed table that is refreshed after
-- every replicated INSERT, UPDATE, DELETE and TRUNCATE and skipped when nothing came in.
CREATE EXTENSION IF NOT EXISTS ntsb_perf;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE EXTENSION IF NOT EXISTS pg_cron;
SET client_min_messages = warning;
\set VERBOSITY terse
SELECT current_setting('wal_level') AS wal_level;
CREATE DATABASE refresh_pub;
SELECT dblink_connect('pub', format('host=%s port=%s dbname=refresh_pub user=%s',
       current_setting('unix_socket_directories'), current_setting('port'), current_user));
SELECT dblink_exec('pub', 'CREATE SCHEMA rr');
SELECT dblink_exec('pub', 'CREATE TABLE rr.readings (id int PRIMARY KEY, v int)');
SELECT dblink_exec('pub', 'INSERT INTO rr.readings SELECT g, g FROM generate_series(1, 5) g');
SELECT dblink_exec('pub', 'CREATE PUBLICATION refresh_pub FOR TABLE rr.readings');
SELECT count(*) AS slots FROM dblink('pub',
    $$SELECT pg_create_logical_replication_slot('refresh_sub', 'pgoutput')$$) AS t(s text);

CREATE SCHEMA rr;
CREATE TABLE rr.readings (id int PRIMARY KEY, v int);
CREATE MATERIALIZED VIEW rr.readings_total AS SELECT count(*) AS n, coalesce(sum(v), 0) AS s FROM rr.readings;
CREATE UNIQUE INDEX ON rr.readings_total (n);
SELECT ntsb_perf.schedule_refresh('rr.readings_total', '@daily') > 0 AS scheduled;
SELECT tgname, tgenabled, tgtype FROM pg_trigger WHERE tgrelid = 'rr.readings'::regclass ORDER BY tgname;

SELECT current_setting('port') AS port \gset
\set conn 'host=localhost dbname=refresh_pub user=postgres port=' :port
CREATE SUBSCRIPTION refresh_sub CONNECTION :'conn' PUBLICATION refresh_pub
    WITH (create_slot = false, slot_name = 'refresh_sub');
-- Waits (at most 60 s) until the subscribed table holds n rows summing to s.
CREATE PROCEDURE pg_temp.wait_for(n bigint, s bigint) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN (SELECT (count(*), coalesce(sum(v), 0)) = (n, s) FROM rr.readings)
              AND (SELECT bool_and(srsubstate = 'r') FROM pg_subscription_rel);
        COMMIT;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
CREATE FUNCTION pg_temp.view_ok() RETURNS boolean LANGUAGE sql AS $$
    SELECT (n, s) = (SELECT count(*), coalesce(sum(v), 0) FROM rr.readings) FROM rr.readings_total
$$;
CALL pg_temp.wait_for(5, 15);
SELECT count(*) AS synced_rows FROM rr.readings;
SELECT status, reason FROM ntsb_perf.refresh('rr.readings_total');
SELECT status, reason FROM ntsb_perf.refresh('rr.readings_total');

SELECT dblink_exec('pub', 'INSERT INTO rr.readings VALUES (6, 6)');
CALL pg_temp.wait_for(6, 21);
SELECT status, reason FROM ntsb_perf.refresh('rr.readings_total');
SELECT pg_temp.view_ok() AS view_matches_data;
SELECT status, reason FROM ntsb_perf.refresh('rr.readings_total');

SELECT dblink_exec('pub', 'UPDATE rr.readings SET v = v + 100 WHERE id = 1');
CALL pg_temp.wait_for(6, 121);
SELECT status, reason FROM ntsb_perf.refresh('rr.readings_total');
SELECT pg_temp.view_ok() AS view_matches_data;

SELECT dblink_exec('pub', 'DELETE FROM rr.readings WHERE id = 2');
CALL pg_temp.wait_for(5, 119);
SELECT status, reason FROM ntsb_perf.refresh('rr.readings_total');
SELECT pg_temp.view_ok() AS view_matches_data;

-- Two replicated transactions in a row (the apply worker relies on its first mark for the
-- second, as any writer does), then TRUNCATE.
SELECT dblink_exec('pub', 'INSERT INTO rr.readings VALUES (7, 7)');
SELECT dblink_exec('pub', 'INSERT INTO rr.readings VALUES (8, 8)');
CALL pg_temp.wait_for(7, 134);
SELECT status, reason FROM ntsb_perf.refresh('rr.readings_total');
SELECT pg_temp.view_ok() AS view_matches_data;
SELECT dblink_exec('pub', 'TRUNCATE rr.readings');
CALL pg_temp.wait_for(0, 0);
SELECT status, reason FROM ntsb_perf.refresh('rr.readings_total');
SELECT pg_temp.view_ok() AS view_matches_data;
SELECT status, reason FROM ntsb_perf.refresh('rr.readings_total');

-- A local write on the subscriber is tracked by the statement trigger as usual (the replica
-- row trigger does not fire outside the apply worker: no row-level cost on the normal path).
INSERT INTO rr.readings VALUES (100, 1);
SELECT status, reason FROM ntsb_perf.refresh('rr.readings_total');

DROP SUBSCRIPTION refresh_sub;
SELECT dblink_disconnect('pub');
DROP DATABASE refresh_pub WITH (FORCE);
DROP SCHEMA rr CASCADE;
SELECT count(*) AS jobs_left FROM cron.job;
