//! Index usage reports: usage, unused, duplicate/redundant and invalid indexes.
//!
//! All four read the view `ntsb_perf.index_catalog` (sql/index_catalog.sql), which applies the
//! visibility rules (indexes of tables the caller has some privilege on, system schemas
//! excluded) and folds partitions into their partitioned parent index.

use ntsb_perf_core::index_rules::{self, IndexFacts, KeyColumn};
use pgrx::prelude::*;

use crate::error::raise_error;
use crate::spi_query::{not_null_column, query_rows};

extension_sql_file!("../../sql/index_catalog.sql", name = "index_catalog");

const INDEX_USAGE_SQL: &str = include_str!("../../sql/index_usage/index_usage.sql");
const UNUSED_INDEXES_SQL: &str = include_str!("../../sql/index_usage/unused_indexes.sql");
const INDEX_FACTS_SQL: &str = include_str!("../../sql/index_usage/index_facts.sql");
const INVALID_INDEXES_SQL: &str = include_str!("../../sql/index_usage/invalid_indexes.sql");

#[cfg(any(feature = "pg13", feature = "pg14"))]
const NULLS_NOT_DISTINCT: &str = "false";
#[cfg(not(any(feature = "pg13", feature = "pg14")))]
const NULLS_NOT_DISTINCT: &str = "i.indnullsnotdistinct";

/// Usage counters and sizes of every index the caller can see, most scanned first.
///
/// ```sql
/// SELECT index_name, idx_scan, index_size, index_ratio
/// FROM ntsb_perf.index_usage('public') LIMIT 3;
/// ```
/// `index_ratio` is the index size as a percentage of its table's size (heap and TOAST), NULL
/// when the table is empty. A partitioned index shows the totals of its partitions' indexes.
#[pg_extern(stable, parallel_safe, name = "index_usage")]
#[allow(clippy::type_complexity)]
fn index_usage(
    schema_name: default!(Option<String>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(schema_name, String),
        name!(table_name, String),
        name!(index_name, String),
        name!(access_method, String),
        name!(idx_scan, i64),
        name!(idx_tup_read, i64),
        name!(idx_tup_fetch, i64),
        name!(index_bytes, i64),
        name!(index_size, String),
        name!(table_bytes, i64),
        name!(table_size, String),
        name!(index_ratio, Option<f64>),
        name!(is_unique, bool),
        name!(is_primary, bool),
        name!(is_valid, bool),
        name!(backs_constraint, bool),
        name!(is_partial, bool),
        name!(is_partitioned, bool),
        name!(partitions, Option<i32>),
        name!(index_oid, pg_sys::Oid),
        name!(index_definition, String),
    ),
> {
    let rows = query_rows(INDEX_USAGE_SQL, &[schema_name.into()], |r| {
        Ok((
            not_null_column(r, "schema_name")?,
            not_null_column(r, "table_name")?,
            not_null_column(r, "index_name")?,
            not_null_column(r, "access_method")?,
            not_null_column(r, "idx_scan")?,
            not_null_column(r, "idx_tup_read")?,
            not_null_column(r, "idx_tup_fetch")?,
            not_null_column(r, "index_bytes")?,
            not_null_column(r, "index_size")?,
            not_null_column(r, "table_bytes")?,
            not_null_column(r, "table_size")?,
            r.get_by_name("index_ratio")?,
            not_null_column(r, "is_unique")?,
            not_null_column(r, "is_primary")?,
            not_null_column(r, "is_valid")?,
            not_null_column(r, "backs_constraint")?,
            not_null_column(r, "is_partial")?,
            not_null_column(r, "is_partitioned")?,
            r.get_by_name("partitions")?,
            not_null_column(r, "index_oid")?,
            not_null_column(r, "index_definition")?,
        ))
    });
    TableIterator::new(rows)
}

/// Indexes never scanned since the statistics were last reset, that are safe to consider
/// dropping: not a primary key, not unique, not backing a constraint (unique, exclusion, or
/// referenced by a foreign key), valid, not a partition's attached index (drop the parent), not
/// part of an extension, and at least `min_bytes` large. Biggest first.
///
/// ```sql
/// SELECT index_name, index_size, stats_since, drop_statement
/// FROM ntsb_perf.unused_indexes(1024 * 1024);
/// ```
/// `stats_since` is when this database's counters were last reset (NULL: never reset, so they
/// cover the time since the database was created or last recovered from a crash).
#[pg_extern(stable, parallel_safe, name = "unused_indexes")]
#[allow(clippy::type_complexity)]
fn unused_indexes(
    min_bytes: default!(Option<i64>, "0"),
) -> TableIterator<
    'static,
    (
        name!(schema_name, String),
        name!(table_name, String),
        name!(index_name, String),
        name!(access_method, String),
        name!(index_bytes, i64),
        name!(index_size, String),
        name!(idx_scan, i64),
        name!(stats_since, Option<pgrx::datum::TimestampWithTimeZone>),
        name!(table_writes, i64),
        name!(drop_statement, String),
        name!(index_oid, pg_sys::Oid),
        name!(index_definition, String),
    ),
> {
    let min_bytes = min_bytes.unwrap_or(0);
    if min_bytes < 0 {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("min_bytes must be zero or more, not {min_bytes}"),
            Some("Pass 0 (or NULL) to list unused indexes of every size."),
        );
    }
    let rows = query_rows(UNUSED_INDEXES_SQL, &[min_bytes.into()], |r| {
        Ok((
            not_null_column(r, "schema_name")?,
            not_null_column(r, "table_name")?,
            not_null_column(r, "index_name")?,
            not_null_column(r, "access_method")?,
            not_null_column(r, "index_bytes")?,
            not_null_column(r, "index_size")?,
            not_null_column(r, "idx_scan")?,
            r.get_by_name("stats_since")?,
            not_null_column(r, "table_writes")?,
            not_null_column(r, "drop_statement")?,
            not_null_column(r, "index_oid")?,
            not_null_column(r, "index_definition")?,
        ))
    });
    TableIterator::new(rows)
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

/// Indexes made redundant by another index on the same table, one row per redundant index,
/// most reclaimable bytes first.
///
/// The rule (see `ntsb_perf_core::index_rules`): same access method, same predicate, same
/// expressions; the other index's key columns start with this one's, with the same operator
/// classes, collations and sort order; this index's INCLUDE columns are covered; a unique index
/// is only covered by a unique index on the same keys; for access methods other than B-tree
/// only identical definitions count. Of two identical indexes exactly one is reported, never
/// one that backs a constraint.
///
/// ```sql
/// SELECT index_name, covered_by, reason, pg_size_pretty(reclaimable_bytes), drop_statement
/// FROM ntsb_perf.duplicate_indexes();
/// ```
#[pg_extern(stable, parallel_safe, name = "duplicate_indexes")]
#[allow(clippy::type_complexity)]
fn duplicate_indexes() -> TableIterator<
    'static,
    (
        name!(schema_name, String),
        name!(table_name, String),
        name!(index_name, String),
        name!(covered_by, String),
        name!(reason, String),
        name!(index_bytes, i64),
        name!(reclaimable_bytes, i64),
        name!(reclaimable_size, String),
        name!(drop_statement, String),
        name!(index_definition, String),
        name!(covered_by_definition, String),
    ),
> {
    let rows = load_index_facts();
    let facts: Vec<IndexFacts> = rows.iter().map(|r| r.facts.clone()).collect();
    let mut out: Vec<_> = index_rules::find_redundant(&facts)
        .into_iter()
        .map(|d| {
            let a = &rows[d.redundant];
            let b = &rows[d.covered_by];
            (
                a.schema_name.clone(),
                a.table_name.clone(),
                a.index_name.clone(),
                b.index_name.clone(),
                d.reason.as_str().to_string(),
                a.index_bytes,
                a.index_bytes,
                a.index_size.clone(),
                a.drop_statement.clone(),
                a.definition.clone(),
                b.definition.clone(),
            )
        })
        .collect();
    out.sort_by(|x, y| {
        y.6.cmp(&x.6)
            .then_with(|| (&x.0, &x.1, &x.2).cmp(&(&y.0, &y.1, &y.2)))
    });
    TableIterator::new(out)
}

/// Invalid indexes (the planner ignores them, writers still maintain them) with a likely
/// cause and a drop statement (NULL while a build on that table is still in progress).
///
/// ```sql
/// SELECT index_name, likely_cause, drop_statement FROM ntsb_perf.invalid_indexes();
/// ```
#[pg_extern(stable, parallel_safe, name = "invalid_indexes")]
#[allow(clippy::type_complexity)]
fn invalid_indexes() -> TableIterator<
    'static,
    (
        name!(schema_name, String),
        name!(table_name, String),
        name!(index_name, String),
        name!(access_method, String),
        name!(index_bytes, i64),
        name!(index_size, String),
        name!(likely_cause, String),
        name!(drop_statement, Option<String>),
        name!(is_ready, bool),
        name!(index_oid, pg_sys::Oid),
        name!(index_definition, String),
    ),
> {
    let rows = query_rows(INVALID_INDEXES_SQL, &[], |r| {
        let index_name: String = not_null_column(r, "index_name")?;
        let is_partitioned: bool = not_null_column(r, "is_partitioned")?;
        let in_progress: bool = not_null_column(r, "build_in_progress")?;
        let cause = index_rules::classify_invalid(&index_name, in_progress, is_partitioned);
        let drop: String = not_null_column(r, "drop_statement")?;
        Ok((
            not_null_column(r, "schema_name")?,
            not_null_column(r, "table_name")?,
            index_name,
            not_null_column(r, "access_method")?,
            not_null_column(r, "index_bytes")?,
            not_null_column(r, "index_size")?,
            cause.as_str().to_string(),
            (!in_progress).then_some(drop),
            not_null_column(r, "is_ready")?,
            not_null_column(r, "index_oid")?,
            not_null_column(r, "index_definition")?,
        ))
    });
    TableIterator::new(rows)
}
