//! Section "Refresh status": the materialized views scheduled for refresh and their last
//! failures.

use std::fmt::Write as _;

use maud::{html, Markup};

use super::markup::{code, fmt_int, plural, t, Rendered, Table};
use super::Level;

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

pub(crate) fn render(d: &RefreshData) -> Rendered {
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
    Rendered {
        level,
        summary,
        body: html! {
            @if !d.pg_cron {
                p class="missing" {
                    "pg_cron is not installed in this database (CREATE EXTENSION pg_cron; in the "
                    "database named by cron.database_name): refresh scheduling is not active."
                }
            }
            @if !d.views.is_empty() {
                (views_table(&d.views))
            }
            @if !d.failures.is_empty() {
                h3 { "Last failures" }
                (failures_table(&d.failures))
            }
        },
    }
}

fn views_table(views: &[RefreshView]) -> Markup {
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
    for v in views {
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
    table.html(views.len(), "views")
}

fn failures_table(failures: &[RefreshFailure]) -> Markup {
    let mut table = Table::new(&[("View", false), ("Started", false), ("Error", false)]);
    for f in failures {
        table.row(vec![
            t(&f.view),
            t(&f.started_at),
            t(f.error.as_deref().unwrap_or("")),
        ]);
    }
    table.html(failures.len(), "failures")
}
