//! Section "Duplicate indexes": indexes another index makes redundant.

use maud::html;

use super::markup::{code, fmt_int, n, plural, qualified, t, Rendered, Table};
use super::Level;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DuplicateIndex {
    pub schema_name: String,
    pub table_name: String,
    pub index_name: String,
    pub covered_by: String,
    pub reason: String,
    pub reclaimable_bytes: i64,
    pub reclaimable_size: String,
    pub drop_statement: String,
}

pub(crate) fn render(rows: &[DuplicateIndex]) -> Rendered {
    if rows.is_empty() {
        return Rendered {
            level: Level::Ok,
            summary: "No index is made redundant by another.".into(),
            body: html! {},
        };
    }
    let bytes: i64 = rows.iter().map(|r| r.reclaimable_bytes).sum();
    let mut table = Table::new(&[
        ("Table", false),
        ("Index", false),
        ("Covered by", false),
        ("Reason", false),
        ("Reclaimable bytes", true),
        ("Size", true),
        ("Drop statement", false),
    ]);
    for r in rows {
        table.row(vec![
            t(&qualified(&r.schema_name, &r.table_name)),
            t(&r.index_name),
            t(&r.covered_by),
            t(&r.reason),
            n(r.reclaimable_bytes),
            t(&r.reclaimable_size),
            code(&r.drop_statement),
        ]);
    }
    Rendered {
        level: Level::Attention,
        summary: format!(
            "{} redundant: dropping {} reclaims {} bytes and changes no query's result.",
            plural(rows.len(), "index is", "indexes are"),
            if rows.len() == 1 { "it" } else { "them" },
            fmt_int(bytes)
        ),
        body: table.html(rows.len(), "redundant indexes"),
    }
}
