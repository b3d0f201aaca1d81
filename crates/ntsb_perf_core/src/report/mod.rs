//! `health_report`: one self-contained HTML5 page (inline CSS and SVG, no script, no URL)
//! from the rows of the extension's own reports, which the server side gathers into
//! [`ReportData`]. The page is written with maud's `html!`, which escapes what it splices;
//! every text from the database passes through [`escape`] (`markup::Text`), which also
//! replaces control characters. The page's Content-Security-Policy forbids scripts and every
//! fetch besides.
//!
//! A file per section (`index_usage`, `unused_indexes`, ..., `hotspots`) holds the section's
//! data type and its rendering; this one assembles the page.

pub mod geojson;
pub mod svg;

mod accident_stats;
mod duplicate_indexes;
mod hotspots;
mod index_bloat;
mod index_usage;
mod invalid_indexes;
mod markup;
mod refresh;
mod reindex;
mod summary;
mod unused_indexes;

#[cfg(test)]
mod hostile_tests;

pub use accident_stats::{AccidentData, YearStats};
pub use duplicate_indexes::DuplicateIndex;
pub use hotspots::HotspotData;
pub use index_bloat::BloatEntry;
pub use index_usage::IndexUsage;
pub use invalid_indexes::InvalidIndex;
pub use markup::{escape, fmt_int, truncate_chars};
pub use refresh::{RefreshData, RefreshFailure, RefreshView};
pub use reindex::{ReindexData, ReindexRun, RunningRebuild};
pub use unused_indexes::UnusedIndex;

use maud::{html, PreEscaped, DOCTYPE};

use markup::{missing, Rendered, Text};

/// A section's data, or why there is none (in words, shown in its place).
#[derive(Debug, Clone, PartialEq)]
pub enum Part<T> {
    Ready(T),
    Missing(String),
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportData {
    pub database: String,
    pub generated_at: String,
    pub schema: Option<String>,
    pub sample_pages: Option<i32>,
    pub version: String,
    pub usage: Part<Vec<IndexUsage>>,
    pub unused: Part<Vec<UnusedIndex>>,
    pub duplicates: Part<Vec<DuplicateIndex>>,
    pub invalid: Part<Vec<InvalidIndex>>,
    pub bloat: Part<Vec<BloatEntry>>,
    pub reindex: Part<ReindexData>,
    pub refresh: Part<RefreshData>,
    pub stats: Part<AccidentData>,
    pub hotspots: Part<HotspotData>,
}

/// The sections, in page order: (id, heading).
pub const SECTIONS: [(&str, &str); 10] = [
    ("summary", "Summary"),
    ("index-usage", "Index sizes and usage"),
    ("unused-indexes", "Unused indexes"),
    ("duplicate-indexes", "Duplicate indexes"),
    ("invalid-indexes", "Invalid indexes"),
    ("index-bloat", "Index bloat"),
    ("reindex", "Reindex history"),
    ("refresh", "Refresh status"),
    ("accident-stats", "Accident statistics"),
    ("hotspots", "Accident hotspots"),
];

/// How a section's summary reads: nothing to do, something to look at, or no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Attention,
    Missing,
}

impl Level {
    fn class(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Attention => "attention",
            Level::Missing => "missing",
        }
    }
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Attention => "Attention",
            Level::Missing => "No data",
        }
    }
}

const STYLE: &str = r#"
:root { --fg: #1d2329; --muted: #5b6570; --line: #d5dbe1; --ok: #1e7b34; --warn: #b35c00; --miss: #6b7280; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); margin: 0 auto; max-width: 1200px; padding: 24px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 6px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: var(--muted); margin: 0 0 16px; }
p.summary { font-weight: 600; margin: 6px 0 12px; padding: 6px 10px; border-left: 4px solid var(--miss); background: #f6f7f9; }
p.summary.ok { border-color: var(--ok); } p.summary.attention { border-color: var(--warn); }
p.missing { color: var(--miss); font-style: italic; }
ul.overview { list-style: none; padding: 0; margin: 0; }
ul.overview li { padding: 5px 0; border-bottom: 1px solid var(--line); }
.badge { display: inline-block; min-width: 78px; font-size: 12px; font-weight: 700; text-align: center; border-radius: 3px; padding: 1px 6px; margin-right: 8px; color: #fff; background: var(--miss); }
.badge.ok { background: var(--ok); } .badge.attention { background: var(--warn); }
a { color: #1d4ed8; text-decoration: none; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 13px; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: 12px/1.3 ui-monospace, "DejaVu Sans Mono", monospace; word-break: break-all; }
.more { color: var(--muted); font-size: 12px; }
svg.chart { width: 100%; height: auto; display: block; margin: 8px 0; }
svg text { font: 12px system-ui, "DejaVu Sans", sans-serif; fill: var(--fg); }
svg text.axis { fill: var(--muted); font-size: 11px; } svg text.val { fill: var(--muted); }
svg text.rate { fill: #b91c1c; } svg text.rank { font-size: 10px; font-weight: 700; fill: #111; }
.bar-size { fill: #4c78a8; } .bar-scan { fill: #2563eb; } .bar-write { fill: #f58518; }
.bar-reclaim { fill: #e45756; } .bar-acc { fill: #72a0c8; }
.line-rate { fill: none; stroke: #b91c1c; stroke-width: 2; }
.grid { stroke: #e5e7eb; stroke-width: 1; } .axisline { stroke: #6b7280; stroke-width: 1; }
.st-done { fill: #1e7b34; } .st-running { fill: #2563eb; } .st-failed { fill: #b91c1c; }
.sev-fatl { fill: #b91c1c; } .sev-sers { fill: #f58518; } .sev-minr { fill: #eeca3b; } .sev-none { fill: #54a24b; } .sev-unkn { fill: #9ca3af; }
.sea { fill: #f1f6fb; stroke: #9ca3af; } .grat { stroke: #c7d2de; stroke-width: 0.7; }
.cell { fill: none; stroke: #374151; stroke-width: 0.6; } .spot { stroke: #7f1d1d; stroke-width: 0.8; fill-opacity: 0.85; }
.legend { stroke: #6b7280; stroke-width: 0.5; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  svg.chart, tr, p.summary { break-inside: avoid; page-break-inside: avoid; }
  a { color: inherit; }
  p.summary, th { background: none; }
  .badge { color: #000; background: none; border: 1px solid #000; }
}
"#;

fn rendered<T>(p: &Part<T>, f: impl FnOnce(&T) -> Rendered) -> Rendered {
    match p {
        Part::Ready(v) => f(v),
        Part::Missing(why) => missing(why),
    }
}

/// The page.
pub fn render(d: &ReportData) -> String {
    let sections = [
        rendered(&d.usage, |r| index_usage::render(r)),
        rendered(&d.unused, |r| unused_indexes::render(r)),
        rendered(&d.duplicates, |r| duplicate_indexes::render(r)),
        rendered(&d.invalid, |r| invalid_indexes::render(r)),
        rendered(&d.bloat, |r| index_bloat::render(r, d.sample_pages)),
        rendered(&d.reindex, reindex::render),
        rendered(&d.refresh, refresh::render),
        rendered(&d.stats, accident_stats::render),
        rendered(&d.hotspots, hotspots::render),
    ];
    let scope = match &d.schema {
        Some(s) => format!("schema {s}"),
        None => "every schema".to_string(),
    };
    let bloat = match d.sample_pages {
        Some(p) => format!("sampled ({} pages per index)", fmt_int(p as i64)),
        None => "exact".into(),
    };
    // Line breaks where the page always had them: after the head's elements and each section.
    html! {
        (DOCTYPE) "\n"
        html lang="en" {
            "\n"
            head {
                "\n"
                meta charset="utf-8";
                "\n"
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; style-src 'unsafe-inline'";
                "\n"
                meta name="viewport" content="width=device-width, initial-scale=1";
                "\n"
                title { "ntsb_perf health report: " (Text(&d.database)) }
                "\n"
                // Our own stylesheet (a constant), which escaping would break (its quotes).
                style { (PreEscaped(STYLE)) }
                "\n"
            }
            "\n"
            body {
                "\n"
                header {
                    h1 { "Health report of database " (Text(&d.database)) }
                    p class="meta" {
                        "Generated " (Text(&d.generated_at)) " by ntsb_perf " (Text(&d.version))
                        " for " (Text(&scope)) ", with the privileges of the role that ran it. "
                        "Index bloat " (bloat) "."
                    }
                }
                "\n"
                (summary::render(&sections))
                "\n"
                @for ((id, title), s) in SECTIONS[1..].iter().zip(&sections) {
                    section id=(id) {
                        h2 { (Text(title)) }
                        p class={ "summary " (s.level.class()) } { (Text(&s.summary)) }
                        (s.body)
                    }
                    "\n"
                }
                footer {
                    "ntsb_perf health_report(): one HTML page, inline CSS and SVG only, no script "
                    "and no external resource. Figures are those the extension's reports return "
                    "(index_usage, unused_indexes, duplicate_indexes, invalid_indexes, "
                    "index_bloat_report, reindex_history, reindex_status, refresh_status, "
                    "refresh_log, accident_stats, accident_hotspots)."
                }
                "\n"
            }
            "\n"
        }
        "\n"
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = "<img src=x onerror=alert(1)>";
    const EVIL_SCHEMA: &str = "</style><script>alert('x')</script>";

    fn sample() -> ReportData {
        let usage = vec![IndexUsage {
            schema_name: EVIL_SCHEMA.into(),
            table_name: "t\"&'".into(),
            index_name: EVIL.into(),
            access_method: "btree".into(),
            idx_scan: 0,
            index_bytes: 1_234_567,
            index_size: "1206 kB".into(),
            is_valid: true,
            table_writes: 42,
        }];
        ReportData {
            database: "db<b>".into(),
            generated_at: "2024-01-01 00:00:00+00".into(),
            schema: Some(EVIL_SCHEMA.into()),
            sample_pages: Some(20),
            version: "0.2.0".into(),
            usage: Part::Ready(usage),
            unused: Part::Ready(vec![UnusedIndex {
                schema_name: EVIL_SCHEMA.into(),
                table_name: "t".into(),
                index_name: EVIL.into(),
                index_bytes: 8192,
                index_size: "8192 bytes".into(),
                table_writes: 3,
                stats_since: None,
                drop_statement: format!("DROP INDEX CONCURRENTLY \"{EVIL_SCHEMA}\".\"{EVIL}\""),
                last_used_days: None,
            }]),
            duplicates: Part::Ready(vec![]),
            invalid: Part::Missing("could not be read: permission denied <x>".into()),
            bloat: Part::Missing("needs pg_stat_scan_tables".into()),
            reindex: Part::Ready(ReindexData {
                history: vec![ReindexRun {
                    index_name: EVIL.into(),
                    table_name: "t".into(),
                    started_at: "2024-01-01".into(),
                    started_epoch: 1.7e9,
                    duration: Some("00:00:01".into()),
                    bytes_before: 100,
                    bytes_after: Some(40),
                    status: "done".into(),
                    triggered_by: "manual".into(),
                    error: None,
                }],
                running: vec![],
            }),
            refresh: Part::Ready(RefreshData::default()),
            stats: Part::Ready(AccidentData {
                source: "public.events".into(),
                years: vec![YearStats {
                    year: 2020,
                    accidents: 10,
                    fatal_accidents: 2,
                    fatal_rate: Some(0.2),
                    fatalities: Some(3),
                }],
                accidents: 10,
                fatal_accidents: 2,
                severity: vec![("FATL".into(), 2), ("NONE".into(), 8)],
            }),
            hotspots: Part::Missing("PostGIS is not installed".into()),
        }
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(
            escape("a\u{0}b\u{1b}c\u{85}"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}"
        );
        assert_eq!(escape("tab\tnl\n é"), "tab\tnl\n é");
        assert_eq!(truncate_chars("ééééé", 3), "éé…");
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(fmt_int(0), "0");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_int(1000), "1,000");
        assert_eq!(fmt_int(-1_234_567), "-1,234,567");
        assert_eq!(fmt_int(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn hostile_names_never_become_markup() {
        let page = render(&sample());
        assert!(!page.contains("<img"));
        assert!(!page.contains("<script"));
        assert!(!page.contains("<b>"));
        assert_eq!(page.matches("</style>").count(), 1);
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(page.contains("&lt;/style&gt;&lt;script&gt;"));
        // Every tag the page opens is one the report writes.
        let allowed = [
            "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "h1", "p",
            "section", "h2", "h3", "ul", "li", "span", "a", "table", "thead", "tbody", "tr", "th",
            "td", "code", "svg", "rect", "text", "line", "polyline", "circle", "footer",
        ];
        for tag in page.split('<').skip(1) {
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                .collect();
            let name = if name == "!DOCTYPE" {
                name
            } else {
                name.to_ascii_lowercase()
            };
            assert!(allowed.contains(&name.as_str()), "unexpected tag {name:?}");
        }
    }

    #[test]
    fn every_section_is_there_with_a_summary() {
        let page = render(&sample());
        for (id, title) in SECTIONS {
            assert!(
                page.contains(&format!("<section id=\"{id}\"><h2>{title}</h2>")),
                "{id}"
            );
        }
        assert_eq!(page.matches("<p class=\"summary").count(), SECTIONS.len());
        // Missing data says so, with its reason.
        assert!(page.contains("needs pg_stat_scan_tables"));
        assert!(page.contains("PostGIS is not installed"));
        assert!(page.contains("permission denied &lt;x&gt;"));
        // The unused index counts as something to look at; a rebuild that reclaimed 60 bytes.
        assert!(page.contains("1 index was never scanned since the statistics began"));
        assert!(page.contains("the finished ones reclaimed 60 bytes"));
        assert!(page
            .contains("10 accidents in public.events from 2020 to 2020, 2 of them fatal (20.0%)"));
        assert!(!page.contains("NaN"));
        // No URL of any kind (inline SVG needs no xmlns in HTML5).
        assert!(
            !page.contains("http:")
                && !page.contains("https:")
                && !page.contains("url(")
                && !page.contains("://")
        );
        assert!(!page.contains("<script"));
    }

    #[test]
    fn long_tables_are_cut_and_say_so() {
        let mut d = sample();
        d.usage = Part::Ready(
            (0..120)
                .map(|i| IndexUsage {
                    schema_name: "s".into(),
                    table_name: "t".into(),
                    index_name: format!("i{i}"),
                    access_method: "btree".into(),
                    idx_scan: i,
                    index_bytes: 8192 * i,
                    index_size: String::new(),
                    is_valid: true,
                    table_writes: 0,
                })
                .collect(),
        );
        let page = render(&d);
        assert!(page.contains("The first 50 of 120 indexes are listed."));
        assert!(page.contains("120 indexes use"));
        assert!(page.contains("the largest is s.i119"));
    }
}
