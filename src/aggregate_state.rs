//! Transition states of the extension's aggregates (`accident_stats`, `rollup`,
//! `accident_hotspots`), kept as `internal` values in the calling aggregate's memory context.

use pgrx::prelude::*;
use pgrx::{Internal, PgMemoryContexts};

use crate::error::raise_error;

/// A new transition state holding `value`, allocated in the calling aggregate's memory context
/// (where it must live from one call to the next); an ERROR when the function is called
/// outside an aggregate.
pub fn new_state<T>(fcinfo: pg_sys::FunctionCallInfo, value: T) -> Internal {
    let ctx = aggregate_memory_context(fcinfo);
    // SAFETY: ctx is the calling aggregate's live memory context (AggCheckCallContext found it).
    unsafe { PgMemoryContexts::For(ctx).switch_to(|_| Internal::new(value)) }
}

/// The calling aggregate's memory context (where transition states live); an ERROR when the
/// function is called outside an aggregate.
fn aggregate_memory_context(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::MemoryContext {
    let mut ctx = std::ptr::null_mut();
    // SAFETY: `fcinfo` is the calling function's own call info (pgrx hands it over); the call is
    // a guarded FFI call that only reads it and writes `ctx`.
    if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut ctx) } == 0 {
        raise_error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "this function is an aggregate support function and can only be called by an aggregate",
            None,
        );
    }
    ctx
}
