//! Index history and forecasting: snapshots of every index (size, bloat, usage counters) kept in
//! `ntsb_perf.index_history`, usage counted from them across statistics resets, and a robust
//! trend of each index's bloat since its last rebuild (`bloat_forecast`). The SQL side (table,
//! `snapshot_indexes`, schedule, usage history, forecast) is `sql/index_history/` (schema, snapshot, usage, forecast);
//! here are the measurement of one snapshot and the line fit, whose maths is
//! `ntsb_perf_core::index_history` (`snapshot`, `forecast`).

use ntsb_perf_core::bloat::measure::method_name;
use ntsb_perf_core::index_history::forecast;
use ntsb_perf_core::index_history::snapshot::{first_read, next_read, Read};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::prelude::*;

use crate::bloat::{measure_summary, Measured};
use crate::error::raise_error;
use crate::spi_query::query_rows;
use crate::subtransaction::guarded;

const SNAPSHOT_LIST_SQL: &str = include_str!("../../sql/index_history/snapshot_list.sql");

/// `ntsb_perf.index_history_retention` in minutes (400 days).
static RETENTION: GucSetting<i32> = GucSetting::<i32>::new(400 * 24 * 60);

/// Registers `ntsb_perf.index_history_retention` (called from `_PG_init`). Superuser-only
/// (SUSET): a role that may take snapshots must not be able to delete the history with it.
pub fn register_gucs() {
    GucRegistry::define_int_guc(
        c"ntsb_perf.index_history_retention",
        c"How long snapshot_indexes keeps rows of ntsb_perf.index_history.",
        c"Each snapshot deletes the rows older than this (default 400 days).",
        &RETENTION,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MIN,
    );
}

/// The retention in minutes (the setting, read where the library is loaded).
#[pg_extern(stable, parallel_safe)]
fn _index_history_retention() -> i32 {
    RETENTION.get()
}

/// One index in the list a snapshot measures.
struct Listed {
    oid: pg_sys::Oid,
    pages: i64,
    measurable: Option<String>,
}

table_functions! {
    /// One index's measurement in a snapshot (`snapshot_indexes` adds the usage counters).
    struct SnapshotRow {
        index_oid: pg_sys::Oid,
        method: Option<String>,
        pages_read: i64,
        total_pages: i64,
        index_bytes: Option<i64>,
        live_items: Option<i64>,
        avg_leaf_density: Option<f64>,
        leaf_fragmentation: Option<f64>,
        expected_bytes: Option<i64>,
        reclaimable_bytes: Option<i64>,
        bloat_ratio: Option<f64>,
        density_ci_low: Option<f64>,
        density_ci_high: Option<f64>,
        note: Option<String>,
    }

    /// Measures every leaf index outside the system schemas for a snapshot: exactly when it has
    /// at most 1024 pages, otherwise from a sample grown until the density's 95% interval is
    /// within ±1 point (`sample_pages` given: that sample, no growing). An index that cannot
    /// be measured (invalid, an access method ntsb_perf does not read, locked away, corrupted)
    /// gets a row with its `note` and no figures; a cancel stops the whole snapshot.
    #[pg_extern(volatile, parallel_unsafe)]
    fn _snapshot_measure(sample_pages: Option<i32>) -> TableIterator<SnapshotRow> {
        if let Some(n) = sample_pages.filter(|n| *n <= 0) {
            raise_error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("sample_pages must be a positive number of pages, not {n}"),
                Some("Pass NULL to let each index be measured exactly when small and by a growing sample when large."),
            );
        }
        let listed = query_rows(SNAPSHOT_LIST_SQL, &[], |r| {
            Ok(Listed {
                oid: crate::spi_query::not_null_column(r, "oid")?,
                pages: crate::spi_query::not_null_column(r, "pages")?,
                measurable: r.get_by_name("not_measured")?,
            })
        });
        let rows: Vec<SnapshotRow> = listed
            .into_iter()
            .filter_map(|l| snapshot_one(l, sample_pages))
            .collect();
        TableIterator::new(rows.into_iter().map(SnapshotRow::into_tuple))
    }
}

/// One index's row; `None` when it was dropped since the list was read.
fn snapshot_one(l: Listed, sample_pages: Option<i32>) -> Option<SnapshotRow> {
    let empty = |note: String| SnapshotRow {
        index_oid: l.oid,
        method: None,
        pages_read: 0,
        total_pages: l.pages,
        index_bytes: None,
        live_items: None,
        avg_leaf_density: None,
        leaf_fragmentation: None,
        expected_bytes: None,
        reclaimable_bytes: None,
        bloat_ratio: None,
        density_ci_low: None,
        density_ci_high: None,
        note: Some(note),
    };
    if let Some(why) = l.measurable.clone() {
        return Some(empty(why));
    }
    let oid = l.oid;
    // Each read runs in a rolled-back subtransaction (it only reads): an index that cannot be
    // read gets its note, and its locks are let go at once.
    let mut read = first_read(l.pages.max(0) as u64, sample_pages.map(|n| n as u64));
    let mut pages_read = 0i64;
    let mut round = 1;
    loop {
        let sample = match read {
            Read::Exact => None,
            Read::Sample(k) => Some(k.min(i32::MAX as u64) as i32),
        };
        let m: Measured = match guarded(move || measure_summary(oid, sample)) {
            Ok(Some(m)) => m,
            Ok(None) => return None,
            Err(why) => return Some(empty(why)),
        };
        pages_read += m.pages_read;
        let next = if m.sampled && sample_pages.is_none() {
            next_read(
                m.total_pages.max(0) as u64,
                m.pages_read.max(0) as u64,
                pages_read.max(0) as u64,
                m.density_ci,
                round,
            )
        } else {
            None
        };
        match next {
            Some(r) => {
                read = r;
                round += 1;
            }
            None => {
                return Some(SnapshotRow {
                    index_oid: oid,
                    method: Some(method_name(m.sampled).into()),
                    pages_read,
                    total_pages: m.total_pages,
                    index_bytes: Some(m.index_bytes),
                    live_items: Some(m.live_items),
                    avg_leaf_density: m.avg_leaf_density,
                    leaf_fragmentation: m.leaf_fragmentation,
                    expected_bytes: Some(m.expected_bytes),
                    reclaimable_bytes: Some(m.reclaimable_bytes),
                    bloat_ratio: m.bloat_ratio,
                    density_ci_low: m.density_ci.map(|c| c.0),
                    density_ci_high: m.density_ci.map(|c| c.1),
                    note: None,
                })
            }
        }
    }
}

/// Points at most in one fit's arrays: a forecast passes about 200; more is refused (54000)
/// before anything is copied.
const MAX_FIT_ELEMENTS: usize = 100_000;

/// A Theil–Sen line through the points (`x` in days since the first, `y` the measured value)
/// and when it reaches `threshold` (going up when `rising`, else going down), with the 95% band
/// from the slope's confidence interval: only when the whole interval moves toward the
/// threshold (a trend, not a flat series or one step). `crossed`: the line is at or past the
/// threshold at the last point, since `crossed_at` (not before the first point). One row; all
/// NULL when the points cannot be fitted (fewer than four, or values the fit cannot keep
/// finite); only the line when the threshold is not a number. Crossings are in the days of
/// `x`. Pairs with a NULL are left out; arrays of different lengths are refused (22023).
#[pg_extern(immutable, parallel_safe)]
#[allow(clippy::type_complexity)]
fn _forecast_fit(
    x: Array<'_, f64>,
    y: Array<'_, f64>,
    threshold: f64,
    rising: bool,
) -> TableIterator<
    'static,
    (
        name!(slope, Option<f64>),
        name!(slope_low, Option<f64>),
        name!(slope_high, Option<f64>),
        name!(crossing, Option<f64>),
        name!(crossing_earliest, Option<f64>),
        name!(crossing_latest, Option<f64>),
        name!(crossed, Option<bool>),
        name!(crossed_at, Option<f64>),
    ),
> {
    if x.len() != y.len() {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "x and y must have as many elements ({} and {})",
                x.len(),
                y.len()
            ),
            None,
        );
    }
    if x.len() > MAX_FIT_ELEMENTS {
        raise_error(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!(
                "at most {MAX_FIT_ELEMENTS} points are fitted, not {}",
                x.len()
            ),
            None,
        );
    }
    let (xs, ys): (Vec<f64>, Vec<f64>) =
        x.iter().zip(y.iter()).filter_map(|(a, b)| a.zip(b)).unzip();
    let row = match forecast::forecast(&xs, &ys, threshold, rising) {
        None => (None, None, None, None, None, None, None, None),
        // (a threshold that is not a number: only the line is wanted)
        Some((f, None)) => (
            Some(f.slope),
            Some(f.slope_low),
            Some(f.slope_high),
            None,
            None,
            None,
            None,
            None,
        ),
        Some((f, Some(c))) => (
            Some(f.slope),
            Some(f.slope_low),
            Some(f.slope_high),
            c.at,
            c.earliest,
            c.latest,
            Some(c.crossed),
            c.crossed_at,
        ),
    };
    TableIterator::once(row)
}

// The SQL of the index history, each part after the one it needs: the tables (history and
// rebuild baselines), snapshots, usage, the forecast (named "index_history": what the other
// modules require). It needs nothing of auto-reindex.
extension_sql_file!(
    "../../sql/index_history/schema.sql",
    name = "index_history_schema",
    requires = [
        "bloat_grants",
        "index_catalog",
        "schedule",
        "run_lock",
        _snapshot_measure,
        _forecast_fit,
        _index_history_retention
    ]
);
extension_sql_file!(
    "../../sql/index_history/snapshot.sql",
    name = "index_history_snapshot",
    requires = ["index_history_schema"]
);
extension_sql_file!(
    "../../sql/index_history/usage.sql",
    name = "index_history_usage",
    requires = ["index_history_snapshot"]
);
extension_sql_file!(
    "../../sql/index_history/forecast.sql",
    name = "index_history",
    requires = ["index_history_usage"]
);
