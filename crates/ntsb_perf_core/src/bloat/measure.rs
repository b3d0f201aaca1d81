//! What `index_bloat` reports of one measured index beyond the page sums: whether the read was a
//! sample, the figures rounded as shown, and the `details` column (per access method).

use serde_json::{json, Value};

use super::{Am, BloatAccum, BloatResult, BLCKSZ, HASH_PAGE_SPACE};

/// How one index was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// The index's size in blocks.
    pub nblocks: u64,
    /// Whether fewer blocks than the index has were read (see [`is_sampled`]).
    pub sampled: bool,
    /// The fillfactor the expected size assumes (the index's own, or its method's default).
    pub fillfactor: u32,
    /// Parallel workers launched for an exact scan, and the pages they read.
    pub workers: (i32, u64),
}

/// Whether a read of at most `sample_pages` pages (None: every page) of an index of `nblocks`
/// blocks is a sample: a sample as large as the index reads it whole, exactly.
pub fn is_sampled(sample_pages: Option<u32>, nblocks: u64) -> bool {
    sample_pages.is_some_and(|k| (k as u64) < nblocks)
}

/// Rounded to two decimals, as densities, percentages and the fragmentation are shown.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Rounded to three decimals, as `bloat_ratio` is shown.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `method`: `sampled` or `exact`.
pub fn method_name(sampled: bool) -> &'static str {
    if sampled {
        "sampled"
    } else {
        "exact"
    }
}

/// The `details` column: the fillfactor and metapages, the parallel workers of an exact scan,
/// and what only one access method has (GIN's pending list and posting trees, hash's page kinds
/// and free space as pgstathashindex counts it, BRIN's revmap, GiST's and SP-GiST's fresh-build
/// fill).
pub fn details(am: Am, acc: &BloatAccum, r: &BloatResult, read: &Read) -> Value {
    let mut details = json!({
        "fillfactor": read.fillfactor,
        "meta_pages": r.meta_pages,
    });
    if !read.sampled {
        details["parallel_workers"] = read.workers.0.into();
        details["worker_pages"] = read.workers.1.into();
    }
    let obj = details.as_object_mut().expect("json!({...}) is an object");
    match am {
        Am::Gin => {
            obj.insert("pending_pages".into(), r.pending_pages.into());
            obj.insert("pending_tuples".into(), r.gin_pending_tuples.into());
            obj.insert("pending_items".into(), r.pending_items.into());
            obj.insert("posting_tree_pages".into(), r.posting_tree_pages.into());
            obj.insert("posting_trees".into(), acc.posting_trees.into());
            let density = |free: u64, pages: u64| {
                (pages > 0).then(|| {
                    round2(100.0 * (1.0 - free as f64 / (pages as f64 * (BLCKSZ - 32) as f64)))
                })
            };
            obj.insert(
                "posting_leaf_density".into(),
                density(acc.posting_leaf_free, acc.posting_leaf_pages).into(),
            );
            obj.insert(
                "entry_leaf_density".into(),
                density(
                    acc.leaf_free - acc.posting_leaf_free,
                    acc.leaf_pages - acc.posting_leaf_pages,
                )
                .into(),
            );
            obj.insert(
                "entry_pages".into(),
                (r.leaf_pages + r.internal_pages)
                    .saturating_sub(r.posting_tree_pages)
                    .into(),
            );
        }
        Am::Hash => {
            obj.insert(
                "bucket_pages".into(),
                r.leaf_pages.saturating_sub(r.overflow_pages).into(),
            );
            obj.insert("overflow_pages".into(), r.overflow_pages.into());
            obj.insert("bitmap_pages".into(), r.bitmap_pages.into());
            obj.insert("unused_pages".into(), r.empty_pages.into());
            // As pgstathashindex: free space of bucket, overflow and unused pages over the room
            // for tuples of every page but the metapage and the bitmap pages.
            let room =
                read.nblocks.saturating_sub(r.bitmap_pages + r.meta_pages) * HASH_PAGE_SPACE as u64;
            obj.insert(
                "free_percent".into(),
                (room > 0)
                    .then(|| round2(100.0 * r.free_bytes as f64 / room as f64))
                    .into(),
            );
        }
        Am::Brin => {
            obj.insert("revmap_pages".into(), r.revmap_pages.into());
            obj.insert("regular_pages".into(), r.leaf_pages.into());
            obj.insert(
                "used_bytes".into(),
                (read.nblocks * BLCKSZ as u64)
                    .saturating_sub(r.free_bytes)
                    .into(),
            );
        }
        Am::Gist => {
            // How a rebuild would lay the index out, which sets expected_bytes.
            let build = if acc.gist_insertion_build {
                "insertion"
            } else {
                "sorted"
            };
            obj.insert("fresh_build".into(), build.into());
            obj.insert("fresh_leaf_fill".into(), acc.fresh_leaf_fill(am).into());
        }
        Am::Spgist => {
            obj.insert("fresh_leaf_fill".into(), acc.fresh_leaf_fill(am).into());
        }
        _ => {}
    }
    details
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(nblocks: u64, sampled: bool) -> Read {
        Read {
            nblocks,
            sampled,
            fillfactor: 90,
            workers: (2, 40),
        }
    }

    #[test]
    fn sample_and_rounding() {
        assert!(!is_sampled(None, 100));
        assert!(is_sampled(Some(10), 100));
        assert!(
            !is_sampled(Some(100), 100),
            "a sample of the whole index is exact"
        );
        assert!(!is_sampled(Some(500), 100));
        assert_eq!(round2(12.345_6), 12.35);
        assert_eq!(round2(-0.004), -0.0);
        assert_eq!(round3(1.234_56), 1.235);
        assert_eq!(
            (method_name(true), method_name(false)),
            ("sampled", "exact")
        );
    }

    #[test]
    fn btree_details_are_the_common_ones() {
        let acc = BloatAccum {
            pages_read: 10,
            meta_pages: 1,
            ..Default::default()
        };
        let r = acc.finish(Am::Btree, 10, 90, false);
        assert_eq!(
            details(Am::Btree, &acc, &r, &read(10, false)),
            json!({"fillfactor": 90, "meta_pages": 1, "parallel_workers": 2, "worker_pages": 40})
        );
        // a sample has no parallel workers to report
        let r = acc.finish(Am::Btree, 100, 90, true);
        assert_eq!(
            details(Am::Btree, &acc, &r, &read(100, true)),
            json!({"fillfactor": 90, "meta_pages": 10})
        );
    }

    #[test]
    fn gin_details_split_entry_and_posting_leaves() {
        let page = (BLCKSZ - 32) as u64;
        let acc = BloatAccum {
            pages_read: 8,
            meta_pages: 1,
            leaf_pages: 6,
            internal_pages: 1,
            posting_tree_pages: 3,
            posting_leaf_pages: 2,
            posting_leaf_free: page / 2,
            leaf_free: page / 2 + page / 4,
            posting_trees: 1,
            pending_pages: 0,
            gin_pending_tuples: 5,
            ..Default::default()
        };
        let r = acc.finish(Am::Gin, 8, 100, false);
        let d = details(Am::Gin, &acc, &r, &read(8, false));
        assert_eq!(d["posting_leaf_density"], json!(75.0));
        assert_eq!(d["entry_leaf_density"], json!(93.75));
        assert_eq!(d["entry_pages"], json!(4));
        assert_eq!(d["posting_trees"], json!(1));
        assert_eq!(d["pending_tuples"], json!(5));
        // no posting leaves: no density
        let empty = BloatAccum::default();
        let r = empty.finish(Am::Gin, 1, 100, false);
        assert_eq!(
            details(Am::Gin, &empty, &r, &read(1, false))["posting_leaf_density"],
            Value::Null
        );
    }

    #[test]
    fn hash_free_percent_is_pgstathashindex_s() {
        let acc = BloatAccum {
            pages_read: 12,
            meta_pages: 1,
            bitmap_pages: 1,
            leaf_pages: 8,
            overflow_pages: 2,
            empty_pages: 2,
            free_bytes: 5 * HASH_PAGE_SPACE as u64 / 2,
            ..Default::default()
        };
        let r = acc.finish(Am::Hash, 12, 75, false);
        let d = details(Am::Hash, &acc, &r, &read(12, false));
        assert_eq!(d["bucket_pages"], json!(6));
        assert_eq!(d["overflow_pages"], json!(2));
        assert_eq!(d["unused_pages"], json!(2));
        // 2.5 pages free of the 10 that hold tuples
        assert_eq!(d["free_percent"], json!(25.0));
        // only the metapage and bitmap pages: no room, no percentage
        let r = acc.finish(Am::Hash, 2, 75, false);
        assert_eq!(
            details(Am::Hash, &acc, &r, &read(2, false))["free_percent"],
            Value::Null
        );
    }

    #[test]
    fn brin_gist_and_spgist_details() {
        let acc = BloatAccum {
            pages_read: 4,
            meta_pages: 1,
            revmap_pages: 1,
            leaf_pages: 2,
            free_bytes: 1000,
            ..Default::default()
        };
        let r = acc.finish(Am::Brin, 4, 100, false);
        let d = details(Am::Brin, &acc, &r, &read(4, false));
        assert_eq!(d["revmap_pages"], json!(1));
        assert_eq!(d["regular_pages"], json!(2));
        assert_eq!(d["used_bytes"], json!(4 * BLCKSZ as u64 - 1000));

        let mut gist = BloatAccum::default();
        let r = gist.finish(Am::Gist, 1, 90, false);
        let sorted = details(Am::Gist, &gist, &r, &read(1, false));
        assert_eq!(sorted["fresh_build"], json!("sorted"));
        assert_eq!(
            sorted["fresh_leaf_fill"],
            json!(gist.fresh_leaf_fill(Am::Gist))
        );
        gist.gist_insertion_build = true;
        let insertion = details(Am::Gist, &gist, &r, &read(1, false));
        assert_eq!(insertion["fresh_build"], json!("insertion"));

        let sp = BloatAccum::default();
        let r = sp.finish(Am::Spgist, 1, 80, false);
        let d = details(Am::Spgist, &sp, &r, &read(1, false));
        assert_eq!(d["fresh_leaf_fill"], json!(sp.fresh_leaf_fill(Am::Spgist)));
        assert!(d.get("fresh_build").is_none());
    }
}
