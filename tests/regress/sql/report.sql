-- health_report and hotspots_geojson: API, arguments, missing data, privileges,
-- escaping, GeoJSON shape and errors. The page's figures and the browser are checked by
-- tests/live/report_browser.sh.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- The summary line of one section of a page.
CREATE FUNCTION pg_temp.summary(page text, id text) RETURNS text LANGUAGE sql AS $$
SELECT (regexp_match(page, '<section id="' || id || '"><h2>[^<]*</h2><p class="summary ([a-z]+)">([^<]*)</p>'))[1]
       || ': ' || (regexp_match(page, '<section id="' || id || '"><h2>[^<]*</h2><p class="summary ([a-z]+)">([^<]*)</p>'))[2]
$$;

-- API: signatures, volatility, security (invoker), parallel safety, strictness.
SELECT p.proname, pg_get_function_arguments(p.oid) AS args, p.prorettype::regtype AS returns,
       p.provolatile, p.proparallel, p.prosecdef, p.proisstrict, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_run
FROM pg_proc p WHERE p.pronamespace = 'ntsb_perf'::regnamespace AND p.proname IN ('health_report', 'hotspots_geojson')
ORDER BY 1;

-- A copy of 3,000 accidents as this schema's events table (the search_path finds it).
CREATE SCHEMA report_t;
CREATE TABLE report_t.events AS SELECT * FROM src.accidents_src ORDER BY id LIMIT 3000;
CREATE INDEX report_geom ON report_t.events USING gist (geom);
CREATE INDEX "<img src=x onerror=alert(1)>" ON report_t.events (event_date);
CREATE SCHEMA "</style><script>";
CREATE TABLE "</style><script>".t (a int);
CREATE INDEX "x"" onmouseover=""alert(1)" ON "</style><script>".t (a);
SET search_path = report_t, public;

-- What the page must say about these rows, from plain SQL over them (they are the real export's
-- or the generator's, whichever scripts/regress.sh loaded, so no figure is written here):
-- counts with thousands separators, rates as Rust's {:.1} prints the same float8 (to_char
-- rounds it as printf does), fatal as in the statistics tests.
CREATE FUNCTION pg_temp.n(bigint) RETURNS text LANGUAGE sql AS $$ SELECT to_char($1, 'FM999,999,999,990') $$;
CREATE FUNCTION pg_temp.pct(bigint, bigint) RETURNS text LANGUAGE sql AS
$$ SELECT to_char($1::float8 / $2::float8 * 100, 'FM990.0') $$;
-- Cells of the hotspot grid (Lambert cylindrical equal-area, R = 6371.0072 km), as in the
-- spatial test, ranked as accident_hotspots ranks them; lon/lat of the centre to 6 decimals.
CREATE FUNCTION pg_temp.cells(km float8)
RETURNS TABLE (rank bigint, accidents bigint, fatal bigint, lon float8, lat float8) LANGUAGE sql AS $$
SELECT row_number() OVER (ORDER BY count(*) DESC, count(*) FILTER (WHERE fatal) DESC, i, j), count(*),
       count(*) FILTER (WHERE fatal), round(degrees((i + 0.5) * km / 6371.0072) * 1e6) / 1e6,
       round(degrees(asin((j + 0.5) * km / 6371.0072)) * 1e6) / 1e6
FROM (SELECT floor(6371.0072 * radians(ST_X(geom)) / km)::bigint AS i,
             floor(6371.0072 * sin(radians(ST_Y(geom))) / km)::bigint AS j, injury_severity LIKE 'FATAL%' AS fatal
      FROM report_t.events WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom)) p
GROUP BY i, j $$;
CREATE TEMP VIEW report_years AS
SELECT extract(year FROM event_date)::int AS year, count(*) AS accidents,
       count(*) FILTER (WHERE injury_severity LIKE 'FATAL%') AS fatal
FROM report_t.events GROUP BY 1;
SELECT format('ok: %s accidents in events from %s to %s, %s of them fatal (%s%%)%s.',
              pg_temp.n(sum(accidents)::bigint), min(year), max(year), pg_temp.n(sum(fatal)::bigint),
              pg_temp.pct(sum(fatal)::bigint, sum(accidents)::bigint),
              coalesce((SELECT format('; the highest fatal rate was %s&#39;s (%s%%)', year, pg_temp.pct(fatal, accidents))
                        FROM report_years WHERE year IS NOT NULL AND accidents >= 20
                        ORDER BY fatal::float8 / accidents::float8 DESC, year DESC LIMIT 1), '')) AS want_stats
FROM report_years \gset
SELECT format('ok: The %s busiest 50 km cells hold %s accidents; the busiest, around %s, %s, has %s (%s fatal). %s accidents have no location.',
              count(*), pg_temp.n(sum(c.accidents)::bigint),
              to_char(min(c.lon) FILTER (WHERE c.rank = 1), 'FM9990.00'), to_char(min(c.lat) FILTER (WHERE c.rank = 1), 'FM990.00'),
              pg_temp.n(min(c.accidents) FILTER (WHERE c.rank = 1)), pg_temp.n(min(c.fatal) FILTER (WHERE c.rank = 1)),
              pg_temp.n((SELECT count(*) FROM report_t.events WHERE geom IS NULL OR ST_IsEmpty(geom)))) AS want_hotspots
FROM pg_temp.cells(50) c WHERE c.rank <= 25 \gset

-- One page: the doctype, ten sections in order, each with a summary line, one style element,
-- no script, no external reference, every hostile name escaped.
SELECT left(r, 15) AS starts, right(r, 8) = E'</html>\n' AS ends,
       (SELECT array_agg(m[1]) FROM regexp_matches(r, '<h2>([^<]+)</h2>', 'g') m) AS sections,
       (SELECT count(*) FROM regexp_matches(r, '<p class="summary', 'g')) AS summaries,
       (SELECT count(*) FROM regexp_matches(r, '<style>', 'g')) AS style_elements,
       r ~* '<(script|img|iframe|object|embed|link|base|form|b|i)\M|<[^>]*\son[a-z]+\s*=|javascript:|https?:|://|url\(' AS has_markup_it_did_not_write,
       position('&lt;img src=x onerror=alert(1)&gt;' IN r) > 0 AS index_name_escaped,
       position('&lt;/style&gt;&lt;script&gt;' IN r) > 0 AS schema_name_escaped,
       position('x&quot; onmouseover=&quot;alert(1)' IN r) > 0 AS quote_escaped
FROM ntsb_perf.health_report(sample_pages => 20) r;
-- The same pattern does catch the names unescaped (the check above can fail).
SELECT bool_and(v ~* '<(script|img|iframe|object|embed|link|base|form|b|i)\M|<[^>]*\son[a-z]+\s*=|javascript:|https?:|://|url\(') AS pattern_catches_raw_names
FROM (VALUES ('<img src=x onerror=alert(1)>'), ('</style><script>'), ('<td x" onmouseover="alert(1)">')) t(v);

-- Only one schema: its indexes (and none of another schema).
SELECT pg_temp.summary(r, 'index-usage') AS usage, position('report_geom' IN r) > 0 AS other_schema_shown
FROM ntsb_perf.health_report('</style><script>') r;
SELECT pg_temp.summary(r, 'accident-stats') = :'want_stats' AS stats_as_computed,
       pg_temp.summary(r, 'hotspots') = :'want_hotspots' AS hotspots_as_computed
FROM ntsb_perf.health_report('report_t', 20) r;

-- Arguments: names of 64 bytes or more, unknown schemas, bad samples.
SELECT pg_temp.err($$SELECT ntsb_perf.health_report(repeat('s', 64))$$) AS long_name,
       pg_temp.err($$SELECT ntsb_perf.health_report(repeat('é', 32))$$) AS long_multibyte,
       pg_temp.err($$SELECT ntsb_perf.health_report('no_such_schema')$$) AS unknown,
       pg_temp.err($$SELECT ntsb_perf.health_report('public; DROP TABLE x')$$) AS garbage,
       pg_temp.err($$SELECT ntsb_perf.health_report('')$$) AS empty;
SELECT pg_temp.err($$SELECT ntsb_perf.health_report(NULL, 0)$$) AS zero,
       pg_temp.err($$SELECT ntsb_perf.health_report(NULL, -5)$$) AS negative,
       pg_temp.err($$SELECT ntsb_perf.health_report('report_t', 2147483647)$$) AS huge,
       pg_temp.err($$SELECT ntsb_perf.health_report(repeat('s', 63))$$) AS name_of_63_bytes_unknown;

-- Without events on the search_path, without PostGIS's help, without read rights.
SET search_path = pg_catalog;
SELECT pg_temp.summary(r, 'accident-stats') AS stats, pg_temp.summary(r, 'hotspots') AS hotspots
FROM ntsb_perf.health_report('report_t', 20) r;
SET search_path = report_t, public;
CREATE ROLE report_reader NOLOGIN;
CREATE ROLE report_owner NOLOGIN;
CREATE TABLE report_t.private_t (a int);
ALTER TABLE report_t.private_t OWNER TO report_owner;
CREATE INDEX report_private_idx ON report_t.private_t (a);
GRANT USAGE ON SCHEMA report_t TO report_reader;
SET ROLE report_reader;
-- Not a member of pg_stat_scan_tables: the bloat section says so; events is not readable;
-- the private table's index is not listed.
SELECT pg_temp.summary(r, 'index-bloat') AS bloat, pg_temp.summary(r, 'accident-stats') AS stats,
       pg_temp.summary(r, 'hotspots') AS hotspots, position('report_private_idx' IN r) > 0 AS private_index_shown,
       pg_temp.summary(r, 'index-usage') AS usage
FROM ntsb_perf.health_report('report_t') r;
RESET ROLE;
GRANT SELECT ON report_t.events TO report_reader;
GRANT pg_stat_scan_tables TO report_reader;
SET ROLE report_reader;
-- Now the bloat section measures, and, as index_bloat_report does for pg_stat_scan_tables
-- (whose members may read any relation's pages), it lists the private table's index too.
SELECT pg_temp.summary(r, 'index-bloat') ~ '^(ok|attention): ' AS bloat_measured,
       pg_temp.summary(r, 'accident-stats') = :'want_stats' AS stats_as_computed,
       position('report_private_idx' IN r) > 0 AS private_index_shown
FROM ntsb_perf.health_report('report_t', 20) r;
RESET ROLE;
-- The owner sees its own index.
SET ROLE report_owner;
SELECT position('report_private_idx' IN r) > 0 AS own_index_shown FROM ntsb_perf.health_report('report_t') r;
RESET ROLE;

-- hotspots_geojson: the shape of one cell (lon/lat order, counter-clockwise, closed).
SELECT jsonb_pretty(ntsb_perf.hotspots_geojson(
    '{"cell_km": 50, "cells": [{"lon": -112.190244, "lat": 33.592857, "accidents": 170, "fatal_accidents": 15}], "skipped_null": 3}'));
-- From the aggregate: one feature per cell, in rank order, each a valid polygon covering its
-- centre, exterior ring counter-clockwise (PostGIS: ST_IsPolygonCCW), and the counts kept.
WITH h AS (SELECT ntsb_perf.accident_hotspots(geom, injury_severity LIKE 'FATAL%', 25, 40) AS h FROM report_t.events),
     f AS (SELECT feat, ord FROM h, jsonb_array_elements(ntsb_perf.hotspots_geojson(h.h)->'features') WITH ORDINALITY x(feat, ord)),
     c AS (SELECT * FROM h, ntsb_perf.hotspot_cells(h.h))
SELECT count(*) = (SELECT least(40, count(*)) FROM pg_temp.cells(25)) AS forty_features_or_one_per_cell,
       bool_and((f.feat->'properties'->>'rank')::int = f.ord) AS in_rank_order,
       bool_and(ST_IsValid(ST_GeomFromGeoJSON(f.feat->>'geometry'))) AS valid,
       bool_and(ST_IsPolygonCCW(ST_GeomFromGeoJSON(f.feat->>'geometry'))) AS ccw,
       bool_and(ST_NPoints(ST_GeomFromGeoJSON(f.feat->>'geometry')) = 5) AS five_points,
       bool_and(ST_Covers(ST_GeomFromGeoJSON(f.feat->>'geometry'), ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326))) AS covers_centre,
       bool_and((f.feat->'properties'->>'accidents')::bigint = c.accidents
                AND (f.feat->'properties'->>'fatal_accidents')::bigint = c.fatal_accidents) AS counts_kept,
       bool_and(f.feat->'properties' ?& array['rank', 'accidents', 'fatal_accidents']
                AND (SELECT count(*) FROM jsonb_object_keys(f.feat->'properties')) = 3) AS three_properties
FROM f JOIN c ON c.rank = f.ord;
-- NULL (the aggregate over no rows) gives NULL; no cells, an empty collection.
SELECT ntsb_perf.hotspots_geojson(NULL) IS NULL AS null_gives_null,
       ntsb_perf.hotspots_geojson((SELECT ntsb_perf.accident_hotspots(geom, true) FROM report_t.events WHERE false)) IS NULL AS empty_aggregate,
       ntsb_perf.hotspots_geojson('{"cell_km": 25, "cells": []}') AS no_cells;
-- Garbage: 22023 naming what is wrong; too many cells: 54000.
SELECT v AS input, pg_temp.err(format('SELECT ntsb_perf.hotspots_geojson(%L)', v)) AS result
FROM (VALUES ('null'), ('[]'), ('"cells"'), ('{}'), ('{"cells": []}'), ('{"cell_km": 0, "cells": []}'),
             ('{"cell_km": "25", "cells": []}'), ('{"cell_km": 1e400, "cells": []}'), ('{"cell_km": 25}'),
             ('{"cell_km": 25, "cells": {}}'), ('{"cell_km": 25, "cells": [1]}'),
             ('{"cell_km": 25, "cells": [{"lon": 200, "lat": 0, "accidents": 1, "fatal_accidents": 0}]}'),
             ('{"cell_km": 25, "cells": [{"lon": 0, "lat": "x", "accidents": 1, "fatal_accidents": 0}]}'),
             ('{"cell_km": 25, "cells": [{"lon": 0, "lat": 0, "accidents": -1, "fatal_accidents": 0}]}'),
             ('{"cell_km": 25, "cells": [{"lon": 0, "lat": 0, "accidents": 1.5, "fatal_accidents": 0}]}'),
             ('{"cell_km": 25, "cells": [{"lon": 0, "lat": 0, "accidents": 1e30, "fatal_accidents": 0}]}'),
             ('{"cell_km": 25, "cells": [{"lon": 0, "lat": 0, "accidents": 1, "fatal_accidents": 2}]}'),
             ('{"cell_km": 25, "cells": [{"lon": 0, "lat": 0, "accidents": 1}]}'),
             ('{"cell_km": 25, "cells": [{"lon": 1e400, "lat": 0, "accidents": 1, "fatal_accidents": 0}]}')) t(v);
SELECT pg_temp.err($$SELECT ntsb_perf.hotspots_geojson(jsonb_build_object('cell_km', 25, 'cells',
    (SELECT jsonb_agg(jsonb_build_object('lon', 0, 'lat', 0, 'accidents', 1, 'fatal_accidents', 0))
     FROM generate_series(1, 100001))))$$) AS too_many;

RESET search_path;
DROP SCHEMA report_t CASCADE;
DROP SCHEMA "</style><script>" CASCADE;
DROP ROLE report_reader;
DROP ROLE report_owner;
