//! What every section of the page shares: [`Text`], the one way a text from the database
//! reaches the page; the number formats; the tables; a rendered section ([`Rendered`]).
//!
//! The page is written with maud's `html!`, which escapes every splice by its type: a `&str`
//! or `String` spliced as is would still be escaped, but texts from the database go through
//! [`Text`], whose [`escape`] also encodes `'` and replaces control characters. Markup of our
//! own passes as `maud::PreEscaped`, the visible opt-out.

use maud::{html, Markup, Render};

use super::Level;

/// Appends `s` HTML-escaped, for element content and double- or single-quoted attribute values.
fn escape_into(s: &str, out: &mut String) {
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
}

/// HTML-escapes text for element content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(s, &mut out);
    out
}

/// A text from the database (a name, a message, a setting, a summary quoting them), spliced
/// into `html!` through [`escape`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text<'a>(pub &'a str);

impl Render for Text<'_> {
    fn render_to(&self, buffer: &mut String) {
        escape_into(self.0, buffer);
    }
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

pub(crate) fn fmt_opt_f(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite())
        .map(|v| format!("{v:.digits$}"))
        .unwrap_or_default()
}

pub(crate) fn qualified(schema: &str, name: &str) -> String {
    format!("{schema}.{name}")
}

pub(crate) fn plural(k: usize, one: &str, many: &str) -> String {
    format!("{} {}", fmt_int(k as i64), if k == 1 { one } else { many })
}

/// A table cell of text.
pub(crate) fn t(s: &str) -> Markup {
    html! { (Text(s)) }
}

/// A table cell of an integer.
pub(crate) fn n(v: i64) -> Markup {
    html! { (fmt_int(v)) }
}

/// A table cell of SQL (a statement, a schedule).
pub(crate) fn code(s: &str) -> Markup {
    html! { code { (Text(s)) } }
}

const MAX_TABLE_ROWS: usize = 50;

/// A table of at most [`MAX_TABLE_ROWS`] rows; a line under it says how many there are when
/// they are more.
pub(crate) struct Table {
    /// Heading, and whether the column holds numbers (right-aligned).
    head: Vec<(&'static str, bool)>,
    rows: Vec<Vec<Markup>>,
}

impl Table {
    pub(crate) fn new(head: &[(&'static str, bool)]) -> Table {
        Table {
            head: head.to_vec(),
            rows: Vec::new(),
        }
    }

    /// A row: a cell per column.
    pub(crate) fn row(&mut self, cells: Vec<Markup>) {
        self.rows.push(cells);
    }

    /// The table, of `total` rows in all, `what` naming them.
    pub(crate) fn html(&self, total: usize, what: &str) -> Markup {
        let num = |is: bool| is.then_some("num");
        html! {
            table {
                thead {
                    tr {
                        @for (h, is_num) in &self.head {
                            th class=[num(*is_num)] { (Text(h)) }
                        }
                    }
                }
                tbody {
                    @for r in self.rows.iter().take(MAX_TABLE_ROWS) {
                        tr {
                            @for (c, (_, is_num)) in r.iter().zip(&self.head) {
                                td class=[num(*is_num)] { (c) }
                            }
                        }
                    }
                }
            }
            @if total > MAX_TABLE_ROWS {
                p class="more" {
                    "The first " (MAX_TABLE_ROWS) " of " (fmt_int(total as i64)) " "
                    (Text(what)) " are listed."
                }
            }
        }
    }
}

/// One rendered section: level, summary sentence (text, escaped where the page shows it), body.
pub(crate) struct Rendered {
    pub(crate) level: Level,
    pub(crate) summary: String,
    pub(crate) body: Markup,
}

/// A section without data: `why`, as its summary and its body.
pub(crate) fn missing(why: &str) -> Rendered {
    Rendered {
        level: Level::Missing,
        summary: why.to_string(),
        body: html! { p class="missing" { (Text(why)) } },
    }
}
