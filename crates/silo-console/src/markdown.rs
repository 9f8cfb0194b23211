//! Renders an agent folder's `instructions.md` / `escalation.md` for the task view.
//!
//! CommonMark lets a document carry raw HTML; here every raw HTML block or inline tag is
//! turned into text (escaped), and links keep only `http`, `https`, `mailto` and relative
//! targets, so a document cannot run script in the operator's browser.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};

/// `markdown` as HTML with no raw HTML and no script links.
pub fn render(markdown: &str) -> String {
    let parser = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 2);
    html::push_html(&mut out, parser);
    out
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme = lower
        .split_once(':')
        .map(|(s, _)| s)
        .filter(|s| !s.contains('/') && !s.contains('?') && !s.contains('#'));
    match scheme {
        None | Some("http" | "https" | "mailto") => url,
        Some(_) => CowStr::Borrowed("#"),
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn raw_html_and_script_links_do_not_survive() {
        let out = render(
            "# Refunds\n\n<script>alert(1)</script>\n\nText <img src=x onerror=alert(2)> and \
             [a](javascript:alert(3)) and [b](JaVaScRiPt:alert(4)) and [ok](https://example.com/x) \
             and [rel](escalation.md)\n\n![i](data:text/html,x)",
        );
        assert!(out.contains("<h1>Refunds</h1>"), "{out}");
        assert!(!out.contains("<script"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(!out.contains("<img src=\"x\""), "{out}");
        assert!(!out.contains("<img src=x"), "{out}");
        assert!(!out.to_ascii_lowercase().contains("javascript:"), "{out}");
        assert!(!out.contains("data:text"), "{out}");
        assert!(out.contains("href=\"https://example.com/x\""), "{out}");
        assert!(out.contains("href=\"escalation.md\""), "{out}");
    }
}
