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
use std::sync::atomic::{AtomicU32, Ordering};

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

/// `ntsb_perf.reindex_nice`: the OS scheduling niceness the worker gives itself (0-19), so that a
/// rebuild yields the CPU to the application's queries while they need it.
pub static REINDEX_NICE: pgrx::GucSetting<i32> = pgrx::GucSetting::<i32>::new(10);

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
    statement: [u8; STATEMENT_BYTES],
    gucs: [[u8; GUC_BYTES]; GUCS.len()],
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

/// Starts a worker that runs `statement` as the current user in this database, with this
/// session's lock_timeout, maintenance_work_mem and max_parallel_maintenance_workers. Returns
/// the run number for `poll`, `cancel` and `finish`.
pub fn start(statement: &str) -> i32 {
    if statement.len() >= STATEMENT_BYTES {
        raise_error(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            "the rebuild statement is too long for the worker",
            None,
        );
    }
    ensure_abort_callback();
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
        put_str(&raw mut (*slot).statement, statement);
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
    // Wait until the postmaster has started it (or it has already finished).
    let mut pid: pg_sys::pid_t = 0;
    // SAFETY: the handle was just registered with this backend as notify pid.
    let _ = unsafe { pg_sys::WaitForBackgroundWorkerStartup(handle, &mut pid) };
    let run = NEXT_RUN.with(|n| {
        let mut n = n.borrow_mut();
        let r = *n;
        *n += 1;
        r
    });
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
    run
}

/// Ends every run of this backend (terminates the workers, unmaps the segments): called when a
/// transaction of the caller aborts (a cancel, statement_timeout, an error, or the backend being
/// terminated), so that no rebuild goes on after the caller has stopped waiting for it.
fn abandon_all() {
    let runs: Vec<Run> = RUNS.with(|r| r.borrow_mut().drain().map(|(_, run)| run).collect());
    for r in runs {
        // SAFETY: the handle and segment are this backend's and are not used again.
        unsafe {
            pg_sys::TerminateBackgroundWorker(r.handle);
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
        release_run_lock();
    }
}

/// auto_reindex's one-run-per-database lock: the session advisory lock that
/// `pg_try_advisory_lock(1314149976, 1)` takes (key 'NTRX', 1).
fn run_lock_tag() -> pg_sys::LOCKTAG {
    pg_sys::LOCKTAG {
        // SAFETY: reads this backend's database OID, set once at connection.
        locktag_field1: unsafe { pg_sys::MyDatabaseId }.to_u32(),
        locktag_field2: 1_314_149_976,
        locktag_field3: 1,
        locktag_field4: 2, // two int4 keys
        locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
        locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
    }
}

/// Releases the run lock if this session holds it: an auto_reindex that ended in an error (a
/// cancel, statement_timeout) must not keep every other session from running one until this
/// session disconnects.
fn release_run_lock() {
    let tag = run_lock_tag();
    // SAFETY: lock-manager calls on this backend's own local lock table with a valid tag; a
    // session lock is only released if held (LockHeldByMe), so LockRelease finds it.
    unsafe {
        if pg_sys::LockHeldByMe(&tag, pg_sys::ExclusiveLock as pg_sys::LOCKMODE) {
            pg_sys::LockRelease(&tag, pg_sys::ExclusiveLock as pg_sys::LOCKMODE, true);
        }
    }
}

/// Makes sure an aborting transaction of this session releases the run lock (auto_reindex
/// calls this right after it takes the lock).
pub fn release_run_lock_on_abort() {
    ensure_abort_callback();
}

thread_local! {
    static CALLBACK_REGISTERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn ensure_abort_callback() {
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

/// The worker's phase and, once it has ended, its outcome.
pub fn poll(run: i32) -> Outcome {
    with_run(run, |r| {
        let mut pid: pg_sys::pid_t = 0;
        // SAFETY: the handle was made for this backend (notify pid) and lives in TopMemoryContext.
        let status = unsafe { pg_sys::GetBackgroundWorkerPid(r.handle, &mut pid) };
        let exited = status == pg_sys::BgwHandleStatus::BGWH_STOPPED
            || status == pg_sys::BgwHandleStatus::BGWH_POSTMASTER_DIED;
        // SAFETY: the phase is atomic; the other fields are read only after an Acquire load saw
        // Done/Failed, written by the worker before its Release store, and never written again.
        unsafe {
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
            Outcome {
                phase,
                exited,
                pid: (status == pg_sys::BgwHandleStatus::BGWH_STARTED).then_some(pid),
                sqlstate,
                message,
                detail,
                hint,
            }
        }
    })
}

/// Cancels the worker's statement (SIGINT, as pg_cancel_backend does): REINDEX stops at its next
/// interrupt check and the worker reports 57014.
pub fn cancel(run: i32) -> bool {
    let o = poll(run);
    match o.pid {
        // SAFETY: kill(2) on the pid of our own worker, which is still running.
        Some(pid) => unsafe { libc::kill(pid, libc::SIGINT) == 0 },
        None => false,
    }
}

/// Forgets a run: terminates the worker if it still runs and unmaps the segment.
pub fn finish(run: i32) {
    let Some(r) = RUNS.with(|runs| runs.borrow_mut().remove(&run)) else {
        return;
    };
    // SAFETY: the handle and the segment are this backend's; after this they are not used again.
    unsafe {
        pg_sys::TerminateBackgroundWorker(r.handle);
        pg_sys::dsm_detach(r.segment);
        pg_sys::pfree(r.handle.cast());
    }
}

// SAFETY (of the declarations): PostgreSQL's signal handlers (tcop/tcopprot.h), C functions of
// the signature pqsignal takes.
unsafe extern "C-unwind" {
    #[link_name = "die"]
    fn pg_die(signal: c_int);
    #[link_name = "StatementCancelHandler"]
    fn pg_statement_cancel(signal: c_int);
}

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
            pg_sys::PortalRun(portal, i64::MAX as _, true, true, dest, dest, &mut qc);
            pg_sys::PortalDrop(portal, false);
        }
        pg_sys::CommitTransactionCommand();
        pg_sys::pgstat_report_activity(pg_sys::BackendState::STATE_IDLE, std::ptr::null());
    }
}

/// Entry point of the worker (loaded by name by the postmaster's child).
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn ntsb_perf_reindex_worker_main(arg: pg_sys::Datum) {
    // SAFETY: installs PostgreSQL's own handlers: SIGTERM becomes a FATAL at the next interrupt
    // check (REINDEX checks often), SIGINT a query cancel; then signals are unblocked.
    unsafe {
        pg_sys::pqsignal(libc::SIGTERM, Some(pg_die));
        pg_sys::pqsignal(libc::SIGINT, Some(pg_statement_cancel));
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
    let (database, user, nice, statement, gucs) = unsafe {
        if (*slot).magic != MAGIC {
            return;
        }
        (
            (*slot).database,
            (*slot).user,
            (*slot).nice,
            get_str(&raw const (*slot).statement),
            GUCS.map(|_| String::new())
                .iter()
                .enumerate()
                .map(|(i, _)| get_str(&raw const (*slot).gucs[i]))
                .collect::<Vec<_>>(),
        )
    };
    // SAFETY: setpriority(2) on this process only; a failure leaves the priority as it was.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    // Connects as the calling role (never InvalidOid, which would be the bootstrap superuser);
    // a role that may not log in or connect gets a FATAL here, and the caller sees the exit.
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(database), Some(user));
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
    // SAFETY: the worker writes the outcome fields, then publishes them with the Release store
    // of the phase; the caller reads them only after seeing that phase.
    unsafe {
        match outcome {
            None => (*slot).phase.store(Phase::Done as u32, Ordering::Release),
            Some((sqlstate, message, detail, hint)) => {
                pg_sys::AbortCurrentTransaction();
                put_str(&raw mut (*slot).sqlstate, &sqlstate);
                put_str(&raw mut (*slot).message, &message);
                put_str(&raw mut (*slot).detail, &detail);
                put_str(&raw mut (*slot).hint, &hint);
                (*slot).phase.store(Phase::Failed as u32, Ordering::Release);
            }
        }
        pg_sys::dsm_detach(segment);
    }
}
