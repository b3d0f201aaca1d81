-- Two mistakes DBAs really make, so that every report has something to show:
-- a second index on a column that already has a unique constraint ...
CREATE INDEX idx_events_ev_id ON events (ev_id);
-- ... and a unique index built concurrently on data that is not unique, which fails and
-- leaves an invalid index behind.
\set ON_ERROR_STOP 0
CREATE UNIQUE INDEX CONCURRENTLY idx_events_location_date_uq ON events (location, event_date);
\set ON_ERROR_STOP 1
