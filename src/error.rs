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
