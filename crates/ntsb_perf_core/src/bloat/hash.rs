//! Hash: the special space and page flags, page classification (figures as pgstathashindex's)
//! and the size of a fresh build, bucket by bucket as `_hash_init` lays it out.

use super::page::{count_items_fast, maxalign, ITEM_ID, PAGE_HEADER};
use super::{
    corrupt, empty, only, pages_for, room, AccessMethod, BloatAccum, Fresh, Page, PageKind,
    PageStats, BLCKSZ,
};

/// `HashPageOpaqueData` and the hash page flags (`access/hash.h`): part of [`super::layout`].
pub mod layout {
    /// `HashPageOpaqueData`: size, offsets of hasho_bucket, hasho_flag, hasho_page_id.
    pub const HASH_SPECIAL_SIZE: usize = 16;
    pub const HASH_NEXT: usize = 4;
    pub const HASH_BUCKET: usize = 8;
    pub const HASH_FLAG: usize = 12;
    pub const HASH_PAGE_ID_OFF: usize = 14;
    pub const HASHO_PAGE_ID: u16 = 0xFF80;
    pub const LH_UNUSED_PAGE: u16 = 0;
    pub const LH_OVERFLOW_PAGE: u16 = 1 << 0;
    pub const LH_BUCKET_PAGE: u16 = 1 << 1;
    pub const LH_BITMAP_PAGE: u16 = 1 << 2;
    pub const LH_META_PAGE: u16 = 1 << 3;
    pub const LH_BUCKET_BEING_POPULATED: u16 = 1 << 4;
    pub const LH_BUCKET_BEING_SPLIT: u16 = 1 << 5;
    pub const LH_BUCKET_NEEDS_SPLIT_CLEANUP: u16 = 1 << 6;
    pub const LH_PAGE_HAS_DEAD_TUPLES: u16 = 1 << 7;
    pub const LH_PAGE_TYPE: u16 = 0x0f;
}

use layout::*;

/// Known hash page flags: a page with any other bit set is corrupt.
const HASH_KNOWN: u16 = LH_PAGE_TYPE
    | LH_BUCKET_BEING_POPULATED
    | LH_BUCKET_BEING_SPLIT
    | LH_BUCKET_NEEDS_SPLIT_CLEANUP
    | LH_PAGE_HAS_DEAD_TUPLES;

/// Room for tuples on a hash page (`hashm_bsize`: the page minus header and special space).
pub const HASH_PAGE_SPACE: usize = BLCKSZ - PAGE_HEADER - HASH_SPECIAL_SIZE;

/// `_hash_init`'s `item_width`: `MAXALIGN(sizeof(IndexTupleData)) + MAXALIGN(sizeof(uint32)) +
/// sizeof(ItemIdData)`, the size of one entry (a hash code) it plans buckets for.
const ITEM_WIDTH: usize = maxalign(8) + maxalign(4) + ITEM_ID;
/// `_hash_init`'s floor on the tuples per bucket it plans for.
const MIN_FFACTOR: f64 = 10.0;
/// Pages of a fresh build besides the buckets and overflow pages: the metapage and one bitmap
/// page.
const FIXED_PAGES: f64 = 2.0;
/// Sampled scans: share of a page counted for the last page of each bucket chain. Origin not
/// recorded (introduced with the sampled sizing of overflow chains, commit 3b8cdfa, without a
/// measurement).
const CHAIN_END_FILL: f64 = 0.5;

pub(super) struct Hash;

impl AccessMethod for Hash {
    /// A hash index's new (all-zero) pages are unused bucket room, counted as such.
    fn new_page_free(&self) -> usize {
        HASH_PAGE_SPACE
    }

    #[inline(always)]
    fn classify(&self, p: &Page, _blkno: u32) -> PageStats {
        let page_id = Some((HASH_PAGE_ID_OFF, HASHO_PAGE_ID));
        let Some(flags) = p.special_flags(HASH_FLAG, HASH_KNOWN, page_id) else {
            return corrupt();
        };
        let page_type = flags & LH_PAGE_TYPE;
        match page_type {
            LH_META_PAGE => return only(PageKind::Meta),
            LH_BITMAP_PAGE => return only(PageKind::Bitmap),
            // An unused page counts as free space, a whole bucket page's worth (as
            // pgstathashindex counts it).
            LH_UNUSED_PAGE => return empty(HASH_PAGE_SPACE),
            LH_OVERFLOW_PAGE | LH_BUCKET_PAGE => {}
            _ => return corrupt(),
        }
        let mut s = count_items_fast(p, false);
        s.kind = Some(PageKind::Leaf);
        s.hash_overflow = page_type == LH_OVERFLOW_PAGE;
        s.hash_chained = s.hash_overflow || p.special_u32(HASH_NEXT) != u32::MAX;
        s.hash_bucket = Some(p.special_u32(HASH_BUCKET));
        s
    }

    /// pgstathashindex's free space: the exact gap, no line pointer set aside.
    fn leaf_free(&self, p: &Page) -> usize {
        p.upper().saturating_sub(p.lower())
    }

    fn expected_pages(&self, a: &BloatAccum, f: &Fresh) -> f64 {
        // _hash_init: buckets for the live tuples at the fill factor, rounded up to a
        // split point; plus the metapage and one bitmap page. Buckets whose keys do not
        // fit one page (duplicates) need overflow pages: counted per bucket when every
        // page was read, from the average otherwise.
        let tuples = (a.live_items as f64 * f.scale).max(1.0);
        let ffactor =
            ((BLCKSZ * f.fillfactor as usize / 100) as f64 / ITEM_WIDTH as f64).max(MIN_FFACTOR);
        let buckets = hash_total_buckets((tuples / ffactor).ceil().max(2.0) as u64) as f64;
        let cap = room(HASH_SPECIAL_SIZE);
        let overflow = if f.scale == 1.0 && !a.hash_bucket_bytes.is_empty() {
            fresh_bucket_bytes(&a.hash_bucket_bytes, buckets as u64)
                .values()
                .map(|&b| (pages_for(b as f64, cap) - 1.0).max(0.0))
                .sum()
        } else {
            // Sampled: duplicates pile into some buckets. The bytes on the sampled pages of
            // bucket chains, at full pages, plus half a page for the last page of each
            // chain (at least two pages a chain); the other buckets one page each.
            let per_bucket = f.bytes / buckets;
            let uniform = buckets * (pages_for(per_bucket, cap) - 1.0).max(0.0);
            let chained = (a.hash_chained_buckets as f64 * f.scale).min(buckets);
            let chain_pages = (a.hash_chain_bytes as f64 * f.scale / cap
                + CHAIN_END_FILL * chained)
                .max(2.0 * chained);
            uniform.max(chain_pages - chained)
        };
        FIXED_PAGES + buckets + overflow
    }
}

/// Live bytes per bucket of a fresh hash build of `fresh` buckets, from the bytes per bucket of
/// the index as it is (bucket number to bytes). A key's bucket keeps the low bits of its hash
/// code up to the index's `lowmask`, so when the fresh build's `highmask` is within them (a
/// fresh build of at most about half the buckets: after many deletions) every bucket lands on
/// one fresh bucket, as `_hash_hashkey2bucket` computes it; otherwise (where a fresh build would
/// split buckets, which needs the hash codes) the buckets are kept as they are.
pub fn fresh_bucket_bytes(
    current: &std::collections::BTreeMap<u32, u64>,
    fresh: u64,
) -> std::collections::BTreeMap<u64, u64> {
    // _hash_init: maxbucket = n - 1, highmask = pg_nextpower2_32(n + 1) - 1, lowmask = highmask >> 1
    let masks = |n: u64| {
        let high = n
            .saturating_add(1)
            .checked_next_power_of_two()
            .unwrap_or(1 << 63)
            - 1;
        (n.saturating_sub(1), high, high >> 1)
    };
    let now = current.keys().next_back().map_or(0, |&m| m as u64 + 1);
    let (_, _, low_now) = masks(now);
    let (max_f, high_f, low_f) = masks(fresh.max(2));
    let mut out = std::collections::BTreeMap::new();
    for (&b, &n) in current {
        let mut fb = b as u64;
        if high_f <= low_now {
            fb &= high_f;
            if fb > max_f {
                fb &= low_f;
            }
        }
        let e = out.entry(fb).or_insert(0u64);
        *e = e.saturating_add(n);
    }
    out
}

/// Buckets a hash index allocates for `wanted` buckets (`_hash_get_totalbuckets` of
/// `_hash_spareindex`): PostgreSQL grows the bucket array in split points, doubling up to 512
/// buckets, then each doubling in four phases (`HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE` = 10:
/// 640, 768, 896, 1024, 1280, ...).
pub fn hash_total_buckets(wanted: u64) -> u64 {
    let wanted = wanted.max(2);
    if wanted <= 512 {
        return wanted.next_power_of_two();
    }
    let group = 63 - (wanted - 1).leading_zeros() as u64; // 2^group < wanted <= 2^(group+1)
    let base = 1u64 << group;
    let phase = base / 4;
    base.saturating_add(phase.saturating_mul((wanted - base).div_ceil(phase)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_buckets_fold_into_a_smaller_fresh_build() {
        // 768 buckets now (highmask 1023, lowmask 511); a fresh build of 256 (highmask 511,
        // lowmask 255): bucket b goes to b & 511, then & 255 when above 255.
        let now: std::collections::BTreeMap<u32, u64> =
            (0..768).map(|b| (b, 10 + b as u64)).collect();
        let fresh = fresh_bucket_bytes(&now, 256);
        assert_eq!(fresh.len(), 256);
        assert_eq!(fresh.values().sum::<u64>(), now.values().sum::<u64>());
        // fresh bucket 5 gets 5, 261 (=5+256, > 255 after & 511), 517 (& 511 = 5)
        assert_eq!(fresh[&5], (10 + 5) + (10 + 261) + (10 + 517));
        // a fresh build as large or larger keeps the buckets
        assert_eq!(fresh_bucket_bytes(&now, 768).len(), 768);
        assert_eq!(fresh_bucket_bytes(&now, 4096).len(), 768);
    }

    #[test]
    fn hash_buckets_follow_split_points() {
        assert_eq!(hash_total_buckets(3), 4);
        assert_eq!(hash_total_buckets(512), 512);
        // _hash_spareindex(652) = 11, _hash_get_totalbuckets(11) = 768 (was taken as 1024)
        assert_eq!(hash_total_buckets(513), 640);
        assert_eq!(hash_total_buckets(652), 768);
        assert_eq!(hash_total_buckets(897), 1024);
        assert_eq!(hash_total_buckets(1024), 1024);
        assert_eq!(hash_total_buckets(1025), 1280);
        assert_eq!(hash_total_buckets(1281), 1536);
        assert_eq!(hash_total_buckets(2048), 2048);
    }
}
