//! The sums over the pages of one index ([`BloatAccum`]), how they travel between the processes
//! of a parallel exact scan, and the report's figures made from them ([`BloatResult`]).

use super::sample::ratio_ci;
use super::{expected_pages, Am, PageKind, PageStats, BLCKSZ};

/// How the free space of a B-tree leaf page is counted for `avg_leaf_density`, as the server's
/// pgstatindex counts it: up to PostgreSQL 17 with `PageGetFreeSpace` (less the line pointer a
/// new tuple would need), from 18 on with `PageGetExactFreeSpace` (4 bytes more per page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafFreeSpace {
    LessOneLinePointer,
    Exact,
}

/// Calls `$m!` with every plain counter of [`BloatAccum`], once, so the list cannot drift.
macro_rules! counters_fields {
    ($m:ident) => {
        $m!(
            pages_read,
            meta_pages,
            leaf_pages,
            internal_pages,
            empty_pages,
            deleted_pages,
            pending_pages,
            bitmap_pages,
            revmap_pages,
            overflow_pages,
            posting_tree_pages,
            corrupt_pages,
            live_items,
            dead_items,
            pending_items,
            free_bytes,
            leaf_free,
            leaf_usable,
            fragments,
            live_item_bytes,
            high_key_bytes,
            high_keys,
            internal_item_bytes,
            internal_items,
            gin_pending_tuples,
            posting_leaf_pages,
            posting_leaf_bytes,
            posting_leaf_free,
            posting_trees,
            hash_chain_bytes,
            hash_chained_buckets
        )
    };
}

/// Number of plain counters in [`BloatAccum`] (see [`BloatAccum::counters`]).
pub const COUNTERS: usize = 31;

/// Sums over the pages read.
#[derive(Debug, Clone, Default)]
pub struct BloatAccum {
    pub pages_read: u64,
    pub meta_pages: u64,
    pub leaf_pages: u64,
    pub internal_pages: u64,
    pub empty_pages: u64,
    pub deleted_pages: u64,
    pub pending_pages: u64,
    pub bitmap_pages: u64,
    pub revmap_pages: u64,
    pub overflow_pages: u64,
    pub posting_tree_pages: u64,
    pub corrupt_pages: u64,
    pub live_items: u64,
    pub dead_items: u64,
    pub pending_items: u64,
    pub free_bytes: u64,
    pub leaf_free: u64,
    pub leaf_usable: u64,
    pub fragments: u64,
    pub live_item_bytes: u64,
    pub high_key_bytes: u64,
    pub high_keys: u64,
    pub internal_item_bytes: u64,
    pub internal_items: u64,
    pub gin_pending_tuples: u64,
    /// GIN posting-tree leaf pages (compressed TID lists), apart from entry-tree leaves.
    pub posting_leaf_pages: u64,
    pub posting_leaf_bytes: u64,
    pub posting_leaf_free: u64,
    pub posting_trees: u64,
    /// Hash: live item bytes on pages of bucket chains (see [`PageStats::hash_chained`]), and
    /// bucket pages that start such a chain: what a sampled scan sizes the overflow pages of a
    /// fresh build from.
    pub hash_chain_bytes: u64,
    pub hash_chained_buckets: u64,
    /// GIN posting-tree leaves as (block, right sibling, data bytes), to rebuild each tree's
    /// size when every page was read.
    pub posting_chain: Vec<(u32, u32, u64)>,
    /// Hash: live item bytes per bucket (bucket and overflow pages), when every page is read.
    pub hash_bucket_bytes: std::collections::BTreeMap<u32, u64>,
    /// GiST: a rebuild would insert tuple by tuple (some key has no sort support, or
    /// `buffering = on`), not sort them.
    pub gist_insertion_build: bool,
    /// Name of the operator class's first support function (GiST `consistent`, SP-GiST
    /// `config`): picks the measured fresh fill of that operator class (see
    /// [`opclass_fill`](super::opclass_fill)).
    pub opclass_fn: String,
    /// Block of the page being added (set by the caller before [`BloatAccum::add`]).
    pub current_block: u32,
    /// Per leaf page (used, usable) for the sampled confidence interval; kept only when
    /// `collect_samples` is set (sampled scans).
    pub leaf_samples: Vec<(f64, f64)>,
    pub collect_samples: bool,
}

impl BloatAccum {
    pub fn add(&mut self, s: &PageStats) {
        self.pages_read += 1;
        if s.corrupt {
            self.corrupt_pages += 1;
            return;
        }
        self.free_bytes += s.free_bytes;
        self.live_items += s.live_items;
        self.dead_items += s.dead_items;
        self.internal_item_bytes += s.internal_item_bytes;
        self.internal_items += s.internal_items;
        if s.posting_tree {
            self.posting_tree_pages += 1;
        }
        match s.kind {
            Some(PageKind::Meta) => {
                self.meta_pages += 1;
                // An index has one metapage: a sampled GIN scan reads it once for the pending
                // totals and may meet it again in the sample, so its totals are kept, not summed.
                self.gin_pending_tuples = self.gin_pending_tuples.max(s.gin_pending_tuples);
            }
            Some(PageKind::Leaf) => {
                self.leaf_pages += 1;
                self.leaf_free += s.free_bytes;
                self.leaf_usable += s.usable_bytes;
                self.live_item_bytes += s.live_item_bytes;
                if s.high_key_bytes > 0 {
                    self.high_key_bytes += s.high_key_bytes;
                    self.high_keys += 1;
                }
                if s.fragmented {
                    self.fragments += 1;
                }
                if s.hash_overflow {
                    self.overflow_pages += 1;
                }
                if s.hash_chained {
                    self.hash_chain_bytes += s.live_item_bytes;
                    self.hash_chained_buckets += u64::from(!s.hash_overflow);
                }
                if let Some(b) = s.hash_bucket {
                    *self.hash_bucket_bytes.entry(b).or_default() += s.live_item_bytes;
                }
                if s.posting_tree {
                    self.posting_leaf_pages += 1;
                    self.posting_leaf_bytes += s.live_item_bytes;
                    self.posting_leaf_free += s.free_bytes;
                    if s.posting_tree_end {
                        self.posting_trees += 1;
                    }
                    self.posting_chain.push((
                        self.current_block,
                        s.posting_rightlink,
                        s.live_item_bytes,
                    ));
                }
                if self.collect_samples {
                    self.leaf_samples.push((
                        s.usable_bytes.saturating_sub(s.free_bytes) as f64,
                        s.usable_bytes as f64,
                    ));
                }
            }
            Some(PageKind::Internal) => self.internal_pages += 1,
            Some(PageKind::Deleted) => self.deleted_pages += 1,
            Some(PageKind::Empty) => self.empty_pages += 1,
            Some(PageKind::Pending) => {
                self.pending_pages += 1;
                self.pending_items += s.live_items;
                self.live_items -= s.live_items;
                self.live_item_bytes += s.live_item_bytes;
            }
            Some(PageKind::Bitmap) => self.bitmap_pages += 1,
            Some(PageKind::Revmap) => self.revmap_pages += 1,
            None => {}
        }
    }

    /// The plain sums as one array, to carry an accumulator to another process (parallel exact
    /// scans). Lists (GIN posting chains, hash bucket bytes, samples) are not in it: see
    /// [`Am::counters_only`].
    pub fn counters(&self) -> [u64; COUNTERS] {
        macro_rules! list {
            ($($f:ident),*) => { [$(self.$f),*] };
        }
        counters_fields!(list)
    }

    /// Adds another accumulator's [`BloatAccum::counters`] to these sums.
    pub fn add_counters(&mut self, c: &[u64; COUNTERS]) {
        macro_rules! add {
            ($($f:ident),*) => {{
                let mut i = 0;
                // Saturating: the entries come from shared memory, never let them overflow.
                $( self.$f = self.$f.saturating_add(c[i]); i += 1; )*
                debug_assert_eq!(i, COUNTERS);
            }};
        }
        counters_fields!(add)
    }

    /// The lists of an exact scan as fixed-size entries, to carry them to another process: a
    /// GIN posting-tree leaf `[0, block | right sibling << 32, bytes]`, a hash bucket's bytes
    /// `[1, bucket, bytes]`. Never more entries than pages read.
    pub fn list_entries(&self) -> Vec<[u64; 3]> {
        let chain = self
            .posting_chain
            .iter()
            .map(|&(b, r, n)| [0, b as u64 | (r as u64) << 32, n]);
        let buckets = self
            .hash_bucket_bytes
            .iter()
            .map(|(&b, &n)| [1, b as u64, n]);
        chain.chain(buckets).collect()
    }

    /// Adds one entry of another accumulator's [`BloatAccum::list_entries`]; an entry of an
    /// unknown kind is ignored.
    pub fn add_list_entry(&mut self, e: [u64; 3]) {
        match e[0] {
            0 => self
                .posting_chain
                .push((e[1] as u32, (e[1] >> 32) as u32, e[2])),
            1 => {
                let b = self.hash_bucket_bytes.entry(e[1] as u32).or_default();
                *b = b.saturating_add(e[2]);
            }
            _ => {}
        }
    }

    /// Adds everything another accumulator gathered (over other pages of the same index).
    pub fn merge(&mut self, o: &BloatAccum) {
        self.add_counters(&o.counters());
        self.posting_chain.extend_from_slice(&o.posting_chain);
        for (b, v) in &o.hash_bucket_bytes {
            let mine = self.hash_bucket_bytes.entry(*b).or_default();
            *mine = mine.saturating_add(*v);
        }
        self.leaf_samples.extend_from_slice(&o.leaf_samples);
    }

    /// Share of a leaf page that live tuples fill in a fresh build, for the access methods
    /// built by splitting: GiST (PostgreSQL 15's sorted build, which gathers four pages' worth
    /// of tuples at the fillfactor and lets picksplit spread them, ~68% at fillfactor 90;
    /// without sort support, by operator class) and SP-GiST (by operator class, at fillfactor
    /// 80). 1.0 for the others, whose expected size is computed, not measured.
    pub fn fresh_leaf_fill(&self, am: Am) -> f64 {
        am.method().fresh_leaf_fill(self)
    }

    /// Turns the sums into report figures. `total_pages` is the index's size in blocks; when
    /// fewer pages were read (`sampled`), counts are scaled up by total / read. A B-tree's
    /// leaf density counts free space as pgstatindex up to PostgreSQL 17 does.
    pub fn finish(&self, am: Am, total_pages: u64, fillfactor: u32, sampled: bool) -> BloatResult {
        self.finish_with(
            am,
            total_pages,
            fillfactor,
            sampled,
            LeafFreeSpace::LessOneLinePointer,
        )
    }

    /// [`finish`](Self::finish), with a B-tree's leaf free space counted as `free` says (the
    /// server's pgstatindex does it one way or the other, and `avg_leaf_density` follows it).
    pub fn finish_with(
        &self,
        am: Am,
        total_pages: u64,
        fillfactor: u32,
        sampled: bool,
        free: LeafFreeSpace,
    ) -> BloatResult {
        let scale = if sampled && self.pages_read > 0 {
            total_pages as f64 / self.pages_read as f64
        } else {
            1.0
        };
        let sc = |v: u64| (v as f64 * scale).round() as u64;
        // Each leaf page counted its free space less one line pointer (PageGetFreeSpace); the
        // exact count has that line pointer's bytes free again, in the sums and the samples.
        let exact = am == Am::Btree && free == LeafFreeSpace::Exact;
        let line_pointer = super::page::layout::ITEM_ID_SIZE as u64;
        let leaf_free = if exact {
            self.leaf_free + self.leaf_pages * line_pointer
        } else {
            self.leaf_free
        };
        let density = if self.leaf_usable > 0 {
            Some(100.0 * (1.0 - leaf_free as f64 / self.leaf_usable as f64))
        } else {
            None
        };
        let fragmentation = am.method().leaf_fragmentation(self);
        let ci = if sampled {
            if exact {
                let samples: Vec<(f64, f64)> = (self.leaf_samples.iter())
                    .map(|&(used, usable)| ((used - line_pointer as f64).max(0.0), usable))
                    .collect();
                ratio_ci(&samples, total_pages, self.pages_read)
            } else {
                ratio_ci(&self.leaf_samples, total_pages, self.pages_read)
            }
        } else {
            None
        };
        let expected_pages = expected_pages(am, self, scale, fillfactor);
        let index_bytes = total_pages.saturating_mul(BLCKSZ as u64);
        let expected_bytes = expected_pages.saturating_mul(BLCKSZ as u64);
        BloatResult {
            total_pages,
            leaf_pages: sc(self.leaf_pages),
            internal_pages: sc(self.internal_pages),
            empty_pages: sc(self.empty_pages),
            deleted_pages: sc(self.deleted_pages),
            live_items: sc(self.live_items),
            dead_items: sc(self.dead_items),
            avg_leaf_density: density,
            leaf_fragmentation: fragmentation,
            free_bytes: sc(self.free_bytes),
            expected_bytes,
            reclaimable_bytes: index_bytes.saturating_sub(expected_bytes),
            bloat_ratio: if expected_bytes > 0 {
                Some(index_bytes as f64 / expected_bytes as f64)
            } else {
                None
            },
            density_ci: ci,
            meta_pages: sc(self.meta_pages),
            pending_pages: sc(self.pending_pages),
            pending_items: sc(self.pending_items),
            bitmap_pages: sc(self.bitmap_pages),
            revmap_pages: sc(self.revmap_pages),
            overflow_pages: sc(self.overflow_pages),
            posting_tree_pages: sc(self.posting_tree_pages),
            corrupt_pages: sc(self.corrupt_pages),
            gin_pending_tuples: self.gin_pending_tuples,
        }
    }
}

/// The report's figures for one index.
#[derive(Debug, Clone, PartialEq)]
pub struct BloatResult {
    pub total_pages: u64,
    pub leaf_pages: u64,
    pub internal_pages: u64,
    pub empty_pages: u64,
    pub deleted_pages: u64,
    pub live_items: u64,
    pub dead_items: u64,
    pub avg_leaf_density: Option<f64>,
    pub leaf_fragmentation: Option<f64>,
    pub free_bytes: u64,
    pub expected_bytes: u64,
    pub reclaimable_bytes: u64,
    pub bloat_ratio: Option<f64>,
    pub density_ci: Option<(f64, f64)>,
    pub meta_pages: u64,
    pub pending_pages: u64,
    pub pending_items: u64,
    pub bitmap_pages: u64,
    pub revmap_pages: u64,
    pub overflow_pages: u64,
    pub posting_tree_pages: u64,
    pub corrupt_pages: u64,
    pub gin_pending_tuples: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bloat::btree::bt_special;
    use crate::bloat::layout::*;
    use crate::bloat::page::test_pages::{page, special_with_id};
    use crate::bloat::{classify_page, LP_DEAD, LP_NORMAL, PAGE_HEADER};

    #[test]
    fn accum_density_and_fragmentation() {
        let mut a = BloatAccum::default();
        let leaf1 = page(16, &[(16, LP_NORMAL), (3000, LP_NORMAL)], &bt_special(9, 1));
        let leaf2 = page(16, &[(16, LP_NORMAL)], &bt_special(0, 1));
        a.add(&classify_page(
            Am::Btree,
            0,
            &page(16, &[], &bt_special(0, 8)),
        ));
        a.add(&classify_page(Am::Btree, 1, &leaf1));
        a.add(&classify_page(Am::Btree, 2, &leaf2));
        let r = a.finish(Am::Btree, 3, 90, false);
        assert_eq!(r.leaf_pages, 2);
        assert_eq!(r.meta_pages, 1);
        assert_eq!(r.leaf_fragmentation, Some(0.0));
        let usable = 2.0 * (BLCKSZ - 16 - PAGE_HEADER) as f64;
        let free = (classify_page(Am::Btree, 1, &leaf1).free_bytes
            + classify_page(Am::Btree, 2, &leaf2).free_bytes) as f64;
        assert!((r.avg_leaf_density.unwrap() - 100.0 * (1.0 - free / usable)).abs() < 1e-9);
        assert!(r.density_ci.is_none(), "exact scans have no interval");
        // PostgreSQL 18's pgstatindex: each leaf page's free space counted exactly, one line
        // pointer (4 bytes) more per leaf page than PageGetFreeSpace; nothing else changes.
        let exact = a.finish_with(Am::Btree, 3, 90, false, LeafFreeSpace::Exact);
        let exact_free = free + 2.0 * 4.0;
        assert!(
            (exact.avg_leaf_density.unwrap() - 100.0 * (1.0 - exact_free / usable)).abs() < 1e-9
        );
        assert_eq!(exact.leaf_pages, r.leaf_pages);
        assert_eq!(exact.reclaimable_bytes, r.reclaimable_bytes);
    }

    #[test]
    fn exact_free_space_moves_the_sampled_interval_with_the_estimate() {
        // Ten sampled leaf pages of varied fill out of 100: the interval brackets the density
        // under either count, and the exact count lowers both by the same line pointers.
        let mut a = BloatAccum {
            collect_samples: true,
            ..Default::default()
        };
        for i in 0..10u16 {
            let items: Vec<(usize, u8)> = (0..(20 + 15 * i)).map(|_| (16, LP_NORMAL)).collect();
            a.add(&classify_page(
                Am::Btree,
                1 + u32::from(i),
                &page(16, &items, &bt_special(0, 1)),
            ));
        }
        for free in [LeafFreeSpace::LessOneLinePointer, LeafFreeSpace::Exact] {
            let r = a.finish_with(Am::Btree, 100, 90, true, free);
            let (lo, hi) = r.density_ci.expect("a sample has an interval");
            let d = r.avg_leaf_density.unwrap();
            assert!(lo <= d && d <= hi, "{free:?}: {lo} <= {d} <= {hi}");
        }
        let less = a.finish_with(Am::Btree, 100, 90, true, LeafFreeSpace::LessOneLinePointer);
        let exact = a.finish_with(Am::Btree, 100, 90, true, LeafFreeSpace::Exact);
        assert!(exact.avg_leaf_density.unwrap() < less.avg_leaf_density.unwrap());
        assert!(exact.density_ci.unwrap().0 < less.density_ci.unwrap().0);
    }

    #[test]
    fn counters_cover_every_sum() {
        // Fails to compile when a field is added to BloatAccum: decide whether it is a plain
        // counter (then list it in counters_fields!) or a list (then Am::counters_only).
        let BloatAccum {
            pages_read: _,
            meta_pages: _,
            leaf_pages: _,
            internal_pages: _,
            empty_pages: _,
            deleted_pages: _,
            pending_pages: _,
            bitmap_pages: _,
            revmap_pages: _,
            overflow_pages: _,
            posting_tree_pages: _,
            corrupt_pages: _,
            live_items: _,
            dead_items: _,
            pending_items: _,
            free_bytes: _,
            leaf_free: _,
            leaf_usable: _,
            fragments: _,
            live_item_bytes: _,
            high_key_bytes: _,
            high_keys: _,
            internal_item_bytes: _,
            internal_items: _,
            gin_pending_tuples: _,
            posting_leaf_pages: _,
            posting_leaf_bytes: _,
            posting_leaf_free: _,
            posting_trees: _,
            hash_chain_bytes: _,
            hash_chained_buckets: _,
            posting_chain: _,
            hash_bucket_bytes: _,
            gist_insertion_build: _,
            opclass_fn: _,
            current_block: _,
            leaf_samples: _,
            collect_samples: _,
        } = BloatAccum::default();
        let c: [u64; COUNTERS] = std::array::from_fn(|i| 1000 + i as u64);
        let mut a = BloatAccum::default();
        a.add_counters(&c);
        a.add_counters(&c);
        assert_eq!(a.counters(), std::array::from_fn(|i| 2 * c[i]));
    }

    /// Deals blocks 0..n to the participants in chunks of 16, in an irregular order, the way a
    /// parallel exact scan's shared counter hands them out.
    fn deal_in_chunks(n: u32, parts: &mut [BloatAccum], add: impl Fn(&mut BloatAccum, u32)) {
        let (mut next, mut turn) = (0u32, 0usize);
        while next < n {
            let chunk = next..(next + 16).min(n);
            next = chunk.end;
            turn = (turn * 5 + 1) % parts.len();
            chunk.for_each(|blk| add(&mut parts[turn], blk));
        }
    }

    #[test]
    fn split_scan_adds_up_to_the_serial_one() {
        // B-tree and GiST pages of every kind, in a shuffled order of blocks; the blocks are
        // dealt to 3 participants in chunks (as a parallel exact scan does), each sums its
        // own, and the counters added up must give the serial scan's figures exactly.
        let mut bt = Vec::new();
        for (i, flags) in [1u16, 1, 1 | 64, 2, 4, 16, 3, 1, 1, 1].iter().enumerate() {
            let items: Vec<(usize, u8)> = (0..(i * 37 % 200))
                .map(|k| {
                    (
                        16 + 8 * (k % 5),
                        if k % 11 == 3 { LP_DEAD } else { LP_NORMAL },
                    )
                })
                .collect();
            bt.push(page(16, &items, &bt_special((i as u32 * 7) % 13, *flags)));
        }
        let mut gist = Vec::new();
        for (i, flags) in [1u16, 17, 0, 2, 1, 1].iter().enumerate() {
            let mut sp = special_with_id(16, GIST_PAGE_ID_OFF, GIST_PAGE_ID);
            sp[12..14].copy_from_slice(&flags.to_le_bytes());
            let items: Vec<(usize, u8)> = (0..(i * 29 % 120))
                .map(|k| {
                    (
                        40 + 4 * (k % 3),
                        if k % 7 == 1 { LP_DEAD } else { LP_NORMAL },
                    )
                })
                .collect();
            gist.push(page(16, &items, &sp));
        }
        for (am, kinds) in [(Am::Btree, &bt), (Am::Gist, &gist)] {
            assert!(am.counters_only());
            let n = 500u32;
            let page_of = |blk: u32| &kinds[(blk as usize * 7 + blk as usize / 3) % kinds.len()];
            let add = |acc: &mut BloatAccum, blk: u32| {
                let b = page_of(blk);
                if !(am == Am::Btree && acc.add_btree_leaf(blk, b)) {
                    acc.current_block = blk;
                    acc.add(&classify_page(am, blk, b));
                }
            };
            let mut serial = BloatAccum::default();
            (0..n).for_each(|blk| add(&mut serial, blk));
            let mut parts = vec![BloatAccum::default(); 3];
            deal_in_chunks(n, &mut parts, add);
            let mut merged = BloatAccum::default();
            for p in &parts {
                merged.add_counters(&p.counters());
            }
            assert_eq!(merged.counters(), serial.counters());
            assert_eq!(
                format!("{:?}", merged.finish(am, n as u64, 90, false)),
                format!("{:?}", serial.finish(am, n as u64, 90, false))
            );
            assert!(serial.fragments > 0 || am != Am::Btree);
            let mut whole = BloatAccum::default();
            parts.iter().for_each(|p| whole.merge(p));
            assert_eq!(whole.counters(), serial.counters());
        }
        assert!(!Am::Gin.counters_only() && !Am::Hash.counters_only());
    }

    #[test]
    fn split_gin_and_hash_scans_carry_their_lists() {
        // GIN: a metapage, entry leaves, posting-tree leaves chained by right siblings; hash:
        // bucket and overflow pages of several buckets. Dealt to 3 participants in chunks, then
        // counters and list entries carried over: the same result as one process.
        let gin_posting = |right: u32, bytes: usize| {
            let mut sp = [0u8; 8];
            sp[0..4].copy_from_slice(&right.to_le_bytes());
            sp[6..8].copy_from_slice(&3u16.to_le_bytes()); // data | leaf
            let mut b = page(8, &[], &sp);
            // data pages keep their size in pd_lower
            b[12..14].copy_from_slice(&((PAGE_HEADER + 8 + bytes) as u16).to_le_bytes());
            b
        };
        let hash_page = |bucket: u32, flags: u16, n: usize| {
            let mut sp = special_with_id(16, HASH_PAGE_ID_OFF, HASHO_PAGE_ID);
            sp[8..12].copy_from_slice(&bucket.to_le_bytes());
            sp[12..14].copy_from_slice(&flags.to_le_bytes());
            let items: Vec<(usize, u8)> = (0..n).map(|_| (16, LP_NORMAL)).collect();
            page(16, &items, &sp)
        };
        let n = 300u32;
        for am in [Am::Gin, Am::Hash] {
            let page_of = |blk: u32| -> Vec<u8> {
                match am {
                    Am::Gin if blk == 0 => page(8, &[], &[0, 0, 0, 0, 0, 0, 8, 0]),
                    // a chain of posting leaves: blk -> blk + 3 -> ... ; last one rightmost
                    Am::Gin if blk.is_multiple_of(2) => gin_posting(
                        if blk + 3 < n { blk + 3 } else { u32::MAX },
                        100 + blk as usize,
                    ),
                    Am::Gin => page(8, &[(24, LP_NORMAL); 12], &[0, 0, 0, 0, 0, 0, 2, 0]),
                    _ if blk == 0 => page(16, &[], &{
                        let mut sp = special_with_id(16, HASH_PAGE_ID_OFF, HASHO_PAGE_ID);
                        sp[12..14].copy_from_slice(&8u16.to_le_bytes());
                        sp
                    }),
                    _ => hash_page(
                        blk % 17,
                        if blk.is_multiple_of(5) { 1 } else { 2 },
                        (blk % 40) as usize,
                    ),
                }
            };
            let add = |acc: &mut BloatAccum, blk: u32| {
                acc.current_block = blk;
                acc.add(&classify_page(am, blk, &page_of(blk)));
            };
            let mut serial = BloatAccum::default();
            (0..n).for_each(|blk| add(&mut serial, blk));
            assert!(!serial.posting_chain.is_empty() || am == Am::Hash);
            assert!(!serial.hash_bucket_bytes.is_empty() || am == Am::Gin);
            let mut parts = vec![BloatAccum::default(); 3];
            deal_in_chunks(n, &mut parts, add);
            let mut merged = parts[0].clone();
            let mut entries = 0;
            for p in &parts[1..] {
                merged.add_counters(&p.counters());
                for e in p.list_entries() {
                    merged.add_list_entry(e);
                    entries += 1;
                }
                assert!(p.list_entries().len() as u64 <= p.pages_read);
            }
            assert!(entries > 0);
            assert_eq!(merged.counters(), serial.counters());
            assert_eq!(merged.hash_bucket_bytes, serial.hash_bucket_bytes);
            let mut a = merged.posting_chain.clone();
            let mut b = serial.posting_chain.clone();
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b);
            assert_eq!(
                format!("{:?}", merged.finish(am, n as u64, 90, false)),
                format!("{:?}", serial.finish(am, n as u64, 90, false))
            );
        }
    }
}
