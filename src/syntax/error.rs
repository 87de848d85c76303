//! Translating pest's first syntax error into a [`Diagnostic`] that names no grammar rule.

use pest::error::{ErrorVariant, InputLocation};

use super::rules::human_name;
use super::Rule;
use crate::diagnostic::{backticked, Diagnostic, FileId, Sources, Span};

/// The diagnostic for a pest error at some position of `text`.
pub(super) fn syntax_error(sources: &Sources, file: FileId, text: &str, err: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let found = found_at(text, pos);
    let span = Span { file, start: pos, end: pos + found.len_bytes };
    let mut expected: Vec<String> = Vec::new();
    if let Some(attempts) = err.parse_attempts() {
        // Literal punctuation the parser tried (`=`, `{`, `)` …); ranges and built-ins are covered by rule names.
        for token in attempts.expected_tokens() {
            let token = token.to_string();
            if !token.is_empty() && token.chars().all(|c| "=,{}()[].\"".contains(c)) {
                push_unique(&mut expected, format!("`{token}`"));
            }
        }
    }
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for rule in positives {
            push_unique(&mut expected, human_name(*rule).to_string());
        }
    }
    if let ErrorVariant::CustomError { message } = &err.variant {
        push_unique(&mut expected, message.clone());
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
    add_hints(&mut diag, sources, file, text, pos, &found);
    diag
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
    if ch.is_alphanumeric() || ch == '_' {
        let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.').collect();
        return Found { describe: format!("`{word}`"), len_bytes: word.len(), ch: Some(ch) };
    }
    Found { describe: format!("`{ch}`"), len_bytes: ch.len_utf8(), ch: Some(ch) }
}

/// Hints for the common mistakes: an unclosed block or string, a stray closing brace, `:` for `=`.
fn add_hints(diag: &mut Diagnostic, sources: &Sources, file: FileId, text: &str, pos: usize, found: &Found) {
    let line_start = text[..pos.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..pos.min(text.len())];
    let quotes = before.split('#').next().unwrap_or("").matches('"').count();
    if quotes % 2 == 1 {
        diag.push_hint("a string ends on the line it starts: add the closing `\"`");
        return;
    }
    match found.ch {
        None => {
            if let Some(open) = unclosed_brace(text) {
                let span = Span { file, start: open, end: open + 1 };
                *diag = diag.clone().with_related(sources, span, "this `{` is never closed");
                diag.push_hint("add the missing `}`");
            }
        }
        Some('}') => diag.push_hint("this `}` closes nothing: remove it, or look for a missing `{`"),
        Some(':') => diag.push_hint("settings are written `key = value`"),
        Some(';') => diag.push_hint("no `;` is needed: put each setting on its own line"),
        Some('\'') => diag.push_hint("strings use double quotes: `\"…\"`"),
        _ => {}
    }
    if found.describe == "`{`" || (found.ch == Some('\n') && before.trim_end().ends_with('=')) {
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
