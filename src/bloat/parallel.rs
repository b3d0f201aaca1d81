//! Parallel exact scans: the pages of a large index are shared between the calling backend and
//! PostgreSQL parallel workers (the machinery parallel VACUUM and CREATE INDEX use), each reading
//! through its own bulk-read ring under AccessShareLock, in chunks handed out by one shared
//! counter. Each worker leaves its sums in shared memory; the leader adds them to its own.
//!
//! The number of workers follows `max_parallel_maintenance_workers` (0 turns this off) and the
//! index's size (`ntsb_perf.bloat_parallel_min_pages` per worker, tripling). Every access method
//! takes part: GIN and hash also keep lists (posting-tree chains, bytes per bucket), which the
//! workers append to one shared array of at most one entry per page. A worker's ERROR (or a
//! cancel) aborts the whole call, as in a parallel query.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ntsb_perf_core::bloat::{Am, BloatAccum, COUNTERS};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::prelude::*;

use super::{corrupted, read_pages, OpenIndex};
use crate::relation::RelGuard;

/// Key of our shared state in the parallel context's table of contents.
const KEY_SHARED: u64 = 0x4E54_5042_4C4F_4154;
/// Blocks handed out at a time: long enough runs for the kernel's read-ahead, short enough that
/// the participants finish together.
const CHUNK: u64 = 64;
/// Default of `ntsb_perf.bloat_parallel_min_pages`: an index of fewer blocks (128 MB) is read by
/// one process. A worker's whole life (start, attach, exit) costs 7-12 ms on the development
/// machine (a parallel query's worker the same), during which the backend reads alone: measured
/// there with one worker against one process, a 8,792-page B-tree was break-even (0.87-1.04),
/// a 27,421-page one 0.61-0.74, a 48,329-page GiST 0.56-0.62.
pub const MIN_PAGES_PER_WORKER: i32 = 16384;
/// GIN and hash lists in shared memory are kept under this size (24 bytes a page: indexes of
/// up to ~10 GB); larger ones are read by one process.
const MAX_LIST_BYTES: u64 = 32 << 20;

static MIN_PAGES: GucSetting<i32> = GucSetting::<i32>::new(MIN_PAGES_PER_WORKER);

/// Registers `ntsb_perf.bloat_parallel_min_pages` (called from `_PG_init`).
pub fn register_gucs() {
    GucRegistry::define_int_guc(
        c"ntsb_perf.bloat_parallel_min_pages",
        c"Smallest index (in pages) an exact index_bloat scan shares with a parallel worker.",
        c"One more worker at 3x, 9x, ... this size, at most max_parallel_maintenance_workers.",
        &MIN_PAGES,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_BLOCKS,
    );
}

#[repr(C)]
struct Shared {
    index: pg_sys::Oid,
    table: pg_sys::Oid,
    am: u32,
    nblocks: u64,
    next: AtomicU64,
    nslots: u32,
    /// GIN/hash list entries: room for, and used.
    list_cap: u64,
    list_len: AtomicU64,
}

#[repr(C)]
struct Slot {
    done: AtomicU32,
    counters: [u64; COUNTERS],
}

fn slots_offset() -> usize {
    std::mem::size_of::<Shared>().next_multiple_of(std::mem::align_of::<Slot>())
}

// The shared segment is read and written by several processes at once, so no `&mut` to any
// part of it is ever made: each participant writes its own slot and its own claimed range of
// the list through raw pointers, and the leader reads them only after every worker has exited.

/// Slot `i` (one per worker).
///
/// # Safety
/// `shared` points to a segment laid out by `scan_exact` and `i < nslots`.
unsafe fn slot_ptr(shared: *const Shared, i: usize) -> *mut Slot {
    // SAFETY: the slots follow the header at slots_offset(), `i` is in bounds (caller).
    unsafe {
        (shared as *mut u8)
            .add(slots_offset())
            .cast::<Slot>()
            .add(i)
    }
}

/// First entry of the shared list, after the `nslots` slots (`list_cap` entries of room).
///
/// # Safety
/// `shared` points to a segment laid out by `scan_exact`.
unsafe fn list_ptr(shared: *const Shared) -> *mut [u64; 3] {
    // SAFETY: the list follows the slots inside the segment (see scan_exact's size); nslots is
    // written before any worker starts and never changes.
    unsafe {
        let nslots = (*shared).nslots as usize;
        (shared as *mut u8)
            .add(slots_offset() + nslots * std::mem::size_of::<Slot>())
            .cast::<[u64; 3]>()
    }
}

/// Blocks claimed from the shared counter, a chunk at a time.
struct Chunks<'a> {
    next: &'a AtomicU64,
    nblocks: u64,
    cur: u64,
    end: u64,
}

impl<'a> Chunks<'a> {
    fn new(shared: &'a Shared) -> Self {
        Chunks {
            next: &shared.next,
            nblocks: shared.nblocks,
            cur: 0,
            end: 0,
        }
    }
}

impl Iterator for Chunks<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.cur == self.end {
            // 64-bit, so that claims past the end can never wrap around to block 0.
            let start = self.next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= self.nblocks {
                return None;
            }
            self.cur = start;
            self.end = (start + CHUNK).min(self.nblocks);
        }
        let b = self.cur as u32;
        self.cur += 1;
        Some(b)
    }
}

/// How many workers should help read an index of `nblocks` pages exactly: none for small or
/// temporary indexes, when parallelism is turned off or not possible here (already in parallel mode, e.g.
/// inside a parallel query; no active snapshot), or for GIN/hash lists larger than
/// `MAX_LIST_BYTES`; otherwise one from `ntsb_perf.bloat_parallel_min_pages` pages and one more
/// each time the size triples, like PostgreSQL's own `compute_parallel_worker`, at most
/// `max_parallel_maintenance_workers` and one less than the CPUs available.
pub fn plan_workers(o: &OpenIndex, nblocks: u32) -> i32 {
    let am = o.am;
    // SAFETY: reads of the server's settings (plain globals of this backend) and of the open
    // index's pg_class row; the calls are guarded FFI calls without side effects.
    unsafe {
        let max = pg_sys::max_parallel_maintenance_workers;
        // A temporary index lives in this backend's local buffers, out of the workers' reach.
        let temp = (*(*o.guard.rel()).rd_rel).relpersistence as u8 == pg_sys::RELPERSISTENCE_TEMP;
        if max <= 0
            || temp
            || !pg_sys::IsUnderPostmaster
            || pg_sys::IsInParallelMode()
            || !pg_sys::ActiveSnapshotSet()
            || (!am.counters_only() && list_cap(am, nblocks) * 24 > MAX_LIST_BYTES)
        {
            return 0;
        }
        // Never more processes than CPUs: pages come mostly from the OS cache, so a scan is
        // CPU-bound and a third process on two cores only makes the others wait.
        let max = max.min(cpus_for_workers());
        let mut workers = 0;
        let mut threshold = MIN_PAGES.get().max(1) as u64;
        while nblocks as u64 >= threshold && workers < max {
            workers += 1;
            threshold *= 3;
        }
        workers
    }
}

/// CPUs this server may use (affinity and cgroup quota included) minus the backend's own.
fn cpus_for_workers() -> i32 {
    static CPUS: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(1024) as i32) - 1
    })
}

/// Room for list entries: none for counters-only methods, else one per page.
fn list_cap(am: Am, nblocks: u32) -> u64 {
    if am.counters_only() {
        0
    } else {
        nblocks as u64
    }
}

/// Reads every page of the opened index with up to `nworkers` workers helping; returns how many
/// were actually launched (fewer when the server has no free worker slot: the leader then reads
/// their share itself), how many pages they read, and the first corrupt block the leader met (a
/// worker that meets one raises the error itself, which WaitForParallelWorkersToFinish re-raises
/// here).
pub fn scan_exact(
    o: &OpenIndex,
    nblocks: u32,
    nworkers: i32,
    strategy: pg_sys::BufferAccessStrategy,
    acc: &mut BloatAccum,
) -> (i32, u64, Option<u32>) {
    let rel = o.guard.rel();
    // SAFETY: the parallel context is created, used and destroyed here, inside parallel mode
    // (guarded FFI calls). The segment is allocated with `size` bytes for the header, `nworkers`
    // slots and `cap` list entries, zeroed, and its header written before any worker starts; it
    // is only accessed through raw pointers and shared references to atomics (see slot_ptr) and
    // lives until DestroyParallelContext, after the last access.
    unsafe {
        pg_sys::EnterParallelMode();
        let pcxt = pg_sys::CreateParallelContext(
            c"$libdir/ntsb_perf".as_ptr(),
            c"ntsb_perf_bloat_worker".as_ptr(),
            nworkers,
        );
        let cap = list_cap(o.am, nblocks);
        let size = slots_offset()
            + nworkers as usize * std::mem::size_of::<Slot>()
            + cap as usize * std::mem::size_of::<[u64; 3]>();
        // shm_toc_estimate_chunk + shm_toc_estimate_keys
        (*pcxt).estimator.space_for_chunks +=
            size.next_multiple_of(pg_sys::ALIGNOF_BUFFER as usize);
        (*pcxt).estimator.number_of_keys += 1;
        pg_sys::InitializeParallelDSM(pcxt);
        let shared = pg_sys::shm_toc_allocate((*pcxt).toc, size) as *mut Shared;
        std::ptr::write_bytes(shared as *mut u8, 0, size);
        std::ptr::write(
            shared,
            Shared {
                index: (*rel).rd_id,
                table: o.table.unwrap_or(pg_sys::InvalidOid),
                am: Am::ALL.iter().position(|a| *a == o.am).unwrap_or(0) as u32,
                nblocks: nblocks as u64,
                next: AtomicU64::new(0),
                nslots: nworkers as u32,
                list_cap: cap,
                list_len: AtomicU64::new(0),
            },
        );
        pg_sys::shm_toc_insert((*pcxt).toc, KEY_SHARED, shared as *mut std::ffi::c_void);
        pg_sys::LaunchParallelWorkers(pcxt);
        let launched = (*pcxt).nworkers_launched;
        let sh = &*shared;
        // The leader reads too, from the same counter, unless parallel_leader_participation is
        // off (as parallel CREATE INDEX does) and some worker did start.
        let mut corrupt = None;
        if launched == 0 || pg_sys::parallel_leader_participation {
            corrupt = read_pages(rel, o.am, strategy, &mut Chunks::new(sh), acc, true);
            if corrupt.is_some() {
                // No participant claims another chunk.
                sh.next.store(u64::MAX / 2, Ordering::Relaxed);
            }
        }
        // Raises a worker's ERROR here, if one had any.
        pg_sys::WaitForParallelWorkersToFinish(pcxt);
        let own_pages = acc.pages_read;
        for i in 0..nworkers as usize {
            let s = slot_ptr(shared, i);
            if (*s).done.load(Ordering::Acquire) == 1 {
                // Every worker has exited: nothing writes the slot any more.
                let counters = std::ptr::read(&raw const (*s).counters);
                acc.add_counters(&counters);
            }
        }
        let worker_pages = acc.pages_read - own_pages;
        let used = sh.list_len.load(Ordering::Acquire).min(cap) as usize;
        let list = list_ptr(shared);
        for i in 0..used {
            acc.add_list_entry(std::ptr::read(list.add(i)));
        }
        let read = acc.pages_read;
        pg_sys::DestroyParallelContext(pcxt);
        pg_sys::ExitParallelMode();
        if corrupt.is_none() && read != nblocks as u64 {
            crate::error::raise_error(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("parallel scan read {read} of {nblocks} pages"),
                Some("Retry with SET max_parallel_maintenance_workers = 0."),
            );
        }
        (launched, worker_pages, corrupt)
    }
}

/// Entry point of a parallel worker (looked up by name by PostgreSQL's parallel machinery):
/// opens the index like the leader did (table first, AccessShareLock; the worker is in the
/// leader's lock group), reads the chunks it claims and leaves its sums in its slot.
///
/// # Safety
/// Called only by PostgreSQL's `ParallelWorkerMain`, with the context `scan_exact` set up.
#[pg_guard]
#[no_mangle]
pub unsafe extern "C-unwind" fn ntsb_perf_bloat_worker(
    _seg: *mut pg_sys::dsm_segment,
    toc: *mut pg_sys::shm_toc,
) {
    // SAFETY: the segment was laid out and initialised by scan_exact before this worker was
    // launched, and outlives it. This worker writes only its own slot (`n`, unique per worker)
    // and the list range it claimed with fetch_add, through raw pointers; other fields are read
    // through a shared reference (atomics, or values written before launch).
    unsafe {
        let shared = pg_sys::shm_toc_lookup(toc, KEY_SHARED, false) as *const Shared;
        let sh = &*shared;
        let n = pg_sys::ParallelWorkerNumber;
        if n < 0 || n as u32 >= sh.nslots {
            return;
        }
        let table = Some(sh.table).filter(|t| *t != pg_sys::InvalidOid);
        let Some(guard) = RelGuard::open_index(sh.index, table) else {
            // Cannot happen: the leader holds a lock on the index. Fail rather than miss pages.
            crate::error::raise_error(
                PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
                "parallel index_bloat: the index is gone",
                None,
            );
        };
        let rel = guard.rel();
        let am = Am::ALL[(sh.am as usize).min(Am::ALL.len() - 1)];
        let strategy = pg_sys::GetAccessStrategy(pg_sys::BufferAccessStrategyType::BAS_BULKREAD);
        let mut acc = BloatAccum::default();
        let corrupt = read_pages(rel, am, strategy, &mut Chunks::new(sh), &mut acc, true);
        pg_sys::FreeAccessStrategy(strategy);
        if let Some(blk) = corrupt {
            sh.next.store(u64::MAX / 2, Ordering::Relaxed);
            corrupted(rel, blk);
        }
        let entries = acc.list_entries();
        if !entries.is_empty() {
            let start = sh
                .list_len
                .fetch_add(entries.len() as u64, Ordering::AcqRel);
            if start + entries.len() as u64 > sh.list_cap {
                // Cannot happen (at most one entry per page read); fail rather than lose any.
                crate::error::raise_error(
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    "parallel index_bloat: list entries exceed their shared array",
                    None,
                );
            }
            // The range start..start + len is this worker's alone (fetch_add) and in bounds.
            std::ptr::copy_nonoverlapping(
                entries.as_ptr(),
                list_ptr(shared).add(start as usize),
                entries.len(),
            );
        }
        let s = slot_ptr(shared, n as usize);
        std::ptr::write(&raw mut (*s).counters, acc.counters());
        (*s).done.store(1, Ordering::Release);
        drop(guard);
    }
}
