\set QUIET on
-- Moves a CAROL-style export from staging table ntsb_staging (all text) into events.
-- Blank rows are skipped, numbers that do not parse or are out of range become NULL.
CREATE FUNCTION pg_temp.to_num(t text, lo numeric, hi numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN btrim(t) ~ '^-?[0-9]+(\.[0-9]+)?$'
                 AND btrim(t)::numeric BETWEEN lo AND hi THEN btrim(t)::numeric END
$$;
CREATE FUNCTION pg_temp.to_date_mdy(t text) RETURNS date LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN to_date(btrim(t), 'MM/DD/YYYY');
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

CREATE TEMP TABLE clean AS
SELECT btrim(accident_number)                                   AS ev_id,
       pg_temp.to_date_mdy(event_date)                          AS event_date,
       nullif(concat_ws(', ', nullif(btrim(city), ''), nullif(btrim(state), '')), '') AS location,
       nullif(btrim(state), '')                                 AS state,
       pg_temp.to_num(latitude, -90, 90)::numeric(9,6)          AS latitude,
       pg_temp.to_num(longitude, -180, 180)::numeric(9,6)       AS longitude,
       nullif(btrim(aircraft_category), '')                     AS aircraft_category,
       nullif(btrim(injury_severity), '')                       AS injury_severity,
       pg_temp.to_num(total_fatalities, 0, 100000)::int         AS total_fatalities,
       pg_temp.to_num(total_injuries, 0, 100000)::int           AS total_injuries,
       pg_temp.to_num(total_uninjured, 0, 100000)::int          AS total_uninjured,
       nullif(btrim(make), '')                                  AS make,
       nullif(btrim(model), '')                                 AS model,
       (nullif(btrim(latitude), '') IS NOT NULL AND pg_temp.to_num(latitude, -90, 90) IS NULL)
        OR (nullif(btrim(longitude), '') IS NOT NULL AND pg_temp.to_num(longitude, -180, 180) IS NULL)
                                                                AS bad_coordinates
FROM ntsb_staging
WHERE nullif(btrim(accident_number), '') IS NOT NULL;

\set QUIET off
WITH ins AS (
    INSERT INTO events (ev_id, event_date, location, state, latitude, longitude, geom,
                        aircraft_category, injury_severity, total_fatalities, total_injuries,
                        total_uninjured, make, model)
    SELECT ev_id, event_date, location, state, latitude, longitude,
           CASE WHEN latitude IS NOT NULL AND longitude IS NOT NULL
                THEN ST_SetSRID(ST_MakePoint(longitude::float8, latitude::float8), 4326) END,
           aircraft_category, injury_severity, total_fatalities, total_injuries,
           total_uninjured, make, model
    FROM clean
    WHERE event_date IS NOT NULL
    ORDER BY event_date, ev_id
    ON CONFLICT (ev_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM ntsb_staging)                                   AS csv_rows,
       (SELECT count(*) FROM ins)                                            AS loaded,
       (SELECT count(*) FROM ntsb_staging) - (SELECT count(*) FROM clean)    AS skipped_blank,
       (SELECT count(*) FROM clean WHERE event_date IS NULL)                 AS skipped_bad_date,
       (SELECT count(*) FROM clean WHERE event_date IS NOT NULL)
           - (SELECT count(*) FROM ins)                                      AS skipped_duplicate_id,
       (SELECT count(*) FROM clean WHERE bad_coordinates)                    AS coordinates_nulled;
\set QUIET on
DROP TABLE ntsb_staging;
