-- Run after ALTER EXTENSION ntsb_perf UPDATE: what the old release stored reads the same, what
-- it scheduled is in 0.2.0's form, and its history is kept. (tests/upgrade.sh then waits for
-- pg_cron's runs and compares the catalog with a fresh install.)
\set ON_ERROR_STOP on
SELECT extversion AS now FROM pg_extension WHERE extname = 'ntsb_perf';
CREATE FUNCTION pg_temp.check(ok boolean, what text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'upgrade check failed: %', what;
    END IF;
    RETURN 'ok: ' || what;
END $$;
-- every figure of every stored monthly state, as the old release read them
CREATE TEMP TABLE now_figures AS
    SELECT 'month' AS kind, month AS at, stats::text AS state_text,
           ntsb_perf.accidents(stats) AS accidents, ntsb_perf.fatal_accidents(stats) AS fatal,
           ntsb_perf.fatalities(stats) AS fatalities, ntsb_perf.serious_injuries(stats) AS serious,
           ntsb_perf.minor_injuries(stats) AS minor, ntsb_perf.uninjured(stats) AS uninjured,
           ntsb_perf.fatal_rate(stats) AS fatal_rate, ntsb_perf.injuries_per_accident(stats) AS injuries_per,
           ntsb_perf.fatalities_mean(stats) AS fat_mean, ntsb_perf.fatalities_variance(stats) AS fat_var,
           ntsb_perf.severity_counts(stats) AS severities
    FROM upg_saved_states
    UNION ALL
    -- roll-ups of the stored states made by this release
    SELECT 'year', date_trunc('year', month::timestamp)::date, ntsb_perf.rollup(stats)::text,
           ntsb_perf.accidents(ntsb_perf.rollup(stats)), ntsb_perf.fatal_accidents(ntsb_perf.rollup(stats)),
           ntsb_perf.fatalities(ntsb_perf.rollup(stats)), ntsb_perf.serious_injuries(ntsb_perf.rollup(stats)),
           ntsb_perf.minor_injuries(ntsb_perf.rollup(stats)), ntsb_perf.uninjured(ntsb_perf.rollup(stats)),
           ntsb_perf.fatal_rate(ntsb_perf.rollup(stats)), ntsb_perf.injuries_per_accident(ntsb_perf.rollup(stats)),
           ntsb_perf.fatalities_mean(ntsb_perf.rollup(stats)), ntsb_perf.fatalities_variance(ntsb_perf.rollup(stats)),
           ntsb_perf.severity_counts(ntsb_perf.rollup(stats))
    FROM upg_saved_states GROUP BY 2;
SELECT pg_temp.check(count(*) = (SELECT count(*) FROM upg_figures)
                     AND NOT EXISTS (SELECT * FROM upg_figures EXCEPT SELECT * FROM now_figures)
                     AND NOT EXISTS (SELECT * FROM now_figures EXCEPT SELECT * FROM upg_figures),
                     format('%s stored monthly states and %s yearly roll-ups: every figure and the text form as the old release gave them',
                            count(*) FILTER (WHERE kind = 'month'), count(*) FILTER (WHERE kind = 'year')))
FROM now_figures;
-- the stored yearly view, and plain SQL over the rows, agree
SELECT pg_temp.check(NOT EXISTS (SELECT year, stats::text FROM accident_stats_by_year
                                 EXCEPT SELECT at, state_text FROM upg_figures WHERE kind = 'year'),
                     'the stored yearly states equal the roll-ups');
SELECT pg_temp.check(NOT EXISTS (SELECT date_trunc('year', event_date)::date, count(*),
                                        count(*) FILTER (WHERE ntsb_perf.normalize_severity(injury_severity) = 'FATL')
                                 FROM events GROUP BY 1
                                 EXCEPT SELECT year, accidents, fatal FROM yearly_figures),
                     'yearly accidents and fatal accidents = count(*) over events');
-- the schedules: same jobs, now running 0.2.0's command, recognised as ntsb_perf's
SELECT pg_temp.check(count(*) = (SELECT count(*) FROM upg_policy_before) AND bool_and(j.command = ntsb_perf._job_command(j.jobid))
                     AND bool_and(ntsb_perf._job_ok(p.jobid, p.job_name, p.created_by, p.schedule)),
                     format('the %s pg_cron jobs run ntsb_perf._scheduled_refresh(jobid) under their old id, name, owner and schedule', count(*)))
FROM ntsb_perf.refresh_policy p JOIN upg_policy_before b ON b.view = p.view::text AND b.jobid = p.jobid
     AND b.job_name = p.job_name AND b.created_by = p.created_by AND b.schedule = p.schedule
JOIN cron.job j ON j.jobid = p.jobid AND j.username = p.created_by;
-- tracking as 0.2.0 needs it (statement trigger enabled ALWAYS, replica row trigger)
SELECT pg_temp.check(bool_and(EXISTS (SELECT 1 FROM ntsb_perf._tracking_triggers(t, 'statement'))
                              AND EXISTS (SELECT 1 FROM ntsb_perf._tracking_triggers(t, 'replica'))),
                     'events and upg_watch carry both tracking triggers')
FROM unnest(ARRAY['events'::regclass, 'upg_watch'::regclass]) t;
SELECT pg_temp.check(bool_and(ntsb_perf.refresh_reason(view) IS NOT NULL), 'states resting on 0.1.0''s change marks are distrusted: ' ||
                     string_agg(view::text || ': ' || ntsb_perf.refresh_reason(view), '; ' ORDER BY view::text))
FROM ntsb_perf.refresh_state;
-- history
SELECT pg_temp.check(count(*) > 0 AND NOT EXISTS (SELECT * FROM upg_log_before EXCEPT SELECT * FROM ntsb_perf.refresh_log),
                     format('the %s refresh_log rows of the old release are kept', count(*)))
FROM upg_log_before;
-- the change marks: no longer writable by other roles
SET ROLE upg_analyst;
DO $$
BEGIN
    UPDATE ntsb_perf.refresh_change SET xid = xid;
    RAISE EXCEPTION 'upg_analyst could move change marks';
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END $$;
RESET ROLE;
SELECT 'ok: change marks are no longer writable by other roles' AS check;
