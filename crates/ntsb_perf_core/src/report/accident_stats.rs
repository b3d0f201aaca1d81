//! Section "Accident statistics": accidents and fatal rate per year, and the severity
//! breakdown.

use std::fmt::Write as _;

use maud::{html, PreEscaped};

use super::markup::{fmt_int, fmt_opt_f, n, t, Rendered, Table, Text};
use super::svg::{self, Share, YearBar};
use super::Level;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct YearStats {
    pub year: i32,
    pub accidents: i64,
    pub fatal_accidents: i64,
    pub fatal_rate: Option<f64>,
    pub fatalities: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccidentData {
    /// The table read (as regclass text).
    pub source: String,
    pub years: Vec<YearStats>,
    pub accidents: i64,
    pub fatal_accidents: i64,
    /// FATL, SERS, MINR, NONE, UNKN.
    pub severity: Vec<(String, i64)>,
}

fn severity_name(code: &str) -> &'static str {
    match code {
        "FATL" => "fatal",
        "SERS" => "serious",
        "MINR" => "minor",
        "NONE" => "no injury",
        _ => "unknown",
    }
}

pub(crate) fn render(d: &AccidentData) -> Rendered {
    if d.accidents == 0 {
        return Rendered {
            level: Level::Missing,
            summary: format!("{} holds no accidents.", d.source),
            body: html! { p class="missing" { (Text(&d.source)) " holds no accidents." } },
        };
    }
    let rate = d.fatal_accidents as f64 / d.accidents as f64;
    let first = d.years.first().map(|y| y.year).unwrap_or(0);
    let last = d.years.last().map(|y| y.year).unwrap_or(0);
    let worst = d
        .years
        .iter()
        .filter(|y| y.accidents >= 20)
        .filter_map(|y| y.fatal_rate.map(|r| (r, y.year)))
        .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut summary = format!(
        "{} accidents in {} from {first} to {last}, {} of them fatal ({:.1}%)",
        fmt_int(d.accidents),
        d.source,
        fmt_int(d.fatal_accidents),
        rate * 100.0
    );
    if let Some((r, y)) = worst {
        let _ = write!(
            summary,
            "; the highest fatal rate was {y}'s ({:.1}%)",
            r * 100.0
        );
    }
    summary += ".";
    let bars: Vec<YearBar> = d
        .years
        .iter()
        .map(|y| YearBar {
            year: y.year,
            accidents: y.accidents,
            fatal_rate: y.fatal_rate,
        })
        .collect();
    let shares: Vec<Share> = d
        .severity
        .iter()
        .map(|(c, k)| Share {
            code: c.clone(),
            name: severity_name(c).into(),
            count: *k,
        })
        .collect();
    let mut table = Table::new(&[
        ("Year", true),
        ("Accidents", true),
        ("Fatal accidents", true),
        ("Fatal rate %", true),
        ("Fatalities", true),
    ]);
    for y in d.years.iter().rev() {
        table.row(vec![
            t(&y.year.to_string()),
            n(y.accidents),
            n(y.fatal_accidents),
            t(&fmt_opt_f(y.fatal_rate.map(|r| r * 100.0), 2)),
            y.fatalities.map(n).unwrap_or_default(),
        ]);
    }
    Rendered {
        level: Level::Ok,
        summary,
        // The charts are markup of svg.rs, which escapes every text it writes.
        body: html! {
            h3 { "Accidents and fatal rate per year" }
            (PreEscaped(svg::year_chart(&bars)))
            h3 { "Severity breakdown" }
            (PreEscaped(svg::severity_bar(&shares)))
            h3 { "Per year" }
            (table.html(d.years.len(), "years"))
        },
    }
}
