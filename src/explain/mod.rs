//! EXPLAIN-based query analysis (the seed's QueryAnalyzer, in SQL). The query runs with the
//! caller's rights inside a subtransaction that is always rolled back, so analysing an
//! INSERT/UPDATE/DELETE changes nothing; JSON plan reading is `ntsb_perf_core::explain`.

use ntsb_perf_core::explain::{explain_statement, summarize, ExplainSummary};
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::error::raise_error;
use crate::subtransaction::rolled_back;

// PostgreSQL's timeout API (utils/timeout.h), which pgrx does not bind. STATEMENT_TIMEOUT is the
// fourth TimeoutId in PostgreSQL 13-17; TimestampTz is microseconds (i64).
const STATEMENT_TIMEOUT: u32 = 3;
// SAFETY (of the declarations): these are the signatures of utils/timeout.h in PostgreSQL 13-17.
unsafe extern "C-unwind" {
    fn enable_timeout_after(id: u32, delay_ms: std::ffi::c_int);
    fn enable_timeout_at(id: u32, fin_time: i64);
    fn disable_timeout(id: u32, keep_indicator: bool);
    fn get_timeout_active(id: u32) -> bool;
    fn get_timeout_finish_time(id: u32) -> i64;
}

/// When the session's statement timeout fires (None when it is not armed).
fn session_deadline() -> Option<i64> {
    // SAFETY: the timeout module's getters only read its static table; guarded all the same.
    unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| {
            get_timeout_active(STATEMENT_TIMEOUT)
                .then(|| get_timeout_finish_time(STATEMENT_TIMEOUT))
        })
    }
}

/// The timeout the analysed statement runs under: `timeout_ms`, or what is left of the
/// session's statement timeout when that is sooner (at least 1 ms).
fn effective_timeout_ms(timeout_ms: i32, deadline: Option<i64>) -> std::ffi::c_int {
    let Some(deadline) = deadline else {
        return timeout_ms;
    };
    // SAFETY: GetCurrentTimestamp reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    let left_ms = (deadline.saturating_sub(now) / 1000).clamp(1, i32::MAX as i64) as i32;
    timeout_ms.min(left_ms)
}

/// Refuses anything but exactly one SELECT/INSERT/UPDATE/DELETE/MERGE/VALUES statement.
fn check_one_statement(query: &str) {
    let cquery = std::ffi::CString::new(query).unwrap_or_else(|_| {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "query contains a NUL byte",
            None,
        )
    });
    // SAFETY: raw_parser gets a NUL-terminated copy of the query (guarded: a syntax error is its
    // own ERROR); the list it returns is non-empty when its length is 1, so its first element is
    // a RawStmt whose stmt is a parse node.
    unsafe {
        // Syntax errors are raised here by the parser itself (42601).
        let list = pg_sys::raw_parser(cquery.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
        let n = if list.is_null() { 0 } else { (*list).length };
        if n != 1 {
            raise_error(
                PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
                format!("query must be exactly one statement, not {n}"),
                Some("Analyse statements one at a time, or compare them with ntsb_perf.compare_queries()."),
            );
        }
        let raw = (*(*list).elements).ptr_value as *mut pg_sys::RawStmt;
        let tag = (*(*raw).stmt).type_;
        use pg_sys::NodeTag::*;
        if !matches!(
            tag,
            T_SelectStmt | T_InsertStmt | T_UpdateStmt | T_DeleteStmt | T_MergeStmt
        ) {
            raise_error(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "only SELECT, INSERT, UPDATE, DELETE and MERGE statements can be analysed",
                None,
            );
        }
    }
}

/// Restores the statement timeout the session had: armed again for the same moment.
///
/// # Safety
/// Called where an ERROR may be raised (inside a pgrx-guarded function).
unsafe fn restore_timeout(deadline: Option<i64>) {
    // SAFETY: the timeout module's setters, behind pgrx's FFI guard.
    unsafe {
        pg_sys::ffi::pg_guard_ffi_boundary(|| disable_timeout(STATEMENT_TIMEOUT, false));
        if let Some(at) = deadline {
            pg_sys::ffi::pg_guard_ffi_boundary(|| enable_timeout_at(STATEMENT_TIMEOUT, at));
        }
    }
}

/// Runs EXPLAIN of `query` in a subtransaction that is rolled back whatever happens, with a
/// statement timeout of `timeout_ms`; returns the JSON plan text.
fn run_explain(query: &str, analyze: bool, timeout_ms: i32) -> String {
    check_one_statement(query);
    let sql = explain_statement(query, analyze);
    let deadline = session_deadline();
    let timeout_ms = effective_timeout_ms(timeout_ms, deadline);
    // The statement timeout is armed inside the subtransaction, and the session's own is armed
    // again after its rollback (restore_timeout), on success and on error.
    let result = rolled_back(
        move || {
            // SAFETY: the timeout module's setter, behind pgrx's FFI guard.
            unsafe {
                pg_sys::ffi::pg_guard_ffi_boundary(|| {
                    enable_timeout_after(STATEMENT_TIMEOUT, timeout_ms)
                })
            };
            Spi::connect_mut(|client| {
                let table = client.update(sql.as_str(), None, &[])?;
                let mut out = String::new();
                for row in table {
                    if let Some(j) = row.get::<pgrx::Json>(1)? {
                        out = j.0.to_string();
                    }
                }
                Ok::<_, pgrx::spi::SpiError>(out)
            })
        },
        // SAFETY: called where an ERROR may be raised (this function is called from a guarded
        // #[pg_extern]).
        move || unsafe { restore_timeout(deadline) },
        |e| e.rethrow(),
    );
    result.unwrap_or_else(|e| {
        raise_error(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("EXPLAIN failed: {e}"),
            None,
        )
    })
}

fn analyse(query: &str, analyze: bool, timeout_ms: Option<i32>) -> (ExplainSummary, JsonB) {
    let timeout_ms = timeout_ms.unwrap_or(30_000);
    if timeout_ms <= 0 {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("timeout_ms must be a positive number of milliseconds, not {timeout_ms}"),
            None,
        );
    }
    let json = run_explain(query, analyze, timeout_ms);
    let summary = summarize(&json)
        .unwrap_or_else(|e| raise_error(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, e, None));
    let plan = serde_json::from_str(&json).unwrap_or(serde_json::Value::Null);
    (summary, JsonB(plan))
}

table_functions! {
    /// One row of `explain_query`: the plan's summary, then the plan.
    struct ExplainRow {
        planning_ms: Option<f64>,
        execution_ms: Option<f64>,
        total_cost: f64,
        rows: f64,
        index_used: bool,
        indexes: Vec<String>,
        seq_scanned_tables: Vec<String>,
        shared_hit: i64,
        shared_read: i64,
        plan: JsonB,
    }

    /// Plans (and by default runs) one statement and summarises its plan. The statement runs with
    /// the caller's rights in a subtransaction that is always rolled back (an analysed INSERT,
    /// UPDATE or DELETE changes nothing), under a statement timeout of `timeout_ms`.
    ///
    /// <!-- doctest: data=csv mask=execution_ms -->
    /// ```sql
    /// ntsb=# SELECT execution_ms, index_used, indexes, seq_scanned_tables
    ///        FROM ntsb_perf.explain_query($$SELECT count(*) FROM events WHERE event_date >= '2020-01-01'$$);
    ///  execution_ms | index_used |         indexes         | seq_scanned_tables
    /// --------------+------------+-------------------------+--------------------
    ///         0.299 | t          | {idx_events_event_date} | {}
    /// (1 row)
    /// ```
    #[pg_extern(volatile)]
    fn explain_query(
        query: Option<&str>,
        analyze: default!(Option<bool>, "true"),
        timeout_ms: default!(Option<i32>, "30000"),
    ) -> TableIterator<ExplainRow> {
        let Some(query) = query else {
            raise_error(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "query must not be NULL",
                None,
            )
        };
        let (s, plan) = analyse(query, analyze.unwrap_or(true), timeout_ms);
        TableIterator::once(ExplainRow::new(s, plan).into_tuple())
    }
}

impl ExplainRow {
    fn new(s: ExplainSummary, plan: JsonB) -> ExplainRow {
        ExplainRow {
            planning_ms: s.planning_ms,
            execution_ms: s.execution_ms,
            total_cost: s.total_cost,
            rows: s.rows,
            index_used: s.index_used(),
            indexes: s.indexes,
            seq_scanned_tables: s.seq_scanned,
            shared_hit: s.shared_hit,
            shared_read: s.shared_read,
            plan,
        }
    }
}

/// Runs each query with `explain_query` (analysed) and returns one row per query, fastest
/// first, with how many times slower than the fastest each one is.
///
/// <!-- doctest: data=csv mask=execution_ms,slower_than_fastest -->
/// ```sql
/// ntsb=# SELECT rank, query, execution_ms, slower_than_fastest, index_used
///        FROM ntsb_perf.compare_queries('SELECT count(*) FROM events WHERE id < 100',
///                                       'SELECT count(*) FROM events WHERE id + 0 < 100');
///  rank |                     query                      | execution_ms | slower_than_fastest | index_used
/// ------+------------------------------------------------+--------------+---------------------+------------
///     1 | SELECT count(*) FROM events WHERE id < 100     |        0.099 |                   1 | t
///     2 | SELECT count(*) FROM events WHERE id + 0 < 100 |        4.159 |               42.01 | f
/// (2 rows)
/// ```
#[pg_extern(volatile)]
#[allow(clippy::type_complexity)]
fn compare_queries(
    queries: VariadicArray<String>,
) -> TableIterator<
    'static,
    (
        name!(rank, i32),
        name!(query, String),
        name!(execution_ms, Option<f64>),
        name!(slower_than_fastest, Option<f64>),
        name!(planning_ms, Option<f64>),
        name!(total_cost, f64),
        name!(rows, f64),
        name!(index_used, bool),
        name!(indexes, Vec<String>),
        name!(seq_scanned_tables, Vec<String>),
        name!(shared_hit, i64),
        name!(shared_read, i64),
    ),
> {
    let mut results: Vec<(String, ExplainSummary)> = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let Some(q) = q else {
            raise_error(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                format!("query {} is NULL", i + 1),
                None,
            )
        };
        let (s, _) = analyse(&q, true, None);
        results.push((q, s));
    }
    results.sort_by(|a, b| {
        a.1.execution_ms
            .unwrap_or(f64::INFINITY)
            .total_cmp(&b.1.execution_ms.unwrap_or(f64::INFINITY))
    });
    let fastest = results.first().and_then(|r| r.1.execution_ms);
    let rows: Vec<_> = results
        .into_iter()
        .enumerate()
        .map(|(i, (q, s))| {
            let slower = match (s.execution_ms, fastest) {
                (Some(e), Some(f)) if f > 0.0 => Some((e / f * 100.0).round() / 100.0),
                _ => None,
            };
            (
                i as i32 + 1,
                q,
                s.execution_ms,
                slower,
                s.planning_ms,
                s.total_cost,
                s.rows,
                s.index_used(),
                s.indexes,
                s.seq_scanned,
                s.shared_hit,
                s.shared_read,
            )
        })
        .collect();
    TableIterator::new(rows)
}
