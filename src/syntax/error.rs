//! Translating pest's first syntax error into a [`Diagnostic`] that names no grammar rule.

use pest::error::{ErrorVariant, InputLocation};

use super::rules::human_name;
use super::Rule;
use crate::diagnostic::{backticked, Diagnostic, FileId, Sources, Span};

/// The diagnostic for a pest error at some position of `text`.
pub(super) fn syntax_error(sources: &Sources, file: FileId, text: &str, err: &pest::error::Error<Rule>) -> Diagnostic {
    let mut pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = Vec::new();
    let mut rules: Vec<Rule> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        rules.extend(positives.iter().copied());
    }
    if let Some(attempts) = err.parse_attempts() {
        if attempts.max_position >= pos {
            // The furthest point the parser reached, and what it would have accepted there.
            if attempts.max_position > pos {
                rules.clear();
            }
            pos = attempts.max_position;
            rules.extend(attempts.call_stacks.iter().filter_map(|c| c.parent));
            for token in attempts.expected_tokens() {
                let token = token.to_string();
                if ["=", "{", "}", "(", ")", ",", "]", ".."].contains(&token.as_str()) {
                    push_unique(&mut expected, format!("`{token}`"));
                }
            }
        }
    }
    for rule in rules {
        if let Some(name) = group(rule) {
            push_unique(&mut expected, name.to_string());
        }
    }
    if expected.iter().any(|e| e == "a setting or a block") {
        expected.retain(|e| e != "a name");
    }
    let found = found_at(text, pos);
    let span = Span { file, start: pos, end: pos + found.len_bytes };
    if let Some(d) = unterminated_string(sources, span, text, pos) {
        return d;
    }
    let refs: Vec<&str> = expected.iter().map(String::as_str).collect();
    let expected_text = match refs.len() {
        0 => "something else".to_string(),
        _ => join_or(&refs),
    };
    let mut diag = Diagnostic::error(
        "E0101",
        format!("syntax error: expected {expected_text}, found {}", found.describe),
    )
    .at(sources, span, format!("unexpected {}", found.describe));
    let wants_eq = expected.iter().any(|e| e == "`=`");
    let top_level = expected.iter().any(|e| e == "the end of the file");
    add_hints(&mut diag, sources, file, text, pos, &found, wants_eq, top_level);
    diag
}

/// What to call a rule the parser expected, folding the many kinds of value into one phrase.
fn group(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::value
        | Rule::float
        | Rule::int
        | Rule::string
        | Rule::call
        | Rule::path
        | Rule::list
        | Rule::range
        | Rule::digits
        | Rule::exponent
        | Rule::string_inner
        | Rule::escape => "a value",
        Rule::ident | Rule::key => "a name",
        Rule::item | Rule::block | Rule::assign | Rule::import => "a setting or a block",
        Rule::arg | Rule::named_arg => "an argument",
        Rule::label | Rule::block_args | Rule::WHITESPACE | Rule::COMMENT | Rule::spec => return None,
        Rule::EOI => human_name(rule),
    })
}

/// A `"` with no closing quote on its line.
fn unterminated_string(sources: &Sources, span: Span, text: &str, pos: usize) -> Option<Diagnostic> {
    let rest = text.get(pos..)?;
    let line = rest.split('\n').next().unwrap_or("");
    let quote_opens = rest.starts_with('"') && !line[1..].contains('"');
    let inside = {
        let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
        text[line_start..pos].matches('"').count() % 2 == 1 && !line.contains('"')
    };
    if !(quote_opens || inside) {
        return None;
    }
    let start = if quote_opens { pos } else { text[..pos].rfind('"').unwrap_or(pos) };
    let span = Span { start, end: start + 1, ..span };
    Some(
        Diagnostic::error("E0103", "syntax error: unterminated string")
            .at(sources, span, "this string has no closing `\"`")
            .with_hint("a string ends on the line it starts: add the closing `\"`"),
    )
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn join_or(items: &[&str]) -> String {
    match items.len() {
        1 => items[0].to_string(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

/// What stands at the error position, for "found …".
struct Found {
    describe: String,
    len_bytes: usize,
    ch: Option<char>,
}

fn found_at(text: &str, pos: usize) -> Found {
    let rest = text.get(pos..).unwrap_or("");
    let Some(ch) = rest.chars().next() else {
        return Found { describe: "the end of the file".into(), len_bytes: 0, ch: None };
    };
    if ch == '\n' || ch == '\r' {
        return Found { describe: "the end of the line".into(), len_bytes: 0, ch: Some('\n') };
    }
    if ch.is_alphanumeric() || ch == '_' || ch == '-' {
        let word: String = rest.chars().take_while(|c| !c.is_whitespace() && !"(){}[],=\"#:;'".contains(*c)).collect();
        return Found { describe: format!("`{word}`"), len_bytes: word.len(), ch: Some(ch) };
    }
    Found { describe: format!("`{ch}`"), len_bytes: ch.len_utf8(), ch: Some(ch) }
}

/// Hints for the common mistakes: an unclosed block or string, a stray closing brace, `:` for `=`.
#[allow(clippy::too_many_arguments)]
fn add_hints(
    diag: &mut Diagnostic,
    sources: &Sources,
    file: FileId,
    text: &str,
    pos: usize,
    found: &Found,
    wants_eq: bool,
    top_level: bool,
) {
    match found.ch {
        None => {
            if let Some(open) = unclosed_brace(text) {
                let span = Span { file, start: open, end: open + 1 };
                *diag = diag.clone().with_related(sources, span, "this `{` is never closed");
                diag.push_hint("add the missing `}`");
            }
        }
        Some('}') if top_level => diag.push_hint("this `}` closes nothing: remove it, or look for a missing `{`"),
        Some(':') => diag.push_hint("settings are written `key = value`"),
        Some(';') => diag.push_hint("no `;` is needed: put each setting on its own line"),
        Some('\'') => diag.push_hint("strings use double quotes: `\"…\"`"),
        _ if wants_eq => diag.push_hint("settings and named arguments are written `name = value`"),
        _ => {}
    }
    if text[..pos.min(text.len())].trim_end().ends_with('=') {
        diag.push_hint(format!(
            "every `=` needs a value after it; values are {}",
            backticked(&["0", "2e-3", "\"text\"", "name", "call(x = 1)", "[a, b]", "0..3"])
        ));
    }
}

/// The byte offset of the last `{` without a matching `}` (outside strings and comments).
fn unclosed_brace(text: &str) -> Option<usize> {
    let mut stack = Vec::new();
    let (mut in_string, mut in_comment) = (false, false);
    for (i, c) in text.char_indices() {
        match c {
            '\n' => {
                in_comment = false;
                in_string = false;
            }
            _ if in_comment => {}
            '"' => in_string = !in_string,
            _ if in_string => {}
            '#' => in_comment = true,
            '{' => stack.push(i),
            '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.pop()
}
