-- Generates :rows accidents into events with the distributions of the real NTSB export
-- (demo/distributions.sql): years, months, severity codes as the source writes them,
-- aircraft categories (often empty before 2008), makes, injury counts, US places with
-- ~17% of accidents without coordinates. Years ascend with id, like a table filled over time.
-- Usage: psql -v rows=150000 -f demo/generate.sql
\ir distributions.sql

CREATE TEMP TABLE dist_coded AS
SELECT kind, label, weight, lat, lon, lat_sd, lon_sd,
       row_number() OVER (PARTITION BY kind ORDER BY weight DESC, label) AS code,
       CASE WHEN kind = 'year' THEN row_number() OVER (PARTITION BY kind ORDER BY label)
            ELSE row_number() OVER (PARTITION BY kind ORDER BY weight DESC, label) END AS ord
FROM dist;

-- 10,000 slots per kind, each holding a code; a uniform draw picks a slot. Int arrays without
-- NULLs are read in O(1), so the generator costs the same per row at any size.
CREATE TEMP TABLE cum AS
SELECT kind, code, ord,
       sum(weight) OVER (PARTITION BY kind ORDER BY ord ROWS UNBOUNDED PRECEDING)::float8
         / sum(weight) OVER (PARTITION BY kind) AS hi
FROM dist_coded;
CREATE INDEX ON cum (kind, hi);

CREATE TEMP TABLE slots AS
SELECT k.kind,
       array_agg((SELECT c.code FROM cum c WHERE c.kind = k.kind AND c.hi >= (s - 0.5) / 10000.0
                  ORDER BY c.hi LIMIT 1) ORDER BY s) AS slots,
       (SELECT array_agg(label ORDER BY code) FROM dist_coded d WHERE d.kind = k.kind) AS labels,
       (SELECT array_agg(lat ORDER BY code) FROM dist_coded d WHERE d.kind = k.kind) AS lats,
       (SELECT array_agg(lon ORDER BY code) FROM dist_coded d WHERE d.kind = k.kind) AS lons,
       (SELECT array_agg(lat_sd ORDER BY code) FROM dist_coded d WHERE d.kind = k.kind) AS lat_sds,
       (SELECT array_agg(lon_sd ORDER BY code) FROM dist_coded d WHERE d.kind = k.kind) AS lon_sds
FROM (SELECT DISTINCT kind FROM dist) k, generate_series(1, 10000) s
GROUP BY k.kind;

SELECT max(slots::text) FILTER (WHERE kind = 'year')                    AS year_slots,
       max(labels::text) FILTER (WHERE kind = 'year')                   AS year_labels,
       max(slots::text) FILTER (WHERE kind = 'month')                   AS month_slots,
       max(labels::text) FILTER (WHERE kind = 'month')                  AS month_labels,
       max(slots::text) FILTER (WHERE kind = 'severity')                AS sev_slots,
       max(labels::text) FILTER (WHERE kind = 'severity')               AS sev_labels,
       max(slots::text) FILTER (WHERE kind = 'category_before_2008')    AS cat_old_slots,
       max(labels::text) FILTER (WHERE kind = 'category_before_2008')   AS cat_old_labels,
       max(slots::text) FILTER (WHERE kind = 'category_since_2008')     AS cat_new_slots,
       max(labels::text) FILTER (WHERE kind = 'category_since_2008')    AS cat_new_labels,
       max(slots::text) FILTER (WHERE kind = 'make')                    AS make_slots,
       max(labels::text) FILTER (WHERE kind = 'make')                   AS make_labels,
       max(slots::text) FILTER (WHERE kind = 'total_injuries')          AS inj_slots,
       max(labels::text) FILTER (WHERE kind = 'total_injuries')         AS inj_labels,
       max(slots::text) FILTER (WHERE kind = 'total_uninjured')         AS uninj_slots,
       max(labels::text) FILTER (WHERE kind = 'total_uninjured')        AS uninj_labels,
       max(slots::text) FILTER (WHERE kind = 'fatalities_if_not_fatal') AS nf_slots,
       max(labels::text) FILTER (WHERE kind = 'fatalities_if_not_fatal') AS nf_labels,
       max(slots::text) FILTER (WHERE kind = 'place')                   AS place_slots,
       max(labels::text) FILTER (WHERE kind = 'place')                  AS place_labels,
       max(lats::text) FILTER (WHERE kind = 'place')                    AS place_lats,
       max(lons::text) FILTER (WHERE kind = 'place')                    AS place_lons,
       max(lat_sds::text) FILTER (WHERE kind = 'place')                 AS place_lat_sds,
       max(lon_sds::text) FILTER (WHERE kind = 'place')                 AS place_lon_sds,
       -- share of accidents without a state, and of those with one that lack coordinates
       (SELECT weight::float8 / (SELECT sum(weight) FROM dist WHERE kind = 'coords')
          FROM dist WHERE kind = 'no_state')                            AS p_no_state,
       (SELECT (w.weight - n.weight)::float8 / ((SELECT sum(weight) FROM dist WHERE kind = 'coords') - n.weight)
          FROM dist w, dist n WHERE w.kind = 'coords' AND w.label = 'without' AND n.kind = 'no_state')
                                                                        AS p_no_coords
FROM slots \gset

INSERT INTO events (ev_id, event_date, location, state, latitude, longitude, geom,
                    aircraft_category, injury_severity, total_fatalities, total_injuries,
                    total_uninjured, make, model)
SELECT (ARRAY['ERA','CEN','WPR','ANC','GAA'])[1 + (g % 5)] || to_char(yr % 100, 'FM00')
         || CASE WHEN sev LIKE 'FATAL%' THEN 'FA' ELSE 'LA' END || g,
       make_date(yr, mon, 1) + day_off,
       place,
       CASE WHEN place IS NOT NULL THEN right(place, 2) END,
       lat::numeric(9,6), lon::numeric(9,6),
       CASE WHEN lat IS NOT NULL THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326) END,
       CASE WHEN yr < 2008 THEN (:'cat_old_labels'::text[])[(:'cat_old_slots'::int[])[s_cat]]
            ELSE (:'cat_new_labels'::text[])[(:'cat_new_slots'::int[])[s_cat]] END,
       sev,
       CASE WHEN sev ~ '^FATAL\(\d+\)$' THEN substring(sev FROM '\((\d+)\)')::int
            WHEN sev = 'FATAL' THEN 1 + (u_fat * 2)::int
            ELSE (:'nf_labels'::text[])[(:'nf_slots'::int[])[s_nf]]::int END,
       (:'inj_labels'::text[])[(:'inj_slots'::int[])[s_inj]]::int,
       (:'uninj_labels'::text[])[(:'uninj_slots'::int[])[s_uninj]]::int,
       mk,
       CASE WHEN mk IS NOT NULL THEN upper(left(mk, 2)) || '-' || (100 + (u_fat * 400)::int) END
FROM (
    SELECT g, yr, sev, mk, place, plat_sd, plon_sd, s_cat, s_nf, s_inj, s_uninj, u_fat,
           CASE WHEN yr = 2021 THEN 1 + (random() > 0.5)::int
                ELSE (:'month_labels'::text[])[(:'month_slots'::int[])[s_mon]]::int END AS mon,
           (random() * 27)::int AS day_off,
           CASE WHEN place IS NOT NULL AND random() >= :p_no_coords
                THEN greatest(-89.9, least(89.9, plat + plat_sd * n1)) END AS lat,
           CASE WHEN place IS NOT NULL
                THEN greatest(-179.9, least(179.9, plon + plon_sd * n2)) END AS lon
    FROM (
        SELECT g,
               (:'year_labels'::text[])[(:'year_slots'::int[])[1 + ((g - 1) * 10000::bigint / :rows)::int]]::int AS yr,
               (:'sev_labels'::text[])[(:'sev_slots'::int[])[1 + (random() * 9999)::int]] AS sev,
               (:'make_labels'::text[])[(:'make_slots'::int[])[1 + (random() * 9999)::int]] AS mk,
               CASE WHEN random() >= :p_no_state THEN (:'place_labels'::text[])[p] END AS place,
               (:'place_lats'::float8[])[p] AS plat,
               (:'place_lons'::float8[])[p] AS plon,
               (:'place_lat_sds'::float8[])[p] AS plat_sd,
               (:'place_lon_sds'::float8[])[p] AS plon_sd,
               1 + (random() * 9999)::int AS s_cat,
               1 + (random() * 9999)::int AS s_nf,
               1 + (random() * 9999)::int AS s_inj,
               1 + (random() * 9999)::int AS s_uninj,
               1 + (random() * 9999)::int AS s_mon,
               random() AS u_fat,
               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS n1,
               sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS n2
        FROM generate_series(1, :rows) g,
             LATERAL (SELECT (:'place_slots'::int[])[1 + (random() * 9999 + g * 0)::int] AS p) pp
    ) raw
) r;
SELECT count(*) AS generated FROM events;
