//! Section "Reindex history": the rebuilds ntsb_perf ran (a timeline and a table) and the ones
//! running now.

use maud::{html, Markup, PreEscaped};

use super::markup::{code, fmt_int, n, plural, t, Rendered, Table};
use super::svg::{self, Rebuild};
use super::Level;

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

pub(crate) fn render(d: &ReindexData) -> Rendered {
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
    Rendered {
        level,
        summary,
        body: html! {
            @if !d.history.is_empty() {
                h3 { "Timeline of rebuilds" }
                // The chart is markup of svg.rs, which escapes every text it writes.
                (PreEscaped(timeline(&d.history)))
                (history_table(&d.history))
            }
            @if !d.running.is_empty() {
                h3 { "Running now" }
                (running_table(&d.running))
            }
        },
    }
}

/// The timeline chart of `history` (most recent first), as svg.rs writes it.
fn timeline(history: &[ReindexRun]) -> String {
    let rebuilds: Vec<Rebuild> = history
        .iter()
        .map(|r| Rebuild {
            label: r.index_name.clone(),
            at: r.started_epoch,
            reclaimed: r.bytes_after.map(|a| r.bytes_before - a),
            status: r.status.clone(),
        })
        .collect();
    let first = history.last().map(|r| r.started_at.as_str()).unwrap_or("");
    let last = history.first().map(|r| r.started_at.as_str()).unwrap_or("");
    svg::timeline(&rebuilds, first, last)
}

fn history_table(history: &[ReindexRun]) -> Markup {
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
    for r in history {
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
    table.html(history.len(), "rebuilds")
}

fn running_table(running: &[RunningRebuild]) -> Markup {
    let mut table = Table::new(&[
        ("Worker pid", true),
        ("Run by", false),
        ("Statement", false),
        ("Running for", false),
        ("Phase", false),
    ]);
    for r in running {
        table.row(vec![
            n(r.pid as i64),
            t(&r.run_by),
            code(&r.statement),
            t(&r.running_for),
            t(r.phase.as_deref().unwrap_or("")),
        ]);
    }
    table.html(running.len(), "rebuilds")
}
