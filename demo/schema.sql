-- The seed schema (names fixed: later features build on them). Indexes come after the load.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS ntsb_perf;
DROP TABLE IF EXISTS events;
CREATE TABLE events (
    id                serial PRIMARY KEY,
    ev_id             varchar(20) UNIQUE NOT NULL,
    event_date        date NOT NULL,
    location          text,
    state             text,
    latitude          numeric(9,6),
    longitude         numeric(9,6),
    geom              geometry(Point, 4326),
    aircraft_category text,
    injury_severity   text,
    total_fatalities  int,
    total_injuries    int,
    total_uninjured   int,
    make              text,
    model             text
);
