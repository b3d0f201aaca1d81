//! Raising PostgreSQL ERRORs with a real SQLSTATE from Rust.

use pgrx::prelude::*;

/// Raises an ERROR with SQLSTATE `code`, `message` and an optional hint; never returns.
pub fn raise_error(code: PgSqlErrorCode, message: impl Into<String>, hint: Option<&str>) -> ! {
    let mut report = pgrx::pg_sys::panic::ErrorReport::new(code, message.into(), "ntsb_perf");
    if let Some(hint) = hint {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// The `min_bytes` argument of a report (`default` when NULL); a negative one is an ERROR
/// (22023) with the hint given.
pub fn min_bytes_arg(min_bytes: Option<i64>, default: i64, hint: Option<&str>) -> i64 {
    let min_bytes = min_bytes.unwrap_or(default);
    if min_bytes < 0 {
        raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("min_bytes must be zero or more, not {min_bytes}"),
            hint,
        );
    }
    min_bytes
}
