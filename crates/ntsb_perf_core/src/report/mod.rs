//! `health_report`: one self-contained HTML5 page (inline CSS and SVG, no script, no URL)
//! from the rows of the extension's own reports, which the server side gathers into
//! [`ReportData`]. Every text that reaches the page passes through [`escape`]; the page's
//! Content-Security-Policy forbids scripts and every fetch besides.

pub mod geojson;
pub mod svg;

use std::fmt::Write as _;

use geojson::Cell;
use svg::{Bar, IndexBar, Rebuild, Share, YearBar};

/// HTML-escapes text for element content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab/newline are not allowed in HTML text.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push('\u{FFFD}'),
            '\u{7f}'..='\u{9f}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// At most `n` characters of `s` (a `…` marks a cut).
pub fn truncate_chars(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// An integer with thousands separators: `1,234,567`.
pub fn fmt_int(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn fmt_opt_f(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite())
        .map(|v| format!("{v:.digits$}"))
        .unwrap_or_default()
}

/// A section's data, or why there is none (in words, shown in its place).
#[derive(Debug, Clone, PartialEq)]
pub enum Part<T> {
    Ready(T),
    Missing(String),
}

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

#[derive(Debug, Clone, PartialEq, Default)]
pub struct InvalidIndex {
    pub schema_name: String,
    pub table_name: String,
    pub index_name: String,
    pub index_size: String,
    pub likely_cause: String,
    pub drop_statement: Option<String>,
}

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

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReindexRun {
    pub index_name: String,
    pub table_name: String,
    pub started_at: String,
    pub started_epoch: f64,
    pub duration: Option<String>,
    pub bytes_before: i64,
    pub bytes_after: Option<i64>,
    pub status: String,
    pub triggered_by: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunningRebuild {
    pub pid: i32,
    pub run_by: String,
    pub statement: String,
    pub running_for: String,
    pub phase: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReindexData {
    /// Most recent first.
    pub history: Vec<ReindexRun>,
    pub running: Vec<RunningRebuild>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefreshView {
    pub view: String,
    pub schedule: String,
    pub last_refresh: Option<String>,
    /// Seconds since the last successful refresh.
    pub stale_seconds: Option<f64>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub refresh_reason: Option<String>,
    pub job_active: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefreshFailure {
    pub view: String,
    pub started_at: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefreshData {
    /// Whether pg_cron is installed in this database (otherwise no schedule runs).
    pub pg_cron: bool,
    pub views: Vec<RefreshView>,
    /// Most recent first.
    pub failures: Vec<RefreshFailure>,
}

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

#[derive(Debug, Clone, PartialEq)]
pub struct HotspotData {
    pub source: String,
    pub cell_km: f64,
    pub cells: Vec<Cell>,
    pub skipped_null: i64,
    pub skipped_other: i64,
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

const MAX_TABLE_ROWS: usize = 50;

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

struct Table {
    head: Vec<(&'static str, bool)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(head: &[(&'static str, bool)]) -> Table {
        Table {
            head: head.to_vec(),
            rows: Vec::new(),
        }
    }
    /// A row of already-escaped cells.
    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
    fn html(&self, total: usize, what: &str) -> String {
        let mut s = String::from("<table><thead><tr>");
        for (h, num) in &self.head {
            let _ = write!(
                s,
                "<th{}>{}</th>",
                if *num { " class=\"num\"" } else { "" },
                escape(h)
            );
        }
        s += "</tr></thead><tbody>";
        for r in self.rows.iter().take(MAX_TABLE_ROWS) {
            s += "<tr>";
            for (c, (_, num)) in r.iter().zip(&self.head) {
                let _ = write!(
                    s,
                    "<td{}>{c}</td>",
                    if *num { " class=\"num\"" } else { "" }
                );
            }
            s += "</tr>";
        }
        s += "</tbody></table>";
        if total > MAX_TABLE_ROWS {
            let _ = write!(
                s,
                "<p class=\"more\">The first {MAX_TABLE_ROWS} of {} {what} are listed.</p>",
                fmt_int(total as i64)
            );
        }
        s
    }
}

fn t(s: &str) -> String {
    escape(s)
}
fn n(v: i64) -> String {
    fmt_int(v)
}
fn code(s: &str) -> String {
    format!("<code>{}</code>", escape(s))
}
fn qualified(schema: &str, name: &str) -> String {
    format!("{schema}.{name}")
}
fn plural(k: usize, one: &str, many: &str) -> String {
    format!("{} {}", fmt_int(k as i64), if k == 1 { one } else { many })
}

/// One rendered section: level, summary sentence, body HTML.
struct Rendered {
    level: Level,
    summary: String,
    body: String,
}

fn missing(why: &str) -> Rendered {
    Rendered {
        level: Level::Missing,
        summary: why.to_string(),
        body: format!("<p class=\"missing\">{}</p>", escape(why)),
    }
}

fn render_usage(rows: &[IndexUsage]) -> Rendered {
    if rows.is_empty() {
        return Rendered {
            level: Level::Ok,
            summary: "No indexes are visible to you here.".into(),
            body: String::new(),
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
            t(&r.index_name) + if r.is_valid { "" } else { " (invalid)" },
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
        body: format!(
            "<h3>The {} largest indexes</h3>{}<h3>Every index, most scanned first</h3>{}",
            bars.len(),
            svg::index_chart(&bars),
            table.html(rows.len(), "indexes")
        ),
    }
}

fn render_unused(rows: &[UnusedIndex]) -> Rendered {
    if rows.is_empty() {
        return Rendered {
            level: Level::Ok,
            summary: "No index is unused: every droppable index has been scanned.".into(),
            body: String::new(),
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

fn render_duplicates(rows: &[DuplicateIndex]) -> Rendered {
    if rows.is_empty() {
        return Rendered {
            level: Level::Ok,
            summary: "No index is made redundant by another.".into(),
            body: String::new(),
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

fn render_invalid(rows: &[InvalidIndex]) -> Rendered {
    if rows.is_empty() {
        return Rendered {
            level: Level::Ok,
            summary: "No invalid index.".into(),
            body: String::new(),
        };
    }
    let mut table = Table::new(&[
        ("Table", false),
        ("Index", false),
        ("Size", true),
        ("Likely cause", false),
        ("Drop statement", false),
    ]);
    for r in rows {
        table.row(vec![
            t(&qualified(&r.schema_name, &r.table_name)),
            t(&r.index_name),
            t(&r.index_size),
            t(&r.likely_cause),
            r.drop_statement
                .as_deref()
                .map(code)
                .unwrap_or_else(|| "(none while it is being built)".into()),
        ]);
    }
    Rendered {
        level: Level::Attention,
        summary: format!(
            "{} invalid: queries never use {} but every write maintains {}.",
            plural(rows.len(), "index is", "indexes are"),
            if rows.len() == 1 { "it" } else { "them" },
            if rows.len() == 1 { "it" } else { "them" },
        ),
        body: table.html(rows.len(), "invalid indexes"),
    }
}

fn render_bloat(rows: &[BloatEntry], sample_pages: Option<i32>) -> Rendered {
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
            body: String::new(),
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
            fmt_opt_f(r.bloat_ratio, 3),
            fmt_opt_f(r.avg_leaf_density, 2),
            fmt_opt_f(r.baseline_density, 2),
            t(&r.method),
        ]);
    }
    let chart = if bars.is_empty() {
        String::new()
    } else {
        format!(
            "<h3>Reclaimable bytes per index</h3>{}",
            svg::hbar_chart("Reclaimable bytes per index", &bars, "bar-reclaim")
        )
    };
    Rendered {
        level,
        summary,
        body: format!(
            "{chart}<p>Leaf density against the index's baseline (its density right after its last rebuild by ntsb_perf; empty when it has none).</p>{}",
            table.html(rows.len(), "indexes")
        ),
    }
}

fn render_reindex(d: &ReindexData) -> Rendered {
    let failed = d
        .history
        .iter()
        .filter(|r| matches!(r.status.as_str(), "failed" | "cancelled" | "terminated"))
        .count();
    let reclaimed: i64 = d
        .history
        .iter()
        .filter(|r| r.status == "done")
        .filter_map(|r| r.bytes_after.map(|a| r.bytes_before - a))
        .sum();
    let mut summary = if d.history.is_empty() {
        "No index has been rebuilt by ntsb_perf yet.".to_string()
    } else {
        format!(
            "{} recorded ({} did not finish); the finished ones reclaimed {} bytes.",
            plural(d.history.len(), "rebuild", "rebuilds"),
            fmt_int(failed as i64),
            fmt_int(reclaimed)
        )
    };
    if d.running.is_empty() {
        summary += " No rebuild is running now.";
    } else {
        summary += &format!(
            " {} now.",
            plural(
                d.running.len(),
                "rebuild is running",
                "rebuilds are running"
            )
        );
    }
    let level = if failed > 0 {
        Level::Attention
    } else {
        Level::Ok
    };
    let mut body = String::new();
    if !d.history.is_empty() {
        let rebuilds: Vec<Rebuild> = d
            .history
            .iter()
            .map(|r| Rebuild {
                label: r.index_name.clone(),
                at: r.started_epoch,
                reclaimed: r.bytes_after.map(|a| r.bytes_before - a),
                status: r.status.clone(),
            })
            .collect();
        let first = d
            .history
            .last()
            .map(|r| r.started_at.as_str())
            .unwrap_or("");
        let last = d
            .history
            .first()
            .map(|r| r.started_at.as_str())
            .unwrap_or("");
        body += "<h3>Timeline of rebuilds</h3>";
        body += &svg::timeline(&rebuilds, first, last);
        let mut table = Table::new(&[
            ("Started", false),
            ("Index", false),
            ("Table", false),
            ("Status", false),
            ("By", false),
            ("Duration", false),
            ("Bytes before", true),
            ("Bytes after", true),
            ("Reclaimed bytes", true),
            ("Error", false),
        ]);
        for r in &d.history {
            table.row(vec![
                t(&r.started_at),
                t(&r.index_name),
                t(&r.table_name),
                t(&r.status),
                t(&r.triggered_by),
                t(r.duration.as_deref().unwrap_or("")),
                n(r.bytes_before),
                r.bytes_after.map(n).unwrap_or_default(),
                r.bytes_after
                    .map(|a| n(r.bytes_before - a))
                    .unwrap_or_default(),
                t(r.error.as_deref().unwrap_or("")),
            ]);
        }
        body += &table.html(d.history.len(), "rebuilds");
    }
    if !d.running.is_empty() {
        let mut table = Table::new(&[
            ("Worker pid", true),
            ("Run by", false),
            ("Statement", false),
            ("Running for", false),
            ("Phase", false),
        ]);
        for r in &d.running {
            table.row(vec![
                n(r.pid as i64),
                t(&r.run_by),
                code(&r.statement),
                t(&r.running_for),
                t(r.phase.as_deref().unwrap_or("")),
            ]);
        }
        body += "<h3>Running now</h3>";
        body += &table.html(d.running.len(), "rebuilds");
    }
    Rendered {
        level,
        summary,
        body,
    }
}

fn duration_words(secs: f64) -> String {
    let s = secs.max(0.0);
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86400.0)
    }
}

fn render_refresh(d: &RefreshData) -> Rendered {
    let failing: Vec<&RefreshView> = d
        .views
        .iter()
        .filter(|v| v.last_status.as_deref() == Some("failed"))
        .collect();
    let mut summary = if d.views.is_empty() {
        "No materialized view is scheduled for refresh.".to_string()
    } else {
        let stalest = d
            .views
            .iter()
            .filter_map(|v| v.stale_seconds.map(|s| (s, v)))
            .max_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        let never = d.views.iter().filter(|v| v.last_refresh.is_none()).count();
        let mut s = format!(
            "{} scheduled, {} last run failed",
            plural(d.views.len(), "view", "views"),
            fmt_int(failing.len() as i64)
        );
        if let Some((secs, v)) = stalest {
            let _ = write!(
                s,
                "; the stalest is {} (refreshed {} ago)",
                v.view,
                duration_words(secs)
            );
        }
        if never > 0 {
            let _ = write!(
                s,
                "; {} never refreshed",
                plural(never, "view was", "views were")
            );
        }
        s + "."
    };
    if !d.pg_cron {
        summary += " pg_cron is not installed in this database: no schedule runs.";
    }
    let level = if !failing.is_empty() || !d.failures.is_empty() {
        Level::Attention
    } else if !d.pg_cron && d.views.is_empty() {
        Level::Missing
    } else {
        Level::Ok
    };
    let mut body = String::new();
    if !d.pg_cron {
        body += "<p class=\"missing\">pg_cron is not installed in this database (CREATE EXTENSION pg_cron; in the database named by cron.database_name): refresh scheduling is not active.</p>";
    }
    if !d.views.is_empty() {
        let mut table = Table::new(&[
            ("View", false),
            ("Schedule", false),
            ("Last refresh", false),
            ("Stale for", true),
            ("Last status", false),
            ("Would refresh because", false),
            ("Job active", false),
            ("Last error", false),
        ]);
        for v in &d.views {
            table.row(vec![
                t(&v.view),
                code(&v.schedule),
                t(v.last_refresh.as_deref().unwrap_or("never")),
                t(&v.stale_seconds.map(duration_words).unwrap_or_default()),
                t(v.last_status.as_deref().unwrap_or("")),
                t(v.refresh_reason.as_deref().unwrap_or("(up to date)")),
                t(match v.job_active {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "(no job)",
                }),
                t(v.last_error.as_deref().unwrap_or("")),
            ]);
        }
        body += &table.html(d.views.len(), "views");
    }
    if !d.failures.is_empty() {
        let mut table = Table::new(&[("View", false), ("Started", false), ("Error", false)]);
        for f in &d.failures {
            table.row(vec![
                t(&f.view),
                t(&f.started_at),
                t(f.error.as_deref().unwrap_or("")),
            ]);
        }
        body += "<h3>Last failures</h3>";
        body += &table.html(d.failures.len(), "failures");
    }
    Rendered {
        level,
        summary,
        body,
    }
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

fn render_stats(d: &AccidentData) -> Rendered {
    if d.accidents == 0 {
        return Rendered {
            level: Level::Missing,
            summary: format!("{} holds no accidents.", d.source),
            body: format!(
                "<p class=\"missing\">{} holds no accidents.</p>",
                escape(&d.source)
            ),
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
            y.year.to_string(),
            n(y.accidents),
            n(y.fatal_accidents),
            fmt_opt_f(y.fatal_rate.map(|r| r * 100.0), 2),
            y.fatalities.map(n).unwrap_or_default(),
        ]);
    }
    Rendered {
        level: Level::Ok,
        summary,
        body: format!(
            "<h3>Accidents and fatal rate per year</h3>{}<h3>Severity breakdown</h3>{}<h3>Per year</h3>{}",
            svg::year_chart(&bars),
            svg::severity_bar(&shares),
            table.html(d.years.len(), "years")
        ),
    }
}

fn render_hotspots(d: &HotspotData) -> Rendered {
    if d.cells.is_empty() {
        return Rendered {
            level: Level::Missing,
            summary: format!("No accident in {} has a location.", d.source),
            body: format!(
                "<p class=\"missing\">No accident in {} has a location.</p>",
                escape(&d.source)
            ),
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
        table.row(vec![
            c.rank.to_string(),
            format!("{:.6}", c.lon),
            format!("{:.6}", c.lat),
            n(c.accidents as i64),
            n(c.fatal_accidents as i64),
            format!(
                "{:.1}",
                if c.accidents > 0 {
                    c.fatal_accidents as f64 / c.accidents as f64 * 100.0
                } else {
                    0.0
                }
            ),
        ]);
    }
    Rendered {
        level: Level::Ok,
        summary,
        body: format!(
            "{}<p>Cells of {} km on an equal-area grid (their outlines), discs sized by accidents and coloured by fatal share; the same cells as GeoJSON: <code>ntsb_perf.hotspots_geojson(ntsb_perf.accident_hotspots(geom, ...))</code>.</p>{}",
            svg::hotspot_map(&d.cells, d.cell_km),
            d.cell_km,
            table.html(d.cells.len(), "cells")
        ),
    }
}

fn rendered<T>(p: &Part<T>, f: impl FnOnce(&T) -> Rendered) -> Rendered {
    match p {
        Part::Ready(v) => f(v),
        Part::Missing(why) => missing(why),
    }
}

/// The page.
pub fn render(d: &ReportData) -> String {
    let sections = [
        rendered(&d.usage, |r| render_usage(r)),
        rendered(&d.unused, |r| render_unused(r)),
        rendered(&d.duplicates, |r| render_duplicates(r)),
        rendered(&d.invalid, |r| render_invalid(r)),
        rendered(&d.bloat, |r| render_bloat(r, d.sample_pages)),
        rendered(&d.reindex, render_reindex),
        rendered(&d.refresh, render_refresh),
        rendered(&d.stats, render_stats),
        rendered(&d.hotspots, render_hotspots),
    ];
    let scope = match &d.schema {
        Some(s) => format!("schema {s}"),
        None => "every schema".to_string(),
    };
    let mut page = String::with_capacity(64 * 1024);
    page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    page += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n";
    page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    let _ = writeln!(
        page,
        "<title>ntsb_perf health report: {}</title>",
        escape(&d.database)
    );
    let _ = writeln!(page, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(
        page,
        "<header><h1>Health report of database {}</h1><p class=\"meta\">Generated {} by ntsb_perf {} for {}, with the privileges of the role that ran it. Index bloat {}.</p></header>",
        escape(&d.database),
        escape(&d.generated_at),
        escape(&d.version),
        escape(&scope),
        match d.sample_pages {
            Some(p) => format!("sampled ({} pages per index)", fmt_int(p as i64)),
            None => "exact".into(),
        }
    );
    let attention = sections
        .iter()
        .filter(|s| s.level == Level::Attention)
        .count();
    let _ = write!(
        page,
        "<section id=\"{}\"><h2>{}</h2><p class=\"summary {}\">{}</p><ul class=\"overview\">",
        SECTIONS[0].0,
        SECTIONS[0].1,
        if attention > 0 { "attention" } else { "ok" },
        if attention == 0 {
            "Nothing needs attention.".to_string()
        } else {
            format!(
                "{} of {} sections {} attention.",
                attention,
                sections.len(),
                if attention == 1 { "needs" } else { "need" }
            )
        }
    );
    for ((id, title), s) in SECTIONS[1..].iter().zip(&sections) {
        let _ = write!(
            page,
            "<li><span class=\"badge {}\">{}</span><a href=\"#{id}\">{}</a>: {}</li>",
            s.level.class(),
            s.level.word(),
            escape(title),
            escape(&s.summary)
        );
    }
    page += "</ul></section>\n";
    for ((id, title), s) in SECTIONS[1..].iter().zip(&sections) {
        let _ = writeln!(
            page,
            "<section id=\"{id}\"><h2>{}</h2><p class=\"summary {}\">{}</p>{}</section>",
            escape(title),
            s.level.class(),
            escape(&s.summary),
            s.body
        );
    }
    page += "<footer>ntsb_perf health_report(): one HTML page, inline CSS and SVG only, no script and no external resource. Figures are those the extension's reports return (index_usage, unused_indexes, duplicate_indexes, invalid_indexes, index_bloat_report, reindex_history, reindex_status, refresh_status, refresh_log, accident_stats, accident_hotspots).</footer>\n</body>\n</html>\n";
    page
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
