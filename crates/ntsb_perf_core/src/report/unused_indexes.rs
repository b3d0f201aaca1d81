//! Section "Unused indexes": indexes not scanned (for 30 days, where the server records the last
//! scan), with the statement that drops each.

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
    /// Whole days since the last scan, where the server records it (PostgreSQL 16 and later).
    pub last_used_days: Option<i64>,
}

/// "41 days ago" (the index's last scan, where the server knows it).
fn last_used(days: i64) -> String {
    match days {
        0 => "today".into(),
        1 => "1 day ago".into(),
        d => format!("{d} days ago"),
    }
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
    // The column and the wording of the last scans only where the server records them.
    let known = rows.iter().filter(|r| r.last_used_days.is_some()).count();
    let mut columns = vec![
        ("Table", false),
        ("Index", false),
        ("Bytes", true),
        ("Size", true),
        ("Table writes", true),
    ];
    if known > 0 {
        columns.push(("Last used", false));
    }
    columns.push(("Drop statement", false));
    let mut table = Table::new(&columns);
    for r in rows {
        let mut cells = vec![
            t(&qualified(&r.schema_name, &r.table_name)),
            t(&r.index_name),
            n(r.index_bytes),
            t(&r.index_size),
            n(r.table_writes),
        ];
        if known > 0 {
            let used = r.last_used_days.map(last_used);
            cells.push(t(&used.unwrap_or_else(|| format!("never {since}"))));
        }
        cells.push(code(&r.drop_statement));
        table.row(cells);
    }
    let what = if known == 0 {
        format!(
            "{} never scanned {since}",
            plural(rows.len(), "index was", "indexes were")
        )
    } else {
        let latest = rows
            .iter()
            .filter_map(|r| r.last_used_days)
            .min()
            .unwrap_or(0);
        let mut what = format!(
            "{} last used {} or more",
            plural(known, "index was", "indexes were"),
            last_used(latest)
        );
        if known < rows.len() {
            let never = (rows.len() - known) as i64;
            what.push_str(&format!(", {} never scanned {since}", fmt_int(never)));
        }
        what
    };
    Rendered {
        level: Level::Attention,
        summary: format!(
            "{what}: {} bytes that every write still maintains; consider dropping {}.",
            fmt_int(bytes),
            if rows.len() == 1 { "it" } else { "them" }
        ),
        body: table.html(rows.len(), "unused indexes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, days: Option<i64>) -> UnusedIndex {
        UnusedIndex {
            schema_name: "public".into(),
            table_name: "events".into(),
            index_name: name.into(),
            index_bytes: 8192,
            index_size: "8192 bytes".into(),
            table_writes: 3,
            stats_since: None,
            drop_statement: format!("DROP INDEX CONCURRENTLY public.{name}"),
            last_used_days: days,
        }
    }

    #[test]
    fn without_last_scans_the_section_is_as_on_postgresql_15() {
        let r = render(&[row("a", None)]);
        assert_eq!(
            r.summary,
            "1 index was never scanned since the statistics began (never reset): 8,192 bytes that \
             every write still maintains; consider dropping it."
        );
        assert!(!r.body.into_string().contains("Last used"));
    }

    #[test]
    fn last_scans_are_said_in_days() {
        let r = render(&[row("a", Some(41)), row("b", Some(30)), row("c", None)]);
        assert_eq!(
            r.summary,
            "2 indexes were last used 30 days ago or more, 1 never scanned since the statistics \
             began (never reset): 24,576 bytes that every write still maintains; consider \
             dropping them."
        );
        let body = r.body.into_string();
        assert!(body.contains("<th>Last used</th>"), "{body}");
        assert!(body.contains("41 days ago"), "{body}");
        assert!(body.contains("never since the statistics began"), "{body}");
    }
}
