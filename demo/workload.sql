-- Queries the seed's users run, so that the index usage counters move.
SELECT count(*) AS jan_2019 FROM events WHERE event_date BETWEEN '2019-01-01' AND '2019-01-31';
SELECT ev_id, event_date, location FROM events WHERE injury_severity = 'FATAL(3)'
ORDER BY event_date DESC LIMIT 5;
SELECT count(*) AS misspelled_serious FROM events WHERE injury_severity = 'SIRUOSE';
SELECT count(*) AS gliders FROM events WHERE aircraft_category = 'GLIDER';
SELECT ev_id, event_date, injury_severity FROM events ORDER BY event_date DESC, injury_severity LIMIT 5;
SELECT count(*) AS within_50km_of_phoenix FROM events
WHERE ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(-112.07, 33.45), 4326)::geography, 50000);
SELECT count(*) AS near_anchorage FROM events
WHERE geom && ST_MakeEnvelope(-150.5, 60.9, -149.3, 61.5, 4326);
SELECT location FROM events WHERE ev_id = (SELECT min(ev_id) FROM events);
SELECT count(*) AS one_day FROM events WHERE id BETWEEN 1000 AND 1100;
