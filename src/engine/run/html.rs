//! `OUT/report.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched) with the plan's
//! summary, report.md's tables rendered from the same Markdown, the charts, and where the thoughts go: held-out
//! examples with the model's thoughts drawn in place and the thought rate by position.

use std::fmt::Write;

use pulldown_cmark::{html::push_html, Options, Parser};

use crate::engine::eval::thought_map::PlacedExample;
use crate::engine::eval::ThoughtMap;
use crate::plan::text::param_entries;
use crate::plan::Plan;

/// One part of the page, in order.
#[derive(Debug, Clone)]
pub enum Section {
    /// Markdown (report.md's tables), rendered.
    Markdown(String),
    /// A heading, a note and charts side by side.
    Charts { heading: String, note: String, svgs: Vec<String> },
    /// Where one group of runs puts its thoughts (its first run's `thoughts.json`).
    Thoughts { label: String, run: String, map: ThoughtMap, chart: String },
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1320px;\
padding:0 1em;color:#222;line-height:1.45}h1{margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .55em}\
th{background:#f3f3f3}code{background:#f5f5f5;padding:0 .2em}\
.charts{display:flex;flex-wrap:wrap;gap:1em}.charts svg{max-width:100%;height:auto;border:1px solid #eee}\
.summary{font-size:.9em}.summary td{text-align:left}.note{color:#555;font-size:.9em}\
.seq{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;font-size:1.05em}\
.ex{margin:.25em 0}.grp{display:inline-block;min-width:6em;color:#555;font-size:.85em}\
.th{background:#d62728;color:#fff;border-radius:3px;padding:0 .25em;margin:0 .1em;font-size:.8em}\
.ans{text-decoration:underline;text-decoration-thickness:2px;text-underline-offset:3px;font-weight:bold}\
.sp{color:#888;font-size:.8em}";

/// The page.
pub fn render(plan: &Plan, sections: &[Section]) -> String {
    let mut page = String::new();
    let title = escape(&plan.experiment);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title} · thinktok report\
         </title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    page.push_str(&summary(plan));
    for section in sections {
        match section {
            Section::Markdown(text) => page.push_str(&markdown(text)),
            Section::Charts { heading, note, svgs } => {
                let _ = write!(page, "<h2>{}</h2>\n<p class=\"note\">{}</p>\n", escape(heading), escape(note));
                page.push_str("<div class=\"charts\">\n");
                for svg in svgs {
                    page.push_str(&responsive(svg));
                    page.push('\n');
                }
                page.push_str("</div>\n");
            }
            Section::Thoughts { label, run, map, chart } => page.push_str(&thoughts(label, run, map, chart)),
        }
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// The plan at a glance: runs, axes and what every run shares.
fn summary(plan: &Plan) -> String {
    let mut out = format!(
        "<p>{} run{} · axes: {}</p>\n",
        plan.runs.len(),
        if plan.runs.len() == 1 { "" } else { "s" },
        if plan.axes.is_empty() {
            "none".to_string()
        } else {
            plan.axes.iter().map(|a| code(a)).collect::<Vec<_>>().join(" × ")
        }
    );
    let entries: Vec<Vec<(String, String)>> = plan.runs.iter().map(|r| param_entries(&r.params)).collect();
    let Some(first) = entries.first() else { return out };
    let shared: Vec<&(String, String)> =
        first.iter().filter(|(k, v)| entries.iter().all(|e| e.iter().any(|(k2, v2)| k2 == k && v2 == v))).collect();
    out.push_str("<details>\n<summary>Shared by every run</summary>\n<table class=\"summary\">\n");
    for (k, v) in shared {
        let _ = writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", code(k), code(v));
    }
    out.push_str("</table>\n</details>\n");
    out
}

/// Markdown rendered (tables on).
fn markdown(text: &str) -> String {
    let mut out = String::new();
    push_html(&mut out, Parser::new_ext(text, Options::ENABLE_TABLES));
    out
}

/// An SVG with a `viewBox`, so the page can scale it to its column.
fn responsive(svg: &str) -> String {
    let dims = |name: &str| -> Option<&str> {
        let start = svg.find(&format!("{name}=\""))? + name.len() + 2;
        svg[start..].split('"').next()
    };
    match (dims("width"), dims("height"), svg.contains("viewBox")) {
        (Some(w), Some(h), false) => svg.replacen("<svg ", &format!("<svg viewBox=\"0 0 {w} {h}\" "), 1),
        _ => svg.to_string(),
    }
}

fn thoughts(label: &str, run: &str, map: &ThoughtMap, chart: &str) -> String {
    let mut out = format!(
        "<h2>Where thoughts go: {}</h2>\n<p class=\"note\">Run <code>{}</code>, final model, thoughts placed by {} on \
         {} held-out sequences. <span class=\"th\">θ</span> marks a thought before the next token (<span \
         class=\"th\">θ×3</span>: three in a row); the answer is <span class=\"ans\">underlined</span>.</p>\n",
        escape(label),
        escape(run),
        escape(&map.placement),
        map.n_sequences
    );
    if !map.has_thoughts() {
        out.push_str("<p><strong>No thoughts were placed</strong> in these sequences.</p>\n");
    }
    for ex in &map.examples {
        out.push_str(&example(ex));
    }
    out.push_str("<div class=\"charts\">\n");
    out.push_str(&responsive(chart));
    out.push_str("\n</div>\n");
    out
}

/// One example: its tokens as text with the thoughts in place.
fn example(ex: &PlacedExample) -> String {
    let mut seq = String::new();
    for (i, token) in ex.tokens.iter().enumerate() {
        match ex.thoughts.get(i).copied().unwrap_or(0) {
            0 => {}
            1 => seq.push_str("<span class=\"th\" title=\"1 thought\">θ</span>"),
            n => {
                let _ = write!(seq, "<span class=\"th\" title=\"{n} thoughts\">θ×{n}</span>");
            }
        }
        let text = if token.starts_with("<|") && token.ends_with("|>") {
            format!("<span class=\"sp\">{}</span>", escape(token))
        } else {
            escape(token)
        };
        if ex.answer.is_some_and(|a| i >= a) {
            let _ = write!(seq, "<span class=\"ans\">{text}</span>");
        } else {
            seq.push_str(&text);
        }
    }
    let group = ex.group.as_deref().map_or(String::new(), escape);
    let total: u32 = ex.thoughts.iter().map(|&c| u32::from(c)).sum();
    format!(
        "<div class=\"ex\"><span class=\"grp\">{group}</span> <span class=\"seq\">{seq}</span> <span class=\"note\">\
         ({total} thought{})</span></div>\n",
        if total == 1 { "" } else { "s" }
    )
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", escape(text))
}

/// Text safe in HTML content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn map() -> ThoughtMap {
        let ex = PlacedExample {
            group: Some("hops=2".into()),
            tokens: ["a", "b", " ", "?", "=", "<b>", "<|eot|>"].iter().map(|s| s.to_string()).collect(),
            thoughts: vec![0, 0, 1, 0, 3, 0, 0],
            answer: Some(5),
        };
        ThoughtMap {
            placement: "own (fast-forward top-1)".into(),
            n_sequences: 10,
            examples: vec![ex],
            rate_by_position: BTreeMap::from([("all".to_string(), vec![0.0, 0.5])]),
        }
    }

    /// Thoughts are drawn in place (one marker per run of consecutive thoughts, with its count), the answer is
    /// marked, token text is escaped, and specials are shown by name.
    #[test]
    fn an_example_shows_its_thoughts_in_place() {
        let html = example(&map().examples[0]);
        assert!(html.contains("ab<span class=\"th\" title=\"1 thought\">θ</span> ?"), "{html}");
        assert!(
            html.contains("?<span class=\"th\" title=\"3 thoughts\">θ×3</span>=<span class=\"ans\">&lt;b&gt;</span>"),
            "{html}"
        );
        assert!(html.contains("<span class=\"ans\"><span class=\"sp\">&lt;|eot|&gt;</span></span>"), "{html}");
        assert!(html.contains("(4 thoughts)"), "{html}");
    }

    /// The page is self-contained: no script, no stylesheet or image fetched, every SVG scalable.
    #[test]
    fn the_page_fetches_nothing() {
        let plan = crate::compile_str("default.think", crate::DEFAULT_SPEC).expect("the default spec compiles");
        let svg = "<svg width=\"640\" height=\"400\" xmlns=\"http://www.w3.org/2000/svg\"><text>x</text></svg>";
        let sections = [
            Section::Markdown("| a | b |\n|---|---:|\n| x | 1 |\n".into()),
            Section::Charts { heading: "Curves".into(), note: "n".into(), svgs: vec![svg.into()] },
            Section::Thoughts { label: "g".into(), run: "r".into(), map: map(), chart: svg.into() },
        ];
        let page = render(&plan, &sections);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<table>") && page.contains("<td>x</td>"), "{page}");
        assert!(page.contains("<svg viewBox=\"0 0 640 400\" width=\"640\""), "{page}");
        for fetch in ["<script", "<link", "<img", "src=", "href=", "@import", "url("] {
            assert!(!page.contains(fetch), "the page contains `{fetch}`");
        }
        assert!(page.contains("<code>model.width</code></td><td><code>128</code>"), "{page}");
    }
}
