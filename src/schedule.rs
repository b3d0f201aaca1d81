//! Schedules: the pg_cron jobs ntsb_perf creates, in one place. The schedule syntax every kind
//! of job is checked against (materialized-view refresh, auto-reindex, index snapshots) is the
//! installed pg_cron's, 1.4 or 1.6: the parser is `ntsb_perf_core::schedule`, a port of both,
//! and this module holds its SQL wrappers and picks the grammar. The jobs' life cycle (their
//! kinds, the checks every `schedule_*` function makes, naming, creating and removing them, what
//! `DROP EXTENSION` removes) is `sql/schedule/jobs.sql`, created here.

use std::sync::OnceLock;

use ntsb_perf_core::schedule::{self, CronGrammar};
use pgrx::prelude::*;

use crate::error::raise_error;

extension_sql_file!("../sql/schedule/jobs.sql", name = "schedule");

/// The grammar of the pg_cron this server runs. What parses a schedule is the pg_cron library
/// (`cron.schedule` is C in `$libdir/pg_cron`), so its version is the one of the control file
/// installed with it (`default_version` in `pg_available_extensions`), whatever version the
/// extension's SQL objects in this database are at (`extversion` lags after an upgrade of the
/// package until `ALTER EXTENSION pg_cron UPDATE`; the parser does not). Without pg_cron on the
/// server, the `extversion` of a leftover extension, else 1.4's grammar, the older one. Read
/// once per backend: the library a backend runs does not change under it (a new package takes
/// effect at a restart), and reading the control files costs a directory scan.
fn installed_grammar() -> CronGrammar {
    static GRAMMAR: OnceLock<CronGrammar> = OnceLock::new();
    *GRAMMAR.get_or_init(|| {
        let version = Spi::get_one::<String>(
            "SELECT coalesce((SELECT default_version FROM pg_catalog.pg_available_extensions \
                              WHERE name = 'pg_cron'), \
                             (SELECT extversion FROM pg_catalog.pg_extension \
                              WHERE extname = 'pg_cron'))",
        )
        .ok()
        .flatten();
        CronGrammar::for_version(version.as_deref().unwrap_or(""))
    })
}

/// Parses a pg_cron schedule exactly as the installed pg_cron (1.4 or 1.6) does and lists the
/// values each field selects; an invalid schedule raises 22023 naming the field and the reason,
/// with a hint on that version's syntax. `seconds` is the interval of an interval schedule
/// (`'30 seconds'`, pg_cron 1.5 and later; every field is then empty), NULL otherwise;
/// `last_day_of_month` is `$` as the day of month (pg_cron 1.6; `days_of_month` is then empty).
///
/// ```sql
/// ntsb=# \x
/// ntsb=# SELECT * FROM ntsb_perf.parse_cron('*/15 2-4 * * mon-fri');
/// -[ RECORD 1 ]-----+--------------------------------------------------------------------------------------
/// minutes           | {0,15,30,45}
/// hours             | {2,3,4}
/// days_of_month     | {1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31}
/// months            | {1,2,3,4,5,6,7,8,9,10,11,12}
/// days_of_week      | {1,2,3,4,5}
/// at_start          | f
/// seconds           |
/// last_day_of_month | f
/// ```
#[pg_extern(stable, parallel_safe)]
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
        name!(seconds, Option<i32>),
        name!(last_day_of_month, bool),
    ),
> {
    let Some(schedule) = schedule else {
        raise_error(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "schedule must not be NULL",
            None,
        )
    };
    let grammar = installed_grammar();
    match schedule::parse(schedule, grammar) {
        Ok(c) => {
            let [minutes, hours, days_of_month, months, days_of_week] = c.field_values();
            TableIterator::once((
                minutes,
                hours,
                days_of_month,
                months,
                days_of_week,
                c.at_start,
                // 1-59: fits.
                c.interval_seconds.map(|s| s as i32),
                c.last_day_of_month,
            ))
        }
        Err(e) => raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("invalid cron schedule \"{schedule}\": {e}"),
            Some(grammar.hint()),
        ),
    }
}

/// Whether the installed pg_cron (1.4 or 1.6) would accept this schedule (NULL for NULL).
#[pg_extern(stable, parallel_safe, strict)]
fn cron_schedule_is_valid(schedule: &str) -> bool {
    schedule::parse(schedule, installed_grammar()).is_ok()
}
