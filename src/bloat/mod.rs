//! Index bloat for every built-in access method, read from the pages themselves.
//!
//! Pages are read through the buffer manager with a bulk-read ring (a scan never floods
//! shared_buffers), each under a share lock just long enough to copy it, while the function holds
//! only AccessShareLock on the table and the index (like pgstatindex): writers and VACUUM keep
//! going. Interrupts are checked on every page. The page arithmetic is pure Rust in
//! `ntsb_perf_core::bloat`.

use ntsb_perf_core::bloat::measure::{self, round2, round3};
use ntsb_perf_core::bloat::{self, Am, BloatAccum, LeafFreeSpace, BLCKSZ};
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::error::{min_bytes_arg, raise_error};
use crate::regclass::RegClass;
use crate::relation::RelGuard;
use crate::spi_query::{not_null_column, query_rows};

mod layout_check;
mod parallel;
pub use parallel::register_gucs;

const REPORT_LIST_SQL: &str = include_str!("../../sql/bloat/report_list.sql");

/// An index opened for measuring (the guard holds it, and the lock on its table) and what the
/// measurement needs to know of it.
pub(crate) struct OpenIndex {
    guard: RelGuard,
    table: Option<pg_sys::Oid>,
    schema_name: String,
    table_name: String,
    index_name: String,
    am_name: String,
    am: Am,
    fillfactor: Option<u32>,
    gist_insertion_build: bool,
    opclass_fn: String,
    relfilenode: pg_sys::Oid,
}

fn cstr(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: callers pass NUL-terminated strings from the catalog caches (or NULL).
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned()
    }
}

/// Checks that `oid` is an index we can read and opens it ([`RelGuard::open_index`]: table
/// first, then the index). Uses the syscache only (no SPI), so a sampled read of a few pages
/// costs little more than the pages.
/// Errors carry a real SQLSTATE. `None`: there is no such relation (any more: an index dropped,
/// or replaced by REINDEX CONCURRENTLY, while we waited for its lock is not an error here).
fn open_checked(oid: pg_sys::Oid) -> Option<OpenIndex> {
    // SAFETY: every pg_sys call here is a pgrx-guarded FFI call (an ERROR becomes a Rust panic
    // and a clean abort); the pointers dereferenced (rel, rd_rel, rd_index, rd_options) belong to
    // the relation opened and held by the guard for the whole block, and rd_options (checked for
    // NULL) is the access method's parsed options struct, which starts with the varlena header
    // and the int fillfactor (GiST's then the int buffering mode).
    unsafe {
        let relkind = pg_sys::get_rel_relkind(oid) as u8;
        if relkind == 0 {
            return None;
        }
        let schema_name = cstr(pg_sys::get_namespace_name(pg_sys::get_rel_namespace(oid)));
        let index_name = cstr(pg_sys::get_rel_name(oid));
        let qualified = format!("{schema_name}.{index_name}");
        match relkind {
            b'i' => {}
            b'I' => raise_error(
                PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
                format!("\"{qualified}\" is a partitioned index, which has no pages of its own"),
                Some("Measure its partitions' indexes, e.g. SELECT * FROM ntsb_perf.index_bloat_report()."),
            ),
            other => raise_error(
                PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
                format!("\"{qualified}\" is not an index ({})", relkind_name(other)),
                Some("Pass an index, e.g. ntsb_perf.index_bloat('idx_events_geom')."),
            ),
        }
        let table = Some(pg_sys::IndexGetRelation(oid, true)).filter(|t| *t != pg_sys::InvalidOid);
        let guard = RelGuard::open_index(oid, table)?;
        let rel = guard.rel();
        let form = (*rel).rd_rel;
        if (*form).relpersistence as u8 == pg_sys::RELPERSISTENCE_TEMP && !(*rel).rd_islocaltemp {
            raise_error(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("cannot access temporary index \"{index_name}\" of another session"),
                None,
            );
        }
        let am_name = cstr(pg_sys::get_am_name((*form).relam));
        let Some(am) = Am::from_name(&am_name) else {
            raise_error(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("index \"{qualified}\" uses access method \"{am_name}\", which ntsb_perf cannot read"),
                Some("Supported: btree, hash, gist, spgist, gin, brin."),
            )
        };
        // B-tree, GiST, hash and SP-GiST options all start with the varlena header and the
        // fillfactor; GIN and BRIN have no fillfactor.
        let opts = (*rel).rd_options as *const i32;
        let fillfactor = match am {
            Am::Btree | Am::Gist | Am::Hash | Am::Spgist if !opts.is_null() => Some(*opts.add(1))
                .filter(|f| (10..=100).contains(f))
                .map(|f| f as u32),
            _ => None,
        };
        // What a REINDEX of a GiST index would do (gistbuild): sort when every key column's
        // opclass has a sortsupport function (support 11) and buffering is not forced on;
        // otherwise insert tuple by tuple. GiSTOptions: varlena header, fillfactor, buffering
        // (0 auto, 1 on, 2 off).
        let gist_insertion_build = am == Am::Gist && {
            let buffering_on = !opts.is_null() && *opts.add(2) == 1;
            let nkeys = (*(*rel).rd_index).indnkeyatts as u16;
            buffering_on
                || (1..=nkeys)
                    .any(|att| pg_sys::index_getprocid(rel, att as _, 11) == pg_sys::InvalidOid)
        };
        // The first key column's first support function names the operator class's rules.
        let opclass_fn = if matches!(am, Am::Gist | Am::Spgist) {
            let f = pg_sys::index_getprocid(rel, 1, 1);
            if f == pg_sys::InvalidOid {
                String::new()
            } else {
                cstr(pg_sys::get_func_name(f))
            }
        } else {
            String::new()
        };
        Some(OpenIndex {
            guard,
            table,
            schema_name,
            table_name: table
                .map(|t| cstr(pg_sys::get_rel_name(t)))
                .unwrap_or_default(),
            index_name,
            am_name,
            am,
            fillfactor,
            gist_insertion_build,
            opclass_fn,
            relfilenode: (*form).relfilenode,
        })
    }
}

fn relkind_name(k: u8) -> &'static str {
    match k {
        b'r' => "a table",
        b'p' => "a partitioned table",
        b'v' => "a view",
        b'm' => "a materialized view",
        b'S' => "a sequence",
        b't' => "a TOAST table",
        b'c' => "a composite type",
        b'f' => "a foreign table",
        _ => "not a relation with index pages",
    }
}

/// The PostgreSQL calls of the page loop, declared without pgrx's per-call error guard: the
/// whole loop runs inside one `pg_guard_ffi_boundary` instead, so an ERROR raised by any of them
/// (or by a cancel) longjmps straight to that boundary and becomes a Rust panic and a clean
/// transaction abort there. Nothing inside may call a *guarded* function (pgrx's
/// `check_for_interrupts!` does): its panic would have to unwind through the boundary's C frame,
/// which aborts the whole server. Nothing in the loop owns memory that a longjmp out of it could
/// skip freeing: the accumulator and the block list live outside the guarded closure.
#[allow(non_snake_case)]
mod raw {
    use pgrx::pg_sys::{BlockNumber, Buffer, BufferAccessStrategy, ForkNumber, Relation};
    // 15 reads one block at a time; 17 and later through a read stream (below).
    #[cfg(not(any(feature = "pg17", feature = "pg18")))]
    extern "C-unwind" {
        pub fn ReadBufferExtended(
            reln: Relation,
            forkNum: ForkNumber::Type,
            blockNum: BlockNumber,
            mode: pgrx::pg_sys::ReadBufferMode::Type,
            strategy: BufferAccessStrategy,
        ) -> Buffer;
    }
    extern "C-unwind" {
        pub fn LockBuffer(buffer: Buffer, mode: std::ffi::c_int);
        pub fn UnlockReleaseBuffer(buffer: Buffer);
        pub fn ProcessInterrupts();
    }
    // PostgreSQL 17 and later: the read stream API (storage/read_stream.h).
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    extern "C-unwind" {
        pub fn read_stream_begin_relation(
            flags: std::ffi::c_int,
            strategy: BufferAccessStrategy,
            rel: Relation,
            forknum: ForkNumber::Type,
            callback: pgrx::pg_sys::ReadStreamBlockNumberCB,
            callback_private_data: *mut std::ffi::c_void,
            per_buffer_data_size: usize,
        ) -> *mut pgrx::pg_sys::ReadStream;
        pub fn read_stream_next_buffer(
            stream: *mut pgrx::pg_sys::ReadStream,
            per_buffer_data: *mut *mut std::ffi::c_void,
        ) -> Buffer;
        pub fn read_stream_end(stream: *mut pgrx::pg_sys::ReadStream);
        pub fn BufferGetBlockNumber(buffer: Buffer) -> BlockNumber;
    }
}

/// The blocks a read stream asks for (PostgreSQL 17 and later): the caller's iterator, and
/// whether it panicked (a bug: the callback must not unwind through the stream's C frames, so
/// it ends the stream instead and `read_pages` panics once out of them).
#[cfg(any(feature = "pg17", feature = "pg18"))]
struct BlockSource<'a> {
    blocks: &'a mut dyn Iterator<Item = u32>,
    panicked: bool,
}

/// The read stream's callback: the next block of the iterator, or InvalidBlockNumber at its end.
/// Called by read_stream_next_buffer, inside `read_pages`' guarded loop.
#[cfg(any(feature = "pg17", feature = "pg18"))]
unsafe extern "C-unwind" fn next_block(
    _stream: *mut pg_sys::ReadStream,
    private: *mut std::ffi::c_void,
    _per_buffer_data: *mut std::ffi::c_void,
) -> pg_sys::BlockNumber {
    // SAFETY: `private` is the BlockSource that read_pages passed to read_stream_begin_relation;
    // it outlives the stream (read_stream_end is called before it goes out of scope, and an
    // ERROR ends the transaction without calling back again), and only this callback touches it
    // while the stream runs.
    let src = unsafe { &mut *(private as *mut BlockSource) };
    if src.panicked {
        return pg_sys::InvalidBlockNumber;
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| src.blocks.next())) {
        Ok(Some(b)) => b,
        Ok(None) => pg_sys::InvalidBlockNumber,
        Err(_) => {
            src.panicked = true;
            pg_sys::InvalidBlockNumber
        }
    }
}

/// Reads `blocks` of `rel` through `strategy` and adds them to `acc` (`count` false: only the
/// GIN metapage's pending totals). On 15, one page at a time, as pgstatindex does there: pinning
/// pages ahead and prefetching their headers into the CPU cache was measured (1, 2 and 4 pages
/// ahead, index resident in shared_buffers or not) and gained nothing. On 17 and later, through a
/// read stream (`read_stream_begin_relation`), as 17's pg_prewarm and pgstattuple read: the
/// server combines neighbouring blocks into one read of up to io_combine_limit, advises the
/// kernel of the blocks ahead, and on 18 issues the reads asynchronously (io_method). Each page
/// is still read in place under a share lock, one at a time. The loop runs under one error
/// guard rather than one per call (see `raw`). Used by the leader and by parallel workers alike.
/// Stops at the first page the parser rejects and returns its block (the caller raises
/// [`corrupted`] once no buffer is held).
pub(crate) fn read_pages(
    rel: pg_sys::Relation,
    am: Am,
    strategy: pg_sys::BufferAccessStrategy,
    blocks: &mut dyn Iterator<Item = u32>,
    acc: &mut BloatAccum,
    count: bool,
) -> Option<u32> {
    let mut corrupt_block = None;
    // One page, pinned: read in place under a share lock, released; true to stop (corrupt).
    let mut visit = |blk: u32, buf: pg_sys::Buffer| -> bool {
        // SAFETY: `buf` is a valid pinned buffer of `rel` (from ReadBufferExtended or the read
        // stream); it is share-locked before its page is read, and the page slice (BLCKSZ bytes,
        // the server's page size: see layout_check) does not outlive UnlockReleaseBuffer.
        // LockBuffer and UnlockReleaseBuffer are the raw, unguarded declarations: `visit` is
        // called only inside the guarded loop below.
        let stats = unsafe {
            raw::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
            let page = std::slice::from_raw_parts(pg_sys::BufferGetPage(buf) as *const u8, BLCKSZ);
            // Most pages of a B-tree go straight into the sums; the rest are classified.
            let stats = if count && am == Am::Btree && acc.add_btree_leaf(blk, page) {
                None
            } else {
                Some(bloat::classify_page(am, blk, page))
            };
            raw::UnlockReleaseBuffer(buf);
            stats
        };
        if let Some(stats) = stats {
            if stats.corrupt {
                corrupt_block = Some(blk);
                return true;
            }
            acc.current_block = blk;
            if count {
                acc.add(&stats);
            } else {
                acc.gin_pending_tuples = acc.gin_pending_tuples.max(stats.gin_pending_tuples);
            }
        }
        false
    };
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    let mut source = BlockSource {
        blocks,
        panicked: false,
    };
    // SAFETY: pg_guard_ffi_boundary turns an ERROR (longjmp) raised by the raw, unguarded calls
    // inside into a Rust panic outside it; nothing inside calls a guarded function, and
    // catch_unwind keeps a Rust panic from unwinding through the boundary's C frame (the read
    // stream's callback catches its own). `rel` is an open index (caller's guard). On an ERROR
    // the stream's pinned buffers and its memory are released by the transaction's abort, as for
    // any read stream of the server's own. InterruptPending is a plain sig_atomic_t read volatile.
    unsafe {
        let outcome = pg_sys::ffi::pg_guard_ffi_boundary(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                #[cfg(not(any(feature = "pg17", feature = "pg18")))]
                for blk in blocks {
                    if std::ptr::read_volatile(&raw const pg_sys::InterruptPending) != 0 {
                        raw::ProcessInterrupts();
                    }
                    let buf = raw::ReadBufferExtended(
                        rel,
                        pg_sys::ForkNumber::MAIN_FORKNUM,
                        blk,
                        pg_sys::ReadBufferMode::RBM_NORMAL,
                        strategy,
                    );
                    if visit(blk, buf) {
                        break;
                    }
                }
                #[cfg(any(feature = "pg17", feature = "pg18"))]
                {
                    let stream = raw::read_stream_begin_relation(
                        pg_sys::READ_STREAM_FULL as std::ffi::c_int,
                        strategy,
                        rel,
                        pg_sys::ForkNumber::MAIN_FORKNUM,
                        Some(next_block),
                        &raw mut source as *mut std::ffi::c_void,
                        0,
                    );
                    loop {
                        if std::ptr::read_volatile(&raw const pg_sys::InterruptPending) != 0 {
                            raw::ProcessInterrupts();
                        }
                        let buf = raw::read_stream_next_buffer(stream, std::ptr::null_mut());
                        if buf == pg_sys::InvalidBuffer as pg_sys::Buffer {
                            break;
                        }
                        if visit(raw::BufferGetBlockNumber(buf), buf) {
                            break;
                        }
                    }
                    raw::read_stream_end(stream);
                }
            }))
        });
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    if source.panicked {
        panic!("the block iterator of the read stream panicked");
    }
    corrupt_block
}

/// Raises ERRCODE_INDEX_CORRUPTED (XX002, as PostgreSQL's own access methods do for a page
/// they cannot read) naming the index and the block.
pub(crate) fn corrupted(rel: pg_sys::Relation, blk: u32) -> ! {
    // SAFETY: `rel` is an open relation (caller's guard); rd_rel->relname is its NUL-terminated
    // name.
    let name = cstr(unsafe { (*(*rel).rd_rel).relname.data.as_ptr() });
    raise_error(
        PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED,
        format!("index \"{name}\" contains corrupted page at block {blk}"),
        Some("Please REINDEX it."),
    )
}

/// Reads the index's pages (all, or `sample` of them) and accumulates their statistics.
/// Returns the sums, the index's size in blocks and the number of parallel workers that helped
/// and the pages they read (exact scans of large indexes, see `parallel`). A page the parser
/// rejects raises [`corrupted`].
fn scan(o: &OpenIndex, sample: Option<u32>) -> (BloatAccum, u64, (i32, u64)) {
    let am = o.am;
    let mut acc = BloatAccum {
        gist_insertion_build: o.gist_insertion_build,
        opclass_fn: o.opclass_fn.clone(),
        collect_samples: sample.is_some(),
        ..Default::default()
    };
    let rel = o.guard.rel();
    let mut workers = (0, 0);
    // SAFETY: guarded FFI calls on the open index `rel`; the strategy is freed once, after the
    // last read that uses it.
    let (nblocks, corrupt) = unsafe {
        let nblocks =
            pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
        let strategy = pg_sys::GetAccessStrategy(pg_sys::BufferAccessStrategyType::BAS_BULKREAD);
        let corrupt = match sample {
            None => {
                let planned = parallel::plan_workers(o, nblocks);
                if planned > 0 {
                    let (launched, pages, corrupt) =
                        parallel::scan_exact(o, nblocks, planned, strategy, &mut acc);
                    workers = (launched, pages);
                    corrupt
                } else {
                    read_pages(rel, am, strategy, &mut (0..nblocks), &mut acc, true)
                }
            }
            Some(k) => {
                // GIN keeps its pending-list totals on the metapage: always read them.
                let meta = if am == Am::Gin && nblocks > 0 {
                    read_pages(rel, am, strategy, &mut std::iter::once(0), &mut acc, false)
                } else {
                    None
                };
                meta.or_else(|| {
                    let blocks = bloat::sample_blocks(nblocks, k, (*rel).rd_id.to_u32() as u64);
                    read_pages(rel, am, strategy, &mut blocks.into_iter(), &mut acc, true)
                })
            }
        };
        pg_sys::FreeAccessStrategy(strategy);
        (nblocks, corrupt)
    };
    if let Some(blk) = corrupt {
        corrupted(rel, blk);
    }
    (acc, nblocks as u64, workers)
}

fn pretty(bytes: i64) -> String {
    // SAFETY: pg_size_pretty takes one int8 argument, which is what is passed.
    unsafe {
        pgrx::direct_function_call::<String>(pg_sys::pg_size_pretty, &[bytes.into_datum()])
            .unwrap_or_default()
    }
}

/// How this server's pgstatindex counts a B-tree leaf page's free space, which
/// `avg_leaf_density` follows: PostgreSQL 18 switched to PageGetExactFreeSpace.
#[cfg(any(feature = "pg15", feature = "pg17"))]
const LEAF_FREE_SPACE: LeafFreeSpace = LeafFreeSpace::LessOneLinePointer;
#[cfg(feature = "pg18")]
const LEAF_FREE_SPACE: LeafFreeSpace = LeafFreeSpace::Exact;

/// Measures one index; `None` when it does not exist (any more).
fn measure(oid: pg_sys::Oid, sample_pages: Option<i32>) -> Option<BloatRow> {
    let sample = match sample_pages {
        None => None,
        Some(n) if n > 0 => Some(n as u32),
        Some(n) => raise_error(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("sample_pages must be a positive number of pages, not {n}"),
            Some("Pass NULL for an exact scan of every page."),
        ),
    };
    let m = open_checked(oid)?;
    let am = m.am;
    let (acc, nblocks, workers) = scan(&m, sample);
    let sampled = measure::is_sampled(sample, nblocks);
    let ff = m.fillfactor.unwrap_or_else(|| am.default_fillfactor());
    let r = acc.finish_with(am, nblocks, ff, sampled, LEAF_FREE_SPACE);
    let index_bytes = (nblocks * BLCKSZ as u64) as i64;
    let read = measure::Read {
        nblocks,
        sampled,
        fillfactor: ff,
        workers,
    };
    let details = measure::details(am, &acc, &r, &read);
    remember(Measurement {
        index: oid,
        relfilenode: m.relfilenode,
        index_bytes,
        expected_bytes: r.expected_bytes as i64,
        avg_leaf_density: r.avg_leaf_density.map(round2),
    });
    Some(BloatRow {
        schema_name: m.schema_name,
        table_name: m.table_name,
        index_name: m.index_name,
        access_method: m.am_name,
        index_bytes,
        index_size: pretty(index_bytes),
        total_pages: r.total_pages as i64,
        leaf_pages: r.leaf_pages as i64,
        internal_pages: r.internal_pages as i64,
        empty_pages: r.empty_pages as i64,
        deleted_pages: r.deleted_pages as i64,
        live_items: r.live_items as i64,
        dead_items: r.dead_items as i64,
        avg_leaf_density: r.avg_leaf_density.map(round2),
        leaf_fragmentation: r.leaf_fragmentation.map(round2),
        free_bytes: r.free_bytes as i64,
        expected_bytes: r.expected_bytes as i64,
        reclaimable_bytes: r.reclaimable_bytes as i64,
        reclaimable_size: pretty(r.reclaimable_bytes as i64),
        bloat_ratio: r.bloat_ratio.map(round3),
        method: measure::method_name(sampled).to_string(),
        pages_read: acc.pages_read as i64,
        density_ci_low: r.density_ci.map(|c| round2(c.0)),
        density_ci_high: r.density_ci.map(|c| round2(c.1)),
        details: JsonB(details),
    })
}

/// What a snapshot of the index history keeps of one measurement (`snapshot_indexes`).
pub(crate) struct Measured {
    pub index_bytes: i64,
    pub total_pages: i64,
    pub live_items: i64,
    pub avg_leaf_density: Option<f64>,
    pub leaf_fragmentation: Option<f64>,
    pub expected_bytes: i64,
    pub reclaimable_bytes: i64,
    pub bloat_ratio: Option<f64>,
    pub sampled: bool,
    pub pages_read: i64,
    pub density_ci: Option<(f64, f64)>,
}

/// Measures one index as `index_bloat(index, sample_pages)` does; `None` when it does not exist
/// (any more).
/// What this session last measured of an index (by `index_bloat`, the plan, a snapshot):
/// auto_reindex records a rebuild's "before" figures from here, never from its caller's
/// arguments, so that a history row holds only what was measured.
#[derive(Clone, Copy)]
pub(crate) struct Measurement {
    pub index: pg_sys::Oid,
    pub relfilenode: pg_sys::Oid,
    pub index_bytes: i64,
    pub expected_bytes: i64,
    pub avg_leaf_density: Option<f64>,
}

thread_local! {
    static MEASURED: std::cell::RefCell<std::collections::HashMap<pg_sys::Oid, Measurement>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn remember(m: Measurement) {
    MEASURED.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 100_000 {
            c.clear();
        }
        c.insert(m.index, m);
    });
}

/// This session's last measurement of `index`, if it is of the index's current relfilenode.
pub(crate) fn last_measurement(
    index: pg_sys::Oid,
    relfilenode: pg_sys::Oid,
) -> Option<Measurement> {
    MEASURED
        .with(|c| c.borrow().get(&index).copied())
        .filter(|m| m.relfilenode == relfilenode)
}

pub(crate) fn measure_summary(oid: pg_sys::Oid, sample_pages: Option<i32>) -> Option<Measured> {
    let r = measure(oid, sample_pages)?;
    Some(Measured {
        index_bytes: r.index_bytes,
        total_pages: r.total_pages,
        live_items: r.live_items,
        avg_leaf_density: r.avg_leaf_density,
        leaf_fragmentation: r.leaf_fragmentation,
        expected_bytes: r.expected_bytes,
        reclaimable_bytes: r.reclaimable_bytes,
        bloat_ratio: r.bloat_ratio,
        sampled: r.method == measure::method_name(true),
        pages_read: r.pages_read,
        density_ci: r.density_ci_low.zip(r.density_ci_high),
    })
}

table_functions! {
    /// One row of `index_bloat` and `index_bloat_report`.
    struct BloatRow {
        schema_name: String,
        table_name: String,
        index_name: String,
        access_method: String,
        index_bytes: i64,
        index_size: String,
        total_pages: i64,
        leaf_pages: i64,
        internal_pages: i64,
        empty_pages: i64,
        deleted_pages: i64,
        live_items: i64,
        dead_items: i64,
        avg_leaf_density: Option<f64>,
        leaf_fragmentation: Option<f64>,
        free_bytes: i64,
        expected_bytes: i64,
        reclaimable_bytes: i64,
        reclaimable_size: String,
        bloat_ratio: Option<f64>,
        method: String,
        pages_read: i64,
        density_ci_low: Option<f64>,
        density_ci_high: Option<f64>,
        details: JsonB,
    }

    /// Bloat of one index, from its pages. `sample_pages` NULL reads every page (exact); a number
    /// reads that many randomly chosen pages (never more than the index has) and estimates, with a
    /// 95% confidence interval for `avg_leaf_density`.
    ///
    /// <!-- doctest: data=csv -->
    /// ```sql
    /// ntsb=# SELECT index_size, avg_leaf_density, leaf_fragmentation, bloat_ratio, reclaimable_size
    ///        FROM ntsb_perf.index_bloat('idx_events_geom');
    ///  index_size | avg_leaf_density | leaf_fragmentation | bloat_ratio | reclaimable_size
    /// ------------+------------------+--------------------+-------------+------------------
    ///  1400 kB    |            66.55 |                    |       1.017 | 24 kB
    /// (1 row)
    /// ```
    #[pg_extern(volatile, parallel_safe)]
    fn index_bloat(
        index: Option<RegClass>,
        sample_pages: default!(Option<i32>, "NULL"),
    ) -> TableIterator<BloatRow> {
        let Some(index) = index else {
            raise_error(
                PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
                "index must not be NULL",
                Some("Pass an index name or OID, e.g. ntsb_perf.index_bloat('idx_events_geom')."),
            )
        };
        let Some(row) = measure(index.0, sample_pages) else {
            raise_error(
                PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
                format!("relation with OID {} does not exist", index.0.to_u32()),
                Some("It may have been dropped, or replaced by REINDEX CONCURRENTLY, since the call began."),
            )
        };
        TableIterator::once(row.into_tuple())
    }

    /// Bloat of every valid index (all access methods) of at least `min_bytes`, worst first
    /// (most reclaimable bytes). Same columns as `index_bloat`.
    ///
    /// <!-- doctest: data=generated -->
    /// ```sql
    /// ntsb=# SELECT index_name, access_method, index_size, bloat_ratio, reclaimable_size
    ///        FROM ntsb_perf.index_bloat_report('public', 0);
    ///           index_name          | access_method | index_size | bloat_ratio | reclaimable_size
    /// ------------------------------+---------------+------------+-------------+------------------
    ///  events_ev_id_key             | btree         | 992 kB     |        1.57 | 360 kB
    ///  events_pkey                  | btree         | 456 kB     |           1 | 0 bytes
    ///  idx_events_aircraft_category | btree         | 160 kB     |           1 | 0 bytes
    ///  idx_events_date_severity     | btree         | 456 kB     |           1 | 0 bytes
    ///  idx_events_event_date        | btree         | 304 kB     |           1 | 0 bytes
    ///  idx_events_event_date_brin   | brin          | 24 kB      |           1 | 0 bytes
    ///  idx_events_injury_severity   | btree         | 160 kB     |           1 | 0 bytes
    ///  spatial_ref_sys_pkey         | btree         | 208 kB     |           1 | 0 bytes
    ///  idx_events_geom              | gist          | 752 kB     |       0.959 | 0 bytes
    /// (9 rows)
    /// ```
    #[pg_extern(volatile, parallel_safe)]
    fn index_bloat_report(
        schema_name: default!(Option<String>, "NULL"),
        min_bytes: default!(Option<i64>, "1048576"),
        sample_pages: default!(Option<i32>, "NULL"),
    ) -> TableIterator<BloatRow> {
        let min_bytes = min_bytes_arg(min_bytes, 1_048_576, None);
        if let Some(n) = sample_pages.filter(|n| *n <= 0) {
            raise_error(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("sample_pages must be a positive number of pages, not {n}"),
                Some("Pass NULL for an exact scan of every page."),
            );
        }
        let oids: Vec<pg_sys::Oid> = query_rows(
            REPORT_LIST_SQL,
            &[schema_name.into(), min_bytes.into()],
            |r| not_null_column(r, "oid"),
        );
        let mut rows: Vec<BloatRow> = oids
            .into_iter()
            // An index dropped (or replaced by REINDEX CONCURRENTLY) since the list was read is
            // skipped, also when that happens while we wait for its lock.
            // SAFETY: guarded FFI call; any OID is a valid argument (0 for a missing relation).
            .filter(|oid| unsafe { pg_sys::get_rel_relkind(*oid) } as u8 == b'i')
            .filter_map(|oid| measure(oid, sample_pages))
            .collect();
        rows.sort_by(|a, b| {
            b.reclaimable_bytes
                .cmp(&a.reclaimable_bytes)
                .then_with(|| {
                    b.bloat_ratio
                        .partial_cmp(&a.bloat_ratio)
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .then_with(|| {
                    (&a.schema_name, &a.table_name, &a.index_name).cmp(&(
                        &b.schema_name,
                        &b.table_name,
                        &b.index_name,
                    ))
                })
        });
        TableIterator::new(rows.into_iter().map(BloatRow::into_tuple))
    }
}

extension_sql!(
    r#"
REVOKE ALL ON FUNCTION ntsb_perf.index_bloat(regclass, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION ntsb_perf.index_bloat_report(text, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ntsb_perf.index_bloat(regclass, integer) TO pg_stat_scan_tables;
GRANT EXECUTE ON FUNCTION ntsb_perf.index_bloat_report(text, bigint, integer) TO pg_stat_scan_tables;
"#,
    name = "bloat_grants",
    requires = [index_bloat, index_bloat_report]
);
