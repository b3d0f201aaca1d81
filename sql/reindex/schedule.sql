-- Auto-reindex, the schedule: one pg_cron job per database and role (through the scheduling
-- module, sql/schedule/jobs.sql). See docs/auto-reindex.md.

-- One pg_cron job per database and role that runs auto_reindex; checked now.
CREATE FUNCTION ntsb_perf.schedule_auto_reindex(schedule text, dry_run boolean DEFAULT false,
                                                min_bloat_ratio float8 DEFAULT 1.3, min_bytes bigint DEFAULT 10485760,
                                                max_leaf_density float8 DEFAULT 70, max_fragmentation float8 DEFAULT 30,
                                                sample_pages integer DEFAULT NULL, schema_name text DEFAULT NULL,
                                                max_runtime interval DEFAULT NULL, max_wait interval DEFAULT NULL,
                                                ahead interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cmd text;
BEGIN
    IF schedule IS NULL OR dry_run IS NULL THEN
        RAISE EXCEPTION 'schedule and dry_run must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM ntsb_perf.parse_cron(schedule);
    PERFORM ntsb_perf._reindex_check_thresholds(min_bloat_ratio, min_bytes, max_leaf_density,
                                                max_fragmentation, sample_pages);
    IF max_runtime < interval '0' OR max_wait < interval '0' THEN
        RAISE EXCEPTION 'max_runtime and max_wait must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM ntsb_perf._reindex_check_rights_and_ahead(ahead);
    -- Every value goes in as a quoted literal of its type.
    cmd := format('CALL ntsb_perf.auto_reindex(dry_run => %L::boolean, min_bloat_ratio => %L::float8, '
                  'min_bytes => %L::bigint, max_leaf_density => %L::float8, max_fragmentation => %L::float8, '
                  'sample_pages => %L::integer, schema_name => %L::text, max_runtime => %L::interval, '
                  'max_wait => %L::interval, ahead => %L::interval)',
                  dry_run, min_bloat_ratio, min_bytes, max_leaf_density, max_fragmentation, sample_pages,
                  schema_name, max_runtime, max_wait, ahead);
    RETURN ntsb_perf._schedule_job('auto_reindex', schedule, cmd);
END $$;

-- Removes this role's auto_reindex job of this database (false, with a notice, when there is none).
CREATE FUNCTION ntsb_perf.unschedule_auto_reindex() RETURNS boolean
LANGUAGE sql AS $$
    SELECT ntsb_perf._unschedule_own_job('auto_reindex')
$$;
