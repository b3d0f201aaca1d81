//! B-tree (`nbtree`): the special space and page flags, page classification, the plain-leaf fast
//! path of exact scans ([`BloatAccum::add_btree_leaf`]) and the size of a fresh build. Figures
//! are pgstatindex's (see the definitions in [`super`]).

use super::page::layout::*;
use super::page::{
    count_items_fast, maxalign, packed_page_from_header, read_u16, read_u32, ItemId, ITEM_ID,
    MAXALIGN,
};
use super::{
    corrupt, internal_page, only, pages_for, room, upper_levels, AccessMethod, BloatAccum, Fresh,
    Page, PageKind, PageStats, LP_NORMAL, PAGE_HEADER,
};

/// `BTPageOpaqueData` and the B-tree page flags (`access/nbtree.h`): part of [`super::layout`].
pub mod layout {
    /// `BTPageOpaqueData`: size and offsets of btpo_next, btpo_level, btpo_flags.
    pub const BT_SPECIAL_SIZE: usize = 16;
    pub const BT_NEXT: usize = 4;
    pub const BT_LEVEL: usize = 8;
    pub const BT_FLAGS: usize = 12;
    pub const BTP_LEAF: u16 = 1 << 0;
    pub const BTP_ROOT: u16 = 1 << 1;
    pub const BTP_DELETED: u16 = 1 << 2;
    pub const BTP_META: u16 = 1 << 3;
    pub const BTP_HALF_DEAD: u16 = 1 << 4;
    pub const BTP_SPLIT_END: u16 = 1 << 5;
    pub const BTP_HAS_GARBAGE: u16 = 1 << 6;
    pub const BTP_INCOMPLETE_SPLIT: u16 = 1 << 7;
    pub const BTP_HAS_FULLXID: u16 = 1 << 8;
}

use layout::*;

/// Known B-tree page flags: a page with any other bit set is corrupt.
const BTP_KNOWN: u16 = BTP_LEAF
    | BTP_ROOT
    | BTP_DELETED
    | BTP_META
    | BTP_HALF_DEAD
    | BTP_SPLIT_END
    | BTP_HAS_GARBAGE
    | BTP_INCOMPLETE_SPLIT
    | BTP_HAS_FULLXID;

/// Fill of the upper levels of a fresh build: PostgreSQL's `BTREE_NONLEAF_FILLFACTOR` (70), a
/// constant of nbtree, not a measurement.
const NONLEAF_FILLFACTOR: u32 = 70;

pub(super) struct Btree;

impl AccessMethod for Btree {
    #[inline(always)]
    fn classify(&self, p: &Page, blkno: u32) -> PageStats {
        let next = p.special_u32(BT_NEXT);
        let level = p.special_u32(BT_LEVEL);
        let Some(flags) = p.special_flags(BT_FLAGS, BTP_KNOWN, None) else {
            return corrupt();
        };
        if flags & BTP_META != 0 {
            return only(PageKind::Meta);
        }
        if flags & BTP_DELETED != 0 {
            return only(PageKind::Deleted);
        }
        let leaf = flags & BTP_LEAF != 0;
        // Leaves are level 0, every other page above it.
        if leaf != (level == 0) {
            return corrupt();
        }
        if flags & BTP_HALF_DEAD != 0 {
            return only(PageKind::Empty);
        }
        if !leaf {
            return internal_page(p);
        }
        let rightmost = next == 0;
        // The high key is read even when the page is counted from its header.
        let hk = if rightmost { None } else { p.item(1) };
        if hk.is_some_and(|hk| hk.flags != LP_NORMAL || !p.item_ok(&hk)) {
            return corrupt();
        }
        let mut s = if flags & BTP_HAS_GARBAGE == 0 {
            packed_page_from_header(p, !rightmost)
                .unwrap_or_else(|| count_items_fast(p, !rightmost))
        } else {
            count_items_fast(p, !rightmost)
        };
        if s.corrupt {
            return s;
        }
        s.kind = Some(PageKind::Leaf);
        s.fragmented = !rightmost && next < blkno;
        if let Some(hk) = hk {
            s.high_key_bytes = (maxalign(hk.len) + ITEM_ID) as u64;
        }
        s
    }

    fn leaf_fragmentation(&self, a: &BloatAccum) -> Option<f64> {
        (a.leaf_pages > 0).then(|| 100.0 * a.fragments as f64 / a.leaf_pages as f64)
    }

    fn expected_pages(&self, a: &BloatAccum, f: &Fresh) -> f64 {
        // Leaves are filled until less than (100 - fillfactor)% of a page is free; every
        // leaf but the rightmost also carries a high key. Upper levels at 70%.
        let cap = room(BT_SPECIAL_SIZE) - leave_free(f.fillfactor);
        let hk = if a.high_keys > 0 {
            a.high_key_bytes as f64 / a.high_keys as f64
        } else {
            f.avg_downlink
        };
        let leaves = pages_for(f.bytes, cap - hk).max(1.0);
        let upper_cap = room(BT_SPECIAL_SIZE) - leave_free(NONLEAF_FILLFACTOR);
        1.0 + leaves + upper_levels(leaves, f.avg_downlink, upper_cap)
    }
}

/// Bytes a build leaves free on a page filled at fillfactor `ff` (as nbtree's
/// `BTGetTargetPageFreeSpace`).
fn leave_free(ff: u32) -> f64 {
    (BLCKSZ * (100 - ff.min(100) as usize) / 100) as f64
}

impl BloatAccum {
    /// The most common page of an exact B-tree scan, a sane leaf without LP_DEAD hints, added
    /// straight from its header: exactly what [`classify_page`](super::classify_page) then
    /// [`BloatAccum::add`] would add, without building a [`PageStats`] (P1 compares the whole
    /// scan with pgstatindex, which does almost nothing per page). `false`, with nothing
    /// added, for any other page: the caller then classifies it.
    #[inline]
    pub fn add_btree_leaf(&mut self, blkno: u32, b: &[u8]) -> bool {
        // The checks classify_page makes of such a page (sane header, B-tree special size,
        // known flags, level 0, a high key inside the tuple space), in as few branches.
        const NOT_PLAIN: u16 = BTP_DELETED | BTP_META | BTP_HALF_DEAD | BTP_HAS_GARBAGE;
        if b.len() != BLCKSZ {
            return false;
        }
        let u16_at = |o: usize| read_u16(b, o) as usize;
        let (lower, upper, special) = (u16_at(PD_LOWER), u16_at(PD_UPPER), u16_at(PD_SPECIAL));
        if upper == 0
            || lower < PAGE_HEADER
            || lower > upper
            || upper > special
            || special != BLCKSZ - BT_SPECIAL_SIZE
            || u16_at(PD_FLAGS) as u16 & !PD_VALID_FLAG_BITS != 0
            || u16_at(PD_PAGESIZE_VERSION) as u16 != BLCKSZ as u16 | PG_PAGE_LAYOUT_VERSION
        {
            return false;
        }
        let flags = u16_at(special + BT_FLAGS) as u16;
        if flags & BTP_LEAF == 0
            || flags & NOT_PLAIN != 0
            || flags & !BTP_KNOWN != 0
            || read_u32(b, special + BT_LEVEL) != 0
        {
            return false;
        }
        let next = read_u32(b, special + BT_NEXT);
        let n = (lower - PAGE_HEADER) / ITEM_ID;
        let high_key = next != 0 && n >= 1;
        let hk_bytes = if high_key {
            let hk = ItemId::from_raw(read_u32(b, PAGE_HEADER));
            if hk.flags != LP_NORMAL
                || hk.len == 0
                || hk.off < upper
                || hk.off + hk.len > special
                || !hk.off.is_multiple_of(MAXALIGN)
            {
                return false;
            }
            maxalign(hk.len)
        } else {
            0
        };
        let tuple_bytes = special - upper;
        if tuple_bytes < hk_bytes {
            return false;
        }
        let live = (n - usize::from(high_key)) as u64;
        let free = (upper - lower).saturating_sub(ITEM_ID) as u64;
        let usable = (special - PAGE_HEADER) as u64;
        self.pages_read += 1;
        self.leaf_pages += 1;
        self.free_bytes += free;
        self.leaf_free += free;
        self.leaf_usable += usable;
        self.live_items += live;
        self.live_item_bytes += (tuple_bytes - hk_bytes) as u64 + live * ITEM_ID as u64;
        if high_key {
            self.high_key_bytes += (hk_bytes + ITEM_ID) as u64;
            self.high_keys += 1;
        }
        if next != 0 && next < blkno {
            self.fragments += 1;
        }
        if self.collect_samples {
            self.leaf_samples
                .push((usable.saturating_sub(free) as f64, usable as f64));
        }
        true
    }
}

/// B-tree special space; pages that are neither leaves nor the metapage are level 1.
#[cfg(test)]
pub(super) fn bt_special(next: u32, flags: u16) -> Vec<u8> {
    let mut v = vec![0u8; 16];
    v[4..8].copy_from_slice(&next.to_le_bytes());
    let level = u32::from(flags & (BTP_LEAF | BTP_META) == 0);
    v[8..12].copy_from_slice(&level.to_le_bytes());
    v[12..14].copy_from_slice(&flags.to_le_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bloat::page::test_pages::page;
    use crate::bloat::{classify_page, expected_pages, Am, LP_DEAD};

    #[test]
    fn btree_leaf_fast_path_adds_what_classify_adds() {
        let mut pages = Vec::new();
        for &(next, flags) in &[
            (3u32, 1u16), // leaf, fragmented, high key
            (9, 1),       // leaf, not fragmented
            (0, 1),       // rightmost leaf: no high key
            (3, 1 | 64),  // leaf with LP_DEAD hints: not taken
            (3, 0),       // internal
            (0, 8),       // meta
            (3, 4),       // deleted
            (3, 16),      // half-dead
            (3, 1 | 2),   // leaf root
        ] {
            for items in [
                vec![
                    (16, LP_NORMAL),
                    (20, LP_NORMAL),
                    (24, LP_NORMAL),
                    (9, LP_NORMAL),
                ],
                vec![(16, LP_NORMAL)],
                vec![],
                vec![(16, LP_NORMAL), (20, LP_DEAD), (20, LP_NORMAL)],
            ] {
                pages.push(page(16, &items, &bt_special(next, flags)));
            }
        }
        // An all-zero page, a page with an inconsistent header, a page whose special space is
        // too short for B-tree's.
        pages.push(vec![0u8; BLCKSZ]);
        let mut bad = page(16, &[(16, LP_NORMAL)], &bt_special(3, 1));
        bad[14..16].copy_from_slice(&10u16.to_le_bytes());
        pages.push(bad);
        let mut short = page(16, &[(16, LP_NORMAL)], &bt_special(3, 1));
        short[16..18].copy_from_slice(&((BLCKSZ - 8) as u16).to_le_bytes());
        pages.push(short);
        for collect_samples in [false, true] {
            let mut fast = BloatAccum {
                collect_samples,
                ..Default::default()
            };
            let mut slow = fast.clone();
            let mut taken = 0;
            for (i, b) in pages.iter().enumerate() {
                let blk = 7 + i as u32 % 3;
                if fast.add_btree_leaf(blk, b) {
                    taken += 1;
                } else {
                    fast.current_block = blk;
                    fast.add(&classify_page(Am::Btree, blk, b));
                }
                slow.current_block = blk;
                slow.add(&classify_page(Am::Btree, blk, b));
            }
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
            assert_eq!(
                taken,
                4 * 4,
                "the plain leaves and the leaf root, not the others"
            );
        }
    }

    #[test]
    fn btree_leaf_counts_like_pgstatindex() {
        // leaf, right sibling at block 3 while we are block 7: fragmented; item 1 = high key.
        let b = page(
            16,
            &[
                (16, LP_NORMAL),
                (20, LP_NORMAL),
                (20, LP_DEAD),
                (20, LP_NORMAL),
            ],
            // leaf | BTP_HAS_GARBAGE: nbtree sets it whenever it marks an item LP_DEAD
            &bt_special(3, 1 | 64),
        );
        let s = classify_page(Am::Btree, 7, &b);
        assert_eq!(s.kind, Some(PageKind::Leaf));
        assert!(s.fragmented);
        assert_eq!((s.live_items, s.dead_items), (2, 1));
        assert_eq!(s.usable_bytes, (BLCKSZ - 16 - PAGE_HEADER) as u64);
        // free = upper - lower - 4
        let used = 16 + 3 * 24;
        assert_eq!(
            s.free_bytes,
            (BLCKSZ - 16 - used - (PAGE_HEADER + 16) - 4) as u64
        );
        assert_eq!(s.high_key_bytes, 20);
        // rightmost leaf: no high key, never fragmented
        let b = page(16, &[(16, LP_NORMAL)], &bt_special(0, 1));
        let s = classify_page(Am::Btree, 7, &b);
        assert!(!s.fragmented);
        assert_eq!(s.live_items, 1);
    }

    #[test]
    fn btree_leaf_header_count_agrees_with_line_pointers() {
        for n in [0usize, 1, 2, 57, 150] {
            let items: Vec<(usize, u8)> = (0..n).map(|i| (8 + (i * 7) % 41, LP_NORMAL)).collect();
            for next in [0u32, 9] {
                let b = page(16, &items, &bt_special(next, 1));
                let p = Page::new(&b).unwrap();
                let hk = next != 0;
                let walked = count_items_fast(&p, hk);
                let header = packed_page_from_header(&p, hk).unwrap();
                assert_eq!(
                    (walked.live_items, walked.live_item_bytes),
                    (header.live_items, header.live_item_bytes),
                    "{n} items, high key {hk}"
                );
                // classify_page takes the header path (no BTP_HAS_GARBAGE) and agrees too.
                assert_eq!(
                    classify_page(Am::Btree, 3, &b).live_items,
                    walked.live_items
                );
            }
        }
        // With BTP_HAS_GARBAGE the line pointers are walked and dead items are counted.
        let items = [(16, LP_NORMAL), (16, LP_DEAD), (24, LP_NORMAL)];
        let b = page(16, &items, &bt_special(0, 1 | 64));
        let s = classify_page(Am::Btree, 3, &b);
        assert_eq!((s.live_items, s.dead_items), (2, 1));
    }

    #[test]
    fn btree_special_pages() {
        assert_eq!(
            classify_page(Am::Btree, 0, &page(16, &[], &bt_special(0, 8))).kind,
            Some(PageKind::Meta)
        );
        assert_eq!(
            classify_page(Am::Btree, 5, &page(16, &[], &bt_special(0, 4))).kind,
            Some(PageKind::Deleted)
        );
        assert_eq!(
            classify_page(Am::Btree, 5, &page(16, &[], &bt_special(0, 16 | 1))).kind,
            Some(PageKind::Empty)
        );
        assert_eq!(
            classify_page(Am::Btree, 5, &vec![0u8; BLCKSZ]).kind,
            Some(PageKind::Empty)
        );
        let mut bad = page(16, &[], &bt_special(0, 1));
        bad[14..16].copy_from_slice(&(10u16).to_le_bytes()); // upper < lower
        assert!(classify_page(Am::Btree, 5, &bad).corrupt);
    }

    #[test]
    fn expected_btree_of_fresh_layout() {
        // 1000 leaves' worth of items at 90% fill: expected ~ 1000 leaves + a few upper pages.
        let mut a = BloatAccum::default();
        let cap = (BLCKSZ - PAGE_HEADER - 16) as u64 - (BLCKSZ as u64 * 10 / 100);
        a.live_item_bytes = 1000 * (cap - 24);
        a.high_key_bytes = 24 * 999;
        a.high_keys = 999;
        a.internal_item_bytes = 24 * 1000;
        a.internal_items = 1000;
        // metapage + 1000 leaves + ceil(1000 / 237 downlinks per 70%-full page) + root
        assert_eq!(expected_pages(Am::Btree, &a, 1.0, 90), 1 + 1000 + 5 + 1);
    }
}
