//! What the hand-written (not `#[pg_extern]`) C entry points share: the trigger functions
//! `ntsb_perf.track_change()` (and 0.1.0's name for it), 0.1.0's name for `_refresh_fence`, and
//! the event trigger function `ntsb_perf._on_drop_command()`.

use pgrx::prelude::*;

use crate::error::raise_error;

/// The version-1 calling convention record every `pg_finfo_*` function returns.
pub static FINFO_V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };

/// The call's context node when it is tagged `tag` (`T_TriggerData` for a trigger's call,
/// `T_EventTriggerData` for an event trigger's: what `CALLED_AS_TRIGGER` and
/// `CALLED_AS_EVENT_TRIGGER` check), else NULL.
///
/// # Safety
/// `fcinfo` is the valid call info PostgreSQL passed to the entry point.
pub unsafe fn context_of(
    fcinfo: pg_sys::FunctionCallInfo,
    tag: pg_sys::NodeTag,
) -> *mut pg_sys::Node {
    // SAFETY: the caller passes PostgreSQL's fcinfo; its context is NULL or a valid node.
    unsafe {
        let ctx = (*fcinfo).context;
        if !ctx.is_null() && (*ctx).type_ == tag {
            ctx
        } else {
            std::ptr::null_mut()
        }
    }
}

/// The bytes of a non-NULL `text` datum: in place when it is stored inline and uncompressed
/// (every severity value in practice), else detoasted first (in the current memory context:
/// the aggregate resets it per row). The bytes are the database's encoding, unchecked.
///
/// # Safety
/// `datum` is a non-NULL `text` (varlena) datum that lives as long as the returned slice.
pub unsafe fn text_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    let mut p = datum.cast_mut_ptr::<pg_sys::varlena>();
    // SAFETY: p points at a varlena header (the caller's contract). A 1-byte header with tag 1
    // is an out-of-line (TOAST) pointer; a 4-byte header with its compressed bit set is
    // compressed in line: only those need pg_detoast_datum_packed, a guarded call that returns
    // a plain (possibly short-header) varlena.
    unsafe {
        let extended = pgrx::varlena::varatt_is_1b_e(p) || pgrx::varlena::varatt_is_4b_c(p);
        if extended {
            p = pg_sys::pg_detoast_datum_packed(p);
        }
        pgrx::varlena::varlena_to_byte_slice(p)
    }
}

/// Argument `i` of a version-1 call, None when NULL.
///
/// # Safety
/// `fcinfo` is PostgreSQL's call info of a function declared with more than `i` arguments.
pub unsafe fn arg(fcinfo: pg_sys::FunctionCallInfo, i: usize) -> Option<pg_sys::Datum> {
    // SAFETY: the caller's contract: argument i exists.
    let a = unsafe { &(*fcinfo).args.as_slice(i + 1)[i] };
    (!a.isnull).then_some(a.value)
}

/// Refuses a call with another argument count than the declaration's (0A000).
///
/// # Safety
/// `fcinfo` is PostgreSQL's call info.
pub unsafe fn expect_args(fcinfo: pg_sys::FunctionCallInfo, n: i16, what: &str) {
    // SAFETY: the caller's contract.
    if unsafe { (*fcinfo).nargs } != n {
        raise_error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("{what} takes {n} arguments"),
            None,
        );
    }
}
