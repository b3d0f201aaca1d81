//! Deterministic fuzzing of the page parsers: random pages, and bit-flipped, truncated and
//! field-mutated versions of valid synthetic pages of every access method (built here the way
//! PostgreSQL lays them out). Nothing may panic or read out of bounds; valid pages must not be
//! called corrupt; the B-tree fast path must add exactly what classify_page + add add; the
//! arithmetic on the sums must stay finite and terminate whatever the sums are.

use super::*;

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }
    /// Fills `b` with random bytes, 8 at a time.
    fn fill(&mut self, b: &mut [u8]) {
        for c in b.chunks_mut(8) {
            let w = self.next().to_le_bytes();
            c.copy_from_slice(&w[..c.len()]);
        }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// A u16 that is often an edge value of a page field.
    fn field16(&mut self) -> u16 {
        const EDGES: [u16; 14] = [
            0, 1, 4, 8, 23, 24, 25, 28, 8167, 8176, 8184, 8191, 8192, 0xFFFF,
        ];
        if self.chance(60) {
            EDGES[self.below(EDGES.len() as u64) as usize]
        } else {
            self.next() as u16
        }
    }
}

/// A page as PageInit leaves it, with `special` at the end.
fn init_page(special: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; BLCKSZ];
    let sp = BLCKSZ - special.len();
    b[PD_LOWER..PD_LOWER + 2].copy_from_slice(&(PAGE_HEADER as u16).to_le_bytes());
    b[PD_UPPER..PD_UPPER + 2].copy_from_slice(&(sp as u16).to_le_bytes());
    b[PD_SPECIAL..PD_SPECIAL + 2].copy_from_slice(&(sp as u16).to_le_bytes());
    b[PD_PAGESIZE_VERSION..PD_PAGESIZE_VERSION + 2]
        .copy_from_slice(&(BLCKSZ as u16 | PG_PAGE_LAYOUT_VERSION).to_le_bytes());
    b[sp..].copy_from_slice(special);
    b
}

fn get16(b: &[u8], o: usize) -> usize {
    u16::from_le_bytes([b[o], b[o + 1]]) as usize
}

fn set16(b: &mut [u8], o: usize, v: usize) {
    b[o..o + 2].copy_from_slice(&(v as u16).to_le_bytes());
}

/// PageAddItem: a tuple of `len` bytes (first word `word`) below pd_upper, its line pointer
/// after the last one. `false` when it does not fit.
fn add_item(b: &mut [u8], len: usize, flags: u8, word: u32) -> bool {
    let (lower, upper) = (get16(b, PD_LOWER), get16(b, PD_UPPER));
    let size = maxalign(len);
    if lower + ITEM_ID + size > upper {
        return false;
    }
    let off = upper - size;
    b[off..off + len].fill(0x5A);
    b[off..off + 4].copy_from_slice(&word.to_le_bytes());
    let raw = off as u32 | (flags as u32) << 15 | (len as u32) << 17;
    b[lower..lower + ITEM_ID].copy_from_slice(&raw.to_le_bytes());
    set16(b, PD_LOWER, lower + ITEM_ID);
    set16(b, PD_UPPER, off);
    true
}

fn fill_items(r: &mut Rng, b: &mut [u8], max: usize, len: (usize, usize), dead_pct: u64) {
    for _ in 0..r.range(0, max) {
        let flags = if r.chance(dead_pct) {
            LP_DEAD
        } else {
            LP_NORMAL
        };
        let word = if r.chance(20) { r.below(4) as u32 } else { 0 };
        if !add_item(b, r.range(len.0, len.1), flags, word) {
            break;
        }
    }
}

fn special16(pairs: &[(usize, u16)], words: &[(usize, u32)], size: usize) -> Vec<u8> {
    let mut v = vec![0u8; size];
    for &(o, x) in pairs {
        v[o..o + 2].copy_from_slice(&x.to_le_bytes());
    }
    for &(o, x) in words {
        v[o..o + 4].copy_from_slice(&x.to_le_bytes());
    }
    v
}

/// A valid page of `am`, of a random kind.
fn valid_page(r: &mut Rng, am: Am) -> Vec<u8> {
    match am {
        Am::Btree => {
            let next = if r.chance(30) {
                0
            } else {
                r.below(500) as u32 + 1
            };
            match r.below(10) {
                0 => {
                    let mut b = init_page(&special16(&[(BT_FLAGS, BTP_META)], &[], 16));
                    set16(&mut b, PD_LOWER, PAGE_HEADER + 56);
                    b
                }
                1 => init_page(&special16(
                    &[(BT_FLAGS, BTP_DELETED | BTP_HAS_FULLXID)],
                    &[(BT_NEXT, next), (BT_LEVEL, r.below(3) as u32)],
                    16,
                )),
                2 => {
                    let level = r.range(1, 4) as u32;
                    let mut b = init_page(&special16(
                        &[(BT_FLAGS, 0)],
                        &[(BT_NEXT, next), (BT_LEVEL, level)],
                        16,
                    ));
                    fill_items(r, &mut b, 400, (8, 40), 0);
                    b
                }
                k => {
                    let garbage = k == 3;
                    let mut flags = BTP_LEAF;
                    if garbage {
                        flags |= BTP_HAS_GARBAGE;
                    }
                    if k == 4 {
                        flags |= BTP_HALF_DEAD;
                    }
                    if next == 0 && r.chance(30) {
                        flags |= BTP_ROOT;
                    }
                    let mut b = init_page(&special16(&[(BT_FLAGS, flags)], &[(BT_NEXT, next)], 16));
                    if next != 0 {
                        add_item(&mut b, r.range(8, 64), LP_NORMAL, 0); // high key
                    }
                    fill_items(r, &mut b, 600, (8, 48), if garbage { 20 } else { 0 });
                    b
                }
            }
        }
        Am::Gist => {
            let kind = r.below(4);
            let mut flags = match kind {
                0 => F_DELETED,
                1 => 0,
                _ => F_LEAF,
            };
            if kind == 3 {
                flags |= F_HAS_GARBAGE;
            }
            let mut b = init_page(&special16(
                &[(GIST_FLAGS, flags), (GIST_PAGE_ID_OFF, GIST_PAGE_ID)],
                &[(8, r.below(100) as u32)],
                16,
            ));
            if kind != 0 {
                fill_items(r, &mut b, 300, (16, 80), if kind == 3 { 25 } else { 0 });
            }
            b
        }
        Am::Spgist => {
            let flags = [
                SPGIST_META,
                SPGIST_DELETED,
                SPGIST_LEAF,
                0,
                SPGIST_LEAF | SPGIST_NULLS,
            ][r.below(5) as usize];
            let mut b = init_page(&special16(
                &[(SPGIST_FLAGS, flags), (SPGIST_PAGE_ID_OFF, SPGIST_PAGE_ID)],
                &[],
                8,
            ));
            if flags & (SPGIST_META | SPGIST_DELETED) == 0 {
                fill_items(r, &mut b, 300, (12, 60), 0);
            }
            b
        }
        Am::Gin => {
            let right = if r.chance(30) {
                u32::MAX
            } else {
                r.below(1000) as u32
            };
            let flags = [
                GIN_META,
                GIN_LEAF,
                0,
                GIN_DATA | GIN_LEAF | GIN_COMPRESSED,
                GIN_DATA,
                GIN_LIST,
                GIN_LIST | GIN_LIST_FULLROW,
                GIN_DELETED | GIN_LEAF,
            ][r.below(8) as usize];
            let mut b = init_page(&special16(
                &[(GIN_FLAGS, flags)],
                &[(GIN_RIGHTLINK, right)],
                8,
            ));
            if flags == GIN_META {
                set16(&mut b, PD_LOWER, PAGE_HEADER + 64);
                let at = PAGE_HEADER + GIN_META_N_PENDING_HEAP_TUPLES;
                b[at..at + 8].copy_from_slice(&r.next().to_le_bytes());
            } else if flags & GIN_DATA != 0 {
                // compressed posting lists up to pd_lower
                let used = r.range(8, BLCKSZ - PAGE_HEADER - 8 - 8);
                set16(&mut b, PD_LOWER, PAGE_HEADER + used);
                r.fill(&mut b[PAGE_HEADER..PAGE_HEADER + used]);
            } else if flags & GIN_DELETED == 0 {
                fill_items(r, &mut b, 300, (12, 200), 0);
            }
            b
        }
        Am::Hash => {
            let page_type = [
                LH_META_PAGE,
                LH_BITMAP_PAGE,
                LH_BUCKET_PAGE,
                LH_OVERFLOW_PAGE,
                LH_UNUSED_PAGE,
            ][r.below(5) as usize];
            let mut flags = page_type;
            if page_type == LH_BUCKET_PAGE && r.chance(30) {
                flags |= LH_PAGE_HAS_DEAD_TUPLES | LH_BUCKET_BEING_SPLIT;
            }
            let mut b = init_page(&special16(
                &[(HASH_FLAG, flags), (HASH_PAGE_ID_OFF, HASHO_PAGE_ID)],
                &[(HASH_BUCKET, r.below(64) as u32), (4, r.below(100) as u32)],
                16,
            ));
            if matches!(page_type, LH_BUCKET_PAGE | LH_OVERFLOW_PAGE) {
                fill_items(r, &mut b, 500, (16, 16), 10);
            }
            b
        }
        Am::Brin => {
            let ty = [
                BRIN_PAGETYPE_META,
                BRIN_PAGETYPE_REVMAP,
                BRIN_PAGETYPE_REGULAR,
            ][r.below(3) as usize];
            let mut b = init_page(&special16(&[(BRIN_TYPE, ty)], &[], 8));
            if ty == BRIN_PAGETYPE_REGULAR {
                fill_items(r, &mut b, 200, (16, 120), 0);
            }
            b
        }
    }
}

/// One random damage to a copy of `valid`.
fn mutate(r: &mut Rng, valid: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    match r.below(9) {
        0 => r.fill(&mut b),
        1 => {
            for _ in 0..r.range(1, 16) {
                let bit = r.below((BLCKSZ * 8) as u64) as usize;
                b[bit / 8] ^= 1 << (bit % 8);
            }
        }
        2 => {
            let len = if r.chance(80) {
                r.range(0, BLCKSZ - 1)
            } else {
                r.range(BLCKSZ + 1, BLCKSZ + 64)
            };
            b.resize(len, 0xA5);
        }
        3 => {
            // a header field: flags, lower, upper, special, pagesize_version
            let field = [
                PD_FLAGS,
                PD_LOWER,
                PD_UPPER,
                PD_SPECIAL,
                PD_PAGESIZE_VERSION,
            ][r.below(5) as usize];
            let v = r.field16();
            b[field..field + 2].copy_from_slice(&v.to_le_bytes());
        }
        4 => {
            // a field of the special space (or just before it)
            let at = r.range(BLCKSZ - 24, BLCKSZ - 2);
            let v = r.field16();
            b[at..at + 2].copy_from_slice(&v.to_le_bytes());
        }
        5 => {
            // a line pointer
            let n = get16(&b, PD_LOWER).saturating_sub(PAGE_HEADER) / ITEM_ID;
            let i = r.below(n.max(1) as u64) as usize;
            let at = (PAGE_HEADER + i * ITEM_ID).min(BLCKSZ - 4);
            let raw = if r.chance(50) {
                r.next() as u32
            } else {
                // plausible: normal flag, edge offset and length
                (r.field16() as u32 & 0x7fff) | 1 << 15 | (r.field16() as u32 & 0x7fff) << 17
            };
            b[at..at + 4].copy_from_slice(&raw.to_le_bytes());
        }
        6 => {
            // a run of bytes overwritten with 0xFF, 0x00 or noise
            let start = r.range(0, BLCKSZ - 1);
            let end = (start + r.range(1, 64)).min(BLCKSZ);
            let fill = [0xFFu8, 0x00, r.next() as u8][r.below(3) as usize];
            b[start..end].fill(fill);
        }
        7 => {
            // an all-zero page with a few stray bytes
            b.fill(0);
            for _ in 0..r.range(0, 3) {
                let at = r.range(0, BLCKSZ - 1);
                b[at] = r.next() as u8;
            }
        }
        _ => {
            // several fields at once
            for _ in 0..r.range(2, 5) {
                let at = r.range(0, BLCKSZ - 2);
                let v = r.field16();
                b[at..at + 2].copy_from_slice(&v.to_le_bytes());
            }
        }
    }
    b
}

/// What any page's figures must respect.
fn check_stats(s: &PageStats, len: usize) {
    if s.corrupt {
        assert_eq!(
            s,
            &PageStats {
                corrupt: true,
                ..Default::default()
            },
            "a corrupt page contributes nothing"
        );
        return;
    }
    assert_eq!(len, BLCKSZ);
    assert!(s.kind.is_some());
    let max_items = ((BLCKSZ - PAGE_HEADER) / ITEM_ID) as u64;
    assert!(s.live_items + s.dead_items + s.internal_items <= max_items);
    assert!(s.free_bytes <= BLCKSZ as u64 && s.usable_bytes <= BLCKSZ as u64);
    assert!(s.live_item_bytes <= BLCKSZ as u64 && s.internal_item_bytes <= BLCKSZ as u64);
    assert!(s.high_key_bytes <= BLCKSZ as u64);
}

/// The B-tree fast path adds exactly what classify_page + add would, or declines.
fn check_btree_fast_path(blk: u32, b: &[u8]) {
    let mut fast = BloatAccum::default();
    let mut slow = BloatAccum::default();
    let classified = classify_page(Am::Btree, blk, b);
    if fast.add_btree_leaf(blk, b) {
        assert!(!classified.corrupt && classified.kind == Some(PageKind::Leaf));
        slow.add(&classified);
        assert_eq!(fast.counters(), slow.counters());
    } else {
        assert_eq!(fast.counters(), [0; COUNTERS], "declined pages add nothing");
    }
}

fn finish_everything(r: &mut Rng, acc: &BloatAccum) {
    for am in Am::ALL {
        let total = [0, 1, r.below(1 << 20), u32::MAX as u64, r.next()][r.below(5) as usize];
        let ff = [0, 10, 90, 100, 1000, r.next() as u32][r.below(6) as usize];
        let res = acc.finish(am, total, ff, r.chance(50));
        if let Some(ratio) = res.bloat_ratio {
            assert!(!ratio.is_nan());
        }
        let _ = expected_pages(am, acc, [0.0, 1.0, 3.5, 1e300][r.below(4) as usize], ff);
    }
}

/// An accumulator with arbitrary sums (as another process could hand over).
fn random_accum(r: &mut Rng) -> BloatAccum {
    let mut a = BloatAccum {
        gist_insertion_build: r.chance(50),
        opclass_fn: ["", "spg_text_config", "range_gist_consistent"][r.below(3) as usize].into(),
        ..Default::default()
    };
    let c: [u64; COUNTERS] = std::array::from_fn(|_| match r.below(4) {
        0 => 0,
        1 => r.below(10_000),
        2 => u64::MAX - r.below(3),
        _ => r.next(),
    });
    a.add_counters(&c);
    a.add_counters(&c);
    for _ in 0..r.range(0, 20) {
        a.add_list_entry([r.below(3), r.next(), r.next()]);
    }
    a
}

#[test]
fn page_parsers_never_trust_a_page() {
    let started = std::time::Instant::now();
    let mut r = Rng(0x6E74_7362_5F70_6572);
    let mut accums: Vec<BloatAccum> = Am::ALL.iter().map(|_| BloatAccum::default()).collect();
    let mut corrupt_seen = [0u64; 6];
    let mut valid_seen = [0u64; 6];
    const ROUNDS: usize = 30_000;
    const MUTANTS: usize = 6;
    for round in 0..ROUNDS {
        let ai = round % Am::ALL.len();
        let am = Am::ALL[ai];
        let blk = r.below(1000) as u32;
        let valid = valid_page(&mut r, am);
        let s = classify_page(am, blk, &valid);
        assert!(
            !s.corrupt,
            "a valid {am:?} page read as corrupt (round {round})"
        );
        check_stats(&s, valid.len());
        valid_seen[ai] += 1;
        if am == Am::Btree {
            check_btree_fast_path(blk, &valid);
        }
        accums[ai].current_block = blk;
        accums[ai].add(&s);
        for _ in 0..MUTANTS {
            let m = mutate(&mut r, &valid);
            // Read as its own access method, and as another one (a page of the wrong kind).
            let other = Am::ALL[r.below(6) as usize];
            for read_as in [am, other] {
                let s = classify_page(read_as, blk, &m);
                check_stats(&s, m.len());
                let i = Am::ALL.iter().position(|a| *a == read_as).unwrap();
                corrupt_seen[i] += u64::from(s.corrupt);
                accums[i].current_block = blk;
                accums[i].add(&s);
                if read_as == Am::Btree {
                    check_btree_fast_path(blk, &m);
                }
            }
            // Pure random bytes, too.
            if r.chance(10) {
                let mut noise = vec![0u8; BLCKSZ];
                r.fill(&mut noise);
                check_stats(&classify_page(am, blk, &noise), BLCKSZ);
                check_btree_fast_path(blk, &noise);
            }
        }
        if round % 2000 == 0 {
            for a in &accums {
                finish_everything(&mut r, a);
            }
            let a = random_accum(&mut r);
            finish_everything(&mut r, &a);
            let mut merged = BloatAccum::default();
            merged.merge(&a);
            merged.merge(&a);
            for e in a.list_entries() {
                merged.add_list_entry(e);
            }
        }
    }
    // The other arithmetic that takes numbers from pages or settings.
    for _ in 0..2000 {
        let n = r.below(40) as usize;
        let chain: Vec<(u32, u32, u64)> = (0..n)
            .map(|_| (r.below(50) as u32, r.below(50) as u32, r.next()))
            .collect();
        assert!(posting_tree_sizes(&chain).len() <= n);
        let wanted = [0, 1, 1024, 1025, u64::MAX, u64::MAX / 2 + 1, r.next()][r.below(7) as usize];
        assert!(hash_total_buckets(wanted) >= wanted.clamp(2, u64::MAX / 2));
        let nb = r.below(3000) as u32;
        let k = [0, 1, nb, nb.saturating_add(1), u32::MAX][r.below(5) as usize];
        let sample = sample_blocks(nb, k, r.next());
        assert_eq!(sample.len(), k.min(nb) as usize);
        let samples: Vec<(f64, f64)> = (0..r.below(20))
            .map(|_| (r.below(9000) as f64, r.below(9000) as f64))
            .collect();
        if let Some((lo, hi)) = ratio_ci(&samples, r.below(1000), r.below(1000)) {
            assert!(lo <= hi);
        }
    }
    // Every access method saw both valid and rejected pages.
    assert!(
        valid_seen.iter().all(|&v| v as usize >= ROUNDS / 7),
        "{valid_seen:?}"
    );
    assert!(
        corrupt_seen.iter().all(|&c| c as usize >= ROUNDS / 7),
        "{corrupt_seen:?}"
    );
    let elapsed = started.elapsed();
    eprintln!(
        "page fuzz: {} pages in {elapsed:?}",
        ROUNDS * (1 + MUTANTS * 2)
    );
}

/// Each kind of damage PostgreSQL's own header check lets through is caught by the parser, per
/// access method (the cases the SQL test reproduces on disk).
#[test]
fn damage_behind_a_valid_header_is_corrupt() {
    let mut r = Rng(7);
    for am in Am::ALL {
        // A page of this AM with items (or at least a special space).
        let page = loop {
            let p = valid_page(&mut r, am);
            let s = classify_page(am, 3, &p);
            let has_items = get16(&p, PD_LOWER) > PAGE_HEADER + 8;
            if s.kind == Some(PageKind::Leaf) && has_items {
                break p;
            }
        };
        // special space filled with 0xFF
        let mut b = page.clone();
        b[BLCKSZ - am.special_size()..].fill(0xFF);
        assert!(classify_page(am, 3, &b).corrupt, "{am:?} special");
        // wrong special size (header still self-consistent)
        let mut b = page.clone();
        let sp = get16(&b, PD_SPECIAL);
        set16(&mut b, PD_SPECIAL, sp - 8);
        if get16(&b, PD_UPPER) > sp - 8 {
            set16(&mut b, PD_UPPER, sp - 8);
        }
        assert!(classify_page(am, 3, &b).corrupt, "{am:?} special size");
        // first line pointer pointing past pd_special (not for GIN posting pages: none)
        if am != Am::Gin || get16(&page, BLCKSZ - 8 + GIN_FLAGS) as u16 & GIN_DATA == 0 {
            let mut b = page.clone();
            let raw: u32 = 8100 | (LP_NORMAL as u32) << 15 | 200 << 17;
            b[PAGE_HEADER..PAGE_HEADER + 4].copy_from_slice(&raw.to_le_bytes());
            assert!(classify_page(am, 3, &b).corrupt, "{am:?} line pointer");
            let mut fast = BloatAccum::default();
            assert!(!fast.add_btree_leaf(3, &b));
        }
    }
}
