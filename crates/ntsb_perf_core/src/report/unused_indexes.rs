//! Section "Unused indexes": indexes never scanned, with the statement that drops each.

use maud::html;

use super::markup::{code, fmt_int, n, plural, qualified, t, Rendered, Table};
use super::Level;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnusedIndex {
    pub schema_name: String,
    pub table_name: String,
    pub index_name: String,
    pub index_bytes: i64,
    pub index_size: String,
    pub table_writes: i64,
    pub stats_since: Option<String>,
    pub drop_statement: String,
}

pub(crate) fn render(rows: &[UnusedIndex]) -> Rendered {
    if rows.is_empty() {
        return Rendered {
            level: Level::Ok,
            summary: "No index is unused: every droppable index has been scanned.".into(),
            body: html! {},
        };
    }
    let bytes: i64 = rows.iter().map(|r| r.index_bytes).sum();
    let since = rows
        .iter()
        .find_map(|r| r.stats_since.clone())
        .map(|s| format!("since {s}"))
        .unwrap_or_else(|| "since the statistics began (never reset)".into());
    let mut table = Table::new(&[
        ("Table", false),
        ("Index", false),
        ("Bytes", true),
        ("Size", true),
        ("Table writes", true),
        ("Drop statement", false),
    ]);
    for r in rows {
        table.row(vec![
            t(&qualified(&r.schema_name, &r.table_name)),
            t(&r.index_name),
            n(r.index_bytes),
            t(&r.index_size),
            n(r.table_writes),
            code(&r.drop_statement),
        ]);
    }
    Rendered {
        level: Level::Attention,
        summary: format!(
            "{} never scanned {since}: {} bytes that every write still maintains; consider dropping {}.",
            plural(rows.len(), "index was", "indexes were"),
            fmt_int(bytes),
            if rows.len() == 1 { "it" } else { "them" }
        ),
        body: table.html(rows.len(), "unused indexes"),
    }
}
