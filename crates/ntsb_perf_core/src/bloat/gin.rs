//! GIN: the special space, metapage fields and page flags, page classification (entry tree,
//! posting trees, pending list, metapage) and the size of a fresh build, with its measured
//! entry-leaf fill.

use super::page::{count_items_fast, PAGE_HEADER};
use super::{
    corrupt, internal_page, only, pages_for, room, scaled_internal, AccessMethod, BloatAccum,
    Fresh, Page, PageKind, PageStats,
};

/// `GinPageOpaqueData`, the fields of `GinMetaPageData` read, and the GIN page flags
/// (`access/gin_private.h`, `access/ginblock.h`): part of [`super::layout`].
pub mod layout {
    /// `GinPageOpaqueData`: size, offsets of rightlink and flags; `GinMetaPageData` offsets of
    /// nPendingPages and nPendingHeapTuples (from the end of the page header).
    pub const GIN_SPECIAL_SIZE: usize = 8;
    pub const GIN_RIGHTLINK: usize = 0;
    pub const GIN_FLAGS: usize = 6;
    pub const GIN_META_N_PENDING_PAGES: usize = 12;
    pub const GIN_META_N_PENDING_HEAP_TUPLES: usize = 16;
    pub const GIN_DATA: u16 = 1 << 0;
    pub const GIN_LEAF: u16 = 1 << 1;
    pub const GIN_DELETED: u16 = 1 << 2;
    pub const GIN_META: u16 = 1 << 3;
    pub const GIN_LIST: u16 = 1 << 4;
    pub const GIN_LIST_FULLROW: u16 = 1 << 5;
    pub const GIN_INCOMPLETE_SPLIT: u16 = 1 << 6;
    pub const GIN_COMPRESSED: u16 = 1 << 7;
}

use layout::*;

/// Known GIN page flags: a page with any other bit set is corrupt.
const GIN_KNOWN: u16 = GIN_DATA
    | GIN_LEAF
    | GIN_DELETED
    | GIN_META
    | GIN_LIST
    | GIN_LIST_FULLROW
    | GIN_INCOMPLETE_SPLIT
    | GIN_COMPRESSED;

/// Entry-tree leaves of a fresh build split by bytes as keys arrive in order: about half full,
/// more so when entries are large. The fill is `GIN_ENTRY_FRESH_FILL + GIN_ENTRY_FILL_PER_SIZE
/// × entry size / page` (at most `GIN_ENTRY_MAX_FILL`), a fit on the fresh builds the model
/// was first calibrated on (commit f85155c: the GIN indexes, `fastupdate = off`, of
/// `bench/fresh_builds.sql`'s tables `fresh.a` and `fresh.b`); the fitted points were not
/// recorded.
pub const GIN_ENTRY_FRESH_FILL: f64 = 0.51;
/// Slope of the entry-leaf fill in the entry size (see [`GIN_ENTRY_FRESH_FILL`], the same fit).
const GIN_ENTRY_FILL_PER_SIZE: f64 = 1.3;
/// Cap of the entry-leaf fill. Origin not recorded (there since the first version of the
/// model, commit f85155c).
const GIN_ENTRY_MAX_FILL: f64 = 0.9;

pub(super) struct Gin;

impl AccessMethod for Gin {
    #[inline(always)]
    fn classify(&self, p: &Page, _blkno: u32) -> PageStats {
        let Some(flags) = p.special_flags(GIN_FLAGS, GIN_KNOWN, None) else {
            return corrupt();
        };
        if flags & GIN_META != 0 {
            // GinMetaPageData follows the page header: head, tail, tailFreeSize,
            // nPendingPages, nPendingHeapTuples (int64) ...
            let pending_pages = p.u32_at(PAGE_HEADER + GIN_META_N_PENDING_PAGES) as u64;
            let at = PAGE_HEADER + GIN_META_N_PENDING_HEAP_TUPLES;
            let pending_tuples = p.u32_at(at) as u64 | (p.u32_at(at + 4) as u64) << 32;
            return PageStats {
                kind: Some(PageKind::Meta),
                gin_pending_pages: pending_pages,
                gin_pending_tuples: pending_tuples,
                ..Default::default()
            };
        }
        if flags & GIN_DELETED != 0 {
            return only(PageKind::Deleted);
        }
        if flags & GIN_LIST != 0 {
            let mut s = count_items_fast(p, false);
            s.kind = Some(PageKind::Pending);
            s
        } else if flags & GIN_DATA != 0 {
            // Posting tree page: no line pointers; data runs from the header to pd_lower.
            let used = p.lower().saturating_sub(PAGE_HEADER) as u64;
            let mut s = PageStats {
                posting_tree: true,
                ..Default::default()
            };
            if flags & GIN_LEAF != 0 {
                s.kind = Some(PageKind::Leaf);
                s.live_item_bytes = used;
                s.posting_rightlink = p.special_u32(GIN_RIGHTLINK);
                s.posting_tree_end = s.posting_rightlink == u32::MAX;
            } else {
                s.kind = Some(PageKind::Internal);
                s.internal_item_bytes = used;
            }
            s
        } else if flags & GIN_LEAF != 0 {
            let mut s = count_items_fast(p, false);
            s.kind = Some(PageKind::Leaf);
            s
        } else {
            internal_page(p)
        }
    }

    fn expected_pages(&self, a: &BloatAccum, f: &Fresh) -> f64 {
        // Entry-tree leaves and posting-tree leaves fill differently in a fresh build.
        let posting = a.posting_leaf_bytes as f64 * f.scale;
        let entry = (f.bytes - posting).max(0.0);
        // Posting trees are written full, but each tree's last leaf is partly
        // empty; entry leaves are split about in halves as the build inserts keys in order.
        let trees = (a.posting_trees as f64 * f.scale).round();
        // A posting tree is written into its root leaf while it fits (up to the whole
        // page); appending beyond that splits leaves at the fillfactor, the last leaf
        // holding the rest.
        let full = room(GIN_SPECIAL_SIZE);
        let tree_pages = |b: f64| {
            if b <= full {
                1.0
            } else {
                1.0 + ((b - full) / (full * f.fillfactor as f64 / 100.0)).ceil()
            }
        };
        let posting_leaves = if f.scale == 1.0 && !a.posting_chain.is_empty() {
            // Every page was read: size each posting tree on its own.
            posting_tree_sizes(&a.posting_chain)
                .into_iter()
                .map(|b| tree_pages(b as f64))
                .sum()
        } else if trees > 0.0 {
            trees * tree_pages(posting / trees)
        } else {
            pages_for(posting, full)
        };
        // Entry leaves split by bytes as keys arrive in order: about half full, more so
        // when entries are large (fit on the measured fresh builds: 0.51 + 1.3 t/page).
        let entries = (a.live_items as f64 * f.scale).max(1.0);
        let entry_fill = GIN_ENTRY_FRESH_FILL + GIN_ENTRY_FILL_PER_SIZE * (entry / entries) / full;
        let leaves =
            (pages_for(entry, full * entry_fill.min(GIN_ENTRY_MAX_FILL)) + posting_leaves).max(1.0);
        // The metapage, the leaves and the inner pages.
        1.0 + leaves + scaled_internal(a, leaves)
    }
}

/// Data bytes of each posting tree, from its leaves' right-sibling chains. Each leaf is counted
/// at most once, so damaged chains (cycles, chains running into each other) cost O(leaves).
pub fn posting_tree_sizes(chain: &[(u32, u32, u64)]) -> Vec<u64> {
    use std::collections::{HashMap, HashSet};
    let next: HashMap<u32, (u32, u64)> = chain.iter().map(|&(b, r, n)| (b, (r, n))).collect();
    let pointed: HashSet<u32> = chain.iter().map(|c| c.1).collect();
    let mut visited: HashSet<u32> = HashSet::with_capacity(next.len());
    let mut sizes = Vec::new();
    for &(start, _, _) in chain.iter().filter(|c| !pointed.contains(&c.0)) {
        let (mut blk, mut total) = (start, 0u64);
        if visited.contains(&start) {
            continue; // the same leaf listed twice
        }
        while let Some(&(r, n)) = next.get(&blk) {
            if !visited.insert(blk) {
                break; // a cycle, or another tree's leaves: corruption; stop here
            }
            total = total.saturating_add(n);
            blk = r;
        }
        sizes.push(total);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posting_trees_from_chains() {
        // tree A: 5 -> 9 -> end; tree B: 7 -> end
        let chain = [(9, u32::MAX, 300), (5, 9, 1000), (7, u32::MAX, 50)];
        let mut sizes = posting_tree_sizes(&chain);
        sizes.sort();
        assert_eq!(sizes, vec![50, 1300]);
    }
}
