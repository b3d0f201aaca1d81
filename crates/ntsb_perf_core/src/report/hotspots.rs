//! Section "Accident hotspots": the busiest cells of an equal-area grid, on a map and in a
//! table.

use maud::{html, PreEscaped};

use super::geojson::Cell;
use super::markup::{fmt_int, n, t, Rendered, Table, Text};
use super::svg;
use super::Level;

#[derive(Debug, Clone, PartialEq)]
pub struct HotspotData {
    pub source: String,
    pub cell_km: f64,
    pub cells: Vec<Cell>,
    pub skipped_null: i64,
    pub skipped_other: i64,
}

pub(crate) fn render(d: &HotspotData) -> Rendered {
    if d.cells.is_empty() {
        return Rendered {
            level: Level::Missing,
            summary: format!("No accident in {} has a location.", d.source),
            body: html! {
                p class="missing" { "No accident in " (Text(&d.source)) " has a location." }
            },
        };
    }
    let top = &d.cells[0];
    let in_top: u64 = d.cells.iter().map(|c| c.accidents).sum();
    let summary = format!(
        "The {} busiest {} km cells hold {} accidents; the busiest, around {:.2}, {:.2}, has {} ({} fatal). {} accidents have no location.",
        d.cells.len(),
        d.cell_km,
        fmt_int(in_top as i64),
        top.lon,
        top.lat,
        fmt_int(top.accidents as i64),
        fmt_int(top.fatal_accidents as i64),
        fmt_int(d.skipped_null + d.skipped_other)
    );
    let mut table = Table::new(&[
        ("Rank", true),
        ("Longitude", true),
        ("Latitude", true),
        ("Accidents", true),
        ("Fatal accidents", true),
        ("Fatal share %", true),
    ]);
    for c in &d.cells {
        let share = if c.accidents > 0 {
            c.fatal_accidents as f64 / c.accidents as f64 * 100.0
        } else {
            0.0
        };
        table.row(vec![
            t(&c.rank.to_string()),
            t(&format!("{:.6}", c.lon)),
            t(&format!("{:.6}", c.lat)),
            n(c.accidents as i64),
            n(c.fatal_accidents as i64),
            t(&format!("{share:.1}")),
        ]);
    }
    Rendered {
        level: Level::Ok,
        summary,
        body: html! {
            // The map is markup of svg.rs, which escapes every text it writes.
            (PreEscaped(svg::hotspot_map(&d.cells, d.cell_km)))
            p {
                "Cells of " (Text(&d.cell_km.to_string())) " km on an equal-area grid (their outlines), "
                "discs sized by accidents and coloured by fatal share; the same cells as GeoJSON: "
                code { "ntsb_perf.hotspots_geojson(ntsb_perf.accident_hotspots(geom, ...))" }
                "."
            }
            (table.html(d.cells.len(), "cells"))
        },
    }
}
