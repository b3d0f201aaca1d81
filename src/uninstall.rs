//! `DROP EXTENSION ntsb_perf`: the pg_cron jobs ntsb_perf created (every kind listed by
//! `ntsb_perf._job_kinds()`, `sql/schedule/jobs.sql`: refresh schedules, the auto_reindex job, the
//! index snapshot job) have no `pg_depend` entry, so PostgreSQL would drop the extension and leave
//! them failing every minute. An event trigger on `ddl_command_start` for `DROP EXTENSION` (and
//! `DROP SCHEMA`, whose CASCADE drops the extension too) reads the statement's parse tree, a
//! `DropStmt`: when ntsb_perf is among its objects it hands the statement's behavior to
//! `ntsb_perf._drop_extension_jobs` (PL/pgSQL, `sql/uninstall.sql`), which refuses the drop
//! without CASCADE while such jobs exist (2BP01, the jobs and the other dependent objects in
//! the DETAIL) and with CASCADE removes them in the dropping transaction.

use pgrx::prelude::*;

use crate::c_function::{context_of, FINFO_V1};
use crate::error::raise_error;

/// What a `DROP EXTENSION` / `DROP SCHEMA` statement does to ntsb_perf.
#[derive(Debug, PartialEq, Eq)]
enum Drop {
    /// ntsb_perf is not among the objects.
    NotUs,
    /// ntsb_perf is dropped, CASCADE given or not.
    Us { cascade: bool },
}

/// Reads the parse tree of the command that fired the event trigger.
///
/// # Safety
/// `tree` is NULL or the parse tree of the command being run (valid for the whole call).
unsafe fn drop_of(tree: *mut pg_sys::Node) -> Drop {
    if tree.is_null() {
        return Drop::NotUs;
    }
    // SAFETY: `tree` is a valid node (see above); a node tagged T_DropStmt is a DropStmt.
    let stmt = unsafe {
        if (*tree).type_ != pg_sys::NodeTag::T_DropStmt {
            return Drop::NotUs;
        }
        &*(tree as *mut pg_sys::DropStmt)
    };
    // DROP EXTENSION drops it by name; DROP SCHEMA ntsb_perf CASCADE drops it with its schema
    // (without CASCADE that statement fails anyway: the extension depends on its schema).
    let by_schema = match stmt.removeType {
        pg_sys::ObjectType::OBJECT_EXTENSION => false,
        pg_sys::ObjectType::OBJECT_SCHEMA => true,
        _ => return Drop::NotUs,
    };
    let cascade = stmt.behavior == pg_sys::DropBehavior::DROP_CASCADE;
    if by_schema && !cascade {
        return Drop::NotUs;
    }
    // SAFETY: for these object types `objects` is a List (or NIL) of String nodes, the names
    // (gram.y: drop_type_name ... name_list), valid while the statement is.
    let objects = unsafe { pgrx::PgList::<pg_sys::Node>::from_pg(stmt.objects) };
    for node in objects.iter_ptr() {
        // SAFETY: every element is a valid node; a T_String node is a pg_sys::String whose sval
        // is a NUL-terminated name.
        let name = unsafe {
            if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_String {
                continue;
            }
            let sval = (*(node as *mut pg_sys::String)).sval;
            if sval.is_null() {
                continue;
            }
            std::ffi::CStr::from_ptr(sval)
        };
        if name.to_bytes() == b"ntsb_perf" {
            return Drop::Us { cascade };
        }
    }
    Drop::NotUs
}

/// The SQL function `ntsb_perf._on_drop_command()` (RETURNS event_trigger, declared in
/// `sql/uninstall.sql`): refuses any call that is not an event trigger's (0A000), then, for a
/// drop of ntsb_perf, runs `ntsb_perf._drop_extension_jobs(cascade)` through SPI in the
/// dropping transaction (its error, if any, is the drop's error).
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn ntsb_perf_on_drop_command(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: PostgreSQL calls this with a valid fcinfo, and a context node tagged
    // T_EventTriggerData is an EventTriggerData, valid during this call.
    let data = unsafe {
        let ctx = context_of(fcinfo, pg_sys::NodeTag::T_EventTriggerData);
        (ctx as *mut pg_sys::EventTriggerData).as_ref()
    };
    let Some(data) = data else {
        raise_error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "ntsb_perf._on_drop_command() can only be called as an event trigger",
            None,
        )
    };
    // SAFETY: the parse tree of the command that fired the trigger, valid during this call.
    if let Drop::Us { cascade } = unsafe { drop_of(data.parsetree) } {
        Spi::run_with_args(
            "SELECT ntsb_perf._drop_extension_jobs($1)",
            &[pgrx::datum::DatumWithOid::from(cascade)],
        )
        .unwrap_or_else(|e| {
            raise_error(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("ntsb_perf: checking the pg_cron jobs before the drop failed: {e}"),
                None,
            )
        });
    }
    pg_sys::Datum::from(0)
}

/// The version-1 calling convention record of [`ntsb_perf_on_drop_command`].
#[no_mangle]
pub extern "C" fn pg_finfo_ntsb_perf_on_drop_command() -> &'static pg_sys::Pg_finfo_record {
    &FINFO_V1
}

extension_sql_file!(
    "../sql/uninstall.sql",
    name = "uninstall",
    requires = ["refresh", "reindex", "index_history", "schedule"]
);
