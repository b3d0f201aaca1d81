//! Section "Index bloat": each index's size against a fresh build's, and what a rebuild would
//! reclaim.

use maud::{html, PreEscaped};

use super::markup::{fmt_int, fmt_opt_f, n, plural, qualified, t, Rendered, Table};
use super::svg::{self, Bar};
use super::Level;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BloatEntry {
    pub schema_name: String,
    pub table_name: String,
    pub index_name: String,
    pub access_method: String,
    pub index_size: String,
    pub reclaimable_bytes: i64,
    pub reclaimable_size: String,
    pub bloat_ratio: Option<f64>,
    pub avg_leaf_density: Option<f64>,
    pub baseline_density: Option<f64>,
    pub method: String,
}

pub(crate) fn render(rows: &[BloatEntry], sample_pages: Option<i32>) -> Rendered {
    let how = match sample_pages {
        Some(p) => format!(
            "estimated from at most {} sampled pages per index",
            fmt_int(p as i64)
        ),
        None => "measured exactly from every page".into(),
    };
    if rows.is_empty() {
        return Rendered {
            level: Level::Ok,
            summary: format!("No index of a supported access method to measure ({how})."),
            body: html! {},
        };
    }
    let bytes: i64 = rows.iter().map(|r| r.reclaimable_bytes).sum();
    let bloated: Vec<&BloatEntry> = rows
        .iter()
        .filter(|r| r.bloat_ratio.is_some_and(|b| b >= 1.3) && r.reclaimable_bytes > 0)
        .collect();
    let level = if bloated.is_empty() {
        Level::Ok
    } else {
        Level::Attention
    };
    let summary = if bloated.is_empty() {
        format!(
            "No index is 1.3× or more the size of a fresh build; {} bytes reclaimable in all ({how}).",
            fmt_int(bytes)
        )
    } else {
        format!(
            "{} 1.3× or more the size of a fresh build (worst: {}, {}); {} bytes reclaimable in all ({how}).",
            plural(bloated.len(), "index is", "indexes are"),
            qualified(&bloated[0].schema_name, &bloated[0].index_name),
            bloated[0]
                .bloat_ratio
                .map(|b| format!("{b:.2}×"))
                .unwrap_or_default(),
            fmt_int(bytes)
        )
    };
    let bars: Vec<Bar> = rows
        .iter()
        .filter(|r| r.reclaimable_bytes > 0)
        .take(15)
        .map(|r| Bar {
            label: qualified(&r.schema_name, &r.index_name),
            value: r.reclaimable_bytes as f64,
            text: format!(
                "{} ({})",
                r.reclaimable_size,
                r.bloat_ratio
                    .map(|b| format!("{b:.2}×"))
                    .unwrap_or_default()
            ),
        })
        .collect();
    let mut table = Table::new(&[
        ("Table", false),
        ("Index", false),
        ("Method", false),
        ("Size", true),
        ("Reclaimable bytes", true),
        ("Reclaimable", true),
        ("Bloat ratio", true),
        ("Leaf density %", true),
        ("Baseline density %", true),
        ("Measured", false),
    ]);
    for r in rows {
        table.row(vec![
            t(&qualified(&r.schema_name, &r.table_name)),
            t(&r.index_name),
            t(&r.access_method),
            t(&r.index_size),
            n(r.reclaimable_bytes),
            t(&r.reclaimable_size),
            t(&fmt_opt_f(r.bloat_ratio, 3)),
            t(&fmt_opt_f(r.avg_leaf_density, 2)),
            t(&fmt_opt_f(r.baseline_density, 2)),
            t(&r.method),
        ]);
    }
    Rendered {
        level,
        summary,
        body: html! {
            @if !bars.is_empty() {
                h3 { "Reclaimable bytes per index" }
                // The chart is markup of svg.rs, which escapes every text it writes.
                (PreEscaped(svg::hbar_chart(
                    "Reclaimable bytes per index",
                    &bars,
                    "bar-reclaim"
                )))
            }
            p {
                "Leaf density against the index's baseline (its density right after its last "
                "rebuild by ntsb_perf; empty when it has none)."
            }
            (table.html(rows.len(), "indexes"))
        },
    }
}
