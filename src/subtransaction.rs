//! Work done inside a subtransaction that is always rolled back: `explain_query` (EXPLAIN
//! ANALYZE runs the caller's statement, whose effects must not stay), `health_report` (each
//! section read apart, so that an error in one becomes that section's line) and
//! `snapshot_indexes` (an index that cannot be measured becomes that index's note).

use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::PgTryBuilder;
use std::panic::AssertUnwindSafe;
use std::panic::{RefUnwindSafe, UnwindSafe};

/// Runs `work` in an internal subtransaction and rolls it back, on success and on error. After
/// each rollback the caller's memory context and resource owner are put back and `restore`
/// runs (for state the caller set around the work, e.g. a timeout). An error raised by `work`
/// reaches `on_error` after the rollback: it rethrows it (`e.rethrow()`) or turns it into the
/// value returned.
pub fn rolled_back<T>(
    work: impl FnOnce() -> T + UnwindSafe,
    restore: impl Fn() + UnwindSafe + RefUnwindSafe,
    mut on_error: impl FnMut(CaughtError) -> T + UnwindSafe + RefUnwindSafe,
) -> T {
    // SAFETY: the subtransaction is begun here and rolled back exactly once on this same path:
    // by the error handler (before anything else runs after the error), or after `work`
    // returned. RollbackAndReleaseCurrentSubTransaction leaves CurrentMemoryContext and
    // CurrentResourceOwner pointing at the parent's, so the caller's are put back after each,
    // as PL/pgSQL's exception blocks do.
    unsafe {
        let old_ctx = pg_sys::CurrentMemoryContext;
        let old_owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::CurrentMemoryContext = old_ctx;
        let restore = &restore;
        // (Copy: raw pointers and a reference, so the handler and the success path each have it.)
        let rollback = move || {
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::CurrentMemoryContext = old_ctx;
            pg_sys::CurrentResourceOwner = old_owner;
            restore();
        };
        let result: Result<T, T> = PgTryBuilder::new(move || Ok(work()))
            .catch_others(move |e| {
                rollback();
                Err(on_error(e))
            })
            .execute();
        match result {
            Ok(v) => {
                rollback();
                v
            }
            Err(v) => v,
        }
    }
}

/// Runs `f` (work that only reads: a report's section, a snapshot's measurement of one index)
/// in a subtransaction that is always rolled back: its value, or the error it raised in words.
/// A cancel (57014) or out-of-memory is raised again.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    rolled_back(
        AssertUnwindSafe(move || Ok(f())),
        || {},
        |e| {
            let (code, message) = match &e {
                CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => {
                    (r.sql_error_code(), r.message().to_string())
                }
                CaughtError::RustPanic { ereport, .. } => {
                    (ereport.sql_error_code(), ereport.message().to_string())
                }
            };
            if matches!(
                code,
                PgSqlErrorCode::ERRCODE_QUERY_CANCELED | PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY
            ) {
                e.rethrow()
            }
            Err(format!(
                "could not be read: {message} (SQLSTATE {})",
                sqlstate(code)
            ))
        },
    )
}

/// The five-character SQLSTATE of an error code.
pub fn sqlstate(code: PgSqlErrorCode) -> String {
    let mut v = code as i32;
    let mut s = String::new();
    for _ in 0..5 {
        s.push(char::from(b'0' + (v & 0x3f) as u8));
        v >>= 6;
    }
    s
}
