-- Run after ALTER EXTENSION ntsb_perf UPDATE: what the old release stored reads the same, what
-- it scheduled is in this version's form, and its history is kept. (tests/upgrade/upgrade.sh then waits for
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
-- every figure of every stored monthly state and of their roll-ups, as the old release read them
SELECT pg_temp.check(count(*) = (SELECT count(*) FROM upg_figures)
                     AND NOT EXISTS (SELECT * FROM upg_figures EXCEPT SELECT * FROM upg_figures_now)
                     AND NOT EXISTS (SELECT * FROM upg_figures_now EXCEPT SELECT * FROM upg_figures),
                     format('%s stored monthly states and %s yearly roll-ups: every figure and the text form as the old release gave them',
                            count(*) FILTER (WHERE kind = 'month'), count(*) FILTER (WHERE kind = 'year')))
FROM upg_figures_now;
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
                     'events, upg_events_2021 and upg_watch carry both tracking triggers')
FROM unnest(ARRAY['events'::regclass, 'upg_events_2021'::regclass, 'upg_watch'::regclass]) t;
SELECT :'old' = '0.1.0' AS from_0_1_0 \gset
\if :from_0_1_0
-- (or refreshed since the update began: pg_cron runs the every-minute job whenever its minute
-- comes, also between the update and this check)
SELECT pg_temp.check(bool_and(ntsb_perf.refresh_reason(s.view) IS NOT NULL
                              OR EXISTS (SELECT 1 FROM ntsb_perf.refresh_log l
                                         WHERE l.view = s.view AND l.started_at >= :'updated'::timestamptz)),
                     'states resting on 0.1.0''s change marks are distrusted: ' ||
                     string_agg(s.view::text || ': ' || coalesce(ntsb_perf.refresh_reason(s.view), 'refreshed since the update'),
                                '; ' ORDER BY s.view::text))
FROM ntsb_perf.refresh_state s;
\endif
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
