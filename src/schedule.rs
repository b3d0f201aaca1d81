//! Schedules: the pg_cron jobs ntsb_perf creates, in one place. The pg_cron (1.4) schedule
//! syntax every kind of job is checked against (materialized-view refresh, auto-reindex, index
//! snapshots): the parser is `ntsb_perf_core::schedule`, a port of pg_cron 1.4's, and this module
//! holds its SQL wrappers. The jobs' life cycle (their kinds, the checks every `schedule_*`
//! function makes, naming, creating and removing them, what `DROP EXTENSION` removes) is
//! `sql/schedule/jobs.sql`, created here.

use ntsb_perf_core::schedule;
use pgrx::prelude::*;

use crate::error::raise_error;

extension_sql_file!("../sql/schedule/jobs.sql", name = "schedule");

/// Parses a pg_cron schedule exactly as the installed pg_cron (1.4) does and lists the values
/// each field selects; an invalid schedule raises 22023 naming the field and the reason.
///
/// ```sql
/// ntsb=# \x
/// ntsb=# SELECT * FROM ntsb_perf.parse_cron('*/15 2-4 * * mon-fri');
/// -[ RECORD 1 ]-+--------------------------------------------------------------------------------------
/// minutes       | {0,15,30,45}
/// hours         | {2,3,4}
/// days_of_month | {1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31}
/// months        | {1,2,3,4,5,6,7,8,9,10,11,12}
/// days_of_week  | {1,2,3,4,5}
/// at_start      | f
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
        raise_error(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "schedule must not be NULL",
            None,
        )
    };
    match schedule::parse(schedule) {
        Ok(c) => {
            let [minutes, hours, days_of_month, months, days_of_week] = c.field_values();
            TableIterator::once((
                minutes,
                hours,
                days_of_month,
                months,
                days_of_week,
                c.at_start,
            ))
        }
        Err(e) => raise_error(
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
    schedule::parse(schedule).is_ok()
}
