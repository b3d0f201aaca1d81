//! In-server tests (`cargo pgrx test pg15`). Each test runs in its own transaction, which is
//! rolled back. Tests that need autocommit (CREATE INDEX CONCURRENTLY, statistics flushes) are
//! in the SQL regression suite under `tests/`.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn run(sql: &str) {
        Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn strings(sql: &str) -> Vec<String> {
        Spi::connect(|c| {
            c.select(sql, None, &[])?
                .map(|r| r.get::<String>(1).map(|v| v.unwrap_or_default()))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn one<T: FromDatum + IntoDatum>(sql: &str) -> Option<T> {
        Spi::get_one::<T>(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// `index -> covered_by (reason)` for every redundant index on table `t`.
    fn dups_on(table: &str) -> Vec<String> {
        strings(&format!(
            "SELECT index_name || ' -> ' || covered_by || ' (' || reason || ')' \
             FROM ntsb_perf.duplicate_indexes() WHERE table_name = '{table}' ORDER BY 1"
        ))
    }

    #[pg_test]
    fn usage_lists_every_index_with_sizes() {
        run("SET LOCAL search_path = public");
        run("CREATE TABLE ev(id serial PRIMARY KEY, d date, sev text, n int)");
        run("INSERT INTO ev(d, sev, n) SELECT date '2000-01-01' + g % 7000, 'FATAL(' || g % 4 || ')', g FROM generate_series(1, 5000) g");
        run("CREATE INDEX ev_d ON ev(d)");
        run("CREATE INDEX ev_sev_part ON ev(sev) WHERE n > 10");
        run("CREATE TABLE empty_t(a int)");
        run("CREATE INDEX empty_a ON empty_t(a)");
        let names = strings(
            "SELECT index_name FROM ntsb_perf.index_usage() WHERE table_name IN ('ev','empty_t') ORDER BY 1",
        );
        assert_eq!(names, vec!["empty_a", "ev_d", "ev_pkey", "ev_sev_part"]);
        // Sizes agree with pg_relation_size / pg_table_size.
        let mismatches = one::<i64>(
            "SELECT count(*) FROM ntsb_perf.index_usage() u \
             WHERE table_name = 'ev' AND (index_bytes <> pg_relation_size(index_oid) \
                OR table_bytes <> pg_table_size('ev') \
                OR index_size <> pg_size_pretty(index_bytes) \
                OR abs(index_ratio - 100.0 * index_bytes / table_bytes) > 0.01)",
        );
        assert_eq!(mismatches, Some(0));
        // The empty table has a NULL ratio; the flags are read from the catalog.
        assert_eq!(
            one::<bool>("SELECT index_ratio IS NULL FROM ntsb_perf.index_usage() WHERE index_name = 'empty_a'"),
            Some(true)
        );
        assert_eq!(
            strings("SELECT concat_ws(',', is_primary, is_unique, backs_constraint, is_partial) FROM ntsb_perf.index_usage() WHERE table_name = 'ev' ORDER BY index_name"),
            vec!["f,f,f,f", "t,t,t,f", "f,f,f,t"]
        );
    }

    #[pg_test]
    fn usage_schema_filter_and_nulls() {
        run("SET LOCAL search_path = public");
        run("CREATE SCHEMA s1");
        run("CREATE TABLE s1.t(a int)");
        run("CREATE INDEX t_a ON s1.t(a)");
        assert_eq!(
            one::<i64>("SELECT count(*) FROM ntsb_perf.index_usage('s1')"),
            Some(1)
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FROM ntsb_perf.index_usage('no_such_schema')"),
            Some(0)
        );
        assert_eq!(
            one::<bool>(
                "SELECT (SELECT count(*) FROM ntsb_perf.index_usage(NULL)) = (SELECT count(*) FROM ntsb_perf.index_usage())"
            ),
            Some(true)
        );
        // System schemas are never listed.
        assert_eq!(
            one::<i64>("SELECT count(*) FROM ntsb_perf.index_usage() WHERE schema_name IN ('pg_catalog','information_schema') OR schema_name LIKE 'pg_toast%'"),
            Some(0)
        );
    }

    #[pg_test]
    fn usage_partitioned_parent_has_totals() {
        run("SET LOCAL search_path = public");
        run("CREATE TABLE pt(id int, d date) PARTITION BY RANGE (d)");
        run(
            "CREATE TABLE pt_2000 PARTITION OF pt FOR VALUES FROM ('2000-01-01') TO ('2001-01-01')",
        );
        run(
            "CREATE TABLE pt_2001 PARTITION OF pt FOR VALUES FROM ('2001-01-01') TO ('2002-01-01')",
        );
        run(
            "INSERT INTO pt SELECT g, date '2000-01-01' + g % 700 FROM generate_series(1, 20000) g",
        );
        run("CREATE INDEX pt_d ON pt(d)");
        // One row for the parent, one per partition, each with its own table.
        assert_eq!(
            strings("SELECT table_name || '.' || index_name FROM ntsb_perf.index_usage() WHERE table_name LIKE 'pt%' ORDER BY 1"),
            vec!["pt.pt_d", "pt_2000.pt_2000_d_idx", "pt_2001.pt_2001_d_idx"]
        );
        assert_eq!(
            one::<bool>(
                "SELECT p.index_bytes = (SELECT sum(index_bytes) FROM ntsb_perf.index_usage() WHERE table_name IN ('pt_2000','pt_2001')) \
                    AND p.index_bytes > 0 AND p.is_partitioned AND p.partitions = 2 \
                    AND p.table_bytes = pg_table_size('pt_2000') + pg_table_size('pt_2001') \
                 FROM ntsb_perf.index_usage() p WHERE p.index_name = 'pt_d'"
            ),
            Some(true)
        );
        // Attached partition indexes are not offered for dropping (drop the parent instead).
        assert_eq!(
            strings(
                "SELECT drop_statement FROM ntsb_perf.unused_indexes() WHERE table_name LIKE 'pt%'"
            ),
            vec!["DROP INDEX public.pt_d"]
        );
    }

    #[pg_test]
    fn usage_sees_only_what_the_caller_may_see() {
        run("SET LOCAL search_path = public");
        run("CREATE TABLE secret(a int)");
        run("CREATE INDEX secret_a ON secret(a)");
        run("CREATE TABLE open_t(a int)");
        run("CREATE INDEX open_a ON open_t(a)");
        run("CREATE ROLE ntsb_perf_reader NOLOGIN");
        run("GRANT SELECT ON open_t TO ntsb_perf_reader");
        run("SET LOCAL ROLE ntsb_perf_reader");
        let seen = strings(
            "SELECT index_name FROM ntsb_perf.index_usage() WHERE table_name IN ('secret','open_t')",
        );
        run("RESET ROLE");
        assert_eq!(seen, vec!["open_a"]);
        // And the functions are not SECURITY DEFINER (except refresh scheduling's cleanup of
        // dropped views, which tests/regress/sql/refresh_hostile.sql checks cannot be abused, the
        // recording of a rebuild, which tests/regress/sql/reindex.sql checks writes only real runs, the
        // check that a run is pg_cron's run of the auto_reindex job (yes or no only), and
        // the index history's snapshot, scan counts and job owners, which
        // tests/regress/sql/index_history.sql checks: closed to PUBLIC or returning counters only).
        assert_eq!(
            one::<i64>("SELECT count(*) FROM pg_proc WHERE pronamespace = 'ntsb_perf'::regnamespace AND prosecdef \
                        AND proname NOT IN ('_forget', '_on_sql_drop', '_reindex_begin', '_reindex_finish', '_reindex_sweep', \
                                            '_reindex_scheduled_run', \
                                            'snapshot_indexes', '_index_scans_since', '_job_owners')"),
            Some(0)
        );
    }

    #[pg_test]
    fn unused_excludes_keys_constraints_and_small() {
        run("SET LOCAL search_path = public");
        run("CREATE TABLE parent_t(id int PRIMARY KEY, code text UNIQUE, r int, EXCLUDE USING btree (r WITH =))");
        run("CREATE TABLE child_t(id int, pid int REFERENCES parent_t(id), v int)");
        run("INSERT INTO child_t SELECT g, NULL, g FROM generate_series(1, 3000) g");
        run("CREATE INDEX child_v ON child_t(v)");
        run("CREATE INDEX child_tiny ON child_t(id) WHERE id < 0");
        let unused = strings(
            "SELECT index_name FROM ntsb_perf.unused_indexes() WHERE table_name IN ('parent_t','child_t') ORDER BY 1",
        );
        assert_eq!(unused, vec!["child_tiny", "child_v"]);
        let big = strings(
            "SELECT index_name FROM ntsb_perf.unused_indexes(16384) WHERE table_name IN ('parent_t','child_t')",
        );
        assert_eq!(big, vec!["child_v"]);
        assert_eq!(
            one::<i64>(
                "SELECT count(*) FROM ntsb_perf.unused_indexes(NULL) WHERE table_name = 'child_t'"
            ),
            Some(2)
        );
        assert_eq!(
            strings("SELECT drop_statement FROM ntsb_perf.unused_indexes() WHERE index_name = 'child_v'"),
            vec!["DROP INDEX CONCURRENTLY public.child_v"]
        );
    }

    #[pg_test(error = "min_bytes must be zero or more, not -1")]
    fn unused_rejects_negative_min_bytes() {
        run("SET LOCAL search_path = public");
        run("SELECT * FROM ntsb_perf.unused_indexes(-1)");
    }

    #[pg_test]
    fn duplicates_rule_on_real_catalog() {
        run("SET LOCAL search_path = public");
        run("CREATE TABLE d(a int, b int, c int, t text, g point)");
        run("CREATE INDEX d_a ON d(a)");
        run("CREATE INDEX d_ab ON d(a, b)");
        run("CREATE INDEX d_b_desc ON d(b DESC)"); // not covered by d_ab (b is not leading) anyway
        run("CREATE INDEX d_ba ON d(b, a)");
        assert_eq!(dups_on("d"), vec!["d_a -> d_ab (prefix)"]);
        // Same leading column in another sort order is not a prefix.
        run("CREATE TABLE s(a int, b int)");
        run("CREATE INDEX s_a_desc ON s(a DESC)");
        run("CREATE INDEX s_ab ON s(a, b)");
        assert!(dups_on("s").is_empty(), "sort order");
        // Operator class and collation.
        run("CREATE TABLE o(t text, u int)");
        run("CREATE INDEX o_t ON o(t)");
        run("CREATE INDEX o_t_pattern ON o(t text_pattern_ops, u)");
        run("CREATE INDEX o_t_c ON o(t COLLATE \"C\", u)");
        assert!(
            dups_on("o").is_empty(),
            "opclass/collation: {:?}",
            dups_on("o")
        );
        run("CREATE INDEX o_t_c2 ON o(t COLLATE \"C\")");
        assert_eq!(dups_on("o"), vec!["o_t_c2 -> o_t_c (prefix)"]);
        // Predicates.
        run("CREATE TABLE p(a int, b int)");
        run("CREATE INDEX p_a_pos ON p(a) WHERE a > 0");
        run("CREATE INDEX p_ab ON p(a, b)");
        assert!(dups_on("p").is_empty(), "partial vs full");
        run("CREATE INDEX p_ab_pos ON p(a, b) WHERE a > 0");
        assert_eq!(dups_on("p"), vec!["p_a_pos -> p_ab_pos (prefix)"]);
        // INCLUDE columns.
        run("CREATE TABLE i(a int, b int, c int)");
        run("CREATE INDEX i_a_inc_c ON i(a) INCLUDE (c)");
        run("CREATE INDEX i_ab ON i(a, b)");
        assert!(dups_on("i").is_empty(), "include not covered");
        run("CREATE INDEX i_abc ON i(a, b, c)");
        assert_eq!(
            dups_on("i"),
            vec!["i_a_inc_c -> i_abc (prefix)", "i_ab -> i_abc (prefix)"]
        );
        // Expressions.
        run("CREATE TABLE e(t text, n int)");
        run("CREATE INDEX e_lower ON e(lower(t))");
        run("CREATE INDEX e_upper_n ON e(upper(t), n)");
        assert!(dups_on("e").is_empty());
        run("CREATE INDEX e_lower_n ON e(lower(t), n)");
        assert_eq!(dups_on("e"), vec!["e_lower -> e_lower_n (prefix)"]);
        // Access methods: hash vs btree never; hash identical yes; GiST prefix no.
        run("CREATE TABLE h(a int, g point, b int)");
        run("CREATE INDEX h_a_hash ON h USING hash(a)");
        run("CREATE INDEX h_ab ON h(a, b)");
        assert!(dups_on("h").is_empty(), "AM differs");
        run("CREATE INDEX h_a_hash2 ON h USING hash(a)");
        assert_eq!(dups_on("h"), vec!["h_a_hash2 -> h_a_hash (identical)"]);
    }

    #[pg_test]
    fn duplicates_unique_and_constraints() {
        run("SET LOCAL search_path = public");
        run("CREATE TABLE u(id int PRIMARY KEY, code text, x int)");
        run("CREATE INDEX u_id_plain ON u(id)");
        run("CREATE UNIQUE INDEX u_code ON u(code)");
        run("CREATE INDEX u_code_x ON u(code, x)");
        run("CREATE UNIQUE INDEX u_x_code ON u(x, code)");
        run("CREATE UNIQUE INDEX u_x ON u(x)");
        // The plain copy of the primary key is reported, never the primary key; unique u_code is
        // not redundant to the non-unique u_code_x; unique u_x is not implied by unique (x, code).
        assert_eq!(dups_on("u"), vec!["u_id_plain -> u_pkey (identical)"]);
        // Two identical unique constraints: neither backs-a-constraint index may be reported.
        run("CREATE TABLE w(a int CONSTRAINT w_a1 UNIQUE CONSTRAINT w_a2 UNIQUE)");
        assert!(dups_on("w").is_empty());
        // Identical plain indexes: exactly one is reported.
        run("CREATE TABLE twin(a int)");
        run("CREATE INDEX twin_1 ON twin(a)");
        run("CREATE INDEX twin_2 ON twin(a)");
        assert_eq!(dups_on("twin"), vec!["twin_2 -> twin_1 (identical)"]);
        // The reported row carries a drop statement and the size of the redundant index.
        assert_eq!(
            one::<bool>(
                "SELECT drop_statement = 'DROP INDEX CONCURRENTLY public.twin_2' \
                    AND reclaimable_bytes = pg_relation_size('twin_2') \
                    AND reclaimable_size = pg_size_pretty(pg_relation_size('twin_2')) \
                 FROM ntsb_perf.duplicate_indexes() WHERE table_name = 'twin'"
            ),
            Some(true)
        );
    }

    #[pg_test]
    fn duplicates_with_hostile_identifiers() {
        run("SET LOCAL search_path = public");
        run(r#"CREATE SCHEMA "Accident Data""#);
        run(r#"CREATE TABLE "Accident Data"."Events ""2021""" ("Ev Date" date, x int)"#);
        run(r#"CREATE INDEX "idx; drop table x" ON "Accident Data"."Events ""2021"""("Ev Date")"#);
        run(r#"CREATE INDEX "Twin Idx" ON "Accident Data"."Events ""2021"""("Ev Date")"#);
        let rows = strings(
            r#"SELECT index_name || '|' || covered_by || '|' || drop_statement FROM ntsb_perf.duplicate_indexes() WHERE schema_name = 'Accident Data'"#,
        );
        assert_eq!(
            rows,
            vec![
                r#"Twin Idx|idx; drop table x|DROP INDEX CONCURRENTLY "Accident Data"."Twin Idx""#
            ]
        );
        // The statement is valid SQL naming the right index (run without CONCURRENTLY: we are in a
        // transaction block here; the regression suite runs the statements as they are).
        run(&rows[0]
            .split('|')
            .nth(2)
            .unwrap()
            .replace(" CONCURRENTLY", ""));
        assert_eq!(
            one::<i64>(
                r#"SELECT count(*) FROM pg_class WHERE relname IN ('Twin Idx', 'idx; drop table x')"#
            ),
            Some(1)
        );
    }

    #[pg_test]
    fn postgis_gist_index_listed() {
        run("SET LOCAL search_path = public");
        run("CREATE EXTENSION IF NOT EXISTS postgis");
        run("CREATE TABLE geo(id int, geom geometry(Point, 4326))");
        run("INSERT INTO geo SELECT g, ST_SetSRID(ST_MakePoint(-120 + g % 50, 30 + g % 17), 4326) FROM generate_series(1, 2000) g");
        run("CREATE INDEX geo_gist ON geo USING gist(geom)");
        run("CREATE INDEX geo_gist2 ON geo USING gist(geom)");
        assert_eq!(
            strings(
                "SELECT access_method FROM ntsb_perf.index_usage() WHERE index_name = 'geo_gist'"
            ),
            vec!["gist"]
        );
        assert_eq!(dups_on("geo"), vec!["geo_gist2 -> geo_gist (identical)"]);
    }

    #[pg_test]
    fn invalid_partitioned_index_is_classified() {
        run("SET LOCAL search_path = public");
        run("CREATE TABLE ip(id int, d date) PARTITION BY RANGE (d)");
        run("CREATE TABLE ip_1 PARTITION OF ip FOR VALUES FROM ('2000-01-01') TO ('2001-01-01')");
        run("CREATE INDEX ip_d ON ONLY ip(d)");
        assert_eq!(
            strings("SELECT likely_cause || '|' || drop_statement FROM ntsb_perf.invalid_indexes() WHERE table_name = 'ip'"),
            vec!["partitioned index with unattached partitions|DROP INDEX public.ip_d"]
        );
        // Invalid indexes are neither unused candidates nor duplicates.
        assert_eq!(
            one::<i64>("SELECT count(*) FROM ntsb_perf.unused_indexes() WHERE table_name = 'ip'"),
            Some(0)
        );
    }

    #[pg_test]
    fn bloat_btree_matches_pgstatindex_in_transaction() {
        run("SET LOCAL search_path = public");
        run("CREATE EXTENSION IF NOT EXISTS pgstattuple");
        run("CREATE TABLE bt(id int, s text)");
        run("INSERT INTO bt SELECT g, md5(g::text) FROM generate_series(1, 30000) g");
        run("CREATE INDEX bt_s ON bt(s)");
        assert_eq!(
            one::<bool>(
                "SELECT abs(b.avg_leaf_density - p.avg_leaf_density) <= 0.01 \
                    AND abs(b.leaf_fragmentation - p.leaf_fragmentation) <= 0.01 \
                    AND b.leaf_pages = p.leaf_pages AND b.internal_pages = p.internal_pages \
                    AND b.index_bytes = p.index_size AND b.live_items = 30000 \
                    AND b.bloat_ratio BETWEEN 0.95 AND 1.05 AND b.method = 'exact' \
                 FROM ntsb_perf.index_bloat('bt_s') b, pgstatindex('bt_s') p"
            ),
            Some(true)
        );
        // A sample of 10 pages reads exactly 10 pages and brackets its estimate.
        assert_eq!(
            one::<bool>(
                "SELECT pages_read = 10 AND method = 'sampled' \
                    AND density_ci_low <= avg_leaf_density AND avg_leaf_density <= density_ci_high \
                 FROM ntsb_perf.index_bloat('bt_s', 10)"
            ),
            Some(true)
        );
    }

    #[pg_test(error = "\"public.bt2\" is not an index (a table)")]
    fn bloat_refuses_a_table() {
        run("SET LOCAL search_path = public");
        run("CREATE TABLE bt2(id int)");
        run("SELECT * FROM ntsb_perf.index_bloat('bt2')");
    }

    #[pg_test]
    fn bloat_page_functions_closed_to_public() {
        assert_eq!(
            one::<bool>(
                "SELECT NOT has_function_privilege('public', 'ntsb_perf.index_bloat(regclass, integer)', 'EXECUTE') \
                    AND has_function_privilege('pg_stat_scan_tables', 'ntsb_perf.index_bloat(regclass, integer)', 'EXECUTE') \
                    AND NOT has_function_privilege('public', 'ntsb_perf.index_bloat_report(text, bigint, integer)', 'EXECUTE')"
            ),
            Some(true)
        );
    }

    /// The SQL surface users call (each documented on its page under docs/). Everything else in
    /// the schema is private and named with a leading `_`, in SQL and in Rust alike (a private
    /// `#[pg_extern]` is the Rust function of that same name), except what PostgreSQL itself
    /// calls for an aggregate or a type (`accident_stats_trans`, `accident_stats_in`, ...), which
    /// is named after its aggregate or type as PostgreSQL's own are.
    const PUBLIC_FUNCTIONS: &[&str] = &[
        "accident_hotspots",
        "accident_stats",
        "accidents",
        "accidents_near",
        "accidents_near_plan",
        "auto_reindex",
        "bloat_forecast",
        "compare_queries",
        "create_accident_stats_view",
        "cron_schedule_is_valid",
        "duplicate_indexes",
        "explain_query",
        "fatal_accidents",
        "fatal_rate",
        "fatalities",
        "fatalities_mean",
        "fatalities_variance",
        "health_report",
        "hotspot_cells",
        "hotspots_geojson",
        "index_bloat",
        "index_bloat_report",
        "index_usage",
        "index_usage_history",
        "injuries_per_accident",
        "invalid_indexes",
        "minor_injuries",
        "normalize_severity",
        "parse_cron",
        "refresh",
        "refresh_plan",
        "refresh_reason",
        "refresh_sources",
        "reindex_index",
        "reindex_plan",
        "rollup",
        "schedule_auto_reindex",
        "schedule_index_snapshots",
        "schedule_refresh",
        "serious_injuries",
        "severity_counts",
        "snapshot_indexes",
        "sources_changed",
        "track_change",
        "uninjured",
        "unschedule_auto_reindex",
        "unschedule_index_snapshots",
        "unschedule_refresh",
        "unused_indexes",
    ];

    /// Private, yet named without `_`: 0.1.0's SQL calls `backend_slot()` by that name (its
    /// `_mark_change`, which tracked tables use until `ALTER EXTENSION ntsb_perf UPDATE`), and the
    /// library must keep the entry point that name gives it.
    const KEPT_FROM_0_1_0: &[&str] = &["backend_slot"];

    #[pg_test]
    fn private_functions_are_named_with_an_underscore() {
        let list = PUBLIC_FUNCTIONS
            .iter()
            .chain(KEPT_FROM_0_1_0)
            .map(|f| format!("'{f}'"))
            .collect::<Vec<_>>()
            .join(", ");
        // Neither public nor a support function of an aggregate or a type, yet no leading `_`.
        let unnamed = strings(&format!(
            "SELECT DISTINCT p.proname::text FROM pg_proc p \
             WHERE p.pronamespace = 'ntsb_perf'::regnamespace AND p.proname !~ '^_' \
               AND p.proname NOT IN ({list}) \
               AND NOT EXISTS (SELECT 1 FROM pg_aggregate a WHERE p.oid IN (a.aggtransfn, a.aggfinalfn, \
                               a.aggcombinefn, a.aggserialfn, a.aggdeserialfn)) \
               AND NOT EXISTS (SELECT 1 FROM pg_type t WHERE t.typnamespace = p.pronamespace \
                               AND p.oid IN (t.typinput, t.typoutput, t.typreceive, t.typsend)) \
             ORDER BY 1"
        ));
        assert_eq!(unnamed, Vec::<String>::new());
        // And the list is the surface: each name is a function of the schema, none private.
        let missing = strings(&format!(
            "SELECT f FROM unnest(ARRAY[{list}]) f \
             WHERE NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'ntsb_perf'::regnamespace \
                               AND p.proname = f) ORDER BY 1"
        ));
        assert_eq!(missing, Vec::<String>::new());
    }
}
