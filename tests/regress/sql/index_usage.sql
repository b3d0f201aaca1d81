-- Index usage reports at SQL level, in autocommit mode so that statistics flush and
-- DROP INDEX CONCURRENTLY can run as the reports print it.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS ntsb_perf;
SET client_min_messages = warning;

CREATE TABLE events (
    id serial PRIMARY KEY, ev_id varchar(20) UNIQUE NOT NULL, event_date date NOT NULL,
    injury_severity text, aircraft_category text, geom geometry(Point, 4326));
INSERT INTO events (ev_id, event_date, injury_severity, aircraft_category, geom)
SELECT 'ERA' || g, date '2000-01-01' + g % 7000,
       (ARRAY['NON-FATAL', 'FATAL(1)', 'INCIDENT', NULL])[1 + g % 4],
       (ARRAY['AIRPLANE', 'HELICOPTER', NULL])[1 + g % 3],
       ST_SetSRID(ST_MakePoint(-120 + (g % 500) / 10.0, 30 + (g % 170) / 10.0), 4326)
FROM generate_series(1, 20000) g;
CREATE INDEX idx_events_event_date ON events (event_date);
CREATE INDEX idx_events_injury_severity ON events (injury_severity);
CREATE INDEX idx_events_geom ON events USING gist (geom);
CREATE INDEX idx_events_brin ON events USING brin (event_date);
ANALYZE events;

-- Usage counters move with real scans.
SET enable_seqscan = off;
SELECT count(*) FROM events WHERE event_date = '2005-06-01';
SELECT count(*) FROM events WHERE event_date BETWEEN '2003-01-01' AND '2003-01-10';
SELECT count(*) FROM events WHERE geom && ST_MakeEnvelope(-119, 31, -118, 32, 4326);
RESET enable_seqscan;
SELECT pg_stat_force_next_flush();
SELECT index_name, access_method, idx_scan, idx_tup_read > 0 AS read_tuples,
       index_bytes = pg_relation_size(index_oid) AS bytes_ok, index_size = pg_size_pretty(index_bytes) AS pretty_ok,
       table_bytes = pg_table_size('events') AS table_ok, is_unique, is_primary, is_valid, backs_constraint, is_partial
FROM ntsb_perf.index_usage('public') WHERE table_name = 'events';

-- last_scan: when the server last saw a scan of the index (PostgreSQL 16 and later; NULL on 15),
-- as pg_stat_all_indexes.last_idx_scan says (read through jsonb: 15 has no such column).
SELECT index_name, idx_scan > 0 AS scanned,
       last_scan IS NOT DISTINCT FROM (SELECT (to_jsonb(s) ->> 'last_idx_scan')::timestamptz
                                       FROM pg_stat_all_indexes s WHERE s.indexrelid = u.index_oid) AS as_the_server_says,
       (last_scan IS NOT NULL) = (idx_scan > 0 AND current_setting('server_version_num')::int >= 160000) AS known_where_recorded
FROM ntsb_perf.index_usage('public') u WHERE table_name = 'events' ORDER BY index_name;

-- Unused: never the primary key or the unique constraint; biggest first; min_bytes filters.
SELECT index_name, idx_scan, stats_since IS NOT DISTINCT FROM
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS stats_since_ok,
       drop_statement
FROM ntsb_perf.unused_indexes() WHERE table_name = 'events';
SELECT count(*) AS big_unused FROM ntsb_perf.unused_indexes(1024 * 1024 * 1024);
-- After a statistics reset stats_since says when.
SELECT pg_stat_reset();
SELECT stats_since > now() - interval '1 hour' AS recent_reset, count(*) AS unused
FROM ntsb_perf.unused_indexes() WHERE table_name = 'events' GROUP BY 1;

-- Bad input: a negative size is refused with a real SQLSTATE; NULL means the default.
SELECT * FROM ntsb_perf.unused_indexes(-5);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) = (SELECT count(*) FROM ntsb_perf.unused_indexes()) AS null_is_default
FROM ntsb_perf.unused_indexes(NULL);
SELECT count(*) AS unknown_schema FROM ntsb_perf.index_usage('no such schema');
SELECT count(*) > 0 AS null_schema_lists_all FROM ntsb_perf.index_usage(NULL);

-- Hostile identifiers appear as they are and the printed statements run.
CREATE SCHEMA "Accident Data";
CREATE TABLE "Accident Data"."Events ""2021""" ("Event Date" date, "x;y" int);
CREATE INDEX "idx; drop table x" ON "Accident Data"."Events ""2021""" ("Event Date");
CREATE INDEX "Dup Idx" ON "Accident Data"."Events ""2021""" ("Event Date");
SELECT schema_name, table_name, index_name FROM ntsb_perf.index_usage('Accident Data') ORDER BY index_name;
SELECT index_name, covered_by, reason, drop_statement FROM ntsb_perf.duplicate_indexes()
WHERE schema_name = 'Accident Data';
SELECT drop_statement FROM ntsb_perf.duplicate_indexes() WHERE schema_name = 'Accident Data' \gexec
SELECT drop_statement FROM ntsb_perf.unused_indexes() WHERE schema_name = 'Accident Data' \gexec
SELECT count(*) AS indexes_left FROM ntsb_perf.index_usage('Accident Data');
SELECT count(*) AS table_still_there FROM "Accident Data"."Events ""2021""";

-- Duplicates on the seed table: a plain copy of the unique ev_id index is reported, the
-- (event_date DESC, ...) index does not cover event_date (other sort order).
CREATE INDEX idx_events_ev_id ON events (ev_id);
CREATE INDEX idx_events_date_desc_sev ON events (event_date DESC, injury_severity);
CREATE INDEX idx_events_date_sev ON events (event_date, injury_severity);
SELECT index_name, covered_by, reason, reclaimable_bytes = pg_relation_size(index_name::regclass) AS bytes_ok,
       drop_statement
FROM ntsb_perf.duplicate_indexes() WHERE table_name = 'events' ORDER BY index_name;

-- A role without privileges on events sees none of its indexes.
CREATE ROLE ntsb_perf_outsider LOGIN;
SET ROLE ntsb_perf_outsider;
SELECT count(*) AS outsider_sees FROM ntsb_perf.index_usage() WHERE table_name = 'events';
RESET ROLE;
GRANT SELECT ON events TO ntsb_perf_outsider;
SET ROLE ntsb_perf_outsider;
SELECT count(*) > 0 AS reader_sees FROM ntsb_perf.index_usage() WHERE table_name = 'events';
RESET ROLE;
DROP OWNED BY ntsb_perf_outsider;
DROP ROLE ntsb_perf_outsider;
