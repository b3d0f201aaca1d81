//! Materialized-view refresh scheduling with pg_cron: dependency order, skip when no source
//! changed (exactly), status and log.
//!
//! The orchestration (`refresh`, `schedule_refresh`, `unschedule_refresh`, `refresh_status`)
//! is PL/pgSQL in `sql/refresh/` (schema, tracking, run, schedule): it is catalog queries,
//! subtransactions per view and dynamic `REFRESH` statements; its schedule check is the
//! `schedule` module's. This module holds what the orchestration calls into: the change-tracking
//! trigger and the
//! refresh's side of its lock protocol (`_refresh_fence`), the check for functions that make a
//! view's result change by themselves (`_nondeterminism`), and the backend slot.

use pgrx::prelude::*;

use crate::c_function::{context_of, FINFO_V1};
use crate::error::raise_error;
use crate::relation::RelGuard;
use pgrx::PgTryBuilder;

/// A change mark this backend committed for one table, and the refresh generation it read
/// (under the shared tracking lock) before writing it.
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
    // PostgreSQL 17 moved the local transaction id into the PGPROC's virtual transaction id.
    #[cfg(feature = "pg15")]
    // SAFETY: MyProc is this backend's PGPROC, set up before any SQL runs; a plain read.
    let lxid = unsafe { (*pg_sys::MyProc).lxid };
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    // SAFETY: MyProc is this backend's PGPROC, set up before any SQL runs; a plain read.
    let lxid = unsafe { (*pg_sys::MyProc).vxid.lxid };
    lxid
}

/// The statement trigger on every tracked table (BEFORE INSERT, UPDATE, DELETE or TRUNCATE, FOR
/// EACH STATEMENT; COPY and MERGE fire it too). It makes sure the next `ntsb_perf.refresh` of a
/// view reading the table sees this transaction's change, at the lowest cost to the writer:
///
/// - once per (sub)transaction and table; later statements return at once;
/// - when the shared tracking lock of the table (`run_lock::TRACK_SUBID`: a lock no SQL can take, so no role can hold it to make every writer write a mark or every refresh uncertain) is free, this backend's mark for the
///   table was committed by an earlier transaction that held that lock too, and no refresh has
///   started since (`ntsb_perf.refresh_generation` unchanged), nothing is written: any refresh
///   that took its snapshot before the lock was free has a snapshot in which that earlier mark
///   is not visible, so it sees a change next time; any later refresh must take the lock
///   exclusively, so it either waits for nothing (it only tries) and is recorded as uncertain,
///   or finds this transaction finished and in its snapshot;
/// - otherwise (first write of the backend since the last refresh, or a refresh holds the lock)
///   it writes the mark ([`write_mark`]), one row per table and backend, in the writer's
///   transaction: it commits or rolls back with the change.
///
/// It runs as the statement trigger `ntsb_perf_track_changes` and, on tables a subscription may
/// write, as the row trigger `ntsb_perf_track_replica` (AFTER ROW, enabled REPLICA only: the
/// logical-replication apply worker fires row triggers only, and only REPLICA/ALWAYS ones; on
/// the normal path it never fires). PostgreSQL refuses to call a trigger function other than as
/// a trigger, and the table is always the one being written.
fn track_change(trigger: &pgrx::PgTrigger<'_>) {
    let relid = match trigger.relid() {
        Ok(relid) => relid,
        Err(e) => raise_error(
            PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
            format!("ntsb_perf.track_change: {e}"),
            None,
        ),
    };
    // SAFETY: reads this backend's current subtransaction id.
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
        return;
    }
    let locked =
        crate::run_lock::LockTag::relation(relid, crate::run_lock::TRACK_SUBID).try_xact(true);
    let generation = if locked { cached_generation() } else { None };
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
        write_mark(relid);
        // Only a mark written at the top level, under the lock, can be relied on, and only
        // once it has committed (a subtransaction could still roll it back).
        // (The callback checks the transaction id: after PREPARE TRANSACTION it would run at
        // the next commit of this backend, which must not count.)
        // SAFETY: reads this backend's transaction nesting level.
        let nest = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
        if let (Some((seq, g)), 1) = (generation, nest) {
            // SAFETY: this transaction's id (assigned: it has written a change mark).
            let x0 = unsafe { pg_sys::GetTopFullTransactionId() }.value;
            pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
                // SAFETY: reads the committing transaction's id (no assignment).
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
}

/// The SQL function `ntsb_perf.track_change()` (RETURNS trigger, declared below): refuses any
/// call that is not a trigger's (0A000) before it reads the trigger data, then runs
/// [`track_change`]. It returns NULL, which PostgreSQL ignores for statement and AFTER triggers
/// (the only kinds ntsb_perf creates).
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn ntsb_perf_track_change(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: PostgreSQL calls this with a valid fcinfo.
    let as_trigger = !unsafe { context_of(fcinfo, pg_sys::NodeTag::T_TriggerData) }.is_null();
    if !as_trigger {
        raise_error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "ntsb_perf.track_change() can only be called as a trigger",
            Some("schedule_refresh puts it on the tables a scheduled view reads."),
        );
    }
    // SAFETY: checked above that PostgreSQL called this as a trigger, so fcinfo carries a
    // TriggerData for the duration of the call.
    let trigger = match unsafe { pgrx::PgTrigger::from_fcinfo(&*fcinfo) } {
        Ok(t) => t,
        Err(e) => raise_error(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("ntsb_perf.track_change: {e}"),
            None,
        ),
    };
    track_change(&trigger);
    pg_sys::Datum::from(0)
}

/// The version-1 calling convention record of [`ntsb_perf_track_change`].
#[no_mangle]
pub extern "C" fn pg_finfo_ntsb_perf_track_change() -> &'static pg_sys::Pg_finfo_record {
    &FINFO_V1
}

/// Release 0.1.0's entry point of `ntsb_perf.track_change()` (pgrx named it
/// `track_change_wrapper`). A database still on 0.1.0's SQL calls this symbol until
/// `ALTER EXTENSION ntsb_perf UPDATE` points the function at [`ntsb_perf_track_change`]; without
/// it, every write to a tracked table would fail from the moment this library is installed. It
/// is the same trigger: 0.1.0's refresh_change and refresh_generation are what it writes and
/// reads (tests/upgrade/upgrade.sh writes a tracked table in that window).
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn track_change_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: PostgreSQL calls this exactly as it calls ntsb_perf_track_change (same SQL
    // declaration, version-1 convention), which checks the call is a trigger's.
    unsafe { ntsb_perf_track_change(fcinfo) }
}

/// The version-1 calling convention record of [`track_change_wrapper`].
#[no_mangle]
pub extern "C" fn pg_finfo_track_change_wrapper() -> &'static pg_sys::Pg_finfo_record {
    &FINFO_V1
}

extension_sql!(
    r#"
CREATE FUNCTION ntsb_perf.track_change() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'ntsb_perf_track_change';
"#,
    name = "track_change"
);

/// Writes this backend's change mark for `relid`: the current top transaction's id, in that
/// transaction. `ntsb_perf.refresh_change` grants no write to PUBLIC (nobody may forge, move back
/// or remove a mark), so the write runs as the table's owner (the extension's superuser), with
/// the caller's security context kept and marked restricted, through one fixed statement whose
/// every name and operator is schema-qualified (nothing the caller put on search_path runs).
/// The only values are the table being written and this backend's slot; the xid is taken by
/// `pg_current_xact_id()` inside the statement.
fn write_mark(relid: pg_sys::Oid) {
    const SQL: &str = "INSERT INTO ntsb_perf.refresh_change AS c (source, backend, xid) \
        VALUES ($1, $2, pg_catalog.pg_current_xact_id()) \
        ON CONFLICT (source, backend) DO UPDATE SET xid = EXCLUDED.xid \
        WHERE c.xid OPERATOR(pg_catalog.<>) EXCLUDED.xid";
    let Some(table) = catalog_relid(c"refresh_change") else {
        return; // the extension is being created or dropped: nothing to track yet
    };
    // SAFETY: RelationIdGetRelation returns a pinned relcache entry (or NULL when the table is
    // gone) that stays valid until RelationClose; we read one field of its pg_class row.
    let owner = unsafe {
        let rel = pg_sys::RelationIdGetRelation(table);
        if rel.is_null() {
            return;
        }
        let owner = (*(*rel).rd_rel).relowner;
        pg_sys::RelationClose(rel);
        owner
    };
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_context: std::ffi::c_int = 0;
    // SAFETY: plain reads of the backend's current user and security context into locals.
    unsafe { pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context) };
    let slot = backend_slot();
    // SAFETY: switches the current user for the one statement below; the finally block restores
    // the saved user and context on success and on error (a transaction or subtransaction abort
    // restores them as well). SECURITY_RESTRICTED_OPERATION forbids the statement from doing
    // anything session-changing under the borrowed identity.
    unsafe {
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved_context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as std::ffi::c_int
                | pg_sys::SECURITY_RESTRICTED_OPERATION as std::ffi::c_int,
        )
    };
    PgTryBuilder::new(|| {
        Spi::run_with_args(
            SQL,
            &[
                pgrx::datum::DatumWithOid::from(relid),
                pgrx::datum::DatumWithOid::from(slot),
            ],
        )
        .unwrap_or_else(|e| {
            raise_error(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("ntsb_perf: recording a change failed: {e}"),
                None,
            )
        })
    })
    .finally(|| {
        // SAFETY: restores exactly what GetUserIdAndSecContext returned above.
        unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_context) }
    })
    .execute();
}

/// The OID of the relation `name` in schema ntsb_perf, None while the extension is being
/// created or dropped.
fn catalog_relid(name: &std::ffi::CStr) -> Option<pg_sys::Oid> {
    // SAFETY: catalog lookups by name with missing_ok / InvalidOid results; both take
    // NUL-terminated strings that outlive the calls.
    unsafe {
        let ns = pg_sys::get_namespace_oid(c"ntsb_perf".as_ptr(), true);
        if ns == pg_sys::InvalidOid {
            return None;
        }
        let rel = pg_sys::get_relname_relid(name.as_ptr(), ns);
        (rel != pg_sys::InvalidOid).then_some(rel)
    }
}

/// The OID of `ntsb_perf.refresh_generation` (bumped by every refresh before it takes its
/// snapshot), None while the extension is being created or dropped.
fn generation_seq() -> Option<pg_sys::Oid> {
    catalog_relid(c"refresh_generation")
}

/// The OID and current value of the generation sequence.
fn current_generation() -> Option<(pg_sys::Oid, i64)> {
    let seq = generation_seq()?;
    // SAFETY: pg_sequence_last_value takes the OID of an existing sequence (just looked up).
    let v = unsafe {
        pgrx::direct_function_call::<i64>(pg_sys::pg_sequence_last_value, &[seq.into_datum()])
    }
    .unwrap_or(0);
    Some((seq, v))
}

thread_local! {
    /// This backend's copy of ([`generation_seq`], its value), read under the tracking lock by
    /// [`cached_generation`] and forgotten by [`forget_generation`].
    static GENERATION: std::cell::Cell<Option<(pg_sys::Oid, i64)>> = const { std::cell::Cell::new(None) };
    static GENERATION_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Relcache invalidation callback: forgets the cached generation when the sequence's
/// invalidation comes (a refresh's fence sends one, see [`_refresh_fence`]) or when every
/// relcache entry is reset (InvalidOid: the invalidation queue overflowed).
#[pg_guard]
unsafe extern "C-unwind" fn forget_generation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    GENERATION.with(|g| {
        if let Some((seq, _)) = g.get() {
            if relid == pg_sys::InvalidOid || relid == seq {
                g.set(None);
            }
        }
    });
}

/// [`current_generation`] without reading the sequence at every write: the value read last,
/// until an invalidation of the sequence says a refresh has bumped it. Called only while this
/// transaction holds the table's tracking lock (shared). Why that is exact:
///
/// - a refresh bumps the generation only while it holds the same lock exclusively
///   ([`_refresh_fence`]), and it sends the sequence's relcache invalidation in the same
///   transaction: PostgreSQL queues it at commit, before the lock is released;
/// - so when this backend got the lock after such a refresh, the invalidation is queued
///   already, and `AcceptInvalidationMessages` below runs it (what `LockRelationOid` does
///   after taking a lock); when this backend held the lock before the refresh's fence, the
///   fence failed and that refresh is uncertain anyway, and the generation it bumped is one
///   this transaction reads only after the refresh commits (the next transaction);
/// - a refresh that rolls back (or whose subtransaction does) sends no invalidation: the
///   cached value is then older than the sequence, which is what a writer would have
///   relied on had that refresh never started, and the next refresh that commits bumps it
///   again and invalidates.
///
/// Every other change of the cached OID (the extension dropped and created again) also sends a
/// relcache invalidation of the old sequence.
fn cached_generation() -> Option<(pg_sys::Oid, i64)> {
    if !GENERATION_CALLBACK.with(|c| c.replace(true)) {
        // SAFETY: registers a callback that lives as long as the library (never unloaded), once
        // per backend (the flag above).
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(Some(forget_generation), pg_sys::Datum::from(0))
        };
    }
    // SAFETY: processes the shared invalidation queue, as any lock acquisition of a relation
    // does; a guarded FFI call.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    if let Some(g) = GENERATION.with(|g| g.get()) {
        return Some(g);
    }
    let g = current_generation()?;
    GENERATION.with(|c| c.set(Some(g)));
    Some(g)
}

/// The refresh side of the tracking protocol (see [`track_change`]), called by
/// `ntsb_perf._refresh` right before it takes the snapshot of a refresh: tries (never waits) to
/// take the tracking lock of every source exclusively, held to the end of the transaction, then
/// bumps the generation so writers stop relying on marks older than this refresh. Returns
/// whether every lock was free, i.e. whether no writer can be relying on an old mark while the
/// snapshot is taken (false: the refresh is recorded as uncertain).
#[pg_extern(volatile, parallel_unsafe)]
fn _refresh_fence(sources: Vec<Option<pg_sys::Oid>>) -> bool {
    let mut all_free = true;
    // A NULL element names no table: nothing to fence.
    for relid in sources.into_iter().flatten() {
        all_free &=
            crate::run_lock::LockTag::relation(relid, crate::run_lock::TRACK_SUBID).try_xact(false);
    }
    if let Some(seq) = generation_seq() {
        // SAFETY: nextval_oid takes the OID of an existing sequence (just looked up).
        unsafe { pgrx::direct_function_call::<i64>(pg_sys::nextval_oid, &[seq.into_datum()]) };
        // Writers cache the generation (cached_generation): this transaction's commit tells
        // them it moved, before the locks above are released.
        // SAFETY: registers a transactional relcache invalidation of an existing relation.
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(seq) };
    }
    all_free
}

/// Release 0.1.0's entry point of `ntsb_perf._refresh_fence(oid[])` (the Rust function was
/// `refresh_fence` then, so pgrx named it `refresh_fence_wrapper`). A database still on 0.1.0's
/// SQL calls this symbol until `ALTER EXTENSION ntsb_perf UPDATE` points the function at
/// `_refresh_fence_wrapper`; without it, a refresh run in that window would fail.
///
/// # Safety
/// Called by PostgreSQL only, through 0.1.0's declaration of `_refresh_fence`.
#[no_mangle]
pub unsafe extern "C-unwind" fn refresh_fence_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: 0.1.0 declared _refresh_fence exactly as this release does (oid[] -> boolean,
    // STRICT, version-1 convention), so this is the call PostgreSQL makes to the new symbol.
    unsafe { _refresh_fence_wrapper(fcinfo) }
}

/// The version-1 calling convention record of [`refresh_fence_wrapper`].
#[no_mangle]
pub extern "C" fn pg_finfo_refresh_fence_wrapper() -> &'static pg_sys::Pg_finfo_record {
    &FINFO_V1
}

/// What the walker below found: the first function (or expression) in a query whose result
/// may change while the tables it reads do not.
#[derive(Default)]
struct Mutable {
    found: Option<String>,
}

fn volatility_name(v: u8) -> &'static str {
    match v {
        b's' => "stable",
        b'v' => "volatile",
        _ => "non-immutable",
    }
}

/// check_functions_in_node callback: every function a node calls (operators' and casts'
/// functions and type I/O functions included).
#[pg_guard]
unsafe extern "C-unwind" fn mutable_function(
    funcid: pg_sys::Oid,
    ctx: *mut std::ffi::c_void,
) -> bool {
    // SAFETY: func_volatile reads the syscache (guarded: an error becomes a PostgreSQL error);
    // ctx is the &mut Mutable that _nondeterminism() passed down, alive for the whole walk.
    unsafe {
        let v = pg_sys::func_volatile(funcid) as u8;
        if v == b'i' {
            return false;
        }
        let name = std::ffi::CStr::from_ptr(pg_sys::format_procedure(funcid))
            .to_string_lossy()
            .into_owned();
        (*(ctx as *mut Mutable)).found = Some(format!("{} function {name}", volatility_name(v)));
        true
    }
}

/// Walks a query tree like PostgreSQL's contain_mutable_functions (sub-queries, range-table
/// functions, operators, casts, CURRENT_DATE-style value functions, sequences), and also stops at
/// TABLESAMPLE; records what it found in ctx.
#[pg_guard]
unsafe extern "C-unwind" fn mutable_walker(
    node: *mut pg_sys::Node,
    ctx: *mut std::ffi::c_void,
) -> bool {
    if node.is_null() {
        return false;
    }
    // SAFETY: node is a valid node of the tree being walked (the walkers only hand us those);
    // casts follow the node tag; ctx is the &mut Mutable of _nondeterminism().
    unsafe {
        if pg_sys::check_functions_in_node(node, Some(mutable_function), ctx) {
            return true;
        }
        let found = &mut (*(ctx as *mut Mutable)).found;
        match (*node).type_ {
            pg_sys::NodeTag::T_SQLValueFunction => {
                *found = Some("a stable SQL value function (CURRENT_DATE, CURRENT_TIMESTAMP, CURRENT_USER ...)".into());
                true
            }
            pg_sys::NodeTag::T_NextValueExpr => {
                *found = Some("a sequence (nextval, identity column)".into());
                true
            }
            pg_sys::NodeTag::T_RangeTblEntry => {
                if !(*(node as *mut pg_sys::RangeTblEntry))
                    .tablesample
                    .is_null()
                {
                    *found = Some("TABLESAMPLE".into());
                    return true;
                }
                false // range_table_walker goes on into the entry's contents
            }
            pg_sys::NodeTag::T_Query => pg_sys::query_tree_walker(
                node as *mut pg_sys::Query,
                Some(mutable_walker),
                ctx,
                pg_sys::QTW_EXAMINE_RTES_BEFORE as i32,
            ),
            _ => pg_sys::expression_tree_walker(node, Some(mutable_walker), ctx),
        }
    }
}

/// What in the query of view or materialized view `rel` can change its result while the tables
/// it reads stay the same (a stable or volatile function, called directly or through an
/// operator or a cast, CURRENT_DATE and the like, a sequence, TABLESAMPLE), or NULL when its
/// query calls immutable functions only (or `rel` is not a view). Views it reads are not
/// walked here (`ntsb_perf.refresh_reason` asks for each of them).
#[pg_extern(stable, parallel_safe, strict)]
fn _nondeterminism(rel: pg_sys::Oid) -> Option<String> {
    let mut ctx = Mutable::default();
    // A relation that no longer exists has no query.
    let guard = RelGuard::open(rel)?;
    // SAFETY: the relation is open (the guard holds it under AccessShareLock to the end of this
    // block); its rule lock (the _RETURN rule of a view or materialized view) stays valid while
    // the relation is open. The walk only reads the tree.
    unsafe {
        let r = guard.rel();
        let kind = (*(*r).rd_rel).relkind as u8;
        let rules = (*r).rd_rules;
        if (kind == pg_sys::RELKIND_VIEW || kind == pg_sys::RELKIND_MATVIEW) && !rules.is_null() {
            for i in 0..(*rules).numLocks as usize {
                let rule = *(*rules).rules.add(i);
                if (*rule).event != pg_sys::CmdType::CMD_SELECT {
                    continue;
                }
                let actions = pgrx::PgList::<pg_sys::Node>::from_pg((*rule).actions);
                for action in actions.iter_ptr() {
                    if mutable_walker(action, &mut ctx as *mut Mutable as *mut std::ffi::c_void) {
                        break;
                    }
                }
                if ctx.found.is_some() {
                    break;
                }
            }
        }
    }
    drop(guard);
    ctx.found
}

/// This backend's slot number (1 .. max_connections + workers): stable for the life of a
/// backend and reused only after it exits, so change tracking keeps one row per slot and the
/// table stays bounded.
#[pg_extern(volatile, parallel_restricted)]
fn backend_slot() -> i32 {
    // PostgreSQL 17 replaced backend ids (1-based) with proc numbers (0-based, the PGPROC's
    // index); both are stable for the backend's life and reused after it exits.
    #[cfg(feature = "pg15")]
    // SAFETY: reads this backend's backend id, a global set once at backend start.
    let slot = unsafe { pg_sys::MyBackendId };
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    // SAFETY: reads this backend's proc number, a global set once at backend start.
    let slot = unsafe { pg_sys::MyProcNumber } + 1;
    slot
}

// The SQL of refresh, in the order each part needs the one before: the tables and who may write
// them, change tracking, the run, the schedule (named "refresh": what the other modules require).
extension_sql_file!(
    "../../sql/refresh/schema.sql",
    name = "refresh_schema",
    requires = [
        "schedule",
        backend_slot,
        "track_change",
        _refresh_fence,
        _nondeterminism,
        "run_lock"
    ]
);
extension_sql_file!(
    "../../sql/refresh/tracking.sql",
    name = "refresh_tracking",
    requires = ["refresh_schema"]
);
extension_sql_file!(
    "../../sql/refresh/run.sql",
    name = "refresh_run",
    requires = ["refresh_tracking"]
);
extension_sql_file!(
    "../../sql/refresh/schedule.sql",
    name = "refresh",
    requires = ["refresh_run", "schedule"]
);
