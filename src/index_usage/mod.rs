//! Index usage reports: usage, unused, duplicate/redundant and invalid indexes.
//!
//! All four read the view `ntsb_perf.index_catalog` (sql/index_catalog.sql), which applies the
//! visibility rules (indexes of tables the caller has some privilege on, system schemas
//! excluded) and folds partitions into their partitioned parent index.

use ntsb_perf_core::index_usage::{classify_invalid, find_redundant, IndexFacts, KeyColumn};
use pgrx::prelude::*;
use pgrx::spi::{SpiHeapTupleData, SpiResult};

use crate::error::min_bytes_arg;
use crate::spi_query::{not_null_column, query_rows};

extension_sql_file!(
    "../../sql/index_catalog.sql",
    name = "index_catalog",
    requires = [_index_last_scan]
);

/// When the index was last scanned, as PostgreSQL 16 and later record it (`last_idx_scan` of
/// `pg_stat_all_indexes`); NULL on 15, which does not, and for an index not scanned since its
/// statistics were reset. Read by the view `index_catalog` for every index report.
#[pg_extern(stable, parallel_safe, strict)]
fn _index_last_scan(index: pg_sys::Oid) -> Option<pgrx::datum::TimestampWithTimeZone> {
    #[cfg(feature = "pg15")]
    let last = {
        let _ = index;
        None
    };
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    // SAFETY: pg_stat_get_lastscan takes one OID argument, which is what is passed, and returns
    // NULL (which direct_function_call turns into None) for one the statistics do not know.
    let last = unsafe {
        pgrx::direct_function_call::<pgrx::datum::TimestampWithTimeZone>(
            pg_sys::pg_stat_get_lastscan,
            &[index.into_datum()],
        )
    };
    last
}

const INDEX_USAGE_SQL: &str = include_str!("../../sql/index_usage/index_usage.sql");
const UNUSED_INDEXES_SQL: &str = include_str!("../../sql/index_usage/unused_indexes.sql");
const INDEX_FACTS_SQL: &str = include_str!("../../sql/index_usage/index_facts.sql");
const INVALID_INDEXES_SQL: &str = include_str!("../../sql/index_usage/invalid_indexes.sql");

// PostgreSQL 15 is the only version built and tested (Cargo.toml's features).
const NULLS_NOT_DISTINCT: &str = "i.indnullsnotdistinct";

table_functions! {
    /// One row of `index_usage`: a row of index_usage.sql, column for column.
    struct IndexUsageRow {
        schema_name: String,
        table_name: String,
        index_name: String,
        access_method: String,
        idx_scan: i64,
        idx_tup_read: i64,
        idx_tup_fetch: i64,
        index_bytes: i64,
        index_size: String,
        table_bytes: i64,
        table_size: String,
        index_ratio: Option<f64>,
        is_unique: bool,
        is_primary: bool,
        is_valid: bool,
        backs_constraint: bool,
        is_partial: bool,
        is_partitioned: bool,
        partitions: Option<i32>,
        index_oid: pg_sys::Oid,
        index_definition: String,
        last_scan: Option<pgrx::datum::TimestampWithTimeZone>,
    }

    /// Reads a row of index_usage.sql.
    fn read(row: &SpiHeapTupleData) -> SpiResult<Self>;

    /// Usage counters and sizes of every index the caller can see, most scanned first.
    ///
    /// <!-- doctest: data=csv setup=demo/workload.sql -->
    /// ```sql
    /// ntsb=# SELECT index_name, idx_scan, index_size, index_ratio
    ///        FROM ntsb_perf.index_usage('public') LIMIT 3;
    ///         index_name        | idx_scan | index_size | index_ratio
    /// --------------------------+----------+------------+-------------
    ///  events_ev_id_key         |        2 | 1720 kB    |       31.95
    ///  idx_events_date_severity |        2 | 680 kB     |       12.63
    ///  spatial_ref_sys_pkey     |        2 | 208 kB     |           3
    /// (3 rows)
    /// ```
    /// `index_ratio` is the index size as a percentage of its table's size (heap and TOAST), NULL
    /// when the table is empty. A partitioned index shows the totals of its partitions' indexes.
    /// `last_scan` is when the index was last scanned, on PostgreSQL 16 and later (NULL on 15, and
    /// for an index not scanned since the statistics were reset).
    #[pg_extern(stable, parallel_safe)]
    fn index_usage(
        schema_name: default!(Option<String>, "NULL"),
    ) -> TableIterator<IndexUsageRow> {
        let rows = query_rows(INDEX_USAGE_SQL, &[schema_name.into()], IndexUsageRow::read);
        TableIterator::new(rows.into_iter().map(IndexUsageRow::into_tuple))
    }
}

table_functions! {
    /// One row of `unused_indexes`: a row of unused_indexes.sql, column for column.
    struct UnusedIndexRow {
        schema_name: String,
        table_name: String,
        index_name: String,
        access_method: String,
        index_bytes: i64,
        index_size: String,
        idx_scan: i64,
        stats_since: Option<pgrx::datum::TimestampWithTimeZone>,
        table_writes: i64,
        drop_statement: String,
        index_oid: pg_sys::Oid,
        index_definition: String,
        scans_last_30_days: Option<i64>,
        observed_since: Option<pgrx::datum::TimestampWithTimeZone>,
        last_scan: Option<pgrx::datum::TimestampWithTimeZone>,
    }

    /// Reads a row of unused_indexes.sql.
    fn read(row: &SpiHeapTupleData) -> SpiResult<Self>;

    /// Indexes not scanned, that are safe to consider dropping: not a primary key, not unique,
    /// not backing a constraint (unique, exclusion, or referenced by a foreign key), valid, not a
    /// partition's attached index (drop the parent), not part of an extension, and at least
    /// `min_bytes` large. Biggest first. Where the server records each index's last scan
    /// (PostgreSQL 16 and later: `last_scan`), an index last scanned 30 or more days ago is unused,
    /// whatever its counters say. Otherwise "not scanned" is "no scan in the last 30 days" once the
    /// index history (`snapshot_indexes`) reaches back that far: `scans_last_30_days` is counted
    /// from the snapshots, across statistics resets, from `observed_since` (the snapshot the count
    /// starts from) to now. With less history, it is "no scan since the counters were last reset,
    /// and none in the snapshots there are"; with none, `scans_last_30_days` and `observed_since`
    /// are NULL.
    ///
    /// <!-- doctest: data=csv -->
    /// ```sql
    /// ntsb=# SELECT index_name, index_size, stats_since, drop_statement
    ///        FROM ntsb_perf.unused_indexes(1024 * 1024);
    ///    index_name    | index_size | stats_since |                 drop_statement
    /// -----------------+------------+-------------+------------------------------------------------
    ///  idx_events_geom | 1400 kB    |             | DROP INDEX CONCURRENTLY public.idx_events_geom
    /// (1 row)
    /// ```
    /// `stats_since` is when this database's counters were last reset (NULL: never reset, so they
    /// cover the time since the database was created or last recovered from a crash).
    #[pg_extern(stable, parallel_safe)]
    fn unused_indexes(
        min_bytes: default!(Option<i64>, "0"),
    ) -> TableIterator<UnusedIndexRow> {
        let min_bytes = min_bytes_arg(
            min_bytes,
            0,
            Some("Pass 0 (or NULL) to list unused indexes of every size."),
        );
        let rows = query_rows(UNUSED_INDEXES_SQL, &[min_bytes.into()], UnusedIndexRow::read);
        TableIterator::new(rows.into_iter().map(UnusedIndexRow::into_tuple))
    }
}

/// One catalog row of index_facts.sql: the rule's facts plus what the report prints.
struct FactsRow {
    facts: IndexFacts,
    schema_name: String,
    table_name: String,
    index_name: String,
    index_bytes: i64,
    index_size: String,
    drop_statement: String,
    definition: String,
}

fn load_index_facts() -> Vec<FactsRow> {
    let sql = INDEX_FACTS_SQL.replace("@NULLS_NOT_DISTINCT@", NULLS_NOT_DISTINCT);
    query_rows(&sql, &[], |r| {
        let columns: Vec<String> = not_null_column(r, "key_columns")?;
        let opclasses: Vec<i64> = not_null_column(r, "key_opclasses")?;
        let collations: Vec<i64> = not_null_column(r, "key_collations")?;
        let options: Vec<i32> = not_null_column(r, "key_options")?;
        let keys = columns
            .into_iter()
            .zip(opclasses)
            .zip(collations)
            .zip(options)
            .map(|(((column, opclass), collation), options)| KeyColumn {
                column,
                opclass: opclass as u32,
                collation: collation as u32,
                options: options as i16,
            })
            .collect();
        let index_oid: pg_sys::Oid = not_null_column(r, "index_oid")?;
        let table_oid: pg_sys::Oid = not_null_column(r, "table_oid")?;
        Ok(FactsRow {
            facts: IndexFacts {
                oid: index_oid.to_u32(),
                table_oid: table_oid.to_u32(),
                access_method: not_null_column(r, "access_method")?,
                keys,
                include: not_null_column(r, "include_columns")?,
                predicate: r.get_by_name("predicate")?,
                is_unique: not_null_column(r, "is_unique")?,
                is_primary: not_null_column(r, "is_primary")?,
                nulls_not_distinct: not_null_column(r, "nulls_not_distinct")?,
                backs_constraint: not_null_column(r, "backs_constraint")?,
                is_replica_identity: not_null_column(r, "is_replica_identity")?,
                is_clustered: not_null_column(r, "is_clustered")?,
                is_usable: not_null_column(r, "is_usable")?,
                droppable: not_null_column(r, "droppable")?,
            },
            schema_name: not_null_column(r, "schema_name")?,
            table_name: not_null_column(r, "table_name")?,
            index_name: not_null_column(r, "index_name")?,
            index_bytes: not_null_column(r, "index_bytes")?,
            index_size: not_null_column(r, "index_size")?,
            drop_statement: not_null_column(r, "drop_statement")?,
            definition: not_null_column(r, "index_definition")?,
        })
    })
}

table_functions! {
    /// One row of `duplicate_indexes`: a redundant index and the index that covers it.
    struct DuplicateIndexRow {
        schema_name: String,
        table_name: String,
        index_name: String,
        covered_by: String,
        reason: String,
        index_bytes: i64,
        reclaimable_bytes: i64,
        reclaimable_size: String,
        drop_statement: String,
        index_definition: String,
        covered_by_definition: String,
    }

    /// Indexes made redundant by another index on the same table, one row per redundant index,
    /// most reclaimable bytes first.
    ///
    /// The rule (see `ntsb_perf_core::index_usage`): same access method, same predicate, same
    /// expressions; the other index's key columns start with this one's, with the same operator
    /// classes, collations and sort order; this index's INCLUDE columns are covered; a unique index
    /// is only covered by a unique index on the same keys; for access methods other than B-tree
    /// only identical definitions count. Of two identical indexes exactly one is reported, never
    /// one that backs a constraint.
    ///
    /// <!-- doctest: data=csv setup=demo/mistakes.sql -->
    /// ```sql
    /// ntsb=# SELECT index_name, covered_by, reason, pg_size_pretty(reclaimable_bytes), drop_statement
    ///        FROM ntsb_perf.duplicate_indexes();
    ///     index_name    |    covered_by    |  reason   | pg_size_pretty |                 drop_statement
    /// ------------------+------------------+-----------+----------------+-------------------------------------------------
    ///  idx_events_ev_id | events_ev_id_key | identical | 1104 kB        | DROP INDEX CONCURRENTLY public.idx_events_ev_id
    /// (1 row)
    /// ```
    #[pg_extern(stable, parallel_safe)]
    fn duplicate_indexes() -> TableIterator<DuplicateIndexRow> {
        let rows = load_index_facts();
        let facts: Vec<IndexFacts> = rows.iter().map(|r| r.facts.clone()).collect();
        let mut out: Vec<DuplicateIndexRow> = find_redundant(&facts)
            .into_iter()
            .map(|d| {
                let a = &rows[d.redundant];
                let b = &rows[d.covered_by];
                DuplicateIndexRow {
                    schema_name: a.schema_name.clone(),
                    table_name: a.table_name.clone(),
                    index_name: a.index_name.clone(),
                    covered_by: b.index_name.clone(),
                    reason: d.reason.as_str().to_string(),
                    index_bytes: a.index_bytes,
                    reclaimable_bytes: a.index_bytes,
                    reclaimable_size: a.index_size.clone(),
                    drop_statement: a.drop_statement.clone(),
                    index_definition: a.definition.clone(),
                    covered_by_definition: b.definition.clone(),
                }
            })
            .collect();
        out.sort_by(|x, y| {
            y.reclaimable_bytes.cmp(&x.reclaimable_bytes).then_with(|| {
                (&x.schema_name, &x.table_name, &x.index_name).cmp(&(
                    &y.schema_name,
                    &y.table_name,
                    &y.index_name,
                ))
            })
        });
        TableIterator::new(out.into_iter().map(DuplicateIndexRow::into_tuple))
    }
}

table_functions! {
    /// One row of `invalid_indexes`.
    struct InvalidIndexRow {
        schema_name: String,
        table_name: String,
        index_name: String,
        access_method: String,
        index_bytes: i64,
        index_size: String,
        likely_cause: String,
        drop_statement: Option<String>,
        is_ready: bool,
        index_oid: pg_sys::Oid,
        index_definition: String,
    }

    /// Invalid indexes (the planner ignores them, writers still maintain them) with a likely
    /// cause and a drop statement (NULL while a build on that table is still in progress).
    ///
    /// <!-- doctest: data=csv setup=demo/mistakes.sql -->
    /// ```sql
    /// ntsb=# SELECT index_name, likely_cause, drop_statement FROM ntsb_perf.invalid_indexes();
    ///          index_name          |           likely_cause           |                       drop_statement
    /// -----------------------------+----------------------------------+------------------------------------------------------------
    ///  idx_events_location_date_uq | failed CREATE INDEX CONCURRENTLY | DROP INDEX CONCURRENTLY public.idx_events_location_date_uq
    /// (1 row)
    /// ```
    #[pg_extern(stable, parallel_safe)]
    fn invalid_indexes() -> TableIterator<InvalidIndexRow> {
        let rows = query_rows(INVALID_INDEXES_SQL, &[], InvalidIndexRow::read);
        TableIterator::new(rows.into_iter().map(InvalidIndexRow::into_tuple))
    }
}

impl InvalidIndexRow {
    /// Reads a row of invalid_indexes.sql, with the likely cause of the failed build and a
    /// drop statement only once no build on the table is in progress.
    fn read(r: &SpiHeapTupleData) -> SpiResult<Self> {
        let index_name: String = not_null_column(r, "index_name")?;
        let is_partitioned: bool = not_null_column(r, "is_partitioned")?;
        let in_progress: bool = not_null_column(r, "build_in_progress")?;
        let cause = classify_invalid(&index_name, in_progress, is_partitioned);
        let drop: String = not_null_column(r, "drop_statement")?;
        Ok(InvalidIndexRow {
            schema_name: not_null_column(r, "schema_name")?,
            table_name: not_null_column(r, "table_name")?,
            index_name,
            access_method: not_null_column(r, "access_method")?,
            index_bytes: not_null_column(r, "index_bytes")?,
            index_size: not_null_column(r, "index_size")?,
            likely_cause: cause.as_str().to_string(),
            drop_statement: (!in_progress).then_some(drop),
            is_ready: not_null_column(r, "is_ready")?,
            index_oid: not_null_column(r, "index_oid")?,
            index_definition: not_null_column(r, "index_definition")?,
        })
    }
}
