-- Index history, the tables: one row per index per snapshot and per rebuild (size, bloat, usage
-- counters), who reads which rows, the baseline each rebuild leaves, and the end of a dropped
-- index's history. The other parts: snapshot.sql, usage.sql, forecast.sql. What measures an
-- index over time lives here; auto-reindex (sql/reindex/) writes rebuild rows and baselines
-- through sql/reindex/record.sql and reads them, never the other way. See docs/index-history.md.

-- One row per index per snapshot (snapshot_indexes), and one per rebuild by reindex_index /
-- auto_reindex (rebuild = true, measured exactly right after it). Written only by those
-- (SECURITY DEFINER) from their own measurements and by the DROP of an index or table
-- (_index_history_dropped). Each role reads the rows of the indexes index_usage shows it (row
-- level security below: the policy visible).
CREATE TABLE ntsb_perf.index_history (
    id                 bigserial PRIMARY KEY,
    taken_at           timestamptz NOT NULL,
    index_oid          oid,        -- the index's OID while it exists (NULL in rows restored from a dump until rebound)
    index_name         text        NOT NULL,  -- quoted and schema-qualified
    table_name         text        NOT NULL,
    access_method      text        NOT NULL,
    relfilenode        oid,        -- changes with every rebuild (REINDEX, VACUUM FULL, CLUSTER, TRUNCATE)
    index_bytes        bigint      NOT NULL,
    live_items         bigint,
    avg_leaf_density   float8,
    leaf_fragmentation float8,
    expected_bytes     bigint,
    reclaimable_bytes  bigint,
    bloat_ratio        float8,
    method             text CHECK (method IN ('exact', 'sampled')),  -- NULL: not measured (see note)
    pages_read         bigint,
    density_ci_low     float8,
    density_ci_high    float8,
    idx_scan           bigint,     -- the index's counters (pg_stat_user_indexes) when it was taken
    idx_tup_read       bigint,
    table_writes       bigint,     -- inserts + updates + deletes on its table
    db_xact_commit     bigint,     -- the database's commit counter: it goes down only when the statistics are reset
    stats_reset        timestamptz, -- pg_stat_database.stats_reset of this database
    rebuild            boolean     NOT NULL DEFAULT false,
    note               text,
    index_definition   text,       -- the index's definition without its name and table (_index_definition)
    dropped_at         timestamptz, -- when its index was dropped: its history ended (never bound to another index)
    table_dropped      boolean     NOT NULL DEFAULT false  -- its table is gone too (dropped, or not of this name any more)
);
CREATE INDEX index_history_index_taken ON ntsb_perf.index_history (index_oid, taken_at);
CREATE INDEX index_history_name_taken ON ntsb_perf.index_history (index_name, taken_at);
CREATE INDEX index_history_taken ON ntsb_perf.index_history (taken_at);
CREATE INDEX index_history_rebuilds ON ntsb_perf.index_history (index_oid, taken_at) WHERE rebuild;
-- (rows of dropped indexes whose table is still there: what a DROP TABLE marks)
CREATE INDEX index_history_dropped_table ON ntsb_perf.index_history (table_name) WHERE dropped_at IS NOT NULL AND NOT table_dropped;
COMMENT ON TABLE ntsb_perf.index_history IS
  'ntsb_perf: one row per index per snapshot_indexes() run and per rebuild: size, bloat and usage counters';

-- pg_dump dumps the history (an OID that is not, in the restored cluster, the index of its
-- name is cleared on the way in; the next snapshot binds the rows to the index of that name).
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.index_history', '');
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.index_history_id_seq', '');

CREATE TRIGGER index_oid BEFORE INSERT ON ntsb_perf.index_history
    FOR EACH ROW WHEN (NEW.index_oid IS NOT NULL AND NOT ntsb_perf._is_index_named(NEW.index_oid, NEW.index_name))
    EXECUTE FUNCTION ntsb_perf._index_oid_of_name('index_oid', 'index_name');

-- The definition of index `idx` without its own name and its table's: `USING btree (k)`,
-- `UNIQUE USING btree (a) INCLUDE (b) WHERE (b > 0)`, as pg_get_indexdef writes it under the
-- caller's search_path (every caller here has pg_catalog, pg_temp). What a REINDEX CONCURRENTLY
-- keeps and a different index created under the same name usually does not. NULL for an OID
-- that is not an index. In Rust (src/index_catalog.rs): every history row calls it, and a SQL
-- function was an executor start per row.
CREATE FUNCTION ntsb_perf._index_definition(idx oid) RETURNS text
LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ntsb_perf_index_definition';

-- Rows written without a definition (a rebuild's, by sql/reindex/record.sql) get their index's.
CREATE FUNCTION ntsb_perf._index_history_definition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.index_definition := ntsb_perf._index_definition(NEW.index_oid);
    RETURN NEW;
END $$;
-- (after the trigger index_oid, which clears an OID that is not the index of the row's name)
CREATE TRIGGER index_oid_definition BEFORE INSERT ON ntsb_perf.index_history
    FOR EACH ROW WHEN (NEW.index_definition IS NULL AND NEW.index_oid IS NOT NULL)
    EXECUTE FUNCTION ntsb_perf._index_history_definition();

-- (one row each: the planner's default of 1,000 made the forecast's plan look so costly that
-- JIT compiled it, a second per call)
ALTER FUNCTION ntsb_perf._forecast_fit(double precision[], double precision[], double precision, boolean) ROWS 1;
ALTER FUNCTION ntsb_perf._snapshot_measure(integer) ROWS 500;

REVOKE ALL ON ntsb_perf.index_history FROM PUBLIC;
GRANT SELECT ON ntsb_perf.index_history TO PUBLIC;

-- Who reads which rows: index_usage's rule (ntsb_perf._may_see_table, the rule of
-- ntsb_perf.index_catalog) applied to the index's table. Rows of an index that no longer exists
-- (dropped; or restored from a dump, or replaced by a REINDEX CONCURRENTLY outside ntsb_perf,
-- until the next snapshot binds them): by the same rule on the table of their table_name while
-- it exists (and is not a table created after theirs was dropped: table_dropped); when it is
-- gone, only to members of pg_read_all_stats. Superusers bypass row level security, as the
-- extension's owner and so its SECURITY DEFINER functions (snapshots, rebuilds, the sql_drop
-- trigger, unused_indexes' scan counts) do.

-- The relation (table, partitioned table or materialized view) whose quoted, qualified name is
-- `qname` (as format('%I.%I') writes it); NULL when there is none or `qname` is not such a name
-- (never an error, whatever the text). Every name qualified: it runs under the reader's
-- search_path.
CREATE FUNCTION ntsb_perf._table_of_name(qname text) RETURNS oid
LANGUAGE sql STABLE AS $$
    SELECT (SELECT c.oid
            FROM pg_catalog.parse_ident(
                     CASE WHEN qname OPERATOR(pg_catalog.~)
                               '^(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_]*)\.(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_]*)$'
                          THEN qname END) p(parts)
            JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) p.parts[1]
            JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid
                                      AND c.relname OPERATOR(pg_catalog.=) p.parts[2]
            WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,m}'::"char"[]))
$$;

ALTER TABLE ntsb_perf.index_history ENABLE ROW LEVEL SECURITY;
-- (The policy's expression is stored resolved, so a reader's search_path does not change it;
-- the set of visible indexes is computed once per query, a hashed subplan, not per row.)
CREATE POLICY visible ON ntsb_perf.index_history FOR SELECT USING (
    index_oid IN (SELECT i.indexrelid FROM pg_catalog.pg_index i WHERE ntsb_perf._may_see_table(i.indrelid))
    OR (NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indexrelid = index_oid)
        AND coalesce(CASE WHEN NOT table_dropped THEN ntsb_perf._may_see_table(ntsb_perf._table_of_name(table_name)) END,
                     pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'))));

-- What each index measured right after its last successful rebuild: the plan compares with it.
-- Keyed by the index's name (quoted and qualified, as in reindex_history.index_name), which a
-- dump and restore keeps and REINDEX CONCURRENTLY (a new OID under the same name) keeps;
-- index_oid binds it to that index while it exists (a renamed index keeps its baseline, and a
-- new index under the old name does not get it). NULL until rebound: a baseline restored from
-- a dump (OIDs of another cluster) is used for the index of that name.
CREATE TABLE ntsb_perf.reindex_baseline (
    index_oid     oid,
    density       float8,
    bloat_ratio   float8,
    fragmentation float8,
    measured_at   timestamptz NOT NULL,
    index_name    text PRIMARY KEY
);
-- pg_dump dumps the baselines of existing indexes (an OID that is not the index of its name is
-- cleared on the way in, as for the history above).
-- (The baselines dumped are those the plan uses: of an index of that name, bound to it or to no
-- index that exists.)
SELECT pg_catalog.pg_extension_config_dump('ntsb_perf.reindex_baseline',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace WHERE c.relkind OPERATOR(pg_catalog.=) ANY (''{i,I}''::pg_catalog."char"[]) AND pg_catalog.format(''%I.%I'', n.nspname, c.relname) OPERATOR(pg_catalog.=) reindex_baseline.index_name AND (c.oid OPERATOR(pg_catalog.=) reindex_baseline.index_oid OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c2 WHERE c2.oid OPERATOR(pg_catalog.=) reindex_baseline.index_oid)))');
CREATE TRIGGER index_oid BEFORE INSERT ON ntsb_perf.reindex_baseline
    FOR EACH ROW WHEN (NEW.index_oid IS NOT NULL AND NOT ntsb_perf._is_index_named(NEW.index_oid, NEW.index_name))
    EXECUTE FUNCTION ntsb_perf._index_oid_of_name('index_oid', 'index_name');
REVOKE ALL ON ntsb_perf.reindex_baseline FROM PUBLIC;
GRANT SELECT ON ntsb_perf.reindex_baseline TO PUBLIC;

-- Called by ntsb_perf._on_sql_drop (sql/dropped_objects.sql), the sql_drop event trigger, in the
-- dropping transaction: the history of each dropped index ends there. Its rows (by its OID, and
-- under its name the rows bound to no index that exists: restored from a dump and not bound yet,
-- or of an OID a REINDEX CONCURRENTLY outside ntsb_perf replaced) get dropped_at and lose the
-- OID, so that they are never bound to a new index of the same name (nor to whatever gets the
-- OID later); table_dropped when no table of their table_name is left. A dropped table marks
-- the rows of its indexes dropped before it. (REINDEX CONCURRENTLY fires no event trigger: the
-- history follows the index to its new OID.) The baseline of a dropped index goes.
CREATE FUNCTION ntsb_perf._index_history_dropped() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    at timestamptz := statement_timestamp();
BEGIN
    DELETE FROM ntsb_perf.reindex_baseline b
    USING pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type = 'index'
      AND (b.index_oid = o.objid OR (b.index_oid IS NULL AND b.index_name = o.object_identity));
    UPDATE ntsb_perf.index_history h
    SET index_oid = NULL, dropped_at = at, table_dropped = ntsb_perf._table_of_name(h.table_name) IS NULL
    FROM pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type = 'index'
      AND h.index_oid = o.objid;
    UPDATE ntsb_perf.index_history h
    SET index_oid = NULL, dropped_at = at, table_dropped = ntsb_perf._table_of_name(h.table_name) IS NULL
    FROM pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type = 'index'
      AND h.index_name = o.object_identity AND h.dropped_at IS NULL
      AND (h.index_oid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = h.index_oid));
    UPDATE ntsb_perf.index_history h SET table_dropped = true
    FROM pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND o.object_type IN ('table', 'materialized view')
      AND h.dropped_at IS NOT NULL AND NOT h.table_dropped AND h.table_name = o.object_identity;
END $$;
REVOKE ALL ON FUNCTION ntsb_perf._index_history_dropped() FROM PUBLIC;

