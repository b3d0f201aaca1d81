//! Materialized-view refresh scheduling with pg_cron: dependency order, skip when no source
//! changed (exactly), status and log.
//!
//! The orchestration (`refresh`, `schedule_refresh`, `unschedule_refresh`, `refresh_status`)
//! is PL/pgSQL in `sql/refresh/refresh.sql`: it is catalog queries, subtransactions per view and
//! dynamic `REFRESH` statements. The schedule syntax check is pure Rust
//! (`ntsb_perf_core::cron`, a port of pg_cron 1.4's parser); this module holds the thin SQL
//! wrappers and the backend slot used by change tracking.

use ntsb_perf_core::cron;
use pgrx::prelude::*;

use crate::spi_util::fail;

fn bits(mask: u64, first: i32, count: i32) -> Vec<i32> {
    (0..count)
        .filter(|i| mask & (1u64 << i) != 0)
        .map(|i| i + first)
        .collect()
}

/// Parses a pg_cron schedule exactly as the installed pg_cron (1.4) does and lists the values
/// each field selects; an invalid schedule raises 22023 naming the field and the reason.
///
/// ```sql
/// SELECT * FROM ntsb_perf.parse_cron('*/15 2-4 * * mon-fri');
/// --   minutes   |  hours  | days_of_month | months | days_of_week | at_start
/// -- {0,15,30,45} | {2,3,4} | {1,...,31}    | {1..12} | {1,2,3,4,5}  | f
/// ```
#[pg_extern(immutable, parallel_safe)]
#[allow(clippy::type_complexity)]
fn parse_cron(
    schedule: Option<&str>,
) -> TableIterator<
    'static,
    (
        name!(minutes, Vec<i32>),
        name!(hours, Vec<i32>),
        name!(days_of_month, Vec<i32>),
        name!(months, Vec<i32>),
        name!(days_of_week, Vec<i32>),
        name!(at_start, bool),
    ),
> {
    let Some(schedule) = schedule else {
        fail(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "schedule must not be NULL",
            None,
        )
    };
    match cron::parse(schedule) {
        Ok(c) => TableIterator::once((
            bits(c.minutes, 0, 60),
            bits(c.hours as u64, 0, 24),
            bits(c.days_of_month as u64, 1, 31),
            bits(c.months as u64, 1, 12),
            bits(c.days_of_week as u64, 0, 7),
            c.at_start,
        )),
        Err(e) => fail(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid cron schedule \"{schedule}\": {e}"),
            Some(
                "pg_cron 1.4 takes five fields (minute hour day-of-month month day-of-week) with \
                 *, N, N-M, */S, N-M/S and lists, or @hourly/@daily/@weekly/@monthly/@yearly.",
            ),
        ),
    }
}

/// Whether the installed pg_cron (1.4) would accept this schedule (NULL for NULL).
#[pg_extern(immutable, parallel_safe, strict)]
fn cron_schedule_is_valid(schedule: &str) -> bool {
    cron::parse(schedule).is_ok()
}

/// This backend's slot number (1 .. max_connections + workers): stable for the life of a
/// backend and reused only after it exits, so change tracking keeps one row per slot and the
/// table stays bounded.
#[pg_extern(volatile, parallel_restricted)]
fn backend_slot() -> i32 {
    unsafe { pg_sys::MyBackendId }
}

extension_sql_file!(
    "../../sql/refresh/refresh.sql",
    name = "refresh",
    requires = [parse_cron, cron_schedule_is_valid, backend_slot]
);
