//! Section "Summary": how many sections need attention, and a line per section (its level, a
//! link to it, its summary sentence).

use maud::{html, Markup};

use super::markup::{Rendered, Text};
use super::{Level, SECTIONS};

/// The summary of `sections`, the other sections in [`SECTIONS`] order.
pub(crate) fn render(sections: &[Rendered]) -> Markup {
    let (id, title) = SECTIONS[0];
    let attention = sections
        .iter()
        .filter(|s| s.level == Level::Attention)
        .count();
    let verdict = if attention == 0 {
        "Nothing needs attention.".to_string()
    } else {
        format!(
            "{} of {} sections {} attention.",
            attention,
            sections.len(),
            if attention == 1 { "needs" } else { "need" }
        )
    };
    html! {
        section id=(id) {
            h2 { (title) }
            p class={ "summary " @if attention > 0 { "attention" } @else { "ok" } } { (verdict) }
            ul class="overview" {
                @for ((id, title), s) in SECTIONS[1..].iter().zip(sections) {
                    li {
                        span class={ "badge " (s.level.class()) } { (s.level.word()) }
                        a href={ "#" (id) } { (Text(title)) }
                        ": " (Text(&s.summary))
                    }
                }
            }
        }
    }
}
