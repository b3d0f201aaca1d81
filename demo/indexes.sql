-- The seed's indexes.
CREATE INDEX idx_events_event_date        ON events (event_date);
CREATE INDEX idx_events_injury_severity   ON events (injury_severity);
CREATE INDEX idx_events_aircraft_category ON events (aircraft_category);
CREATE INDEX idx_events_date_severity     ON events (event_date DESC, injury_severity);
CREATE INDEX idx_events_geom              ON events USING gist (geom);
CREATE INDEX idx_events_event_date_brin   ON events USING brin (event_date);
ANALYZE events;
