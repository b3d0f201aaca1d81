//! Rules that decide when an index is redundant, and why an index is invalid.
//!
//! The redundancy rule is stricter than PgHero's: index `a` is made redundant by index `b` only
//! when both are on the same table, use the same access method, carry the same predicate (or
//! none), and `b`'s key columns start with `a`'s key columns, position by position, with the same
//! column or expression, operator class, collation and sort options. `a`'s INCLUDE columns must
//! appear somewhere in `b`. A unique index is only ever covered by a unique index with exactly the
//! same keys (a unique index on `(x, y)` does not enforce uniqueness of `x`). For access methods
//! other than B-tree only identical definitions count: a GiST index on `(a, b)` is no substitute
//! for one on `(a)`.

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// One key column of an index, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyColumn {
    /// `col:<attnum>` for a plain column, `expr:<deparsed expression>` for an expression.
    pub column: String,
    /// Operator class OID (`pg_index.indclass`).
    pub opclass: u32,
    /// Collation OID (`pg_index.indcollation`, 0 when the type is not collatable).
    pub collation: u32,
    /// Per-column flags (`pg_index.indoption`: DESC, NULLS FIRST).
    pub options: i16,
}

/// What the redundancy rule needs to know about one index.
#[derive(Debug, Clone, Default)]
pub struct IndexFacts {
    pub oid: u32,
    pub table_oid: u32,
    pub access_method: String,
    pub keys: Vec<KeyColumn>,
    /// INCLUDE columns as `col:<attnum>`.
    pub include: Vec<String>,
    /// Deparsed predicate of a partial index.
    pub predicate: Option<String>,
    pub is_unique: bool,
    pub is_primary: bool,
    pub nulls_not_distinct: bool,
    /// Backs a primary key, unique, exclusion constraint, or is referenced by a foreign key.
    pub backs_constraint: bool,
    pub is_replica_identity: bool,
    pub is_clustered: bool,
    /// Valid, ready and live: an index the planner can use.
    pub is_usable: bool,
    /// Can be dropped on its own: not a partition's index attached to a partitioned index and
    /// not a member of an extension.
    pub droppable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Same keys and same INCLUDE columns.
    Identical,
    /// `a`'s keys are a leading part of `b`'s, or `b` includes more columns.
    Prefix,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Identical => "identical",
            Reason::Prefix => "prefix",
        }
    }
}

/// `redundant` (an index into the slice given to [`find_redundant`]) is covered by `covered_by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redundancy {
    pub redundant: usize,
    pub covered_by: usize,
    pub reason: Reason,
}

fn include_set(ix: &IndexFacts) -> BTreeSet<&str> {
    ix.include.iter().map(String::as_str).collect()
}

/// Does `b` make `a` unnecessary for every query `a` can serve and every constraint `a` enforces?
/// Ignores whether `a` may be dropped; see [`find_redundant`] for that.
pub fn covers(b: &IndexFacts, a: &IndexFacts) -> Option<Reason> {
    if a.oid == b.oid || a.table_oid != b.table_oid || !a.is_usable || !b.is_usable {
        return None;
    }
    if a.access_method != b.access_method || a.predicate != b.predicate {
        return None;
    }
    if a.keys.len() > b.keys.len() || b.keys[..a.keys.len()] != a.keys[..] {
        return None;
    }
    let same_keys = a.keys.len() == b.keys.len();
    let a_inc = include_set(a);
    let b_inc = include_set(b);
    let identical = same_keys && a_inc == b_inc;
    if a.access_method != "btree" && !identical {
        return None;
    }
    // Every INCLUDE column of `a` must be somewhere in `b` (key or INCLUDE).
    let b_all: BTreeSet<&str> = b
        .keys
        .iter()
        .map(|k| k.column.as_str())
        .chain(b_inc.iter().copied())
        .collect();
    if !a_inc.iter().all(|c| b_all.contains(c)) {
        return None;
    }
    if a.is_unique || a.is_primary {
        // Only a unique index on exactly the same keys enforces the same constraint.
        if !(b.is_unique || b.is_primary) || !same_keys {
            return None;
        }
        if a.nulls_not_distinct && !b.nulls_not_distinct {
            return None;
        }
    }
    Some(if identical {
        Reason::Identical
    } else {
        Reason::Prefix
    })
}

/// How much we want to keep an index when it and another are interchangeable: higher wins.
fn keep_rank(ix: &IndexFacts) -> impl Ord {
    (
        ix.backs_constraint,
        ix.is_primary,
        ix.is_unique,
        ix.is_replica_identity,
        ix.is_clustered,
        !ix.droppable,
        // Older (lower OID) indexes are kept: Reverse so that lower OID ranks higher.
        std::cmp::Reverse(ix.oid),
    )
}

fn prefer_keep(x: &IndexFacts, y: &IndexFacts) -> Ordering {
    keep_rank(x).cmp(&keep_rank(y))
}

/// Every index of `indexes` that another one makes redundant, one row per redundant index.
///
/// When two indexes cover each other (identical definitions) exactly one of them is reported:
/// never one that backs a constraint, is the replica identity or is clustered, and otherwise the
/// newer one. When several indexes cover a redundant one, the row names one that is itself not
/// redundant, preferring an identical one, so that dropping every reported index is safe.
pub fn find_redundant(indexes: &[IndexFacts]) -> Vec<Redundancy> {
    let may_report = |a: &IndexFacts| a.droppable && !a.backs_constraint && !a.is_replica_identity;
    // For each index, the indexes that cover it in a way that makes it reportable.
    let mut covering: Vec<Vec<(usize, Reason)>> = vec![Vec::new(); indexes.len()];
    for (ai, a) in indexes.iter().enumerate() {
        if !may_report(a) {
            continue;
        }
        for (bi, b) in indexes.iter().enumerate() {
            let Some(reason) = covers(b, a) else { continue };
            // Mutual coverage: only the one we would rather not keep is redundant.
            if covers(a, b).is_some() && prefer_keep(a, b) == Ordering::Greater {
                continue;
            }
            covering[ai].push((bi, reason));
        }
    }
    let redundant: Vec<bool> = covering.iter().map(|c| !c.is_empty()).collect();
    let mut out = Vec::new();
    for (ai, cands) in covering.iter().enumerate() {
        let best = cands.iter().max_by(|(x, rx), (y, ry)| {
            // Prefer a coverer that stays, then an identical one, then the one we keep most.
            (!redundant[*x])
                .cmp(&!redundant[*y])
                .then_with(|| ry.cmp(rx))
                .then_with(|| prefer_keep(&indexes[*x], &indexes[*y]))
        });
        if let Some(&(bi, reason)) = best {
            out.push(Redundancy {
                redundant: ai,
                covered_by: bi,
                reason,
            });
        }
    }
    out
}

/// Why an index is invalid, judged from what the catalog and progress views show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidCause {
    /// A CREATE INDEX / REINDEX is running on the table right now.
    InProgress,
    /// `_ccnew` / `_ccold` index left by an interrupted REINDEX CONCURRENTLY.
    ReindexLeftover,
    /// A partitioned index created with ON ONLY whose partitions are not all attached.
    PartitionsMissing,
    /// A CREATE INDEX CONCURRENTLY that failed (for example on a duplicate key).
    FailedConcurrentBuild,
}

impl InvalidCause {
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidCause::InProgress => "in progress",
            InvalidCause::ReindexLeftover => "leftover of REINDEX CONCURRENTLY",
            InvalidCause::PartitionsMissing => "partitioned index with unattached partitions",
            InvalidCause::FailedConcurrentBuild => "failed CREATE INDEX CONCURRENTLY",
        }
    }
}

/// True for the names REINDEX CONCURRENTLY gives its transient indexes: `<name>_ccnew`,
/// `<name>_ccold`, optionally followed by digits when the name was taken.
pub fn is_reindex_transient_name(name: &str) -> bool {
    ["_ccnew", "_ccold"].iter().any(|suffix| {
        name.rfind(suffix).is_some_and(|pos| {
            name[pos + suffix.len()..]
                .chars()
                .all(|c| c.is_ascii_digit())
        })
    })
}

pub fn classify_invalid(
    index_name: &str,
    build_in_progress: bool,
    is_partitioned_index: bool,
) -> InvalidCause {
    if build_in_progress {
        InvalidCause::InProgress
    } else if is_partitioned_index {
        InvalidCause::PartitionsMissing
    } else if is_reindex_transient_name(index_name) {
        InvalidCause::ReindexLeftover
    } else {
        InvalidCause::FailedConcurrentBuild
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(col: &str) -> KeyColumn {
        KeyColumn {
            column: col.to_string(),
            opclass: 1978,
            collation: 0,
            options: 0,
        }
    }

    fn btree(oid: u32, cols: &[&str]) -> IndexFacts {
        IndexFacts {
            oid,
            table_oid: 1,
            access_method: "btree".into(),
            keys: cols.iter().map(|c| key(c)).collect(),
            is_usable: true,
            droppable: true,
            ..Default::default()
        }
    }

    fn pairs(ix: &[IndexFacts]) -> Vec<(u32, u32, &'static str)> {
        find_redundant(ix)
            .into_iter()
            .map(|r| (ix[r.redundant].oid, ix[r.covered_by].oid, r.reason.as_str()))
            .collect()
    }

    #[test]
    fn prefix_is_redundant() {
        let ix = [btree(10, &["col:1"]), btree(11, &["col:1", "col:2"])];
        assert_eq!(pairs(&ix), vec![(10, 11, "prefix")]);
    }

    #[test]
    fn non_prefix_is_not() {
        let ix = [btree(10, &["col:2"]), btree(11, &["col:1", "col:2"])];
        assert!(pairs(&ix).is_empty());
    }

    #[test]
    fn identical_reports_exactly_one_newer() {
        let ix = [btree(10, &["col:1"]), btree(11, &["col:1"])];
        assert_eq!(pairs(&ix), vec![(11, 10, "identical")]);
    }

    #[test]
    fn identical_never_reports_constraint_index() {
        let mut a = btree(10, &["col:1"]);
        let mut b = btree(11, &["col:1"]);
        b.backs_constraint = true;
        b.is_unique = true;
        assert_eq!(pairs(&[a.clone(), b.clone()]), vec![(10, 11, "identical")]);
        // Both back constraints: nothing may be reported.
        a.backs_constraint = true;
        a.is_unique = true;
        assert!(pairs(&[a, b]).is_empty());
    }

    #[test]
    fn unique_never_redundant_to_non_unique() {
        let mut a = btree(10, &["col:1"]);
        a.is_unique = true;
        let b = btree(11, &["col:1"]);
        // b (plain) is covered by a (unique), never the reverse.
        assert_eq!(pairs(&[a.clone(), b]), vec![(11, 10, "identical")]);
        let mut c = btree(12, &["col:1", "col:2"]);
        c.is_unique = true;
        // unique (x) is not implied by unique (x, y)
        assert!(pairs(&[a, c]).is_empty());
    }

    #[test]
    fn nulls_not_distinct_matters() {
        let mut a = btree(10, &["col:1"]);
        a.is_unique = true;
        a.nulls_not_distinct = true;
        let mut b = btree(11, &["col:1"]);
        b.is_unique = true;
        // b does not enforce a's NULLS NOT DISTINCT; a does enforce everything b does.
        assert_eq!(pairs(&[a, b]), vec![(11, 10, "identical")]);
    }

    #[test]
    fn opclass_collation_order_predicate_am_must_match() {
        let base = btree(10, &["col:1"]);
        let wide = btree(11, &["col:1", "col:2"]);
        let mut other = wide.clone();
        other.keys[0].opclass = 3128;
        assert!(pairs(&[base.clone(), other]).is_empty(), "opclass");
        let mut other = wide.clone();
        other.keys[0].collation = 950;
        assert!(pairs(&[base.clone(), other]).is_empty(), "collation");
        let mut other = wide.clone();
        other.keys[0].options = 3; // DESC NULLS FIRST
        assert!(pairs(&[base.clone(), other]).is_empty(), "sort order");
        let mut other = wide.clone();
        other.predicate = Some("(x > 0)".into());
        assert!(pairs(&[base.clone(), other]).is_empty(), "predicate");
        let mut other = wide.clone();
        other.access_method = "hash".into();
        assert!(pairs(&[base.clone(), other]).is_empty(), "access method");
        let mut other = wide.clone();
        other.table_oid = 2;
        assert!(pairs(&[base.clone(), other]).is_empty(), "table");
        let mut p1 = base.clone();
        p1.predicate = Some("(x > 0)".into());
        let mut p2 = wide.clone();
        p2.predicate = Some("(x > 0)".into());
        assert_eq!(pairs(&[p1, p2]), vec![(10, 11, "prefix")], "same predicate");
    }

    #[test]
    fn expressions_compared_by_text() {
        let a = btree(10, &["expr:lower(name)"]);
        let b = btree(11, &["expr:lower(name)", "col:3"]);
        let c = btree(12, &["expr:upper(name)", "col:3"]);
        assert_eq!(pairs(&[a.clone(), b]), vec![(10, 11, "prefix")]);
        assert!(pairs(&[a, c]).is_empty());
    }

    #[test]
    fn include_columns_must_be_covered() {
        let mut a = btree(10, &["col:1"]);
        a.include = vec!["col:3".into()];
        let b = btree(11, &["col:1", "col:2"]);
        assert!(pairs(&[a.clone(), b]).is_empty());
        let c = btree(12, &["col:1", "col:3"]);
        assert_eq!(pairs(&[a.clone(), c]), vec![(10, 12, "prefix")]);
        let mut d = btree(13, &["col:1"]);
        d.include = vec!["col:3".into(), "col:4".into()];
        assert_eq!(pairs(&[a, d]), vec![(10, 13, "prefix")]);
    }

    #[test]
    fn non_btree_only_identical() {
        let mut a = btree(10, &["col:1"]);
        a.access_method = "gist".into();
        let mut b = btree(11, &["col:1", "col:2"]);
        b.access_method = "gist".into();
        assert!(pairs(&[a.clone(), b]).is_empty());
        let mut c = btree(12, &["col:1"]);
        c.access_method = "gist".into();
        assert_eq!(pairs(&[a, c]), vec![(12, 10, "identical")]);
    }

    #[test]
    fn unusable_or_undroppable_indexes() {
        let mut a = btree(10, &["col:1"]);
        let b = btree(11, &["col:1", "col:2"]);
        a.droppable = false;
        assert!(pairs(&[a.clone(), b.clone()]).is_empty());
        a.droppable = true;
        let mut b2 = b.clone();
        b2.is_usable = false;
        assert!(
            pairs(&[a.clone(), b2]).is_empty(),
            "invalid index covers nothing"
        );
        a.is_usable = false;
        assert!(
            pairs(&[a, b]).is_empty(),
            "invalid index is reported elsewhere"
        );
    }

    #[test]
    fn chain_points_at_survivor() {
        let ix = [
            btree(10, &["col:1"]),
            btree(11, &["col:1", "col:2"]),
            btree(12, &["col:1", "col:2", "col:3"]),
        ];
        assert_eq!(
            pairs(&ix),
            vec![(10, 12, "prefix"), (11, 12, "prefix")],
            "both point at the index that stays"
        );
    }

    #[test]
    fn three_identical_keep_oldest() {
        let ix = [
            btree(12, &["col:1"]),
            btree(10, &["col:1"]),
            btree(11, &["col:1"]),
        ];
        assert_eq!(
            pairs(&ix),
            vec![(12, 10, "identical"), (11, 10, "identical")]
        );
    }

    #[test]
    fn clustered_or_replica_identity_kept() {
        let a = btree(10, &["col:1"]);
        let mut b = btree(11, &["col:1"]);
        b.is_clustered = true;
        assert_eq!(pairs(&[a.clone(), b]), vec![(10, 11, "identical")]);
        let mut c = btree(12, &["col:1"]);
        c.is_replica_identity = true;
        assert_eq!(pairs(&[a, c]), vec![(10, 12, "identical")]);
    }

    #[test]
    fn transient_names() {
        assert!(is_reindex_transient_name("idx_ccnew"));
        assert!(is_reindex_transient_name("idx_ccold12"));
        assert!(!is_reindex_transient_name("idx_ccnewer"));
        assert!(!is_reindex_transient_name("idx"));
        assert_eq!(
            classify_invalid("idx_ccnew", true, false),
            InvalidCause::InProgress
        );
        assert_eq!(
            classify_invalid("idx_ccnew1", false, false),
            InvalidCause::ReindexLeftover
        );
        assert_eq!(
            classify_invalid("idx", false, false),
            InvalidCause::FailedConcurrentBuild
        );
        assert_eq!(
            classify_invalid("idx", false, true),
            InvalidCause::PartitionsMissing
        );
    }
}
