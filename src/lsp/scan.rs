//! A forgiving tokenizer for spec text as it is being typed (unclosed blocks, half-written values), and the
//! conversion between byte offsets and LSP positions (lines and UTF-16 code units).
//!
//! It knows the grammar's lexical rules only (`grammar/thinktok.pest`): comments, strings, numbers, dotted names
//! and punctuation. What the tokens mean in a block is `context.rs`'s job.

use lsp_types::Position;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A name or a dotted path: `episode`, `episode.cull`, `task.sum3`.
    Word,
    /// A string literal, quotes included (possibly unterminated at the end of its line).
    Str,
    /// A number or a range: `0.5`, `-1`, `2e-3`, `0..3`.
    Num,
    /// One character of punctuation: `{ } ( ) [ ] = ,` (and anything else the grammar does not know).
    Punct(char),
}

/// One token: its kind and byte range in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn is(&self, c: char) -> bool {
        self.kind == Kind::Punct(c)
    }

    pub fn text<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.start..self.end).unwrap_or("")
    }
}

fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Every token of `text`, comments and whitespace skipped.
pub fn tokens(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = if b.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if b == b'#' {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            continue;
        } else if b == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                i += if bytes[i] == b'\\' && i + 1 < bytes.len() && bytes[i + 1] != b'\n' { 2 } else { 1 };
            }
            if i < bytes.len() && bytes[i] == b'"' {
                i += 1;
            }
            Kind::Str
        } else if b.is_ascii_digit() || (b == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            i += 1;
            while i < bytes.len() {
                let c = bytes[i];
                let sign = (c == b'+' || c == b'-') && matches!(bytes[i - 1], b'e' | b'E');
                if c.is_ascii_digit() || c == b'_' || c == b'.' || c == b'e' || c == b'E' || sign {
                    i += 1;
                } else {
                    break;
                }
            }
            Kind::Num
        } else if ident_start(b) {
            i = word_end(bytes, i);
            Kind::Word
        } else {
            // One character, whole (never a byte inside a multi-byte one).
            let c = text[i..].chars().next().unwrap_or('?');
            i += c.len_utf8();
            Kind::Punct(c)
        };
        out.push(Token { kind, start, end: i });
    }
    out
}

/// The end of the name or dotted path starting at `i`.
fn word_end(bytes: &[u8], mut i: usize) -> usize {
    loop {
        while i < bytes.len() && ident_char(bytes[i]) {
            i += 1;
        }
        if i + 1 < bytes.len() && bytes[i] == b'.' && ident_start(bytes[i + 1]) {
            i += 1;
        } else {
            return i;
        }
    }
}

/// The start of the (possibly dotted, possibly half-typed) name that ends at `offset`: `episode.cu|` → the `e`.
pub fn word_start(text: &str, offset: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = offset.min(bytes.len());
    while i > 0 && (ident_char(bytes[i - 1]) || bytes[i - 1] == b'.') {
        i -= 1;
    }
    // A name never starts with a digit or a dot.
    while i < offset && !ident_start(bytes[i]) {
        i += 1;
    }
    i
}

/// Whether `offset` is inside a comment or a string (both end at their line's end).
pub fn in_comment_or_string(text: &str, offset: usize) -> bool {
    let offset = offset.min(text.len());
    let line_start = text.as_bytes()[..offset].iter().rposition(|&b| b == b'\n').map_or(0, |n| n + 1);
    let mut in_string = false;
    let mut escaped = false;
    for &b in &text.as_bytes()[line_start..offset] {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (_, b'"') => in_string = !in_string,
            (false, b'#') => return true,
            _ => {}
        }
    }
    in_string
}

/// The token that contains `offset` (or a word or string that ends right at it: a cursor just after a word).
pub fn token_at(tokens: &[Token], offset: usize) -> Option<usize> {
    let inside = tokens.iter().position(|t| t.start <= offset && offset < t.end);
    inside.or_else(|| tokens.iter().position(|t| t.end == offset && !matches!(t.kind, Kind::Punct(_))))
}

/// The byte offset of an LSP position (UTF-16 columns); past the end of a line it clamps to the line's end.
pub fn offset(text: &str, pos: Position) -> usize {
    let mut line_start = 0;
    for _ in 0..pos.line {
        match text[line_start..].find('\n') {
            Some(n) => line_start += n + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..].find('\n').map_or(text.len(), |n| line_start + n);
    let mut units = 0u32;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= pos.character {
            return line_start + i;
        }
        units += c.len_utf16() as u32;
    }
    line_end
}

/// The LSP position of a byte offset.
pub fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    Position { line, character: utf16_len(&before[line_start..]) }
}

/// The LSP range of a byte range.
pub fn range(text: &str, start: usize, end: usize) -> lsp_types::Range {
    lsp_types::Range { start: position(text, start), end: position(text, end) }
}

/// UTF-16 code units of a string.
pub fn utf16_len(s: &str) -> u32 {
    s.chars().map(|c| c.len_utf16() as u32).sum()
}

/// The value of a string token: quotes removed, the grammar's escapes (`\"`, `\\`, `\n`, `\t`) decoded.
pub fn unquote(token: &str) -> String {
    let inner = token.strip_prefix('"').unwrap_or(token);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        tokens(text).iter().map(|t| (t.kind, t.text(text))).collect()
    }

    #[test]
    fn tokenizes_the_grammar() {
        let text = "episode.cull = [0.5, 2e-3] # c\nx = \"a\\\"b\" 0..3 task.sum3(d = -1)";
        assert_eq!(
            kinds(text),
            vec![
                (Kind::Word, "episode.cull"),
                (Kind::Punct('='), "="),
                (Kind::Punct('['), "["),
                (Kind::Num, "0.5"),
                (Kind::Punct(','), ","),
                (Kind::Num, "2e-3"),
                (Kind::Punct(']'), "]"),
                (Kind::Word, "x"),
                (Kind::Punct('='), "="),
                (Kind::Str, "\"a\\\"b\""),
                (Kind::Num, "0..3"),
                (Kind::Word, "task.sum3"),
                (Kind::Punct('('), "("),
                (Kind::Word, "d"),
                (Kind::Punct('='), "="),
                (Kind::Num, "-1"),
                (Kind::Punct(')'), ")"),
            ]
        );
        assert_eq!(unquote("\"a\\\"b\\n\""), "a\"b\n");
    }

    #[test]
    fn positions_count_utf16_units() {
        let text = "a\n\u{e9}\u{1f600}x\n";
        let x = text.find('x').unwrap_or(0);
        assert_eq!(position(text, x), Position { line: 1, character: 3 });
        assert_eq!(offset(text, Position { line: 1, character: 3 }), x);
        assert_eq!(offset(text, Position { line: 1, character: 99 }), x + 1);
        assert_eq!(offset(text, Position { line: 9, character: 0 }), text.len());
    }

    #[test]
    fn word_start_skips_back_over_dotted_names() {
        let text = "  episode.cu";
        assert_eq!(word_start(text, text.len()), 2);
        assert_eq!(word_start("x = 12", 6), 6);
        assert!(in_comment_or_string("a = 1 # epi", 11));
        assert!(in_comment_or_string("import \"a\\\"b", 13));
        assert!(!in_comment_or_string("import \"a#\" ep", 14));
    }
}
