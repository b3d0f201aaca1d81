//! What the hand-written (not `#[pg_extern]`) C entry points share: the trigger functions
//! `ntsb_perf.track_change()` (and 0.1.0's name for it), 0.1.0's name for `_refresh_fence`, and
//! the event trigger function `ntsb_perf._on_drop_command()`.

use pgrx::prelude::*;

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
