-- Refresh, scheduling: a policy and a pg_cron job per view (schedule_refresh, unschedule_refresh),
-- what the job runs (_scheduled_refresh), forgetting a dropped view (_forget), and the status
-- view. The jobs' names, commands and checks are the scheduling module's (sql/schedule/jobs.sql).
-- See docs/refresh.md.

-- Schedules `view` to be refreshed by pg_cron (through ntsb_perf.refresh). Everything is checked
-- now. Called again for the same view, it updates the policy and the same job. Job identity is
-- the job id the policy holds, and only while that job is still the one ntsb_perf created (same
-- name, command and owner): a job ntsb_perf did not create is never adopted or changed.
CREATE FUNCTION ntsb_perf.schedule_refresh(view regclass, schedule text, "concurrently" boolean DEFAULT true,
                                           skip_if_unchanged boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass := $1;
    sched text := $2;
    conc boolean := $3;
    skip boolean := $4;
    su boolean := coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false);
    pol record;
    jname text;
    owner name := current_user;
    other bigint;
    id bigint;
BEGIN
    PERFORM ntsb_perf._check_matview(v, 'ntsb_perf.schedule_refresh');
    IF sched IS NULL OR conc IS NULL OR skip IS NULL THEN
        RAISE EXCEPTION 'schedule, concurrently and skip_if_unchanged must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM ntsb_perf.parse_cron(sched);
    IF conc AND NOT ntsb_perf._has_refresh_key(v) THEN
        RAISE EXCEPTION 'materialized view % cannot be refreshed concurrently: it has no unique index on plain columns without a WHERE clause', v
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('CREATE UNIQUE INDEX ON %s (<columns that identify a row>), or pass concurrently => false (readers are then blocked during each refresh).', v);
    END IF;
    PERFORM ntsb_perf._require_pg_cron();
    IF skip THEN
        PERFORM ntsb_perf._ensure_tracking(v);
    END IF;
    -- One schedule_refresh per view at a time (the same lock refresh() takes).
    PERFORM ntsb_perf._refresh_view_lock(v);
    SELECT * INTO pol FROM ntsb_perf.refresh_policy p WHERE p.view = v;
    IF FOUND AND ntsb_perf._job_ok(pol.jobid, pol.job_name, pol.created_by) THEN
        -- The policy's own job: change its schedule in place.
        IF pol.created_by = current_user THEN
            EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING pol.job_name, sched, ntsb_perf._job_command(pol.jobid);
        ELSIF su THEN
            EXECUTE 'SELECT cron.alter_job($1, schedule => $2)' USING pol.jobid, sched;
            id := pol.jobid;
        ELSE
            RAISE EXCEPTION 'the refresh of % is scheduled by role %', v, pol.created_by
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('Only %I (or a superuser) can change or remove its pg_cron job.', pol.created_by);
        END IF;
        IF id IS DISTINCT FROM pol.jobid THEN
            RAISE EXCEPTION 'pg_cron did not update job % in place', pol.jobid USING ERRCODE = 'internal_error';
        END IF;
        jname := pol.job_name;
        owner := pol.created_by;
    ELSE
        -- No policy, or its job is gone or no longer ntsb_perf's: a new job (the old one, if
        -- any, is left alone). pg_cron's cron.schedule(name, ...) would take over a job of the
        -- same name and owner, so such a job must not exist.
        jname := ntsb_perf._job_name(v);
        EXECUTE 'SELECT min(j.jobid) FROM cron.job j WHERE j.jobname = $1 AND j.username = current_user'
            INTO other USING jname;
        IF other IS NOT NULL THEN
            RAISE EXCEPTION 'a pg_cron job named "%" already exists (job %), and this refresh policy did not create it', jname, other
                USING ERRCODE = 'duplicate_object',
                      HINT = format('Remove it (SELECT cron.unschedule(%s)) if it is not needed, then schedule again.', other);
        END IF;
        -- (The command names the job id, known once the job exists: created, then given its
        -- command under the same name and owner, which pg_cron applies to the same job.)
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO id USING jname, sched, 'SELECT 1';
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO other USING jname, sched, ntsb_perf._job_command(id);
        IF other IS DISTINCT FROM id THEN
            RAISE EXCEPTION 'pg_cron did not update job % in place', id USING ERRCODE = 'internal_error';
        END IF;
    END IF;
    INSERT INTO ntsb_perf.refresh_policy AS p (view, schedule, concurrent, skip_if_unchanged, jobid, job_name, created_by)
    VALUES (v, sched, conc, skip, id, jname, owner)
    ON CONFLICT ON CONSTRAINT refresh_policy_pkey DO UPDATE
        SET schedule = EXCLUDED.schedule, concurrent = EXCLUDED.concurrent,
            skip_if_unchanged = EXCLUDED.skip_if_unchanged, jobid = EXCLUDED.jobid,
            job_name = EXCLUDED.job_name, created_by = EXCLUDED.created_by;
    RETURN id;
END $$;

-- Removes the policy and the pg_cron job of `view` (false, with a notice, when it had none).
-- The job is removed only while it is still the one ntsb_perf created for the policy.
-- Tracking triggers stay (other views or manual refresh() calls may rely on them).
CREATE FUNCTION ntsb_perf.unschedule_refresh(view regclass) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v regclass := $1;
    su boolean := coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false);
    pol record;
BEGIN
    PERFORM ntsb_perf._check_matview(v, 'ntsb_perf.unschedule_refresh');
    PERFORM ntsb_perf._refresh_view_lock(v);
    SELECT * INTO pol FROM ntsb_perf.refresh_policy p WHERE p.view = v;
    IF NOT FOUND THEN
        RAISE NOTICE 'no refresh is scheduled for %', v;
        RETURN false;
    END IF;
    IF ntsb_perf._job_ok(pol.jobid, pol.job_name, pol.created_by) THEN
        IF pol.created_by <> current_user AND NOT su THEN
            RAISE EXCEPTION 'the refresh of % is scheduled by role %', v, pol.created_by
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('Only %I (or a superuser) can change or remove its pg_cron job.', pol.created_by);
        END IF;
        EXECUTE 'SELECT cron.unschedule($1)' USING pol.jobid;
    ELSE
        RAISE NOTICE 'pg_cron job % of % is gone or no longer ntsb_perf''s: left alone', pol.jobid, v;
    END IF;
    DELETE FROM ntsb_perf.refresh_policy p WHERE p.view = v;
    RETURN true;
END $$;

-- Forgets everything ntsb_perf keeps for the relation `rel`, once it no longer exists: its
-- policy (and the policy's pg_cron job, while it is still ntsb_perf's), refresh state, log rows
-- and change marks; with `log_it`, a removed policy leaves one log row (status 'dropped',
-- run_by the session user). Anyone may call it: it does nothing for a relation that exists.
-- Returns the removed job's id (NULL: none).
CREATE FUNCTION ntsb_perf._forget(rel oid, log_it boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE pol record; job bigint; had boolean := false;
BEGIN
    IF rel IS NULL OR EXISTS (SELECT 1 FROM pg_class WHERE oid = rel) THEN
        RETURN NULL;
    END IF;
    DELETE FROM ntsb_perf.refresh_change WHERE source = rel;
    FOR pol IN DELETE FROM ntsb_perf.refresh_policy p WHERE p.view = rel RETURNING * LOOP
        had := true;
        IF ntsb_perf._job_ok(pol.jobid, pol.job_name, pol.created_by) THEN
            EXECUTE 'SELECT cron.unschedule($1)' USING pol.jobid;
            job := pol.jobid;
        END IF;
    END LOOP;
    DELETE FROM ntsb_perf.refresh_state s WHERE s.view = rel;
    DELETE FROM ntsb_perf.refresh_log l WHERE l.view = rel;
    UPDATE ntsb_perf.refresh_log l SET target = NULL WHERE l.target = rel;
    IF had AND coalesce(log_it, false) THEN
        INSERT INTO ntsb_perf.refresh_log (view, started_at, duration, status, reason, run_by)
        VALUES (rel::regclass, clock_timestamp(), '0'::interval, 'dropped',
                format('the materialized view no longer exists: its policy and pg_cron job %s were removed',
                       coalesce(job::text, '(none left)')),
                session_user);
    END IF;
    RETURN job;
END $$;

-- What a pg_cron job of ntsb_perf runs: refresh the view whose policy holds job `job`. A run
-- that finds that view gone (its DROP did not clean up, e.g. the event trigger was disabled)
-- removes its policy and this job, logs that, and says so in a warning. A policy kept without
-- a job because it was restored before its job (pg_restore -j) is attached again by the job's
-- own run, when the job is the one ntsb_perf created for it, as the caller (_check_policy
-- checks it). A run that finds no policy holding its job fails (and leaves the job alone):
-- during a restore pg_cron's jobs are loaded before ntsb_perf's policies, so a job may run
-- before its policy is back; DROP EXTENSION ntsb_perf removes ntsb_perf's jobs (CASCADE) or
-- refuses. Returns the number of views considered.
CREATE FUNCTION ntsb_perf._scheduled_refresh(job bigint) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE v oid; removed bigint;
BEGIN
    IF job IS NULL THEN
        RAISE EXCEPTION 'job must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT p.view::oid INTO v FROM ntsb_perf.refresh_policy p WHERE p.jobid = job;
    IF NOT FOUND THEN
        UPDATE ntsb_perf.refresh_policy p SET jobid = job
        WHERE p.jobid IS NULL AND p.created_by = current_user
          AND ntsb_perf._job_ok(job, p.job_name, p.created_by, p.schedule)
        RETURNING p.view::oid INTO v;
    END IF;
    IF v IS NULL THEN
        RAISE EXCEPTION 'ntsb_perf: no refresh policy holds pg_cron job %', job
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'Its policy was removed without the job, or is not restored yet.',
                  HINT = format('Remove the job if it is not needed (SELECT cron.unschedule(%s)); '
                                'ntsb_perf.schedule_refresh schedules a view again.', job);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = v) THEN
        removed := ntsb_perf._forget(v, true);
        RAISE WARNING 'ntsb_perf: materialized view % no longer exists: removed its refresh policy and pg_cron job %', v, removed;
        RETURN 0;
    END IF;
    RETURN (SELECT count(*) FROM ntsb_perf.refresh(v::regclass));
END $$;

CREATE VIEW ntsb_perf.refresh_status AS
SELECT p.view, p.schedule, p.concurrent, p.skip_if_unchanged,
       lr.started_at AS last_refresh, lr.duration AS last_duration, lr.rows AS last_rows,
       ll.started_at AS last_run, ll.status AS last_status, ll.error AS last_error,
       rr.reason IS NOT NULL AS sources_changed, rr.reason AS refresh_reason,
       p.jobid, j.active AS job_active, j.last_start AS job_last_run, j.last_status AS job_last_status,
       j.last_message AS job_last_message
FROM ntsb_perf.refresh_policy p
LEFT JOIN LATERAL (SELECT * FROM ntsb_perf.refresh_log l WHERE l.view = p.view AND l.status = 'refreshed'
                   ORDER BY l.started_at DESC LIMIT 1) lr ON true
LEFT JOIN LATERAL (SELECT * FROM ntsb_perf.refresh_log l WHERE l.view = p.view
                   ORDER BY l.started_at DESC LIMIT 1) ll ON true
LEFT JOIN LATERAL ntsb_perf._cron_job(p.jobid) j ON true
CROSS JOIN LATERAL (SELECT ntsb_perf.refresh_reason(p.view) AS reason OFFSET 0) rr;  -- OFFSET 0: evaluated once
GRANT SELECT ON ntsb_perf.refresh_status TO PUBLIC;
