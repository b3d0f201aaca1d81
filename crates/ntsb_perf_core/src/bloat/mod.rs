//! Index page reading and bloat arithmetic, for every built-in index access method.
//!
//! The extension reads each page (8 kB) in place, in its shared buffer under a share lock on
//! that buffer (no copy is made: `read_pages` in the extension's `src/bloat/mod.rs`), and hands
//! the bytes to [`classify_page`] (a plain B-tree leaf goes to [`BloatAccum::add_btree_leaf`]
//! instead); [`BloatAccum`] sums the pages and [`BloatAccum::finish`] turns the sums into the
//! report's figures. Layouts follow PostgreSQL 13-17 on-disk formats (little-endian, 8-byte
//! MAXALIGN, BLCKSZ 8192).
//!
//! Definitions (B-tree ones are pgstatindex's, so both agree to the last digit):
//! - usable space of a page: `pd_special - SizeOfPageHeaderData` (page minus header and special);
//! - free space of a page: `pd_upper - pd_lower - sizeof(ItemIdData)` (never negative);
//! - `avg_leaf_density` = 100 × (1 − Σ free / Σ usable) over the leaf pages;
//! - B-tree `leaf_fragmentation` = 100 × share of leaf pages whose right sibling has a lower
//!   block number (a scan in key order moves backwards on disk there).
//!
//! # Files
//! - `page.rs`: the page header and the line pointers (bounds-checked reads, the item counts
//!   the access methods share);
//! - `btree.rs`, `hash.rs`, `gist.rs`, `gin.rs`, `spgist.rs`, `brin.rs`: one access method each:
//!   its on-disk constants (special space, flags: its part of [`layout`]), how its pages are
//!   classified, the size of a fresh build of it and the calibration constants of that model;
//! - `accum.rs`: [`BloatAccum`], the sums over the pages read (and how they travel between the
//!   processes of a parallel scan), and [`BloatResult`];
//! - `sample.rs`: sampled scans (which blocks, the confidence interval of the density);
//! - `measure.rs`: what `index_bloat` reports of one measurement beyond the sums (rounding, the
//!   per-method `details`);
//! - this file: the registry of access methods, the `AccessMethod` trait they implement,
//!   [`PageStats`], and [`classify_page`] / [`expected_pages`], which do what every access
//!   method shares and hand the rest to the method's file;
//! - `fuzz.rs`: the page-parser fuzz test (tests only).
//!
//! # Adding an access method
//! Say bloom:
//! 1. Write `bloom.rs` beside the others, with
//!    - `pub mod layout`: its special space's size and field offsets and its flag bits, named as
//!      in PostgreSQL's headers (add each to the checks in the extension's `build.rs`, which
//!      compares them with the server's headers);
//!    - a unit struct, `pub(super) struct Bloom;`, implementing `AccessMethod`: `classify` (a
//!      page that passed the checks every page gets: whole, initialised, a sane header, the
//!      method's special size) and `expected_pages` (the fresh-size model); the other methods
//!      have defaults that suit most access methods (see the trait);
//!    - its calibration constants, each with a comment naming the measurement that set it, and
//!      its unit tests.
//! 2. Declare it (`mod bloom;`) and add its line at the end of the `access_methods!` registry
//!    below: `Bloom => bloom::Bloom ("bloom", BLOOM_SPECIAL_SIZE, 100, true),` (`pg_am.amname`,
//!    special size, default fillfactor, whether its sums are only counters). That line makes
//!    the variant `Am::Bloom` (last in [`Am::ALL`], where a position names an access method
//!    across processes: never reorder), puts `bloom::layout` into [`layout`], and routes
//!    [`Am::from_name`], [`classify_page`], [`expected_pages`] and the rest to it.
//!
//! The compiler and the tests then point at what else must know every method: the fuzz
//! test's valid pages (`fuzz.rs`: a match over every `Am`, and arrays of one entry per method);
//! the `details` each reports (`measure.rs`); in the extension, which methods a fillfactor
//! reloption is read for (`src/bloat/mod.rs`).

mod accum;
mod brin;
mod btree;
mod gin;
mod gist;
mod hash;
pub mod measure;
mod page;
mod sample;
mod spgist;

pub use accum::{BloatAccum, BloatResult, LeafFreeSpace, COUNTERS};
pub use gin::{posting_tree_sizes, GIN_ENTRY_FRESH_FILL};
pub use gist::{GIST_FRESH_FILL, GIST_INSERT_FRESH_FILL};
pub use hash::{fresh_bucket_bytes, hash_total_buckets, HASH_PAGE_SPACE};
pub use page::{ItemId, Page, LP_DEAD, LP_NORMAL, LP_REDIRECT, LP_UNUSED, PAGE_HEADER};
pub use sample::{ratio_ci, sample_blocks};
pub use spgist::{SPGIST_FRESH_FILL, SPGIST_TEXT_FRESH_FILL};

pub use layout::BLCKSZ;
use layout::*;
use page::count_items_fast;
#[cfg(test)]
use page::{maxalign, ITEM_ID};

/// The registry of access methods, one line each: `Variant => file::Struct (facts)`, where the
/// struct implements [`AccessMethod`], the file has a `pub mod layout`, and the facts are the
/// fields of [`Facts`], in their order. Makes [`Am`] (variants in this order), [`Am::ALL`], the
/// dispatch from an `Am` to its implementation and to its facts, and [`layout`].
macro_rules! access_methods {
    ($($variant:ident => $file:ident :: $method:ident (
        $name:literal, $special:expr, $fillfactor:literal, $counters_only:literal
    ),)*) => {
        /// Index access methods we understand.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Am {
            $($variant,)*
        }

        impl Am {
            /// Every access method, in a fixed order (an index into it names one across
            /// processes).
            pub const ALL: [Am; [$(Am::$variant,)*].len()] = [$(Am::$variant,)*];

            /// The implementation of the access method.
            fn method(self) -> &'static dyn AccessMethod {
                match self {
                    $(Am::$variant => &$file::$method,)*
                }
            }

            /// [`classify_page`] with the method's own copy of [`classify_with`] (the per-page
            /// path of a scan: no indirect call, the parser inlined).
            fn classify(self, blkno: u32, bytes: &[u8]) -> PageStats {
                match self {
                    $(Am::$variant => classify_with(&$file::$method, $special, blkno, bytes),)*
                }
            }

            /// What the registry says of the access method.
            fn facts(self) -> Facts {
                match self {
                    $(Am::$variant => Facts {
                        name: $name,
                        special_size: $special,
                        default_fillfactor: $fillfactor,
                        counters_only: $counters_only,
                    },)*
                }
            }
        }

        /// PostgreSQL's on-disk layout, as far as the page parsers rely on it: sizes, field
        /// offsets, flag bits and page ids (the page header's and each access method's, defined
        /// in their files). The extension checks every one of them against the server it is
        /// built for at compile time: those `pg_sys` binds against `pg_sys`
        /// (`src/bloat/layout_check.rs`), the others against the server's own headers
        /// (`build.rs`), so a server built with another block size or layout fails to compile
        /// instead of being misread.
        pub mod layout {
            pub use super::page::layout::*;
            $(pub use super::$file::layout::*;)*
        }
    };
}

// The default fillfactors of B-tree, hash, GiST and SP-GiST are PostgreSQL's
// (`BTREE_DEFAULT_FILLFACTOR`, ...); GIN's 90 and BRIN's 100 are what the extension hands their
// models (it reads a fillfactor reloption for neither; BRIN's model does not use it). Counters
// only: see `Am::counters_only`.
access_methods! {
    // variant => implementation (pg_am.amname, special size,  fillfactor, counters only)
    Btree  => btree::Btree       ("btree",  BT_SPECIAL_SIZE,     90,  true),
    Hash   => hash::Hash         ("hash",   HASH_SPECIAL_SIZE,   75,  false),
    Gist   => gist::Gist         ("gist",   GIST_SPECIAL_SIZE,   90,  true),
    Gin    => gin::Gin           ("gin",    GIN_SPECIAL_SIZE,    90,  false),
    Spgist => spgist::Spgist     ("spgist", SPGIST_SPECIAL_SIZE, 80,  true),
    Brin   => brin::Brin         ("brin",   BRIN_SPECIAL_SIZE,   100, true),
}

/// The facts of an access method the registry lists.
struct Facts {
    /// Its name in `pg_am.amname`.
    name: &'static str,
    /// See [`Am::special_size`].
    special_size: usize,
    /// See [`Am::default_fillfactor`].
    default_fillfactor: u32,
    /// See [`Am::counters_only`].
    counters_only: bool,
}

impl Am {
    pub fn from_name(name: &str) -> Option<Am> {
        Am::ALL.into_iter().find(|am| am.facts().name == name)
    }

    /// Whether an exact scan's sums are only counters ([`BloatAccum::counters`]). GIN
    /// (posting-tree chains) and hash (bytes per bucket) also keep lists, carried between
    /// processes as [`BloatAccum::list_entries`], at most one entry per page read.
    pub fn counters_only(self) -> bool {
        self.facts().counters_only
    }

    /// Default fillfactor of the access method (what a build uses without a reloption).
    pub fn default_fillfactor(self) -> u32 {
        self.facts().default_fillfactor
    }

    /// Size of the special space every page of the access method has (`MAXALIGN` of its
    /// opaque struct): `pd_special` is always `BLCKSZ` minus this.
    pub fn special_size(self) -> usize {
        self.facts().special_size
    }
}

/// How an index access method's pages are read and its fresh size modelled: what
/// [`classify_page`] and [`expected_pages`] leave to it. Each is a unit struct in its own file,
/// listed once in the `access_methods!` registry.
trait AccessMethod {
    /// Reads one page that passed the checks every page gets (one whole page, initialised, a
    /// sane header, the method's special size), block `blkno` of the index. Returns
    /// [`corrupt`] for anything a page of this method cannot look like. [`classify_page`] then
    /// sets the free and usable bytes of leaf, pending-list and internal pages.
    ///
    /// Implementations are `#[inline(always)]`: [`classify_with`] is their one caller, and
    /// inlined there the pass over the line pointers is compiled knowing the header checks
    /// already made (left to the compiler, SP-GiST pages took ~20% longer to classify in a
    /// micro-benchmark against the single-function parser this replaced).
    fn classify(&self, p: &Page, blkno: u32) -> PageStats;
    /// Free bytes a new (all-zero) page counts for.
    fn new_page_free(&self) -> usize {
        BLCKSZ - PAGE_HEADER
    }
    /// Free bytes of a leaf page (`PageGetFreeSpace` unless the method's own statistics
    /// function counts otherwise).
    fn leaf_free(&self, p: &Page) -> usize {
        p.free_space()
    }
    /// The report's `leaf_fragmentation` (B-tree only).
    fn leaf_fragmentation(&self, _a: &BloatAccum) -> Option<f64> {
        None
    }
    /// See [`BloatAccum::fresh_leaf_fill`].
    fn fresh_leaf_fill(&self, _a: &BloatAccum) -> f64 {
        1.0
    }
    /// See [`opclass_fill`].
    fn opclass_fill(&self, _first_support_fn: &str) -> f64 {
        1.0
    }
    /// Pages of a fresh build (not yet rounded), see [`expected_pages`].
    fn expected_pages(&self, a: &BloatAccum, f: &Fresh) -> f64;
}

/// What a page is, for the report's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    Meta,
    Leaf,
    Internal,
    Deleted,
    /// New (all zero), B-tree half-dead, hash unused.
    Empty,
    /// GIN pending-list page.
    Pending,
    /// Hash bitmap page.
    Bitmap,
    /// BRIN range map page.
    Revmap,
}

/// One page's contribution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageStats {
    pub kind: Option<PageKind>,
    pub live_items: u64,
    pub dead_items: u64,
    pub free_bytes: u64,
    pub usable_bytes: u64,
    /// Σ (MAXALIGN(len) + line pointer) over live data items (B-tree: without the high key).
    pub live_item_bytes: u64,
    /// B-tree leaf: right sibling at a lower block number.
    pub fragmented: bool,
    /// Bytes of the separator/downlink items on an internal page (for the expected size).
    pub internal_item_bytes: u64,
    pub internal_items: u64,
    /// B-tree leaf: bytes of the high key, its line pointer included (0 on a rightmost leaf).
    pub high_key_bytes: u64,
    /// GIN: a posting-tree page (data page).
    pub posting_tree: bool,
    /// GIN posting-tree leaf without a right sibling: the last leaf of one posting tree.
    pub posting_tree_end: bool,
    /// GIN posting-tree leaf: right sibling (u32::MAX for none).
    pub posting_rightlink: u32,
    /// Hash bucket or overflow page: the bucket it belongs to.
    pub hash_bucket: Option<u32>,
    /// Hash: an overflow page.
    pub hash_overflow: bool,
    /// Hash: part of a bucket chain of two or more pages (an overflow page, or a bucket page
    /// with an overflow page after it).
    pub hash_chained: bool,
    /// GIN metapage: pending pages and heap tuples waiting in the pending list.
    pub gin_pending_pages: u64,
    pub gin_pending_tuples: u64,
    /// The page is not what a page of this access method can be: inconsistent header, wrong
    /// special size, unknown flags or page id, line pointers outside the tuple space...
    pub corrupt: bool,
}

/// A page that contributes only its kind.
fn only(kind: PageKind) -> PageStats {
    PageStats {
        kind: Some(kind),
        ..Default::default()
    }
}

/// An empty page (new, or hash unused) that counts as `free` bytes of free space.
fn empty(free: usize) -> PageStats {
    PageStats {
        kind: Some(PageKind::Empty),
        free_bytes: free as u64,
        ..Default::default()
    }
}

/// A page the parser rejects.
fn corrupt() -> PageStats {
    PageStats {
        corrupt: true,
        ..Default::default()
    }
}

/// GiST/SP-GiST: items of an inner page are downlinks, not data.
fn leaf_or_inner(mut s: PageStats, leaf: bool) -> PageStats {
    if leaf {
        s.kind = Some(PageKind::Leaf);
    } else {
        s.internal_item_bytes = std::mem::take(&mut s.live_item_bytes);
        s.internal_items = std::mem::take(&mut s.live_items);
        s.kind = Some(PageKind::Internal);
    }
    s
}

/// B-tree and GIN inner pages: every normal item is a downlink (separator key + pointer).
fn internal_page(p: &Page) -> PageStats {
    // The same branch-free pass over the line pointers as a leaf page's; no tuple is touched.
    let c = count_items_fast(p, false);
    if c.corrupt {
        return c;
    }
    PageStats {
        internal_items: c.live_items,
        internal_item_bytes: c.live_item_bytes,
        ..only(PageKind::Internal)
    }
}

/// Reads one page of an index of access method `am`, stored at block `blkno`. Never trusts the
/// bytes: anything a page of `am` cannot look like comes back as a `corrupt` page (nothing
/// else set), never a panic or an out-of-bounds read.
pub fn classify_page(am: Am, blkno: u32, bytes: &[u8]) -> PageStats {
    am.classify(blkno, bytes)
}

/// [`classify_page`] for the access method `m`, whose pages have `special_size` bytes of
/// special space: what every page gets (the checks, the free and usable bytes), around the
/// method's own [`AccessMethod::classify`]. Generic, so each method has its own copy.
fn classify_with<M: AccessMethod>(
    m: &M,
    special_size: usize,
    blkno: u32,
    bytes: &[u8],
) -> PageStats {
    let Some(p) = Page::new(bytes) else {
        return corrupt();
    };
    if p.is_new() {
        // PageIsNew: PostgreSQL only accepts such a page when it is all zero.
        if bytes.iter().any(|&b| b != 0) {
            return corrupt();
        }
        return empty(m.new_page_free());
    }
    if !p.is_sane() || p.special() != BLCKSZ - special_size {
        return corrupt();
    }
    let mut s = m.classify(&p, blkno);
    if s.corrupt {
        return corrupt();
    }
    match s.kind {
        Some(PageKind::Leaf) => {
            s.free_bytes = m.leaf_free(&p) as u64;
            s.usable_bytes = p.usable() as u64;
        }
        Some(PageKind::Pending) => {
            s.free_bytes = p.free_space() as u64;
            s.usable_bytes = p.usable() as u64;
        }
        Some(PageKind::Internal) => s.free_bytes = p.free_space() as u64,
        _ => {}
    }
    s
}

/// What every fresh-size model starts from (see [`expected_pages`]).
struct Fresh {
    /// Counts are multiplied by this (total / read pages for a sampled scan, else 1).
    scale: f64,
    fillfactor: u32,
    /// The live item bytes measured, scaled.
    bytes: f64,
    /// Mean size of the downlinks (line pointer included) on the inner pages read
    /// ([`DEFAULT_DOWNLINK`] when none was read).
    avg_downlink: f64,
}

/// Downlink size assumed when no inner page was read: 16 bytes and a line pointer. Origin not
/// recorded (there since the first version of the model, commit f85155c).
const DEFAULT_DOWNLINK: f64 = 16.0 + ITEM_ID_SIZE as f64;

/// The size (in pages) a fresh build at `fillfactor` would have for the measured live items.
pub fn expected_pages(am: Am, a: &BloatAccum, scale: f64, fillfactor: u32) -> u64 {
    let avg_downlink = if a.internal_items > 0 {
        a.internal_item_bytes as f64 / a.internal_items as f64
    } else {
        DEFAULT_DOWNLINK
    };
    let fresh = Fresh {
        scale,
        fillfactor,
        bytes: a.live_item_bytes as f64 * scale,
        avg_downlink,
    };
    am.method().expected_pages(a, &fresh).round() as u64
}

/// Leaf fill of a fresh build by operator class, for the methods whose builds insert tuple by
/// tuple and split by the operator class's own rules (insertion-built GiST, SP-GiST), keyed by
/// the name of its first support function; 1.0 for the other methods. The measurements are in
/// `gist.rs` and `spgist.rs`.
pub fn opclass_fill(am: Am, first_support_fn: &str) -> f64 {
    am.method().opclass_fill(first_support_fn)
}

// Building blocks of the fresh-size models.

/// Room for tuples on a page whose special space takes `special` bytes.
fn room(special: usize) -> f64 {
    (BLCKSZ - PAGE_HEADER - special) as f64
}

/// Pages needed to hold `bytes` when each page takes at most `capacity` bytes.
/// (A capacity under one byte, e.g. from an extreme fillfactor, counts as one byte: the result
/// stays finite.)
fn pages_for(bytes: f64, capacity: f64) -> f64 {
    if bytes.is_nan() || bytes <= 0.0 {
        0.0
    } else {
        (bytes / capacity.max(1.0)).ceil()
    }
}

/// Pages of the upper levels of a tree over `children` pages whose downlinks take
/// `downlink_bytes` each, on pages holding `capacity` bytes.
fn upper_levels(mut children: f64, downlink_bytes: f64, capacity: f64) -> f64 {
    let per_page = (capacity / downlink_bytes).floor().max(2.0);
    if !children.is_finite() || !per_page.is_finite() {
        return 0.0;
    }
    let mut total = 0.0;
    // At least halves each round: ends within ~1024 rounds even for f64::MAX children.
    while children > 1.0 {
        let level = (children / per_page).ceil();
        total += level;
        children = level;
    }
    total
}

/// Upper-level pages of a fresh build estimated from the index's own ratio of internal to
/// leaf pages (for access methods whose inner structure depends on the data).
fn scaled_internal(a: &BloatAccum, expected_leaves: f64) -> f64 {
    if a.leaf_pages == 0 {
        return 0.0;
    }
    (a.internal_pages as f64 * expected_leaves / a.leaf_pages as f64).round()
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::page::test_pages::{page, special_with_id};
    use super::*;

    #[test]
    fn opclass_fills() {
        for (am, support_fn, fill) in [
            (Am::Gist, "gbt_int4_consistent", 0.68),
            (Am::Gist, "range_gist_consistent", 0.53),
            (Am::Gist, "gist_box_consistent", GIST_INSERT_FRESH_FILL),
            (Am::Spgist, "spg_quad_config", SPGIST_FRESH_FILL),
            (Am::Spgist, "spg_kd_config", 0.67),
            (Am::Spgist, "geometry_spgist_config_2d", 0.81),
            (Am::Spgist, "geometry_spgist_config_3d", SPGIST_FRESH_FILL),
            (Am::Spgist, "spg_text_config", SPGIST_TEXT_FRESH_FILL),
        ] {
            assert_eq!(opclass_fill(am, support_fn), fill, "{support_fn}");
        }
        // A lower fill means more expected pages, so a lower ratio for the same index.
        let mut a = BloatAccum {
            live_item_bytes: 4_000_000,
            leaf_pages: 700,
            internal_pages: 10,
            gist_insertion_build: true,
            ..Default::default()
        };
        let boxes = expected_pages(Am::Gist, &a, 1.0, 90);
        a.opclass_fn = "range_gist_consistent".into();
        assert!(expected_pages(Am::Gist, &a, 1.0, 90) > boxes);
    }

    #[test]
    fn gist_spgist_gin_hash_brin_pages() {
        let mut gist = special_with_id(16, GIST_PAGE_ID_OFF, GIST_PAGE_ID);
        // leaf | F_HAS_GARBAGE (GiST sets it whenever it marks an item dead): walked
        gist[12..14].copy_from_slice(&17u16.to_le_bytes());
        let s = classify_page(
            Am::Gist,
            0,
            &page(16, &[(40, LP_NORMAL), (40, LP_DEAD)], &gist),
        );
        assert_eq!(
            (s.kind, s.live_items, s.dead_items),
            (Some(PageKind::Leaf), 1, 1)
        );
        // leaf without the flag: counted from the header, same figures as a walk
        gist[12..14].copy_from_slice(&1u16.to_le_bytes());
        let items: Vec<(usize, u8)> = (0..90).map(|i| (24 + i % 33, LP_NORMAL)).collect();
        let b = page(16, &items, &gist);
        let s = classify_page(Am::Gist, 0, &b);
        let walked = count_items_fast(&Page::new(&b).unwrap(), false);
        assert_eq!(
            (s.live_items, s.live_item_bytes),
            (walked.live_items, walked.live_item_bytes)
        );
        gist[12..14].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(
            classify_page(Am::Gist, 3, &page(16, &[], &gist)).kind,
            Some(PageKind::Deleted)
        );

        // SP-GiST leaf: one live tuple (state 0), one redirect (state 1)
        let mut sp = special_with_id(8, SPGIST_PAGE_ID_OFF, SPGIST_PAGE_ID);
        sp[0..2].copy_from_slice(&4u16.to_le_bytes());
        let mut b = page(8, &[(16, LP_NORMAL), (16, LP_NORMAL)], &sp);
        let it2 = Page::new(&b).unwrap().item(2).unwrap();
        b[it2.off] = 1;
        let s = classify_page(Am::Spgist, 4, &b);
        assert_eq!(
            (s.kind, s.live_items, s.dead_items),
            (Some(PageKind::Leaf), 1, 1)
        );

        // GIN metapage with 3 pending pages and 42 pending heap tuples
        let mut gin_meta = page(8, &[], &[0, 0, 0, 0, 0, 0, 8, 0]);
        gin_meta[PAGE_HEADER + 12..PAGE_HEADER + 16].copy_from_slice(&3u32.to_le_bytes());
        gin_meta[PAGE_HEADER + 16..PAGE_HEADER + 24].copy_from_slice(&42u64.to_le_bytes());
        let s = classify_page(Am::Gin, 0, &gin_meta);
        assert_eq!(
            (s.kind, s.gin_pending_pages, s.gin_pending_tuples),
            (Some(PageKind::Meta), 3, 42)
        );
        // A sampled scan reads the metapage for its totals and may sample it again: counted once.
        let mut acc = BloatAccum::default();
        acc.add(&s);
        acc.add(&s);
        assert_eq!((acc.gin_pending_tuples, acc.meta_pages), (42, 2));
        let s = classify_page(
            Am::Gin,
            5,
            &page(8, &[(30, LP_NORMAL)], &[0, 0, 0, 0, 0, 0, 16, 0]),
        );
        assert_eq!(s.kind, Some(PageKind::Pending));
        let s = classify_page(Am::Gin, 6, &page(8, &[], &[0, 0, 0, 0, 0, 0, 3, 0]));
        assert!(s.posting_tree && s.kind == Some(PageKind::Leaf));

        let mut hash = special_with_id(16, HASH_PAGE_ID_OFF, HASHO_PAGE_ID);
        hash[12..14].copy_from_slice(&1u16.to_le_bytes());
        let s = classify_page(
            Am::Hash,
            9,
            &page(16, &[(16, LP_NORMAL), (16, LP_DEAD)], &hash),
        );
        assert_eq!(
            (s.kind, s.hash_overflow, s.live_items, s.dead_items),
            (Some(PageKind::Leaf), true, 1, 1)
        );
        hash[12..14].copy_from_slice(&4u16.to_le_bytes());
        assert_eq!(
            classify_page(Am::Hash, 2, &page(16, &[], &hash)).kind,
            Some(PageKind::Bitmap)
        );

        let mut brin = page(8, &[], &[0; 8]);
        brin[BLCKSZ - 2..].copy_from_slice(&0xF092u16.to_le_bytes());
        assert_eq!(
            classify_page(Am::Brin, 1, &brin).kind,
            Some(PageKind::Revmap)
        );
    }
}
