//! Section "Index sizes and usage": the largest indexes as a chart, every index in a table.

use maud::{html, PreEscaped};

use super::markup::{fmt_int, n, plural, qualified, t, Rendered, Table, Text};
use super::svg::{self, IndexBar};
use super::Level;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexUsage {
    pub schema_name: String,
    pub table_name: String,
    pub index_name: String,
    pub access_method: String,
    pub idx_scan: i64,
    pub index_bytes: i64,
    pub index_size: String,
    pub is_valid: bool,
    pub table_writes: i64,
}

pub(crate) fn render(rows: &[IndexUsage]) -> Rendered {
    if rows.is_empty() {
        return Rendered {
            level: Level::Ok,
            summary: "No indexes are visible to you here.".into(),
            body: html! {},
        };
    }
    let total: i64 = rows.iter().map(|r| r.index_bytes).sum();
    let never = rows.iter().filter(|r| r.idx_scan == 0).count();
    let mut by_size: Vec<&IndexUsage> = rows.iter().collect();
    by_size.sort_by(|a, b| {
        b.index_bytes
            .cmp(&a.index_bytes)
            .then(a.index_name.cmp(&b.index_name))
    });
    let biggest = by_size[0];
    let summary = format!(
        "{} use {} bytes; the largest is {} ({}); {} not been scanned since the statistics were reset.",
        plural(rows.len(), "index", "indexes"),
        fmt_int(total),
        qualified(&biggest.schema_name, &biggest.index_name),
        biggest.index_size,
        if never == 1 { "1 has".to_string() } else { format!("{} have", fmt_int(never as i64)) }
    );
    let bars: Vec<IndexBar> = by_size
        .iter()
        .take(15)
        .map(|r| IndexBar {
            label: qualified(&r.schema_name, &r.index_name),
            bytes: r.index_bytes,
            size: r.index_size.clone(),
            scans: r.idx_scan,
            writes: r.table_writes,
        })
        .collect();
    let mut table = Table::new(&[
        ("Schema", false),
        ("Table", false),
        ("Index", false),
        ("Method", false),
        ("Scans", true),
        ("Table writes", true),
        ("Bytes", true),
        ("Size", true),
    ]);
    for r in rows {
        table.row(vec![
            t(&r.schema_name),
            t(&r.table_name),
            html! { (Text(&r.index_name)) @if !r.is_valid { " (invalid)" } },
            t(&r.access_method),
            n(r.idx_scan),
            n(r.table_writes),
            n(r.index_bytes),
            t(&r.index_size),
        ]);
    }
    Rendered {
        level: Level::Ok,
        summary,
        body: html! {
            h3 { "The " (bars.len()) " largest indexes" }
            // The chart is markup of svg.rs, which escapes every text it writes.
            (PreEscaped(svg::index_chart(&bars)))
            h3 { "Every index, most scanned first" }
            (table.html(rows.len(), "indexes"))
        },
    }
}
