-- What ntsb_perf keeps about a relation ends when the relation is dropped, in the dropping
-- transaction: the sql_drop event trigger calls each capability's own cleanup, in turn.
--   refresh (ntsb_perf._forget, sql/refresh/schedule.sql): DROP of a materialized view (or of a
--     table, or a schema with them) removes its policy, its pg_cron job, its state and log rows,
--     and the tables' change marks;
--   auto-reindex (ntsb_perf._reindex_history_dropped, sql/reindex/schema.sql): DROP of an index
--     (or of its table, or schema) removes the OID from its rebuild history (the rows stay, with
--     the index's name): a dump would carry the number, which names some other relation in the
--     restored cluster;
--   index history (ntsb_perf._index_history_dropped, sql/index_history/schema.sql): it ends the
--     index's snapshot history, which is then never given to a new index of the same name, and
--     removes its rebuild baseline.
-- Enabled ALWAYS (also under session_replication_role = replica). It never makes a DROP fail (a
-- failed cleanup is a warning; the job's next run cleans up then).
CREATE FUNCTION ntsb_perf._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE d record; job bigint;
BEGIN
    FOR d IN SELECT o.objid, o.object_identity FROM pg_event_trigger_dropped_objects() o
             WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0
               AND o.object_type IN ('table', 'materialized view') LOOP
        BEGIN
            job := ntsb_perf._forget(d.objid);
            IF job IS NOT NULL THEN
                RAISE NOTICE 'ntsb_perf: removed the refresh policy and pg_cron job % of dropped materialized view %', job, d.object_identity;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            -- Never make a DROP fail: the job's next run cleans up instead.
            RAISE WARNING 'ntsb_perf: could not clean up after dropped %: % (SQLSTATE %)', d.object_identity, SQLERRM, SQLSTATE;
        END;
    END LOOP;
    BEGIN
        PERFORM ntsb_perf._reindex_history_dropped();
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'ntsb_perf: could not clean up the rebuild history of dropped indexes: % (SQLSTATE %)', SQLERRM, SQLSTATE;
    END;
    BEGIN
        PERFORM ntsb_perf._index_history_dropped();
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'ntsb_perf: could not end the index history of dropped indexes: % (SQLSTATE %)', SQLERRM, SQLSTATE;
    END;
END $$;
CREATE EVENT TRIGGER ntsb_perf_forget_dropped ON sql_drop EXECUTE FUNCTION ntsb_perf._on_sql_drop();
ALTER EVENT TRIGGER ntsb_perf_forget_dropped ENABLE ALWAYS;
