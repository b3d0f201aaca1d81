#![allow(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)] // TODO(lead): SAFETY comments
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

/// First half of the advisory-lock key a writer of a tracked table holds (shared, for its
/// transaction) while it relies on an earlier change mark; a refresh takes the same key
/// exclusively ([`refresh_fence`]: try, never wait) before it takes its snapshot. 'NTPT'.
const TRACK_LOCK_KEY: i32 = 0x4E54_5054;

/// A change mark this backend committed for one table, and the refresh generation it read
/// (under the shared advisory lock) before writing it.
#[derive(Clone, Copy)]
struct Mark {
    generation_seq: pg_sys::Oid,
    generation: i64,
}

/// Backend-local memory of the tracking trigger.
#[derive(Default)]
struct TrackState {
    /// (local transaction id, subtransaction id) of the tables already handled below.
    handled_in: (u32, u32),
    handled: Vec<pg_sys::Oid>,
    /// Marks committed by this backend that later transactions may rely on.
    marks: std::collections::HashMap<pg_sys::Oid, Mark>,
}

thread_local! {
    static TRACK: std::cell::RefCell<TrackState> = std::cell::RefCell::new(TrackState::default());
}

fn local_xid() -> u32 {
    unsafe {
        #[cfg(not(feature = "pg17"))]
        {
            (*pg_sys::MyProc).lxid
        }
        #[cfg(feature = "pg17")]
        {
            (*pg_sys::MyProc).vxid.lxid
        }
    }
}

/// The statement trigger on every tracked table (BEFORE INSERT, UPDATE, DELETE or TRUNCATE, FOR
/// EACH STATEMENT; COPY and MERGE fire it too). It makes sure the next `ntsb_perf.refresh` of a
/// view reading the table sees this transaction's change, at the lowest cost to the writer:
///
/// - once per (sub)transaction and table; later statements return at once;
/// - when the shared advisory lock (`TRACK_LOCK_KEY`, table) is free, this backend's mark for the
///   table was committed by an earlier transaction that held that lock too, and no refresh has
///   started since (`ntsb_perf.refresh_generation` unchanged), nothing is written: any refresh
///   that took its snapshot before the lock was free has a snapshot in which that earlier mark
///   is not visible, so it sees a change next time; any later refresh must take the lock
///   exclusively, so it either waits for nothing (it only tries) and is recorded as uncertain,
///   or finds this transaction finished and in its snapshot;
/// - otherwise (first write of the backend since the last refresh, or a refresh holds the lock)
///   it writes the mark (`ntsb_perf._mark_change`), one row per table and backend, in the
///   writer's transaction: it commits or rolls back with the change.
#[pg_trigger]
fn track_change<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, pgrx::PgTriggerError> {
    let relid = trigger.relid()?;
    let here = (local_xid(), unsafe { pg_sys::GetCurrentSubTransactionId() });
    let done = TRACK.with(|t| {
        let mut t = t.borrow_mut();
        if t.handled_in != here {
            t.handled_in = here;
            t.handled.clear();
        }
        t.handled.contains(&relid)
    });
    if done {
        return Ok(None);
    }
    let key2 = relid.to_u32() as i32;
    let locked = unsafe {
        pgrx::direct_function_call::<bool>(
            pg_sys::pg_try_advisory_xact_lock_shared_int4,
            &[TRACK_LOCK_KEY.into_datum(), key2.into_datum()],
        )
    }
    .unwrap_or(false);
    let generation = if locked { current_generation() } else { None };
    let reuse = match generation {
        Some((seq, g)) => TRACK.with(|t| {
            t.borrow()
                .marks
                .get(&relid)
                .is_some_and(|m| m.generation_seq == seq && m.generation == g)
        }),
        None => false,
    };
    if !reuse {
        TRACK.with(|t| t.borrow_mut().marks.remove(&relid));
        Spi::run_with_args(
            "SELECT ntsb_perf._mark_change($1)",
            &[pgrx::datum::DatumWithOid::from(relid)],
        )
        .unwrap_or_else(|e| {
            fail(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("ntsb_perf: recording a change failed: {e}"),
                None,
            )
        });
        // Only a mark written at the top level, under the lock, can be relied on, and only
        // once it has committed (a subtransaction could still roll it back).
        // (The callback checks the transaction id: after PREPARE TRANSACTION it would run at
        // the next commit of this backend, which must not count.)
        let nest = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
        if let (Some((seq, g)), 1) = (generation, nest) {
            let x0 = unsafe { pg_sys::GetTopFullTransactionId() }.value;
            pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
                if unsafe { pg_sys::GetTopFullTransactionIdIfAny() }.value != x0 {
                    return;
                }
                TRACK.with(|t| {
                    t.borrow_mut().marks.insert(
                        relid,
                        Mark {
                            generation_seq: seq,
                            generation: g,
                        },
                    )
                });
            });
        }
    }
    TRACK.with(|t| t.borrow_mut().handled.push(relid));
    Ok(None)
}

/// The OID of `ntsb_perf.refresh_generation` (bumped by every refresh before it takes its
/// snapshot), None while the extension is being created or dropped.
fn generation_seq() -> Option<pg_sys::Oid> {
    unsafe {
        let ns = pg_sys::get_namespace_oid(c"ntsb_perf".as_ptr(), true);
        if ns == pg_sys::InvalidOid {
            return None;
        }
        let seq = pg_sys::get_relname_relid(c"refresh_generation".as_ptr(), ns);
        (seq != pg_sys::InvalidOid).then_some(seq)
    }
}

/// The OID and current value of the generation sequence.
fn current_generation() -> Option<(pg_sys::Oid, i64)> {
    let seq = generation_seq()?;
    let v = unsafe {
        pgrx::direct_function_call::<i64>(pg_sys::pg_sequence_last_value, &[seq.into_datum()])
    }
    .unwrap_or(0);
    Some((seq, v))
}

/// The refresh side of the tracking protocol (see [`track_change`]), called by
/// `ntsb_perf._refresh` right before it takes the snapshot of a refresh: tries (never waits) to
/// take the tracking lock of every source exclusively, held to the end of the transaction, then
/// bumps the generation so writers stop relying on marks older than this refresh. Returns
/// whether every lock was free, i.e. whether no writer can be relying on an old mark while the
/// snapshot is taken (false: the refresh is recorded as uncertain).
#[pg_extern(volatile, parallel_unsafe, name = "_refresh_fence")]
fn refresh_fence(sources: Vec<pg_sys::Oid>) -> bool {
    let mut all_free = true;
    for relid in sources {
        let key2 = relid.to_u32() as i32;
        let got = unsafe {
            pgrx::direct_function_call::<bool>(
                pg_sys::pg_try_advisory_xact_lock_int4,
                &[TRACK_LOCK_KEY.into_datum(), key2.into_datum()],
            )
        };
        all_free &= got.unwrap_or(false);
    }
    if let Some(seq) = generation_seq() {
        unsafe { pgrx::direct_function_call::<i64>(pg_sys::nextval_oid, &[seq.into_datum()]) };
    }
    all_free
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
    requires = [
        parse_cron,
        cron_schedule_is_valid,
        backend_slot,
        track_change
    ]
);
