//! SP-GiST: the special space and page flags, page classification and the size of a fresh
//! build, with its measured leaf fills per operator class.

use super::page::count_items;
use super::{
    corrupt, leaf_or_inner, only, pages_for, room, scaled_internal, AccessMethod, BloatAccum,
    Fresh, ItemId, Page, PageKind, PageStats,
};

/// `SpGistPageOpaqueData` and the SP-GiST page flags (`access/spgist_private.h`): part of
/// [`super::layout`].
pub mod layout {
    /// `SpGistPageOpaqueData`: size, offsets of flags and spgist_page_id.
    pub const SPGIST_SPECIAL_SIZE: usize = 8;
    pub const SPGIST_FLAGS: usize = 0;
    pub const SPGIST_PAGE_ID_OFF: usize = 6;
    pub const SPGIST_PAGE_ID: u16 = 0xFF82;
    pub const SPGIST_META: u16 = 1 << 0;
    pub const SPGIST_DELETED: u16 = 1 << 1;
    pub const SPGIST_LEAF: u16 = 1 << 2;
    pub const SPGIST_NULLS: u16 = 1 << 3;
}

use layout::*;

/// Known SP-GiST page flags: a page with any other bit set is corrupt.
const SPGIST_KNOWN: u16 = SPGIST_META | SPGIST_DELETED | SPGIST_LEAF | SPGIST_NULLS;

/// Leaf fill of a fresh build for the operator classes [`opclass_fill`](super::opclass_fill)
/// does not list (quad-tree points, boxes, polygons, PostGIS 3-D), at fillfactor 80: live
/// tuples take this share of a leaf, the rest is placeholders, redirects and the fillfactor's
/// slack. Set with the first version of the model (commit f85155c, "calibrated on fresh
/// builds (bench/fresh_builds.sql)": then the quad-tree over the points of its tables
/// `fresh.a` and `fresh.b`); the figures of that calibration were not recorded. Quad-tree
/// points read 0.942 on the 150,000-row calibration set of the other operator classes (bench/README.md).
pub const SPGIST_FRESH_FILL: f64 = 0.755;
/// The radix tree of `text_ops` packs leaves tighter (prefixes move into inner tuples). Set
/// with the first version of the model, like [`SPGIST_FRESH_FILL`] (the text index of
/// `bench/fresh_builds.sql`'s tables `fresh.a` and `fresh.b`); the figures were not recorded.
pub const SPGIST_TEXT_FRESH_FILL: f64 = 0.855;
/// The fillfactor the fills were measured at (SP-GiST's default): a build at another
/// fillfactor fills in proportion.
const FILLS_MEASURED_AT: f64 = 80.0;
/// Pages every SP-GiST index has besides its leaves and inner pages: the metapage and the two
/// roots (`SPGIST_METAPAGE_BLKNO`, `SPGIST_ROOT_BLKNO`, `SPGIST_NULL_BLKNO`).
const FIXED_PAGES: f64 = 3.0;

pub(super) struct Spgist;

impl AccessMethod for Spgist {
    #[inline(always)]
    fn classify(&self, p: &Page, _blkno: u32) -> PageStats {
        let page_id = Some((SPGIST_PAGE_ID_OFF, SPGIST_PAGE_ID));
        let Some(flags) = p.special_flags(SPGIST_FLAGS, SPGIST_KNOWN, page_id) else {
            return corrupt();
        };
        if flags & SPGIST_META != 0 {
            return only(PageKind::Meta);
        }
        if flags & SPGIST_DELETED != 0 {
            return only(PageKind::Deleted);
        }
        // Tuple state in the low two bits of the tuple's first word: 0 = live,
        // 1 = redirect, 2 = dead, 3 = placeholder.
        let not_live = |pg: &Page, it: &ItemId| pg.item_word(it).is_none_or(|w| w & 3 != 0);
        let counted = count_items(p, false, not_live);
        if counted.corrupt {
            return counted;
        }
        leaf_or_inner(counted, flags & SPGIST_LEAF != 0)
    }

    /// SP-GiST always builds by insertion: the operator class's fill.
    fn fresh_leaf_fill(&self, a: &BloatAccum) -> f64 {
        self.opclass_fill(&a.opclass_fn)
    }

    /// Keyed by the `config` support function. Each was measured on one fresh build of 150,000
    /// rows in random order (`fresh.opc_calibration` in `bench/fresh_builds.sql`, commit
    /// 3f9af78; docs/bloat.md lists them and a second, independent check, `fresh.opc_check`), but
    /// PostGIS's; keys that follow the table's order fill less (quad-tree 0.72).
    fn opclass_fill(&self, first_support_fn: &str) -> f64 {
        match first_support_fn {
            "spg_kd_config" => 0.67,
            "spg_range_quad_config" => 0.575,
            "inet_spg_config" => 0.65,
            // PostGIS (2-D and n-D geometry, geography): the mean of four fresh builds (uniform
            // and clustered points, a sample of the demo's events, small polygons; commit
            // aa76f62).
            "geometry_spgist_config_2d"
            | "geometry_spgist_config_nd"
            | "geography_spgist_config_nd" => 0.81,
            // The radix tree of text_ops packs leaves tighter (prefixes move into inner tuples).
            "spg_text_config" => SPGIST_TEXT_FRESH_FILL,
            _ => SPGIST_FRESH_FILL, // quad-tree points, boxes, polygons, PostGIS 3-D
        }
    }

    fn expected_pages(&self, a: &BloatAccum, f: &Fresh) -> f64 {
        // Insertion-built; fresh leaves hold live tuples for part of their space at
        // fillfactor 80 (the rest: placeholders, redirects and the fillfactor's slack).
        let cap = room(SPGIST_SPECIAL_SIZE) * self.fresh_leaf_fill(a) * f.fillfactor as f64
            / FILLS_MEASURED_AT;
        let leaves = pages_for(f.bytes, cap).max(1.0);
        FIXED_PAGES + leaves + scaled_internal(a, leaves)
    }
}
