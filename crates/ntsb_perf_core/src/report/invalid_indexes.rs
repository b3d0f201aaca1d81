//! Section "Invalid indexes": indexes no query uses (a failed or running concurrent build).

use maud::html;

use super::markup::{code, plural, qualified, t, Rendered, Table};
use super::Level;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct InvalidIndex {
    pub schema_name: String,
    pub table_name: String,
    pub index_name: String,
    pub index_size: String,
    pub likely_cause: String,
    pub drop_statement: Option<String>,
}

pub(crate) fn render(rows: &[InvalidIndex]) -> Rendered {
    if rows.is_empty() {
        return Rendered {
            level: Level::Ok,
            summary: "No invalid index.".into(),
            body: html! {},
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
                .unwrap_or_else(|| t("(none while it is being built)")),
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
