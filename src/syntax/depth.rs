//! A nesting limit, checked before pest sees the text (a fuzzing finding, issue 13): pest's parser and the AST
//! converter below recurse once per nested block, list or call, so a few thousand `[` (a 10 KB spec) overflowed
//! the stack and aborted the process. Real specs nest a handful of levels.

use crate::diagnostic::{Diagnostic, FileId, Sources, Span};

/// At most this many `{`, `[` and `(` open at once.
pub(super) const MAX_NESTING: usize = 64;

/// A syntax error at the first bracket that opens level [`MAX_NESTING`] + 1, outside strings and comments.
pub(super) fn check(sources: &Sources, file: FileId, text: &str) -> Result<(), Diagnostic> {
    let Some(at) = too_deep(text) else { return Ok(()) };
    let span = Span { file, start: at, end: at + 1 };
    Err(Diagnostic::error("E0101", format!("syntax error: nesting deeper than {MAX_NESTING} levels"))
        .at(sources, span, format!("level {}", MAX_NESTING + 1))
        .with_hint(format!("blocks, lists and calls nest at most {MAX_NESTING} deep")))
}

/// The byte offset of the first opening bracket deeper than [`MAX_NESTING`]. Brackets are counted alike, closing
/// ones never below zero: an upper bound of the parser's recursion, whatever the text's syntax errors.
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    code_bytes(text.as_bytes())
        .find(|&(_, b)| {
            match b {
                b'{' | b'[' | b'(' => depth += 1,
                b'}' | b']' | b')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            depth > MAX_NESTING
        })
        .map(|(i, _)| i)
}

/// The bytes of `text` outside strings and comments, with their offsets: where brackets mean structure. Shared with
/// syntax error recovery, which counts open blocks the same way.
pub(super) fn code_bytes(text: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let (mut in_string, mut in_comment, mut escaped) = (false, false, false);
    text.iter().enumerate().filter_map(move |(i, &b)| {
        match (in_comment, in_string, b) {
            (true, _, b'\n') => in_comment = false,
            (true, _, _) => {}
            // A string ends at its line's end (the grammar's strings hold no newline), escaped or not.
            (false, true, b'\n') => (in_string, escaped) = (false, false),
            (false, true, _) if escaped => escaped = false,
            (false, true, b'\\') => escaped = true,
            (false, true, b'"') => in_string = false,
            (false, true, _) => {}
            (false, false, b'"') => in_string = true,
            (false, false, b'#') => in_comment = true,
            (false, false, _) => return Some((i, b)),
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_outside_strings_and_comments() {
        let deep = |n: usize| format!("x = {}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(too_deep(&deep(MAX_NESTING)), None);
        assert_eq!(too_deep(&deep(MAX_NESTING + 1)), Some(4 + MAX_NESTING));
        assert_eq!(too_deep(&format!("a = \"{}\" # {}", "[".repeat(100), "(".repeat(100))), None);
        assert_eq!(too_deep(&format!("a = \"\\\"{}\"", "{".repeat(100))), None);
        // Mixed and unbalanced brackets still count.
        assert!(too_deep(&"a { x = f([".repeat(30)).is_some());
    }
}
