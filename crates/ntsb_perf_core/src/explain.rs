//! Reading `EXPLAIN (FORMAT JSON)` output: times, cost, rows, which indexes are used and which
//! tables are read sequentially, shared-buffer hits and reads.

use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExplainSummary {
    pub planning_ms: Option<f64>,
    pub execution_ms: Option<f64>,
    pub total_cost: f64,
    /// Actual rows of the top node when analysed, else the planner's estimate; for
    /// INSERT/UPDATE/DELETE/MERGE, the rows the write touched.
    pub rows: f64,
    pub indexes: Vec<String>,
    pub seq_scanned: Vec<String>,
    pub shared_hit: i64,
    pub shared_read: i64,
}

impl ExplainSummary {
    pub fn index_used(&self) -> bool {
        !self.indexes.is_empty()
    }
}

fn walk(node: &Value, s: &mut ExplainSummary) {
    let ty = node.get("Node Type").and_then(Value::as_str).unwrap_or("");
    if let Some(idx) = node.get("Index Name").and_then(Value::as_str) {
        if !s.indexes.iter().any(|i| i == idx) {
            s.indexes.push(idx.to_string());
        }
    }
    if ty == "Seq Scan" || ty == "Parallel Seq Scan" {
        if let Some(rel) = node.get("Relation Name").and_then(Value::as_str) {
            let qualified = match node.get("Schema").and_then(Value::as_str) {
                Some(nsp) => format!("{nsp}.{rel}"),
                None => rel.to_string(),
            };
            if !s.seq_scanned.contains(&qualified) {
                s.seq_scanned.push(qualified);
            }
        }
    }
    if let Some(children) = node.get("Plans").and_then(Value::as_array) {
        for c in children {
            walk(c, s);
        }
    }
}

/// Summarises the JSON that `EXPLAIN (FORMAT JSON, ...)` prints.
pub fn summarize(json: &str) -> Result<ExplainSummary, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not EXPLAIN JSON: {e}"))?;
    let top = v
        .as_array()
        .and_then(|a| a.first())
        .ok_or("EXPLAIN JSON is not a one-element array")?;
    let plan = top.get("Plan").ok_or("EXPLAIN JSON has no Plan")?;
    let num = |n: &Value, k: &str| n.get(k).and_then(Value::as_f64);
    // A write's top node (ModifyTable) returns no rows; its input says how many it touched.
    let counted = match plan.get("Node Type").and_then(Value::as_str) {
        Some("ModifyTable") => plan
            .get("Plans")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
            .unwrap_or(plan),
        _ => plan,
    };
    let mut s = ExplainSummary {
        planning_ms: num(top, "Planning Time"),
        execution_ms: num(top, "Execution Time"),
        total_cost: num(plan, "Total Cost").unwrap_or(0.0),
        rows: num(counted, "Actual Rows")
            .or_else(|| num(counted, "Plan Rows"))
            .unwrap_or(0.0),
        shared_hit: plan
            .get("Shared Hit Blocks")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        shared_read: plan
            .get("Shared Read Blocks")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        ..Default::default()
    };
    walk(plan, &mut s);
    Ok(s)
}

/// The EXPLAIN statement run for `query` (one statement, already checked): JSON, verbose, and
/// with `analyze` the actual times, rows and buffers.
pub fn explain_statement(query: &str, analyze: bool) -> String {
    if analyze {
        format!("EXPLAIN (FORMAT JSON, VERBOSE, ANALYZE, BUFFERS) {query}")
    } else {
        format!("EXPLAIN (FORMAT JSON, VERBOSE) {query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANALYZED: &str = r#"[{"Plan": {"Node Type": "Aggregate", "Total Cost": 120.5, "Actual Rows": 1,
        "Shared Hit Blocks": 40, "Shared Read Blocks": 2,
        "Plans": [
          {"Node Type": "Bitmap Heap Scan", "Relation Name": "events", "Schema": "public",
           "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "idx_events_event_date"}]},
          {"Node Type": "Seq Scan", "Relation Name": "spatial_ref_sys", "Schema": "public"},
          {"Node Type": "Index Only Scan", "Index Name": "idx_events_event_date"}
        ]},
        "Planning Time": 0.25, "Execution Time": 3.5}]"#;

    #[test]
    fn analysed_plan() {
        let s = summarize(ANALYZED).unwrap();
        assert_eq!(s.planning_ms, Some(0.25));
        assert_eq!(s.execution_ms, Some(3.5));
        assert_eq!(s.total_cost, 120.5);
        assert_eq!(s.rows, 1.0);
        assert_eq!(s.indexes, vec!["idx_events_event_date"]);
        assert!(s.index_used());
        assert_eq!(s.seq_scanned, vec!["public.spatial_ref_sys"]);
        assert_eq!((s.shared_hit, s.shared_read), (40, 2));
    }

    #[test]
    fn writes_count_the_rows_they_touch() {
        let s = summarize(
            r#"[{"Plan": {"Node Type": "ModifyTable", "Actual Rows": 0, "Total Cost": 9,
            "Plans": [{"Node Type": "Seq Scan", "Relation Name": "events", "Actual Rows": 42}]}}]"#,
        )
        .unwrap();
        assert_eq!(s.rows, 42.0);
    }

    #[test]
    fn estimate_only_and_bad_input() {
        let s = summarize(r#"[{"Plan": {"Node Type": "Seq Scan", "Relation Name": "t", "Total Cost": 5, "Plan Rows": 70}}]"#).unwrap();
        assert_eq!(
            (s.rows, s.execution_ms, s.index_used()),
            (70.0, None, false)
        );
        assert_eq!(s.seq_scanned, vec!["t"]);
        assert!(summarize("not json").is_err());
        assert!(summarize("[]").is_err());
        assert!(summarize(r#"[{"x": 1}]"#).is_err());
    }

    #[test]
    fn explain_statement_asks_for_json_and_buffers_when_analysed() {
        assert_eq!(
            explain_statement("SELECT 1", false),
            "EXPLAIN (FORMAT JSON, VERBOSE) SELECT 1"
        );
        assert_eq!(
            explain_statement("SELECT 1", true),
            "EXPLAIN (FORMAT JSON, VERBOSE, ANALYZE, BUFFERS) SELECT 1"
        );
    }
}
