//! GiST: the special space and page flags, page classification and the size of a fresh build,
//! with its measured leaf fills (sorted build, and insertion builds per operator class).

use super::page::{count_items_fast, packed_page_from_header};
use super::{
    corrupt, leaf_or_inner, only, pages_for, room, upper_levels, AccessMethod, BloatAccum, Fresh,
    Page, PageKind, PageStats,
};

/// `GISTPageOpaqueData` and the GiST page flags (`access/gist.h`): part of [`super::layout`].
pub mod layout {
    /// `GISTPageOpaqueData`: size, offsets of flags and gist_page_id.
    pub const GIST_SPECIAL_SIZE: usize = 16;
    pub const GIST_FLAGS: usize = 12;
    pub const GIST_PAGE_ID_OFF: usize = 14;
    pub const GIST_PAGE_ID: u16 = 0xFF81;
    pub const F_LEAF: u16 = 1 << 0;
    pub const F_DELETED: u16 = 1 << 1;
    pub const F_TUPLES_DELETED: u16 = 1 << 2;
    pub const F_FOLLOW_RIGHT: u16 = 1 << 3;
    pub const F_HAS_GARBAGE: u16 = 1 << 4;
}

use layout::*;

/// Known GiST page flags: a page with any other bit set is corrupt.
const GIST_KNOWN: u16 = F_LEAF | F_DELETED | F_TUPLES_DELETED | F_FOLLOW_RIGHT | F_HAS_GARBAGE;

/// Measured leaf fill of fresh builds (see [`super::expected_pages`]); `make test` checks that a
/// REINDEXed index of each access method comes out at bloat_ratio 1.00 ± 0.05.
///
/// This one is PostgreSQL 15's sorted GiST build (every key column's operator class has sort
/// support: PostGIS geometry, point), which gathers four pages' worth of tuples at the
/// fillfactor and lets picksplit spread them: fresh leaves end up ~68% full at fillfactor 90,
/// measured on points and geometries (the GiST indexes of `bench/fresh_builds.sql`'s tables
/// `fresh.a` and `fresh.b`, with which the model was first calibrated, commit f85155c).
pub const GIST_FRESH_FILL: f64 = 0.68;
/// Leaf fill of a GiST built by insertion (no sort support), random table order: box, circle,
/// polygon and any other operator class [`opclass_fill`](super::opclass_fill) does not list.
/// Introduced in commit 84e1b0d as the middle of the random-order insertion builds measured
/// then (45-86% depending on the operator class and on how the table's order follows the
/// keys); docs/bloat.md gives it as the box, circle and polygon figure of the per-operator-class
/// measurements (one random-order build of 150,000 rows, see `opclass_fill` below).
pub const GIST_INSERT_FRESH_FILL: f64 = 0.60;
/// The fillfactor the fills above were measured at (GiST's default): a build at another
/// fillfactor fills in proportion.
const FILLS_MEASURED_AT: f64 = 90.0;

pub(super) struct Gist;

impl AccessMethod for Gist {
    #[inline(always)]
    fn classify(&self, p: &Page, _blkno: u32) -> PageStats {
        let page_id = Some((GIST_PAGE_ID_OFF, GIST_PAGE_ID));
        let Some(flags) = p.special_flags(GIST_FLAGS, GIST_KNOWN, page_id) else {
            return corrupt();
        };
        if flags & F_DELETED != 0 {
            return only(PageKind::Deleted);
        }
        let counted = if flags & F_HAS_GARBAGE == 0 {
            packed_page_from_header(p, false)
        } else {
            None
        };
        let counted = counted.unwrap_or_else(|| count_items_fast(p, false));
        if counted.corrupt {
            return counted;
        }
        leaf_or_inner(counted, flags & F_LEAF != 0)
    }

    /// The sorted build's fill, or the operator class's when a rebuild would insert tuple by
    /// tuple (some key has no sort support, or `buffering = on`).
    fn fresh_leaf_fill(&self, a: &BloatAccum) -> f64 {
        if a.gist_insertion_build {
            self.opclass_fill(&a.opclass_fn)
        } else {
            GIST_FRESH_FILL
        }
    }

    /// Insertion builds, keyed by the `consistent` support function. Each was measured on one
    /// fresh build of 150,000 rows in random order (`fresh.opc_calibration` in
    /// `bench/fresh_builds.sql`, commit 3f9af78; docs/bloat.md lists them and a second,
    /// independent check, `fresh.opc_check`); keys that follow the table's order fill less
    /// (box GiST 0.47).
    fn opclass_fill(&self, first_support_fn: &str) -> f64 {
        match first_support_fn {
            "range_gist_consistent" => 0.53,
            "inet_gist_consistent" => 0.72,
            "gtsvector_consistent" => 0.86,
            f if f.starts_with("gbt_") => 0.68, // btree_gist
            _ => GIST_INSERT_FRESH_FILL,        // box, circle, polygon, ...
        }
    }

    fn expected_pages(&self, a: &BloatAccum, f: &Fresh) -> f64 {
        // Leaves at the fresh fill (see `fresh_leaf_fill`), given for fillfactor 90.
        let cap = room(GIST_SPECIAL_SIZE) * self.fresh_leaf_fill(a) * f.fillfactor as f64
            / FILLS_MEASURED_AT;
        let leaves = pages_for(f.bytes, cap).max(1.0);
        leaves + upper_levels(leaves, f.avg_downlink, cap)
    }
}
