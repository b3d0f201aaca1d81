-- Refresh, the tables: policies, the state of the last refresh, change marks and the log, who may
-- write which rows (row-level security and its triggers). The other parts: tracking.sql, run.sql,
-- schedule.sql. See docs/refresh.md.

-- One policy per scheduled view (schedule_refresh / unschedule_refresh).
CREATE TABLE ntsb_perf.refresh_policy (
    view              regclass PRIMARY KEY,
    schedule          text        NOT NULL,
    concurrent    boolean     NOT NULL,
    skip_if_unchanged boolean     NOT NULL,
    jobid             bigint      UNIQUE,
    job_name          text        NOT NULL,
    created_by        name        NOT NULL DEFAULT current_user,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- What the last successful refresh of a view saw: the snapshot it was taken under (every
-- transaction visible in it is in the view), the tables it reads and their tracking triggers.
CREATE TABLE ntsb_perf.refresh_state (
    view          regclass PRIMARY KEY,
    last_snapshot pg_snapshot NOT NULL,
    sources       oid[]       NOT NULL,
    tracking      text,
    certain       boolean     NOT NULL DEFAULT true,
    refreshed_at  timestamptz NOT NULL
);

-- Change marks: for each tracked table and backend slot, the last transaction of that backend
-- that wrote the table. Written only by the tracking triggers (ntsb_perf.track_change, in Rust).
CREATE TABLE ntsb_perf.refresh_change (
    source  oid  NOT NULL,
    backend int  NOT NULL,
    xid     xid8 NOT NULL,
    PRIMARY KEY (source, backend)
) WITH (fillfactor = 50);

CREATE TABLE ntsb_perf.refresh_log (
    id           bigserial PRIMARY KEY,
    view         regclass    NOT NULL,
    started_at   timestamptz NOT NULL,
    duration     interval    NOT NULL,
    status       text        NOT NULL,
    rows         bigint,
    error        text,
    reason       text,
    concurrent boolean,
    target       regclass,
    run_by       name        NOT NULL DEFAULT current_user
);
CREATE INDEX refresh_log_view_started_at ON ntsb_perf.refresh_log (view, started_at DESC);

-- pg_dump dumps the policies and the log (and the log's sequence), not the refresh state nor the
-- change marks: a snapshot and table OIDs of another cluster would make refresh_reason trust a
-- view that is stale (after a restore the first refresh of every view refreshes it). A regclass
-- is dumped as the relation's name (restored as the new OID: the materialized views exist when
-- the data is loaded) or, for a relation that no longer exists, as a bare number that would name
-- some other relation after the restore: so only rows whose relations exist are dumped (the
-- sql_drop event trigger below removes the others in the dropping transaction anyway).
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_policy',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_policy.view::pg_catalog.oid AND c.relkind OPERATOR(pg_catalog.=) ''m'')');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_log',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_log.view::pg_catalog.oid) AND (refresh_log.target IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) refresh_log.target::pg_catalog.oid))');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.refresh_log_id_seq', '');

-- Who may do what. Everybody reads. Change marks are written only by the tracking trigger
-- (ntsb_perf.track_change, in Rust, as the owner of refresh_change: no role can forge, move back
-- or remove a mark). Policy, state and log rows are written only for views the role owns
-- (row-level security, checked against the view's owner); a policy row must name the pg_cron
-- job schedule_refresh creates for that view and role (trigger _check_policy), and a log row
-- records who inserted it (trigger _log_run_by). Every entry point, trigger, SECURITY DEFINER
-- function and the row-level-security check runs with search_path = pg_catalog, pg_temp, so
-- nothing a caller puts on search_path is resolved by them; the small SQL helpers they call
-- and the per-view helpers run under that same path.
CREATE FUNCTION ntsb_perf._owns(rel regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = rel), false)
$$;
ALTER TABLE ntsb_perf.refresh_policy ENABLE ROW LEVEL SECURITY;
ALTER TABLE ntsb_perf.refresh_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE ntsb_perf.refresh_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON ntsb_perf.refresh_policy FOR SELECT USING (true);
CREATE POLICY owner_writes ON ntsb_perf.refresh_policy FOR ALL USING (ntsb_perf._owns(view)) WITH CHECK (ntsb_perf._owns(view));
CREATE POLICY read_all ON ntsb_perf.refresh_state FOR SELECT USING (true);
CREATE POLICY owner_writes ON ntsb_perf.refresh_state FOR ALL USING (ntsb_perf._owns(view)) WITH CHECK (ntsb_perf._owns(view));
CREATE POLICY read_all ON ntsb_perf.refresh_log FOR SELECT USING (true);
CREATE POLICY owner_writes ON ntsb_perf.refresh_log FOR INSERT WITH CHECK (ntsb_perf._owns(view));
GRANT SELECT, INSERT, UPDATE, DELETE ON ntsb_perf.refresh_policy, ntsb_perf.refresh_state TO PUBLIC;
GRANT SELECT, INSERT ON ntsb_perf.refresh_log TO PUBLIC;
GRANT USAGE ON SEQUENCE ntsb_perf.refresh_log_id_seq TO PUBLIC;
GRANT SELECT ON ntsb_perf.refresh_change TO PUBLIC;

-- Bumped by every refresh, under the exclusive tracking lock of its sources, before it takes
-- its snapshot; the tracking trigger (ntsb_perf.track_change, in Rust) reads it to know whether
-- a change mark it committed earlier can still be relied on. (Anyone may bump it: that only
-- makes writers write their marks again.)
CREATE SEQUENCE ntsb_perf.refresh_generation;
GRANT USAGE, SELECT ON SEQUENCE ntsb_perf.refresh_generation TO PUBLIC;

-- refresh_log.run_by is the role that inserted the row (only a superuser, i.e. ntsb_perf's own
-- cleanup of a dropped view, may name another: the session user of the job that found it gone).
CREATE FUNCTION ntsb_perf._log_run_by() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.run_by IS NULL OR NOT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false) THEN
        NEW.run_by := current_user;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER run_by BEFORE INSERT ON ntsb_perf.refresh_log
    FOR EACH ROW EXECUTE FUNCTION ntsb_perf._log_run_by();

-- A policy row is what schedule_refresh wrote: it names the pg_cron job ntsb_perf created for
-- this view, owned by the role in created_by (the caller, unless the caller is a superuser),
-- with the policy's schedule; created_at/updated_at are set here (a superuser's new row keeps
-- the times it gives: a restored dump brings them back).
-- A superuser's new row whose job does not check out (a restore into a database without
-- pg_cron, or whose pg_cron jobs are not the dumped ones, or a job restored after the policy) is
-- kept without a job (jobid NULL) and a WARNING says so: it never names a job ntsb_perf did not
-- create for it (a job restored after it attaches it at its first run: _scheduled_refresh). A superuser's new row whose job checks out but runs in another database or on
-- another port (pg_cron restores cron.job as it was: a dump restored into a server listening
-- elsewhere would run the job against the old server) gets its job pointed at this database
-- and server.
CREATE FUNCTION ntsb_perf._check_policy() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    su boolean := coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user), false);
    moved bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.created_by := coalesce(NEW.created_by, current_user);
        NEW.created_at := CASE WHEN su THEN coalesce(NEW.created_at, now()) ELSE now() END;
        NEW.updated_at := CASE WHEN su THEN coalesce(NEW.updated_at, now()) ELSE now() END;
    ELSE
        NEW.created_at := OLD.created_at;
        NEW.updated_at := now();
    END IF;
    IF NEW.created_by <> current_user AND NOT su THEN
        RAISE EXCEPTION 'a refresh policy must name the pg_cron job ntsb_perf.schedule_refresh created for it'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Use ntsb_perf.schedule_refresh and ntsb_perf.unschedule_refresh.';
    END IF;
    IF ntsb_perf._job_ok(NEW.jobid, NEW.job_name, NEW.created_by, NEW.schedule) THEN
        IF su AND TG_OP = 'INSERT' THEN
            EXECUTE 'UPDATE cron.job j SET database = current_database(), nodeport = current_setting(''port'')::int
                     WHERE j.jobid = $1 AND (j.database <> current_database() OR j.nodeport <> current_setting(''port'')::int)
                     RETURNING j.jobid'
                INTO moved USING NEW.jobid;
            IF moved IS NOT NULL THEN
                RAISE NOTICE 'ntsb_perf: pg_cron job % of the refresh policy of % now runs in % on port %',
                    NEW.jobid, NEW.view, current_database(), current_setting('port');
            END IF;
        END IF;
        RETURN NEW;
    END IF;
    IF su AND TG_OP = 'INSERT' THEN
        RAISE WARNING 'ntsb_perf: pg_cron job % of the refresh policy of % is not here, or is not the job ntsb_perf created for it: the policy is kept without a job (a job restored later attaches it at its first run)', NEW.jobid, NEW.view
            USING DETAIL = CASE WHEN NOT ntsb_perf._cron_readable() THEN format('pg_cron is not installed in database %s.', current_database())
                                ELSE format('No pg_cron job %s named "%s" runs %s as role %s on schedule %s.',
                                            NEW.jobid, NEW.job_name, ntsb_perf._job_command(NEW.jobid), NEW.created_by, NEW.schedule) END,
                  HINT = format('SELECT ntsb_perf.schedule_refresh(%L, %L, %L, %L) schedules it again.',
                                NEW.view::text, NEW.schedule, NEW.concurrent, NEW.skip_if_unchanged);
        NEW.jobid := NULL;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a refresh policy must name the pg_cron job ntsb_perf.schedule_refresh created for it'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Use ntsb_perf.schedule_refresh and ntsb_perf.unschedule_refresh.';
END $$;
CREATE TRIGGER check_policy BEFORE INSERT OR UPDATE ON ntsb_perf.refresh_policy
    FOR EACH ROW EXECUTE FUNCTION ntsb_perf._check_policy();
