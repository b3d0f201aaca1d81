//! The rebuild worker: a dynamic background worker (no shared_preload_libraries) that connects as
//! the calling role, runs one `REINDEX` (or, for a leftover, `DROP INDEX`) statement as a
//! top-level command (the way `exec_simple_query` does, so `CONCURRENTLY` is allowed) and
//! leaves its outcome (SQLSTATE, message, detail, hint) in a dynamic shared memory segment that
//! the caller reads.
//!
//! The caller side (`start`, `poll`, `cancel`, `finish`) keeps the segment mapped across its own
//! transactions (the waiting procedure commits between polls), and the worker handle in
//! TopMemoryContext, keyed by a run number local to the backend.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_int, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::{PgList, PgMemoryContexts};

use crate::error::raise_error;

const MAGIC: u32 = 0x4e54_5249; // 'NTRI'
const STATEMENT_BYTES: usize = 1024;
const TEXT_BYTES: usize = 2048;
const GUCS: [&str; 3] = [
    "lock_timeout",
    "maintenance_work_mem",
    "max_parallel_maintenance_workers",
];
const GUC_BYTES: usize = 64;
/// The run's facts (JSON of [`super::Started`]) that the worker records its outcome from.
const FACTS_BYTES: usize = 4096;
/// A worker whose caller has not polled it for this long (the caller is idle, or stuck, or
/// called the start function by hand and left) cancels its statement.
const HEARTBEAT_LIMIT_US: i64 = 15_000_000;
/// How often the worker checks that its caller is still there.
const WATCH_INTERVAL_MS: i32 = 1000;
/// The object-lock sub-id that serialises starts of rebuild workers in a database (see
/// [`crate::run_lock`]).
const START_LOCK_SUBID: u16 = 3;

/// `ntsb_perf.reindex_nice`: the OS scheduling niceness the worker gives itself (0-19), so that a
/// rebuild yields the CPU to the application's queries while they need it.
pub static REINDEX_NICE: pgrx::GucSetting<i32> = pgrx::GucSetting::<i32>::new(10);

/// `ntsb_perf.max_rebuild_workers`: at most this many rebuild workers of roles that are not
/// superusers run at a time in a database (superuser only: a role may not raise its own cap).
pub static MAX_REBUILD_WORKERS: pgrx::GucSetting<i32> = pgrx::GucSetting::<i32>::new(2);

/// `ntsb_perf.reindex_worker_nice` (internal, superuser-only): the niceness a rebuild worker gave
/// itself, set in the worker's session so that PostgreSQL hands it to the rebuild's parallel
/// maintenance workers, which load this library and restore the leader's settings; its assign
/// hook renices them too. Anywhere else the hook does nothing.
static mut WORKER_NICE: std::ffi::c_int = 0;
const WORKER_NICE_GUC: &std::ffi::CStr = c"ntsb_perf.reindex_worker_nice";

pub fn register_gucs() {
    pgrx::GucRegistry::define_int_guc(
        c"ntsb_perf.reindex_nice",
        c"Niceness (0-19) of the rebuild worker's process: higher yields more CPU to other sessions.",
        c"The rebuild's parallel maintenance workers get the same niceness.",
        &REINDEX_NICE,
        0,
        19,
        pgrx::GucContext::Userset,
        pgrx::GucFlags::default(),
    );
    pgrx::GucRegistry::define_int_guc(
        c"ntsb_perf.max_rebuild_workers",
        c"Most rebuild workers that roles other than superusers may run at a time in one database.",
        c"Over it, reindex_index and auto_reindex fail with 53400; superusers' rebuilds are never refused for it.",
        &MAX_REBUILD_WORKERS,
        0,
        1000,
        pgrx::GucContext::Suset,
        pgrx::GucFlags::default(),
    );
    // SAFETY: called once from _PG_init; the name and descriptions are 'static C strings and
    // WORKER_NICE lives as long as the process, as PostgreSQL requires of a GUC's variable.
    unsafe {
        pg_sys::DefineCustomIntVariable(
            WORKER_NICE_GUC.as_ptr(),
            c"Niceness of a rebuild worker, handed to its parallel maintenance workers (internal)."
                .as_ptr(),
            std::ptr::null(),
            &raw mut WORKER_NICE,
            0,
            0,
            19,
            pg_sys::GucContext::PGC_SUSET,
            (pg_sys::GUC_NO_SHOW_ALL | pg_sys::GUC_NOT_IN_SAMPLE | pg_sys::GUC_DISALLOW_IN_FILE)
                as i32,
            None,
            Some(renice_parallel_worker),
            None,
        );
    }
}

/// Assign hook of `ntsb_perf.reindex_worker_nice`: a parallel worker restoring its leader's
/// settings (only a rebuild worker sets this one) takes the leader's niceness.
unsafe extern "C-unwind" fn renice_parallel_worker(
    newval: std::ffi::c_int,
    _extra: *mut std::ffi::c_void,
) {
    // SAFETY: reads a backend-local flag; setpriority(2) on this process only, a failure leaves
    // the priority as it was.
    unsafe {
        if pg_sys::InitializingParallelWorker && newval > 0 {
            libc::setpriority(libc::PRIO_PROCESS, 0, newval);
        }
    }
}

/// What the worker is doing, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting = 0,
    Running = 1,
    Done = 2,
    Failed = 3,
}

/// The shared segment. Every field is written by one side before the phase that publishes it
/// (Release) and read by the other after it (Acquire); the strings are NUL-terminated.
#[repr(C)]
struct Slot {
    magic: u32,
    phase: AtomicU32,
    database: pg_sys::Oid,
    user: pg_sys::Oid,
    nice: i32,
    /// The calling backend, and when it last polled (GetCurrentTimestamp): the worker cancels
    /// its statement when the caller is gone or has stopped polling.
    caller_pid: i32,
    heartbeat: AtomicI64,
    /// Set by the caller (after writing `cancel_reason`) when it cancels the run.
    cancel_requested: AtomicU32,
    /// Set by the worker when it cancelled its statement itself: 1 the caller's process is
    /// gone, 2 the caller stopped polling.
    orphaned: AtomicU32,
    /// The 'running' history row the caller wrote (0: none yet), and the row the worker wrote
    /// the outcome into (0: not recorded by the worker).
    history_id: AtomicI64,
    recorded_id: AtomicI64,
    statement: [u8; STATEMENT_BYTES],
    gucs: [[u8; GUC_BYTES]; GUCS.len()],
    facts: [u8; FACTS_BYTES],
    cancel_reason: [u8; TEXT_BYTES],
    sqlstate: [u8; 8],
    message: [u8; TEXT_BYTES],
    detail: [u8; TEXT_BYTES],
    hint: [u8; TEXT_BYTES],
}

/// Copies `s` into `dst` through a raw pointer, cut at a character boundary, NUL-terminated.
///
/// # Safety
/// `dst` points to `N` writable bytes that no one else reads or writes now.
unsafe fn put_str<const N: usize>(dst: *mut [u8; N], s: &str) {
    let mut end = s.len().min(N - 1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let dst = dst.cast::<u8>();
    // SAFETY: end < N bytes are copied and one NUL written at end < N (the caller's contract).
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), dst, end);
        dst.add(end).write(0);
    }
}

/// Reads a NUL-terminated string written by `put_str`.
///
/// # Safety
/// `src` points to `N` readable bytes that no one writes now.
unsafe fn get_str<const N: usize>(src: *const [u8; N]) -> String {
    // SAFETY: the caller's contract; `[u8; N]` has no invalid values.
    let bytes = unsafe { &*src };
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(N);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The five characters of a SQLSTATE (PostgreSQL packs them six bits each).
pub fn sqlstate_text(code: PgSqlErrorCode) -> String {
    let v = code as i32;
    (0..5)
        .map(|i| char::from(b'0' + ((v >> (6 * i)) & 0x3F) as u8))
        .collect()
}

/// One rebuild this backend started.
struct Run {
    segment: *mut pg_sys::dsm_segment,
    handle: *mut pg_sys::BackgroundWorkerHandle,
    slot: *mut Slot,
}

thread_local! {
    static RUNS: RefCell<HashMap<i32, Run>> = RefCell::new(HashMap::new());
    static NEXT_RUN: RefCell<i32> = const { RefCell::new(1) };
}

/// What `poll` reports.
pub struct Outcome {
    pub phase: Phase,
    /// The worker process has exited (for a phase before Done/Failed: it died without a word).
    pub exited: bool,
    pub pid: Option<i32>,
    pub sqlstate: Option<String>,
    pub message: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// The history row the worker wrote the run's outcome into (None: it did not).
    pub recorded_id: Option<i64>,
}

fn guc_value(name: &str) -> String {
    let cname = CString::new(name).unwrap_or_default();
    // SAFETY: GetConfigOption returns a pointer to the GUC's current value string (static
    // storage of the GUC machinery) or NULL with missing_ok; restrict_privileged = false.
    let p = unsafe { pg_sys::GetConfigOption(cname.as_ptr(), true, false) };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: a NUL-terminated string owned by the GUC machinery, copied at once.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Whether the current user is a superuser (not counted against the cap).
fn is_superuser() -> bool {
    // SAFETY: reads the current user's role flags from the catalog cache.
    unsafe { pg_sys::superuser() }
}

/// Refuses (53400) a start over `ntsb_perf.max_rebuild_workers`: counts this database's
/// rebuild workers of roles that are not superusers. The caller holds the start lock, and every
/// worker started before it is already connected (start waits for that), so the count is exact.
fn check_cap() {
    if is_superuser() {
        return;
    }
    let cap = MAX_REBUILD_WORKERS.get().max(0);
    let running = crate::spi_query::query_rows(
        "SELECT count(*) AS n, string_agg(pg_catalog.format('pid %s (role %s, since %s)', a.pid, r.rolname,
                                           pg_catalog.date_trunc('second', a.backend_start)), ', ') AS who
         FROM (SELECT pg_catalog.pg_stat_clear_snapshot()) s,
              pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.usesysid
         WHERE a.backend_type OPERATOR(pg_catalog.=) 'ntsb_perf reindex'
           AND a.datid OPERATOR(pg_catalog.=) $1 AND NOT r.rolsuper",
        // SAFETY: reads this backend's database OID, set once at connection.
        &[unsafe { pg_sys::MyDatabaseId }.into()],
        |r| {
            Ok((
                crate::spi_query::not_null_column::<i64>(r, "n")?,
                r.get_by_name::<String, _>("who")?.unwrap_or_default(),
            ))
        },
    );
    let (n, who) = running.into_iter().next().unwrap_or_default();
    if n >= i64::from(cap) {
        let mut report = pgrx::pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            format!("{n} rebuild worker(s) already run in this database, the most ntsb_perf.max_rebuild_workers ({cap}) allows"),
            "ntsb_perf",
        )
        .set_hint("Wait for them to end (ntsb_perf.reindex_status shows them), or have a superuser raise ntsb_perf.max_rebuild_workers (ALTER SYSTEM or ALTER DATABASE ... SET).");
        if !who.is_empty() {
            report = report.set_detail(format!("Running: {who}."));
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// Starts a worker that runs `statement` as the current user in this database, with this
/// session's lock_timeout, maintenance_work_mem and max_parallel_maintenance_workers, and
/// records its outcome from `facts` (JSON; empty for a leftover drop, which is not recorded).
/// Returns the run number for `poll`, `cancel` and `finish` once the worker is connected (or
/// has exited). Refuses with 53400 over the cap or when no background-worker slot is free.
pub fn start(statement: &str, facts: &str) -> i32 {
    if statement.len() >= STATEMENT_BYTES || facts.len() >= FACTS_BYTES {
        raise_error(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            "the rebuild statement is too long for the worker",
            None,
        );
    }
    ensure_abort_callback();
    // One start at a time per database, from the count to the worker's connection: the lock is
    // taken and released by this code only (no SQL can take an object lock of this tag).
    let start_lock = crate::run_lock::LockTag::extension(START_LOCK_SUBID);
    start_lock.acquire_xact();
    check_cap();
    let size = std::mem::size_of::<Slot>();
    // SAFETY: dsm_create returns a new mapped segment of `size` bytes (or raises an ERROR through
    // pgrx's guard); dsm_pin_mapping keeps it mapped until this backend detaches it, across the
    // commits of the waiting procedure.
    let segment = unsafe {
        let seg = pg_sys::dsm_create(size, 0);
        pg_sys::dsm_pin_mapping(seg);
        seg
    };
    // SAFETY: the segment's address is valid for `size` bytes, suitably aligned (dsm segments are
    // page aligned), and no worker has it yet: plain writes through the raw pointer.
    let slot = unsafe {
        let slot = pg_sys::dsm_segment_address(segment).cast::<Slot>();
        std::ptr::write_bytes(slot.cast::<u8>(), 0, size);
        (*slot).magic = MAGIC;
        (*slot).database = pg_sys::MyDatabaseId;
        (*slot).user = pg_sys::GetUserId();
        (*slot).nice = REINDEX_NICE.get().clamp(0, 19);
        (*slot).caller_pid = pg_sys::MyProcPid;
        (*slot)
            .heartbeat
            .store(pg_sys::GetCurrentTimestamp(), Ordering::Release);
        put_str(&raw mut (*slot).statement, statement);
        put_str(&raw mut (*slot).facts, facts);
        for (i, g) in GUCS.iter().enumerate() {
            put_str(&raw mut (*slot).gucs[i], &guc_value(g));
        }
        (*slot)
            .phase
            .store(Phase::Starting as u32, Ordering::Release);
        slot
    };
    // SAFETY: reads the segment's handle.
    let dsm = unsafe { pg_sys::dsm_segment_handle(segment) };
    let builder = BackgroundWorkerBuilder::new("ntsb_perf reindex")
        .set_type("ntsb_perf reindex")
        .set_library("ntsb_perf")
        .set_function("ntsb_perf_reindex_worker_main")
        .set_argument(Some(pg_sys::Datum::from(dsm)))
        .enable_spi_access()
        // SAFETY: reads this backend's pid.
        .set_notify_pid(unsafe { pg_sys::MyProcPid });
    let mut bgw = pg_sys::BackgroundWorker::from(&builder);
    let mut handle: *mut pg_sys::BackgroundWorkerHandle = std::ptr::null_mut();
    // SAFETY: registers the worker described by bgw; the handle is palloc'd in the current
    // context, TopMemoryContext here, so that it outlives the waiting procedure's commits.
    let registered = unsafe {
        PgMemoryContexts::TopMemoryContext
            .switch_to(|_| pg_sys::RegisterDynamicBackgroundWorker(&mut bgw, &mut handle))
    };
    if !registered {
        // SAFETY: the segment is ours and mapped; nobody else attached it.
        unsafe { pg_sys::dsm_detach(segment) };
        raise_error(
            PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            "no background worker slot is free for the rebuild",
            Some("Raise max_worker_processes (a restart is needed), or wait for other background workers to end."),
        )
    }
    let run = NEXT_RUN.with(|n| {
        let mut n = n.borrow_mut();
        let r = *n;
        *n += 1;
        r
    });
    // Known to the abort callback from here on: a cancel while we wait below stops it too.
    RUNS.with(|runs| {
        runs.borrow_mut().insert(
            run,
            Run {
                segment,
                handle,
                slot,
            },
        )
    });
    // Wait until the worker is connected (so that the next start counts it, and it has the
    // segment attached: it outlives this session if need be) or has exited.
    loop {
        let mut pid: pg_sys::pid_t = 0;
        // SAFETY: the handle was just registered with this backend as notify pid; the phase is
        // atomic.
        let (status, phase) = unsafe {
            (
                pg_sys::GetBackgroundWorkerPid(handle, &mut pid),
                (*slot).phase.load(Ordering::Acquire),
            )
        };
        if phase != Phase::Starting as u32
            || status == pg_sys::BgwHandleStatus::BGWH_STOPPED
            || status == pg_sys::BgwHandleStatus::BGWH_POSTMASTER_DIED
        {
            break;
        }
        pgrx::check_for_interrupts!();
        // SAFETY: sleeps this backend for 2 ms.
        unsafe { pg_sys::pg_usleep(2000) };
    }
    start_lock.release_xact();
    run
}

/// Asks the worker of `r` to cancel its statement (SIGINT) with `reason`, unless it has already
/// ended or is recording its outcome (then the signal is ignored).
///
/// # Safety
/// `r` is a run of this backend whose segment is still mapped.
unsafe fn request_cancel(r: &Run, reason: &str) -> bool {
    // SAFETY: the caller's contract; only this backend writes cancel_reason, once, before the
    // Release store of cancel_requested that the worker reads it after.
    unsafe {
        if (*r.slot).cancel_requested.load(Ordering::Acquire) == 0 {
            put_str(&raw mut (*r.slot).cancel_reason, reason);
            (*r.slot).cancel_requested.store(1, Ordering::Release);
        }
        let mut pid: pg_sys::pid_t = 0;
        if pg_sys::GetBackgroundWorkerPid(r.handle, &mut pid)
            == pg_sys::BgwHandleStatus::BGWH_STARTED
        {
            return libc::kill(pid, libc::SIGINT) == 0;
        }
    }
    false
}

/// Called when a transaction of the caller aborts (a cancel, statement_timeout, an error, or
/// the backend being terminated): every run of this backend is asked to cancel its statement
/// (the worker then records the run and drops what its rebuild left), and its segment unmapped
/// here, so that no rebuild goes on after the caller has stopped waiting for it. A worker that
/// has already rebuilt the index finishes recording it.
fn abandon_all() {
    let runs: Vec<Run> = RUNS.with(|r| r.borrow_mut().drain().map(|(_, run)| run).collect());
    // SAFETY: reads a backend-local flag: set while this backend exits (terminated, or its
    // client went away), when the abort comes from the exit itself.
    let exiting = unsafe { pg_sys::proc_exit_inprogress };
    for r in runs {
        // SAFETY: the handle and segment are this backend's and are not used again after this.
        unsafe {
            if exiting {
                // the worker records the run terminated, as when it finds the caller gone
                (*r.slot).orphaned.store(1, Ordering::Release);
            }
            request_cancel(
                &r,
                "the calling session stopped waiting (it was cancelled, timed out or ended in an error)",
            );
            pg_sys::dsm_detach(r.segment);
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::XactEvent::XACT_EVENT_ABORT {
        abandon_all();
        crate::run_lock::release_run_lock();
    }
}

thread_local! {
    static CALLBACK_REGISTERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes sure an aborting transaction of this session cancels its rebuilds and releases the
/// auto_reindex run lock.
pub fn ensure_abort_callback() {
    if !CALLBACK_REGISTERED.with(|c| c.replace(true)) {
        // SAFETY: registers a callback that lives for the backend (a static function).
        unsafe { pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut()) };
    }
}

fn with_run<R>(run: i32, f: impl FnOnce(&Run) -> R) -> R {
    RUNS.with(|runs| match runs.borrow().get(&run) {
        Some(r) => f(r),
        None => raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("no rebuild {run} was started by this session"),
            None,
        ),
    })
}

/// The worker's phase and, once it has ended, its outcome. Also tells the worker that its
/// caller is still waiting (the heartbeat).
pub fn poll(run: i32) -> Outcome {
    with_run(run, |r| {
        let mut pid: pg_sys::pid_t = 0;
        // SAFETY: the handle was made for this backend (notify pid) and lives in TopMemoryContext.
        let status = unsafe { pg_sys::GetBackgroundWorkerPid(r.handle, &mut pid) };
        let exited = status == pg_sys::BgwHandleStatus::BGWH_STOPPED
            || status == pg_sys::BgwHandleStatus::BGWH_POSTMASTER_DIED;
        // SAFETY: the phase and heartbeat are atomic; the other fields are read only after an
        // Acquire load saw Done/Failed, written by the worker before its Release store, and never
        // written again.
        unsafe {
            (*r.slot)
                .heartbeat
                .store(pg_sys::GetCurrentTimestamp(), Ordering::Release);
            let phase = match (*r.slot).phase.load(Ordering::Acquire) {
                0 => Phase::Starting,
                1 => Phase::Running,
                2 => Phase::Done,
                _ => Phase::Failed,
            };
            let (sqlstate, message, detail, hint) = if phase == Phase::Failed {
                let opt = |s: String| (!s.is_empty()).then_some(s);
                (
                    opt(get_str(&raw const (*r.slot).sqlstate)),
                    opt(get_str(&raw const (*r.slot).message)),
                    opt(get_str(&raw const (*r.slot).detail)),
                    opt(get_str(&raw const (*r.slot).hint)),
                )
            } else {
                (None, None, None, None)
            };
            let recorded = (*r.slot).recorded_id.load(Ordering::Acquire);
            Outcome {
                phase,
                exited,
                pid: (status == pg_sys::BgwHandleStatus::BGWH_STARTED).then_some(pid),
                sqlstate,
                message,
                detail,
                hint,
                recorded_id: (recorded > 0).then_some(recorded),
            }
        }
    })
}

/// Cancels the worker's statement (SIGINT, as pg_cancel_backend does) with the reason the
/// worker records: REINDEX stops at its next interrupt check and the worker reports 57014.
pub fn cancel(run: i32, reason: &str) -> bool {
    // SAFETY: the run's segment is mapped while it is in RUNS.
    with_run(run, |r| unsafe { request_cancel(r, reason) })
}

/// Forgets a run: unmaps the segment; a worker still running (it never is here: the caller
/// waits for the end first) is asked to cancel.
pub fn finish(run: i32) {
    let Some(r) = RUNS.with(|runs| runs.borrow_mut().remove(&run)) else {
        return;
    };
    // SAFETY: the handle and the segment are this backend's; after this they are not used again.
    unsafe {
        if (*r.slot).phase.load(Ordering::Acquire) < Phase::Done as u32 {
            request_cancel(&r, "the caller stopped waiting");
        }
        pg_sys::dsm_detach(r.segment);
        pg_sys::pfree(r.handle.cast());
    }
}

// SAFETY (of the declarations): PostgreSQL's signal handlers (tcop/tcopprot.h), C functions of
// the signature pqsignal takes, and PostgreSQL's timeout API (utils/timeout.h, not in pgrx's
// bindings): RegisterTimeout, enable_timeout_every and disable_timeout as declared there, with
// TimeoutId an enum (a C int).
unsafe extern "C-unwind" {
    #[link_name = "die"]
    fn pg_die(signal: c_int);
    #[link_name = "StatementCancelHandler"]
    fn pg_statement_cancel(signal: c_int);
    #[link_name = "RegisterTimeout"]
    fn register_timeout(id: u32, handler: Option<unsafe extern "C-unwind" fn()>) -> u32;
    #[link_name = "enable_timeout_every"]
    fn enable_timeout_every(id: u32, fin_time: pg_sys::TimestampTz, delay_ms: c_int);
    #[link_name = "disable_timeout"]
    fn disable_timeout(id: u32, keep_indicator: bool);
}

// `USER_TIMEOUT` of utils/timeout.h: the first user-definable timeout, which RegisterTimeout
// takes to mean "a new one". The enum grows between majors (17 adds TRANSACTION_TIMEOUT: 12 on
// 15, 13 on 17 and 18), and a wrong value would replace one of PostgreSQL's own timeout
// handlers, so build.rs reads it from the headers the library is built against.
include!(concat!(env!("OUT_DIR"), "/user_timeout.rs"));

/// Sets a GUC for the rest of this session, as SET would (user-settable ones with PGC_USERSET).
fn set_for_session(name: &std::ffi::CStr, value: &str, context: pg_sys::GucContext::Type) {
    let value = CString::new(value).unwrap_or_default();
    // SAFETY: NUL-terminated strings that outlive the call; an invalid value raises an ERROR,
    // which the caller's PgTryBuilder catches.
    unsafe {
        pg_sys::SetConfigOption(
            name.as_ptr(),
            value.as_ptr(),
            context,
            pg_sys::GucSource::PGC_S_SESSION,
        )
    };
}

/// Runs `sql` the way exec_simple_query runs a client's statement: parse, analyze, plan, portal,
/// `PortalRun(isTopLevel = true)`, inside a transaction it starts and commits itself.
///
/// # Safety
/// Called in a connected background worker, outside any transaction.
unsafe fn run_top_level(sql: &CStr) {
    // SAFETY: the server's own top-level execution path, in the order postgres.c uses it; every
    // call raises its ERRORs through pgrx's guards.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_RUNNING, sql.as_ptr());
        // The parse and plan trees must outlive the transactions REINDEX CONCURRENTLY commits
        // and starts itself (exec_simple_query keeps them in MessageContext for that reason).
        let statement_context = pg_sys::AllocSetContextCreateInternal(
            pg_sys::TopMemoryContext,
            c"ntsb_perf reindex statement".as_ptr(),
            pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
            pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
        );
        pg_sys::MemoryContextSwitchTo(statement_context);
        let parsed = pg_sys::pg_parse_query(sql.as_ptr());
        let list = PgList::<pg_sys::RawStmt>::from_pg(parsed);
        if list.len() != 1 {
            raise_error(
                PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
                "the worker runs exactly one statement",
                None,
            );
        }
        // Exactly one statement (checked above); the list itself is not read again.
        if let Some(raw) = list.get_ptr(0) {
            let snap = pg_sys::analyze_requires_snapshot(raw);
            if snap {
                pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
            }
            let queries = pg_sys::pg_analyze_and_rewrite_fixedparams(
                raw,
                sql.as_ptr(),
                std::ptr::null(),
                0,
                std::ptr::null_mut(),
            );
            let plans = pg_sys::pg_plan_queries(
                queries,
                sql.as_ptr(),
                pg_sys::CURSOR_OPT_PARALLEL_OK as c_int,
                std::ptr::null_mut(),
            );
            if snap {
                pg_sys::PopActiveSnapshot();
            }
            let portal = pg_sys::CreatePortal(c"".as_ptr(), true, true);
            (*portal).visible = false;
            pg_sys::PortalDefineQuery(
                portal,
                std::ptr::null(),
                sql.as_ptr(),
                pg_sys::CreateCommandTag((*raw).stmt),
                plans,
                std::ptr::null_mut(),
            );
            pg_sys::PortalStart(portal, std::ptr::null_mut(), 0, std::ptr::null_mut());
            pg_sys::MemoryContextSwitchTo(statement_context);
            let dest = pg_sys::CreateDestReceiver(pg_sys::CommandDest::DestNone);
            let mut qc = pg_sys::QueryCompletion::default();
            // PostgreSQL 18 dropped PortalRun's run_once argument (a portal runs once).
            #[cfg(any(feature = "pg15", feature = "pg17"))]
            pg_sys::PortalRun(portal, i64::MAX as _, true, true, dest, dest, &mut qc);
            #[cfg(feature = "pg18")]
            pg_sys::PortalRun(portal, i64::MAX as _, true, dest, dest, &mut qc);
            pg_sys::PortalDrop(portal, false);
        }
        pg_sys::CommitTransactionCommand();
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, std::ptr::null());
    }
}

/// The worker's own state for its signal and timeout handlers (one run per worker process).
static WATCHED: std::sync::atomic::AtomicPtr<Slot> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
/// Set once the statement has ended: from then on a cancel (of a caller that stops waiting
/// just after a successful rebuild) no longer interrupts the worker, which records the run.
static STATEMENT_OVER: AtomicBool = AtomicBool::new(false);

/// The worker's SIGINT handler: a cancel, as StatementCancelHandler, until the statement ends.
unsafe extern "C-unwind" fn worker_sigint(signal: c_int) {
    if !STATEMENT_OVER.load(Ordering::Acquire) {
        // SAFETY: PostgreSQL's own handler, called from this signal handler as it would be.
        unsafe { pg_statement_cancel(signal) };
    }
}

/// Every second while the statement runs (a timeout handler, so in signal context: atomics and
/// async-signal-safe calls only): cancels the statement when the caller's process is gone or it
/// has not polled for HEARTBEAT_LIMIT_US (it was cancelled without its abort callback running,
/// or started the worker by hand and left).
unsafe extern "C-unwind" fn watch_caller() {
    let slot = WATCHED.load(Ordering::Acquire);
    if slot.is_null() || STATEMENT_OVER.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: the slot stays mapped until after the timeout is disabled; its fields read here are
    // atomics or written once before the worker started; kill(pid, 0) only tests the pid.
    unsafe {
        let gone = libc::kill((*slot).caller_pid, 0) != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        let stale = pg_sys::GetCurrentTimestamp() - (*slot).heartbeat.load(Ordering::Acquire)
            > HEARTBEAT_LIMIT_US;
        if gone || stale {
            (*slot)
                .orphaned
                .store(if gone { 1 } else { 2 }, Ordering::Release);
            pg_statement_cancel(libc::SIGINT);
        }
    }
}

/// Runs `f` in a transaction of its own; an ERROR in it is caught, the transaction aborted, and
/// None returned (the worker goes on to report what it can).
fn in_transaction<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> Option<R> {
    let f = std::panic::AssertUnwindSafe(Some(f));
    PgTryBuilder::new(move || {
        let mut f = f;
        let f = f.0.take()?;
        // SAFETY: a connected background worker outside any transaction starts one, with a
        // snapshot for the queries of `f`.
        unsafe {
            pg_sys::SetCurrentStatementStartTimestamp();
            pg_sys::StartTransactionCommand();
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        let r = f();
        // SAFETY: pops the snapshot pushed above and commits the transaction started above.
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        Some(r)
    })
    .catch_others(|e| {
        // SAFETY: ends the failed transaction (and restores the user id it started with).
        unsafe { pg_sys::AbortCurrentTransaction() };
        let message = match &e {
            CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r.message().to_string(),
            CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
        };
        pgrx::log!("ntsb_perf reindex worker: {message}");
        None
    })
    .execute()
}

/// Whether the index of the run's name was rebuilt after all: a valid index of that name with
/// another OID (REINDEX CONCURRENTLY) or another relfilenode (REINDEX) than at the start. A
/// cancel that arrives while the rebuild commits its last step must not read as a failure.
fn rebuilt_anyway(f: &super::Started) -> bool {
    in_transaction(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT (c.oid OPERATOR(pg_catalog.<>) $2 OR c.relfilenode OPERATOR(pg_catalog.<>) $3)
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_index i ON i.indexrelid OPERATOR(pg_catalog.=) c.oid
             WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) AND i.indisvalid",
            &[
                f.index_name.clone().into(),
                pg_sys::Oid::from(f.index).into(),
                pg_sys::Oid::from(f.relfilenode).into(),
            ],
        )
        .ok()
        .flatten()
        .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// Drops the invalid copies an interrupted REINDEX CONCURRENTLY of the run's index left on its
/// table (`<name>_ccnew*`, `<name>_ccold*`), each by DROP INDEX CONCURRENTLY as a top-level
/// statement with a 5 s lock_timeout: what cannot be dropped now is left to the next
/// auto_reindex (or the caller, which tries too).
fn drop_leftovers(f: &super::Started) {
    let leftovers = in_transaction(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS q
                     FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid
                     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                     WHERE NOT i.indisvalid AND i.indrelid OPERATOR(pg_catalog.=) $1
                       AND pg_catalog.left(c.relname, pg_catalog.length($2)) OPERATOR(pg_catalog.=) $2
                       AND pg_catalog.substr(c.relname, pg_catalog.length($2) OPERATOR(pg_catalog.+) 1)
                           OPERATOR(pg_catalog.~) '^_cc(new|old)[0-9]*$'",
                    None,
                    &[pg_sys::Oid::from(f.table).into(), f.base_name.clone().into()],
                )
                .map(|t| {
                    t.filter_map(|r| r.get_by_name::<String, _>("q").ok().flatten())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    })
    .unwrap_or_default();
    for q in leftovers {
        let sql = CString::new(format!("DROP INDEX CONCURRENTLY {q}")).unwrap_or_default();
        let _ = PgTryBuilder::new(|| {
            set_for_session(c"lock_timeout", "5s", pg_sys::GucContext::PGC_USERSET);
            set_for_session(c"statement_timeout", "60s", pg_sys::GucContext::PGC_USERSET);
            // SAFETY: a connected background worker, outside any transaction.
            unsafe { run_top_level(&sql) };
            true
        })
        .catch_others(|_| {
            // SAFETY: ends the failed statement's transaction.
            unsafe { pg_sys::AbortCurrentTransaction() };
            false
        })
        .execute();
    }
}

/// Records the run's outcome into its history row (the one the caller wrote as 'running', or a
/// new one) as the extension's owner, the way the SECURITY DEFINER functions write the history:
/// from the run's own facts. Returns the row's id (None when recording failed).
fn record_outcome(
    f: &super::Started,
    status: &str,
    sqlstate: Option<String>,
    error: Option<String>,
) -> Option<i64> {
    in_transaction(|| {
        let owner = Spi::get_one::<pg_sys::Oid>(
            "SELECT extowner FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'ntsb_perf'",
        )
        .ok()
        .flatten()?;
        set_for_session(
            c"search_path",
            "pg_catalog, pg_temp",
            pg_sys::GucContext::PGC_USERSET,
        );
        let mut saved_user = pg_sys::InvalidOid;
        let mut saved_context: c_int = 0;
        // SAFETY: switches the current user to the extension's owner for this transaction (as a
        // SECURITY DEFINER function does); a commit or abort of it restores the saved user.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
            pg_sys::SetUserIdAndSecContext(
                owner,
                saved_context
                    | pg_sys::SECURITY_LOCAL_USERID_CHANGE as c_int
                    | pg_sys::SECURITY_RESTRICTED_OPERATION as c_int,
            );
        }
        let id = super::record(f, status, sqlstate, error);
        // SAFETY: puts back the user saved above.
        unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_context) };
        Some(id)
    })
    .flatten()
}

/// Entry point of the worker (loaded by name by the postmaster's child).
// The backend's pqsignal: a function up to 17, a macro for pqsignal_be from 18 on.
#[cfg(any(feature = "pg15", feature = "pg17"))]
use pg_sys::pqsignal;
#[cfg(feature = "pg18")]
use pg_sys::pqsignal_be as pqsignal;

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn ntsb_perf_reindex_worker_main(arg: pg_sys::Datum) {
    // SAFETY: installs PostgreSQL's own SIGTERM handler (a FATAL at the next interrupt check;
    // REINDEX checks often) and ours for SIGINT (a query cancel until the statement ends); then
    // signals are unblocked.
    unsafe {
        pqsignal(libc::SIGTERM, Some(pg_die));
        pqsignal(libc::SIGINT, Some(worker_sigint));
        pg_sys::BackgroundWorkerUnblockSignals();
    }
    let handle = arg.value() as pg_sys::dsm_handle;
    // SAFETY: attaches the caller's segment (NULL if the caller is gone already).
    let segment = unsafe { pg_sys::dsm_attach(handle) };
    if segment.is_null() {
        return;
    }
    // SAFETY: the segment holds a Slot written completely by the caller before it registered
    // this worker (registration is a full barrier through the postmaster).
    let slot = unsafe { pg_sys::dsm_segment_address(segment).cast::<Slot>() };
    // SAFETY: as above; the magic tells a segment of ours.
    let (database, user, nice, caller_pid, statement, gucs, facts) = unsafe {
        if (*slot).magic != MAGIC {
            return;
        }
        (
            (*slot).database,
            (*slot).user,
            (*slot).nice,
            (*slot).caller_pid,
            get_str(&raw const (*slot).statement),
            (0..GUCS.len())
                .map(|i| get_str(&raw const (*slot).gucs[i]))
                .collect::<Vec<_>>(),
            get_str(&raw const (*slot).facts),
        )
    };
    let facts: Option<super::Started> = serde_json::from_str(&facts).ok();
    // SAFETY: setpriority(2) on this process only; a failure leaves the priority as it was.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    // Connects as the calling role (never InvalidOid, which would be the bootstrap superuser);
    // a role that may not log in or connect gets a FATAL here, and the caller sees the exit.
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(database), Some(user));
    // The caller watch: every second from now until the statement ends.
    WATCHED.store(slot, Ordering::Release);
    // SAFETY: registers a timeout handler for this process (timeouts are initialised in every
    // background worker) and starts it.
    let watch = unsafe {
        let id = register_timeout(USER_TIMEOUT, Some(watch_caller));
        enable_timeout_every(
            id,
            pg_sys::GetCurrentTimestamp() + i64::from(WATCH_INTERVAL_MS) * 1000,
            WATCH_INTERVAL_MS,
        );
        id
    };
    // SAFETY: the phase is atomic.
    unsafe {
        (*slot)
            .phase
            .store(Phase::Running as u32, Ordering::Release)
    };
    let outcome = PgTryBuilder::new(|| {
        for (name, value) in GUCS.iter().zip(&gucs) {
            if !value.is_empty() {
                let name = CString::new(*name).unwrap_or_default();
                set_for_session(&name, value, pg_sys::GucContext::PGC_USERSET);
            }
        }
        // This library's internal setting, so that parallel workers of the rebuild inherit the
        // niceness; PGC_SUSET as the code that defines it, not as the user.
        set_for_session(
            WORKER_NICE_GUC,
            &nice.to_string(),
            pg_sys::GucContext::PGC_SUSET,
        );
        // reindex_status shows whose rebuild this is.
        set_for_session(
            c"application_name",
            &format!("ntsb_perf reindex for pid {caller_pid}"),
            pg_sys::GucContext::PGC_USERSET,
        );
        let sql = CString::new(statement.as_str()).unwrap_or_default();
        // SAFETY: a connected background worker, outside any transaction.
        unsafe { run_top_level(&sql) };
        None
    })
    .catch_others(|e| {
        let r = match &e {
            CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => r,
            CaughtError::RustPanic { ereport, .. } => ereport,
        };
        Some((
            sqlstate_text(r.sql_error_code()),
            r.message().to_string(),
            r.detail().unwrap_or_default().to_string(),
            r.hint().unwrap_or_default().to_string(),
        ))
    })
    .execute();
    STATEMENT_OVER.store(true, Ordering::Release);
    // SAFETY: stops the watch; a cancel that arrived after the statement ended is dropped (the
    // interrupt flags are this process's own), so that the record below is not interrupted.
    unsafe {
        disable_timeout(watch, false);
        pg_sys::QueryCancelPending = 0;
    }
    if outcome.is_some() {
        // SAFETY: ends the failed statement's transaction, if one is still open.
        unsafe { pg_sys::AbortCurrentTransaction() };
    }
    // SAFETY: atomics of the mapped slot; cancel_reason is read only after cancel_requested.
    let (orphaned, cancel_reason) = unsafe {
        (
            (*slot).orphaned.load(Ordering::Acquire),
            ((*slot).cancel_requested.load(Ordering::Acquire) != 0)
                .then(|| get_str(&raw const (*slot).cancel_reason)),
        )
    };
    let mut rebuilt = outcome.is_none();
    if let Some(mut f) = facts {
        if !rebuilt && rebuilt_anyway(&f) {
            rebuilt = true;
        }
        if !rebuilt && f.concurrently {
            drop_leftovers(&f);
        }
        // SAFETY: an atomic of the mapped slot.
        let history_id = unsafe { (*slot).history_id.load(Ordering::Acquire) };
        if history_id > 0 {
            f.history_id = Some(history_id);
        }
        let (status, sqlstate, error) = match (&outcome, rebuilt) {
            (_, true) => ("done", None, None),
            (Some((state, message, _, _)), false) => {
                if orphaned == 1 {
                    ("terminated", Some(state.clone()), Some(format!(
                        "the calling session (pid {caller_pid}) ended while the rebuild ran: the worker cancelled it and dropped what it left"
                    )))
                } else if orphaned == 2 {
                    ("terminated", Some(state.clone()), Some(format!(
                        "the calling session (pid {caller_pid}) stopped waiting for the rebuild: the worker cancelled it and dropped what it left"
                    )))
                } else if state == "57014" && cancel_reason.is_some() {
                    ("cancelled", Some(state.clone()), cancel_reason.clone())
                } else {
                    ("failed", Some(state.clone()), Some(message.clone()))
                }
            }
            (None, false) => ("failed", None, None),
        };
        if let Some(id) = record_outcome(&f, status, sqlstate, error) {
            // SAFETY: an atomic of the mapped slot, read by the caller after the phase.
            unsafe { (*slot).recorded_id.store(id, Ordering::Release) };
        }
    }
    // SAFETY: the worker writes the outcome fields, then publishes them with the Release store
    // of the phase; the caller reads them only after seeing that phase.
    unsafe {
        match (outcome, rebuilt) {
            (_, true) | (None, _) => (*slot).phase.store(Phase::Done as u32, Ordering::Release),
            (Some((sqlstate, message, detail, hint)), false) => {
                put_str(&raw mut (*slot).sqlstate, &sqlstate);
                put_str(&raw mut (*slot).message, &message);
                put_str(&raw mut (*slot).detail, &detail);
                put_str(&raw mut (*slot).hint, &hint);
                (*slot).phase.store(Phase::Failed as u32, Ordering::Release);
            }
        }
        WATCHED.store(std::ptr::null_mut(), Ordering::Release);
        pg_sys::dsm_detach(segment);
    }
}
