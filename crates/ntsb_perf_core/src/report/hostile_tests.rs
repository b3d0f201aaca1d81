//! A hostile text in every text field of [`ReportData`], in each section with data, without
//! data and empty: the page shows each one as text (markup escaped, control characters
//! replaced) and nothing else.

use super::geojson::{self, Cell};
use super::*;

/// Markup, both quotes, an entity, C0 and C1 controls (NUL, ESC, CR, DEL, NEL, APC) and
/// non-characters: what a hostile name, error message or setting could hold.
const HOSTILE: &str =
    "<script>alert(\"x\")</script>'&amp;\u{0}\u{1b}\r\u{7f}\u{85}\u{9f}\u{FFFE}\u{FDD0}\u{FFFF}";

/// `label` then [`HOSTILE`]: each field carries its own label, so that the test can find
/// every one of them on the page.
fn h(label: &str) -> String {
    format!("{label}:{HOSTILE}")
}

/// Every section with data, every text field hostile.
fn hostile_report() -> ReportData {
    ReportData {
        database: h("database"),
        generated_at: h("generated_at"),
        schema: Some(h("schema")),
        sample_pages: Some(20),
        version: h("version"),
        usage: Part::Ready(vec![IndexUsage {
            schema_name: h("usage.schema_name"),
            table_name: h("usage.table_name"),
            index_name: h("usage.index_name"),
            access_method: h("usage.access_method"),
            idx_scan: 0,
            index_bytes: 16384,
            index_size: h("usage.index_size"),
            is_valid: false,
            table_writes: 7,
        }]),
        unused: Part::Ready(vec![UnusedIndex {
            schema_name: h("unused.schema_name"),
            table_name: h("unused.table_name"),
            index_name: h("unused.index_name"),
            index_bytes: 8192,
            index_size: h("unused.index_size"),
            table_writes: 3,
            stats_since: Some(h("unused.stats_since")),
            drop_statement: h("unused.drop_statement"),
            last_used_days: None,
        }]),
        duplicates: Part::Ready(vec![DuplicateIndex {
            schema_name: h("duplicates.schema_name"),
            table_name: h("duplicates.table_name"),
            index_name: h("duplicates.index_name"),
            covered_by: h("duplicates.covered_by"),
            reason: h("duplicates.reason"),
            reclaimable_bytes: 8192,
            reclaimable_size: h("duplicates.reclaimable_size"),
            drop_statement: h("duplicates.drop_statement"),
        }]),
        invalid: Part::Ready(vec![
            InvalidIndex {
                schema_name: h("invalid.schema_name"),
                table_name: h("invalid.table_name"),
                index_name: h("invalid.index_name"),
                index_size: h("invalid.index_size"),
                likely_cause: h("invalid.likely_cause"),
                drop_statement: Some(h("invalid.drop_statement")),
            },
            InvalidIndex {
                drop_statement: None,
                ..InvalidIndex::default()
            },
        ]),
        bloat: Part::Ready(vec![BloatEntry {
            schema_name: h("bloat.schema_name"),
            table_name: h("bloat.table_name"),
            index_name: h("bloat.index_name"),
            access_method: h("bloat.access_method"),
            index_size: h("bloat.index_size"),
            reclaimable_bytes: 4096,
            reclaimable_size: h("bloat.reclaimable_size"),
            bloat_ratio: Some(2.5),
            avg_leaf_density: Some(36.0),
            baseline_density: Some(90.0),
            method: h("bloat.method"),
        }]),
        reindex: Part::Ready(ReindexData {
            history: vec![
                ReindexRun {
                    index_name: h("reindex.index_name"),
                    table_name: h("reindex.table_name"),
                    started_at: h("reindex.started_at"),
                    started_epoch: 1.7e9,
                    duration: Some(h("reindex.duration")),
                    bytes_before: 100,
                    bytes_after: Some(40),
                    status: h("reindex.status"),
                    triggered_by: h("reindex.triggered_by"),
                    error: Some(h("reindex.error")),
                },
                ReindexRun {
                    status: "done".into(),
                    started_epoch: 1.6e9,
                    bytes_before: 100,
                    bytes_after: Some(10),
                    ..ReindexRun::default()
                },
            ],
            running: vec![RunningRebuild {
                pid: 4242,
                run_by: h("running.run_by"),
                statement: h("running.statement"),
                running_for: h("running.running_for"),
                phase: Some(h("running.phase")),
            }],
        }),
        refresh: Part::Ready(RefreshData {
            pg_cron: true,
            views: vec![RefreshView {
                view: h("refresh.view"),
                schedule: h("refresh.schedule"),
                last_refresh: Some(h("refresh.last_refresh")),
                stale_seconds: Some(4000.0),
                last_status: Some(h("refresh.last_status")),
                last_error: Some(h("refresh.last_error")),
                refresh_reason: Some(h("refresh.refresh_reason")),
                job_active: Some(true),
            }],
            failures: vec![RefreshFailure {
                view: h("failure.view"),
                started_at: h("failure.started_at"),
                error: Some(h("failure.error")),
            }],
        }),
        stats: Part::Ready(AccidentData {
            source: h("stats.source"),
            years: vec![
                YearStats {
                    year: 2019,
                    accidents: 30,
                    fatal_accidents: 3,
                    fatal_rate: Some(0.1),
                    fatalities: Some(4),
                },
                YearStats {
                    year: 2020,
                    accidents: 25,
                    fatal_accidents: 5,
                    fatal_rate: Some(0.2),
                    fatalities: None,
                },
            ],
            accidents: 55,
            fatal_accidents: 8,
            severity: vec![(h("stats.severity"), 8), ("NONE".into(), 47)],
        }),
        hotspots: Part::Ready(HotspotData {
            source: h("hotspots.source"),
            cell_km: 50.0,
            cells: vec![Cell {
                rank: 1,
                lon: -118.4,
                lat: 34.0,
                accidents: 12,
                fatal_accidents: 2,
                bounds: geojson::cell_bounds(-118.4, 34.0, 50.0),
            }],
            skipped_null: 1,
            skipped_other: 2,
        }),
    }
}

/// Every section without data, for a hostile reason.
fn hostile_missing() -> ReportData {
    ReportData {
        usage: Part::Missing(h("usage.missing")),
        unused: Part::Missing(h("unused.missing")),
        duplicates: Part::Missing(h("duplicates.missing")),
        invalid: Part::Missing(h("invalid.missing")),
        bloat: Part::Missing(h("bloat.missing")),
        reindex: Part::Missing(h("reindex.missing")),
        refresh: Part::Missing(h("refresh.missing")),
        stats: Part::Missing(h("stats.missing")),
        hotspots: Part::Missing(h("hotspots.missing")),
        schema: None,
        sample_pages: None,
        ..hostile_report()
    }
}

/// Every section read but empty (no accident, no located accident: the source is named).
fn hostile_empty() -> ReportData {
    ReportData {
        usage: Part::Ready(vec![]),
        unused: Part::Ready(vec![]),
        duplicates: Part::Ready(vec![]),
        invalid: Part::Ready(vec![]),
        bloat: Part::Ready(vec![]),
        reindex: Part::Ready(ReindexData::default()),
        refresh: Part::Ready(RefreshData::default()),
        stats: Part::Ready(AccidentData {
            source: h("stats.source"),
            ..AccidentData::default()
        }),
        hotspots: Part::Ready(HotspotData {
            source: h("hotspots.source"),
            cell_km: 25.0,
            cells: vec![],
            skipped_null: 0,
            skipped_other: 0,
        }),
        ..hostile_report()
    }
}

/// [`HOSTILE`] as the page shows it: markup and both quotes as entities, control characters as
/// U+FFFD, non-characters as they are.
const SHOWN: &str = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;amp;\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFE}\u{FDD0}\u{FFFF}";

/// How the page shows `h(label)`.
fn shown(label: &str) -> String {
    format!("{label}:{SHOWN}")
}

/// The page's sections: (id, markup up to the next section or the footer).
fn sections(page: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for part in page.split("<section id=\"").skip(1) {
        let (id, rest) = part.split_once('"').unwrap();
        out.push((id, rest.split("<footer>").next().unwrap()));
    }
    out
}

/// Every tag is one the report writes, with attributes the report writes, each value quoted
/// and closed; no control character but the line feed.
fn assert_inert(page: &str) {
    assert!(!page.contains("<script") && !page.contains("alert(\"x\")"));
    assert!(!page.contains("'&amp;\u{0}") && !page.contains('\u{0}'));
    for c in page.chars() {
        assert!(
            c == '\n' || !(c < ' ' || ('\u{7f}'..='\u{9f}').contains(&c)),
            "control character {c:?}"
        );
    }
    let tags = [
        "html", "head", "meta", "title", "style", "body", "header", "h1", "p", "section", "h2",
        "h3", "ul", "li", "span", "a", "table", "thead", "tbody", "tr", "th", "td", "code", "svg",
        "rect", "text", "line", "polyline", "circle", "footer",
    ];
    let attributes = [
        "lang",
        "charset",
        "http-equiv",
        "content",
        "name",
        "id",
        "class",
        "href",
        "viewbox",
        "role",
        "aria-label",
        "x",
        "y",
        "width",
        "height",
        "text-anchor",
        "x1",
        "y1",
        "x2",
        "y2",
        "points",
        "cx",
        "cy",
        "r",
        "fill",
    ];
    // The stylesheet holds no `<`; skip the doctype.
    for tag in page.split('<').skip(2) {
        let tag = tag.strip_prefix('/').unwrap_or(tag);
        let end = tag.find(|c: char| !c.is_ascii_alphanumeric()).unwrap();
        let (name, mut rest) = tag.split_at(end);
        assert!(tags.contains(&name), "unexpected tag {name:?}");
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.starts_with('>') || rest.starts_with("/>") {
                break;
            }
            let (attr, value) = rest.split_once("=\"").expect("a quoted attribute value");
            assert!(
                attributes.contains(&attr.to_ascii_lowercase().as_str()),
                "unexpected attribute {attr:?} in <{name}>"
            );
            let (value, after) = value.split_once('"').unwrap();
            assert!(!value.contains('<'), "{value:?}");
            rest = after;
        }
    }
}

/// Asserts that `page` has the sections of [`SECTIONS`], in order, and that each shows the
/// fields `expected` lists for it.
fn assert_shown(page: &str, expected: &[(&str, &[&str])]) {
    assert_inert(page);
    let sections = sections(page);
    let ids: Vec<&str> = sections.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, SECTIONS.map(|(id, _)| id));
    for (id, labels) in expected {
        let html = if *id == "header" {
            page.split("</header>").next().unwrap()
        } else {
            sections.iter().find(|(s, _)| s == id).unwrap().1
        };
        for label in *labels {
            assert!(html.contains(&shown(label)), "{label} in {id}");
        }
    }
}

#[test]
fn hostile_text_in_every_field_is_shown_escaped_in_every_section() {
    let page = render(&hostile_report());
    assert_shown(
        &page,
        &[
            ("header", &["database", "generated_at", "version", "schema"]),
            (
                "summary",
                &[
                    "usage.schema_name",
                    "usage.index_name",
                    "usage.index_size",
                    "unused.stats_since",
                    "bloat.schema_name",
                    "bloat.index_name",
                    "refresh.view",
                    "stats.source",
                ],
            ),
            (
                "index-usage",
                &[
                    "usage.schema_name",
                    "usage.table_name",
                    "usage.index_name",
                    "usage.access_method",
                    "usage.index_size",
                ],
            ),
            (
                "unused-indexes",
                &[
                    "unused.schema_name",
                    "unused.table_name",
                    "unused.index_name",
                    "unused.index_size",
                    "unused.stats_since",
                    "unused.drop_statement",
                ],
            ),
            (
                "duplicate-indexes",
                &[
                    "duplicates.schema_name",
                    "duplicates.table_name",
                    "duplicates.index_name",
                    "duplicates.covered_by",
                    "duplicates.reason",
                    "duplicates.reclaimable_size",
                    "duplicates.drop_statement",
                ],
            ),
            (
                "invalid-indexes",
                &[
                    "invalid.schema_name",
                    "invalid.table_name",
                    "invalid.index_name",
                    "invalid.index_size",
                    "invalid.likely_cause",
                    "invalid.drop_statement",
                ],
            ),
            (
                "index-bloat",
                &[
                    "bloat.schema_name",
                    "bloat.table_name",
                    "bloat.index_name",
                    "bloat.access_method",
                    "bloat.index_size",
                    "bloat.reclaimable_size",
                    "bloat.method",
                ],
            ),
            (
                "reindex",
                &[
                    "reindex.index_name",
                    "reindex.table_name",
                    "reindex.started_at",
                    "reindex.duration",
                    "reindex.status",
                    "reindex.triggered_by",
                    "reindex.error",
                    "running.run_by",
                    "running.statement",
                    "running.running_for",
                    "running.phase",
                ],
            ),
            (
                "refresh",
                &[
                    "refresh.view",
                    "refresh.schedule",
                    "refresh.last_refresh",
                    "refresh.last_status",
                    "refresh.last_error",
                    "refresh.refresh_reason",
                    "failure.view",
                    "failure.started_at",
                    "failure.error",
                ],
            ),
            ("accident-stats", &["stats.source", "stats.severity"]),
        ],
    );
    // The severity code also names the bar's CSS class (lower-cased).
    assert!(page.contains("class=\"sev-stats.severity:&lt;script&gt;alert(&quot;x&quot;)"));
    // The names also label the charts (cut to fit, and in full in the tooltips).
    assert!(page.contains(&format!(
        "<title>{}.{}: {}</title>",
        shown("usage.schema_name"),
        shown("usage.index_name"),
        shown("usage.index_size")
    )));
    assert!(page.contains(&format!("<title>{} (", shown("reindex.index_name"))));
}

#[test]
fn hostile_reasons_and_sources_are_shown_escaped_where_data_is_missing() {
    let page = render(&hostile_missing());
    let reasons: Vec<(String, String)> = SECTIONS[1..]
        .iter()
        .zip([
            "usage",
            "unused",
            "duplicates",
            "invalid",
            "bloat",
            "reindex",
            "refresh",
            "stats",
            "hotspots",
        ])
        .map(|((id, _), key)| (id.to_string(), format!("{key}.missing")))
        .collect();
    let expected: Vec<(&str, Vec<&str>)> = reasons
        .iter()
        .map(|(id, label)| (id.as_str(), vec![label.as_str()]))
        .chain([(
            "summary",
            reasons.iter().map(|(_, label)| label.as_str()).collect(),
        )])
        .collect();
    let expected: Vec<(&str, &[&str])> = expected
        .iter()
        .map(|(id, labels)| (*id, labels.as_slice()))
        .collect();
    assert_shown(&page, &expected);
    assert_eq!(page.matches("<p class=\"missing\">").count(), 9);

    let page = render(&hostile_empty());
    assert_shown(
        &page,
        &[
            ("summary", &["stats.source", "hotspots.source"]),
            ("accident-stats", &["stats.source"]),
            ("hotspots", &["hotspots.source"]),
        ],
    );
}
