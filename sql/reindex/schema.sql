-- Auto-reindex, the record of rebuilds: reindex_history and what keeps it true (a run whose
-- session died is swept to 'terminated'; a dropped index loses its OID there). The other parts:
-- plan.sql, run.sql, schedule.sql, record.sql (what the worker writes). The baselines a rebuild
-- leaves and the thresholds are the index history's (sql/index_history/). See
-- docs/auto-reindex.md. The rebuild itself runs in a background worker (src/reindex/worker.rs).

-- One row per rebuild (per partition for a partitioned index), written as 'running' when the
-- rebuild starts and given its outcome when it ends; a run whose session died before that (the
-- caller terminated or cancelled, or a server restart) is marked 'terminated' by the next
-- reindex_index or auto_reindex (_reindex_sweep). Written only from the runs' own facts: by
-- _reindex_begin when the rebuild starts, by the worker when it ends (it records the outcome
-- itself, as the extension's owner, so that a caller cancelled or gone changes nothing of it),
-- by _reindex_finish when the worker died without a word, and by _reindex_sweep (all SECURITY
-- DEFINER); readable by everyone.
CREATE TABLE ntsb_perf.reindex_history (
    id                bigserial PRIMARY KEY,
    index             oid,        -- the index's OID while it exists (cleared when it is dropped: _reindex_history_dropped)
    index_name        text        NOT NULL,
    table_name        text        NOT NULL,
    started_at        timestamptz NOT NULL,
    duration          interval,   -- NULL while running, and for a run that never reported
    bytes_before      bigint      NOT NULL,
    bytes_after       bigint,
    predicted_reclaim bigint,
    density_before    float8,
    density_after     float8,
    status            text        NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'terminated')),
    sqlstate          text,
    error             text,
    triggered_by      text        NOT NULL CHECK (triggered_by IN ('manual', 'auto', 'schedule')),
    run_by            name        NOT NULL,
    statement         text        NOT NULL,
    caller_pid        integer,    -- the calling session (its pid and start) while it runs
    caller_started    timestamptz
);
CREATE INDEX reindex_history_started_at ON ntsb_perf.reindex_history (started_at DESC);

-- pg_dump dumps the history (and its sequence). An index
-- OID means nothing in another cluster, and an index cannot be named in the dumped data either
-- (a regclass would be restored as a name before pg_restore creates the indexes, in its
-- post-data section, and fail): the OID columns are plain oids, and a row that comes in with an
-- OID that is not (now) the index of its name gets NULL there (trigger below;
-- the baselines: sql/index_history/schema.sql).
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_history', '');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_history_id_seq', '');

CREATE TRIGGER index_oid BEFORE INSERT ON ntsb_perf.reindex_history
    FOR EACH ROW WHEN (NEW.index IS NOT NULL AND NOT ntsb_perf._is_index_named(NEW.index, NEW.index_name))
    EXECUTE FUNCTION ntsb_perf._index_oid_of_name('index', 'index_name');

REVOKE ALL ON ntsb_perf.reindex_history FROM PUBLIC;
GRANT SELECT ON ntsb_perf.reindex_history TO PUBLIC;
REVOKE ALL ON FUNCTION ntsb_perf._reindex_finish(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ntsb_perf._reindex_finish(integer, text) TO PUBLIC;

-- Marks 'terminated' the 'running' rows whose calling session is no longer inside a call (it
-- ended, a restart ended it, or its CALL was cancelled); only those. Returns how many.
CREATE FUNCTION ntsb_perf._reindex_sweep() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH swept AS (
        UPDATE ntsb_perf.reindex_history h
        SET status = 'terminated',
            error = 'the run ended without a result: its session was terminated or cancelled, or a server '
                    'restart ended it, before the rebuild reported (the next auto_reindex drops any leftover)'
        WHERE h.status = 'running'
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                          WHERE a.pid = h.caller_pid AND a.backend_start = h.caller_started
                            AND a.state = 'active' AND a.pid <> pg_backend_pid())
        RETURNING 1)
    SELECT count(*) FROM swept
$$;

-- Called by ntsb_perf._on_sql_drop (sql/dropped_objects.sql), the sql_drop event trigger, in the
-- dropping transaction: the rows of a dropped index keep its name and lose its OID (a dump would
-- carry the number, which names some other relation in the restored cluster).
CREATE FUNCTION ntsb_perf._reindex_history_dropped() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    UPDATE ntsb_perf.reindex_history h SET index = NULL
    FROM pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type = 'index'
      AND h.index = o.objid
$$;
REVOKE ALL ON FUNCTION ntsb_perf._reindex_history_dropped() FROM PUBLIC;
