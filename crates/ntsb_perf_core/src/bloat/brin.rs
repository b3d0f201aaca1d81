//! BRIN: the special space and page types, page classification (metapage, range map, regular
//! pages) and the size of a fresh build: one summary tuple per range.

use super::page::{count_items_fast, PAGE_HEADER};
use super::{
    corrupt, only, pages_for, room, AccessMethod, BloatAccum, Fresh, Page, PageKind, PageStats,
    BLCKSZ,
};

/// `BrinSpecialSpace` and the BRIN page types (`access/brin_page.h`): part of
/// [`super::layout`].
pub mod layout {
    /// `BrinSpecialSpace`: size; its last uint16 is the page type, the one before the flags.
    pub const BRIN_SPECIAL_SIZE: usize = 8;
    pub const BRIN_FLAGS: usize = 4;
    pub const BRIN_TYPE: usize = 6;
    pub const BRIN_PAGETYPE_META: u16 = 0xF091;
    pub const BRIN_PAGETYPE_REVMAP: u16 = 0xF092;
    pub const BRIN_PAGETYPE_REGULAR: u16 = 0xF093;
    pub const BRIN_EVACUATE_PAGE: u16 = 1 << 0;
}

use layout::*;

/// `REVMAP_PAGE_MAXITEMS`: ranges one range-map page maps (an `ItemPointerData`, 6 bytes, each).
const REVMAP_PAGE_MAXITEMS: usize = (BLCKSZ - PAGE_HEADER - BRIN_SPECIAL_SIZE) / 6;

pub(super) struct Brin;

impl AccessMethod for Brin {
    #[inline(always)]
    fn classify(&self, p: &Page, _blkno: u32) -> PageStats {
        if p.special_flags(BRIN_FLAGS, BRIN_EVACUATE_PAGE, None)
            .is_none()
        {
            return corrupt();
        }
        match p.special_u16(BRIN_TYPE) {
            BRIN_PAGETYPE_META => only(PageKind::Meta),
            BRIN_PAGETYPE_REVMAP => only(PageKind::Revmap),
            BRIN_PAGETYPE_REGULAR => {
                let mut s = count_items_fast(p, false);
                s.kind = Some(PageKind::Leaf);
                s
            }
            _ => corrupt(),
        }
    }

    fn expected_pages(&self, a: &BloatAccum, f: &Fresh) -> f64 {
        // One summary tuple per range: metapage, range map, regular pages filled fully.
        let tuples = (a.live_items as f64 * f.scale).max(1.0);
        let revmap_pages = (tuples / REVMAP_PAGE_MAXITEMS as f64).ceil();
        1.0 + revmap_pages + pages_for(f.bytes, room(BRIN_SPECIAL_SIZE)).max(1.0)
    }
}
