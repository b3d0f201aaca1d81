-- H2: the bloat forecast against a crossing observed later. scripts/bench.sh runs this file once
-- per step (:step), from a bash loop, since VACUUM cannot run inside a function:
--   setup    a fresh table churn(id, k, pad) of :n rows, the index churn_k on k built after
--            the load (bloat ratio near 1.0); then "measure" round 0 takes the first snapshot
--   work     round :round's churn: DELETE :deletes rows, UPDATE k of :updates rows, VACUUM
--   measure  right after the bash loop has waited for the round's slot (one every :period s):
--            snapshot_indexes() (its defaults: churn_k is sampled), an exact index_bloat of
--            churn_k, and the forecast of churn_k as it stands after this round
--   report   the rounds, the forecast made after round :predict_after, the observed crossing
-- Every round deletes and updates exactly the same number of distinct rows: round r deletes the
-- ids at positions [(r-1)*deletes, r*deletes) of a fixed pseudo-random permutation of 1..n
-- (id = p * 2147483647 mod n + 1, a bijection: the prime is coprime to any n below it), and
-- updates ids from positions beyond the last one any round may delete (:max_rounds * deletes),
-- in a window that moves by :updates each round (never a deleted row). The counts are logged
-- and checked in the report.
\set QUIET on
SET client_min_messages = warning;
SELECT :'step' = 'setup' AS is_setup, :'step' = 'work' AS is_work, :'step' = 'measure' AS is_measure,
       :'step' = 'report' AS is_report \gset

\if :is_setup
DROP TABLE IF EXISTS churn, churn_log;
SELECT setseed(0.25) AS seeded \gset
CREATE TABLE churn (id bigint NOT NULL, k bigint NOT NULL, pad text NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO churn SELECT g, (random() * 1e15)::bigint, left(md5(g::text), 16) FROM generate_series(1, :n) g;
ALTER TABLE churn ADD PRIMARY KEY (id);
CREATE INDEX churn_k ON churn (k);
VACUUM ANALYZE churn;
CHECKPOINT;
CREATE TABLE churn_log (
    round int PRIMARY KEY, deleted bigint, updated bigint, work_s float8, measured_at timestamptz,
    snapshot_s float8, snap_at timestamptz, snap_method text, snap_pages_read bigint, snap_ratio float8,
    snap_density float8, exact_ratio float8, exact_density float8, exact_bytes bigint, exact_expected bigint,
    -- the forecast on the bloat ratio alone (density and fragmentation thresholds out of reach)
    pred timestamptz, pred_early timestamptz, pred_late timestamptz, pred_reason text, pred_snapshots int,
    pred_since timestamptz, pred_crossed boolean,
    -- the bloat_forecast view (default thresholds): the first of its three crossings
    view_pred timestamptz, view_reason text);
INSERT INTO churn_log (round, deleted, updated, work_s) VALUES (0, 0, 0, 0);
\endif

\if :is_work
SELECT clock_timestamp() AS t0 \gset
WITH d AS (
    DELETE FROM churn WHERE id IN (
        SELECT p * 2147483647 % :n + 1 FROM generate_series((:round - 1) * :deletes::bigint, :round * :deletes::bigint - 1) p)
    RETURNING 1)
SELECT count(*) AS deleted FROM d \gset
WITH u AS (
    UPDATE churn SET k = (random() * 1e15)::bigint WHERE id IN (
        SELECT (:max_rounds * :deletes::bigint + ((:round - 1) * :updates::bigint + j) % (:n - :max_rounds * :deletes::bigint))
               * 2147483647 % :n + 1
        FROM generate_series(0, :updates - 1) j)
    RETURNING 1)
SELECT count(*) AS updated FROM u \gset
VACUUM churn;
INSERT INTO churn_log (round, deleted, updated, work_s)
VALUES (:round, :deleted, :updated, extract(epoch FROM clock_timestamp() - :'t0'::timestamptz));
\endif

\if :is_measure
SELECT clock_timestamp() AS t0 \gset
SELECT taken_at AS snap_at FROM ntsb_perf.snapshot_indexes() \gset
UPDATE churn_log l SET measured_at = :'t0', snapshot_s = extract(epoch FROM clock_timestamp() - :'t0'::timestamptz),
       snap_at = h.taken_at, snap_method = h.method, snap_pages_read = h.pages_read, snap_ratio = h.bloat_ratio,
       snap_density = h.avg_leaf_density
FROM ntsb_perf.index_history h
WHERE l.round = :round AND h.taken_at = :'snap_at' AND h.index_oid = 'churn_k'::regclass;
UPDATE churn_log l SET exact_ratio = b.bloat_ratio, exact_density = b.avg_leaf_density, exact_bytes = b.index_bytes,
       exact_expected = b.expected_bytes
FROM ntsb_perf.index_bloat('churn_k') b WHERE l.round = :round;
UPDATE churn_log l SET pred = f.predicted_crossing, pred_early = f.crossing_earliest, pred_late = f.crossing_latest,
       pred_reason = f.crossing_reason, pred_snapshots = f.snapshots, pred_since = f.since, pred_crossed = f.crossed
FROM ntsb_perf.bloat_forecast(1.3, 0, 100) f WHERE l.round = :round AND f.index_oid = 'churn_k'::regclass;
UPDATE churn_log l SET view_pred = f.predicted_crossing, view_reason = f.crossing_reason
FROM ntsb_perf.bloat_forecast f WHERE l.round = :round AND f.index_oid = 'churn_k'::regclass;
\pset tuples_only on
\pset format unaligned
SELECT exact_ratio >= 1.3 FROM churn_log WHERE round = :round;
\endif

\if :is_report
-- Times in seconds since the first snapshot of the series (round 0).
CREATE TEMP TABLE h2 AS
SELECT l.*, extract(epoch FROM l.snap_at - f.snap_at) AS t,
       -- how late the round's measurement started against its slot (round 0's start + round * period)
       extract(epoch FROM l.measured_at - f.measured_at) - l.round * :period AS late_s,
       extract(epoch FROM l.pred - f.snap_at) AS pred_t, extract(epoch FROM l.pred_early - f.snap_at) AS early_t,
       extract(epoch FROM l.pred_late - f.snap_at) AS late_t, extract(epoch FROM l.view_pred - f.snap_at) AS view_t
FROM churn_log l, (SELECT snap_at, measured_at FROM churn_log WHERE round = 0) f;
-- The first round measured at 1.3 or more, exactly; the observed crossing is interpolated
-- between it and the round before (the ratio moves only during the rounds' work).
CREATE TEMP TABLE h2_obs AS
SELECT a.round, a.t AS t_round, b.t AS t_before,
       b.t + (1.3 - b.exact_ratio) / (a.exact_ratio - b.exact_ratio) * (a.t - b.t) AS t_obs
FROM h2 a JOIN h2 b ON b.round = a.round - 1
WHERE a.exact_ratio >= 1.3 AND b.exact_ratio < 1.3
ORDER BY a.round LIMIT 1;
\set QUIET off
SELECT 'H2' AS bench, round, round(t::numeric, 1) AS t_s, round(late_s::numeric, 2) AS late_s, round(work_s::numeric, 2) AS work_s,
       round(snapshot_s::numeric, 2) AS snapshot_s, deleted, updated, snap_method AS method, snap_pages_read AS pages_read,
       round(snap_ratio::numeric, 4) AS snap_ratio, round(exact_ratio::numeric, 4) AS exact_ratio,
       round(snap_density::numeric, 2) AS snap_density, round(exact_density::numeric, 2) AS exact_density,
       pg_size_pretty(exact_bytes) AS size, round(((exact_bytes - 1.3 * exact_expected) / 1048576)::numeric, 2) AS gap_mb,
       round(pred_t::numeric, 1) AS pred_t, round(early_t::numeric, 1) AS early_t, round(late_t::numeric, 1) AS late_t,
       view_reason, round(view_t::numeric, 1) AS view_t
FROM h2 ORDER BY round;
\set QUIET on
CREATE TEMP TABLE results (bench text, what text, value text, goal text);
INSERT INTO results
SELECT 'H2', 'workload: rows deleted / updated per round (min..max), rounds, snapshot period s (min..max)',
       format('%s..%s / %s..%s, %s rounds, %s..%s (measurements up to %s s late, work up to %s s)',
              min(deleted), max(deleted), min(updated), max(updated), count(*),
              round(min(dt)::numeric, 2), round(max(dt)::numeric, 2), round(max(late_s)::numeric, 2),
              round(max(work_s)::numeric, 2)),
       format('%s / %s each, every %s s', :deletes, :updates, :period)
FROM (SELECT round, deleted, updated, late_s, work_s, t - lag(t) OVER (ORDER BY round) AS dt FROM h2) x WHERE round > 0;
INSERT INTO results
SELECT 'H2', format('prediction after round %s (%s snapshots, reason %s, exact ratio %s then): crossing at t, band',
                    p.round, p.pred_snapshots, p.pred_reason, round(p.exact_ratio::numeric, 4)),
       format('t = %s s, band %s .. %s s (made at %s s)', round(p.pred_t::numeric, 1), round(p.early_t::numeric, 1),
              coalesce(round(p.late_t::numeric, 1)::text, 'never'), round(p.t::numeric, 1)),
       ''
FROM h2 p WHERE p.round = :predict_after;
INSERT INTO results
SELECT 'H2', 'observed crossing (exact bloat_ratio 1.3, interpolated between rounds)',
       coalesce(format('t = %s s (round %s at %s s, round %s at %s s)', round(o.t_obs::numeric, 1), o.round,
                       round(o.t_round::numeric, 1), o.round - 1, round(o.t_before::numeric, 1)),
                'not reached within the rounds run'), ''
FROM (SELECT 1) one LEFT JOIN h2_obs o ON true;
INSERT INTO results
SELECT 'H2', '|predicted - observed| / (observed - first snapshot)',
       round((abs(p.pred_t - o.t_obs) / o.t_obs)::numeric, 4)::text
           || CASE WHEN p.pred_t < o.t_obs THEN ' (early)' ELSE ' (late)' END
           || format(' [vs the first round at >= 1.3: %s]', round((abs(p.pred_t - o.t_round) / o.t_round)::numeric, 4)),
       '<= 0.15'
FROM h2 p, h2_obs o WHERE p.round = :predict_after AND o.round > p.round;
INSERT INTO results
SELECT 'H2', '|predicted - observed| / (observed - prediction made)',
       round((abs(p.pred_t - o.t_obs) / (o.t_obs - p.t))::numeric, 4)::text, '(none)'
FROM h2 p, h2_obs o WHERE p.round = :predict_after AND o.round > p.round;
INSERT INTO results
SELECT 'H2', 'observed crossing inside the band [crossing_earliest, crossing_latest]',
       (o.t_obs BETWEEN p.early_t AND coalesce(p.late_t, 'Infinity'))::text, ''
FROM h2 p, h2_obs o WHERE p.round = :predict_after AND o.round > p.round;
INSERT INTO results
SELECT 'H2', format('the view with its defaults after round %s: first crossing', p.round),
       format('%s at t = %s s', p.view_reason, round(p.view_t::numeric, 1)), '(none)'
FROM h2 p WHERE p.round = :predict_after;
-- How the ratio-only prediction settles as rounds are added (error against the observed crossing).
INSERT INTO results
SELECT 'H2', 'error of the prediction made after rounds ' || string_agg(p.round::text, ', ' ORDER BY p.round),
       string_agg(round((abs(p.pred_t - o.t_obs) / o.t_obs)::numeric, 3)::text, ', ' ORDER BY p.round), '(none)'
FROM h2 p, h2_obs o WHERE p.round >= 3 AND p.round < o.round AND p.pred_t IS NOT NULL
HAVING count(*) > 0;
INSERT INTO results
SELECT 'H2', 'NOTE', format('the crossing came at round %s, before the prediction of round %s: nothing to judge',
                            o.round, :predict_after), ''
FROM h2_obs o WHERE o.round <= :predict_after;
\set QUIET off
SELECT * FROM results;
\endif
