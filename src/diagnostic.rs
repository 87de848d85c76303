//! One diagnostic type for every error the front end reports: a reason, an error code, a location in a spec file
//! with the span underlined, related locations, and hints. Diagnostics are built with small helpers
//! ([`Diagnostic::error`], [`Diagnostic::at`], [`Diagnostic::push_hint`]) and rendered only at the edge: plain text
//! for tests and pipes, ANSI colour for terminals.

use std::fmt;

use serde::Serialize;

/// Index of a source file in [`Sources`].
pub type FileId = usize;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

/// A spec file's name (as the user gave it) and text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

/// Every file read while compiling one spec (the spec and its imports), so spans can be turned into locations.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// Register a file; its spans use the returned id.
    pub fn add(&mut self, name: &str, text: &str) -> FileId {
        self.files.push(SourceFile { name: name.to_string(), text: text.to_string() });
        self.files.len() - 1
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id)
    }

    /// The source text a span covers (empty if the span is out of range).
    pub fn slice(&self, span: Span) -> &str {
        self.files.get(span.file).and_then(|f| f.text.get(span.start..span.end)).unwrap_or("")
    }

    /// Line, column and line text of a span's start; the underline stops at the end of that line.
    pub fn locate(&self, span: Span) -> Location {
        let Some(file) = self.files.get(span.file) else {
            return Location::default();
        };
        // Spans may come from a patched copy of the text (syntax error recovery blanks whole lines byte for byte),
        // so they are moved back to char boundaries of the original rather than trusted.
        let boundary = |mut i: usize| {
            i = i.min(file.text.len());
            while !file.text.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let start = boundary(span.start);
        let line_start = file.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = file.text[start..].find('\n').map_or(file.text.len(), |i| start + i);
        let line = file.text[..start].matches('\n').count() + 1;
        let column = file.text[line_start..start].chars().count() + 1;
        let end = boundary(span.end).clamp(start, line_end);
        let len = file.text[start..end].chars().count().max(1);
        Location {
            file: file.name.clone(),
            line,
            column,
            line_text: file.text[line_start..line_end].trim_end_matches('\r').replace('\t', " "),
            len,
        }
    }
}

/// Where a diagnostic points: file, 1-based line and column, the line's text and the underline length in chars.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub line_text: String,
    pub len: usize,
}

/// A secondary location, e.g. "first defined here".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Related {
    pub location: Location,
    pub label: String,
}

/// One error, with everything needed to render it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable error code, e.g. `E0203` (documented in `docs/language.md`).
    pub code: &'static str,
    pub reason: String,
    pub location: Option<Location>,
    /// Text printed beside the underline.
    pub label: Option<String>,
    pub related: Vec<Related>,
    /// `= help: …` lines: what to do about it.
    pub hints: Vec<String>,
    /// `= note: …` lines: background.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error with a code and a reason, not yet located.
    pub fn error(code: &'static str, reason: impl Into<String>) -> Self {
        Diagnostic {
            code,
            reason: reason.into(),
            location: None,
            label: None,
            related: Vec::new(),
            hints: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Point at a span, with a label beside the underline.
    pub fn at(mut self, sources: &Sources, span: Span, label: impl Into<String>) -> Self {
        self.location = Some(sources.locate(span));
        let label = label.into();
        self.label = (!label.is_empty()).then_some(label);
        self
    }

    /// Point at a location computed elsewhere (e.g. from a pest error).
    pub fn with_location(mut self, location: Location, label: impl Into<String>) -> Self {
        self.location = Some(location);
        let label = label.into();
        self.label = (!label.is_empty()).then_some(label);
        self
    }

    /// Add a secondary location.
    pub fn with_related(mut self, sources: &Sources, span: Span, label: impl Into<String>) -> Self {
        self.related.push(Related { location: sources.locate(span), label: label.into() });
        self
    }

    pub fn push_hint(&mut self, hint: impl Into<String>) {
        self.hints.push(hint.into());
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.push_hint(hint);
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Render rustc-style; `color` adds ANSI escapes for a terminal.
    pub fn render(&self, color: bool) -> String {
        let paint = Paint { color };
        let mut out = format!(
            "{}{}\n",
            paint.red_bold(&format!("error[{}]", self.code)),
            paint.bold(&format!(": {}", self.reason))
        );
        let mut lines: Vec<usize> = self.related.iter().map(|r| r.location.line).collect();
        if let Some(loc) = &self.location {
            lines.push(loc.line);
        }
        let gutter = lines.iter().max().map_or(1, |l| l.to_string().len());
        let pad = " ".repeat(gutter);
        if let Some(loc) = &self.location {
            out += &format!("{pad}{} {}:{}:{}\n", paint.blue("-->"), loc.file, loc.line, loc.column);
            out += &snippet(loc, self.label.as_deref(), '^', gutter, &paint);
        }
        for rel in &self.related {
            let same_file = self.location.as_ref().is_some_and(|l| l.file == rel.location.file);
            if !same_file {
                out += &format!(
                    "{pad}{} {}:{}:{}\n",
                    paint.blue(":::"),
                    rel.location.file,
                    rel.location.line,
                    rel.location.column
                );
            }
            out += &snippet(&rel.location, Some(&rel.label), '-', gutter, &paint);
        }
        if !self.hints.is_empty() || !self.notes.is_empty() {
            out += &format!("{pad} {}\n", paint.blue("|"));
        }
        for note in &self.notes {
            out += &format!("{pad} {} note: {note}\n", paint.blue("="));
        }
        for hint in &self.hints {
            out += &format!("{pad} {} help: {hint}\n", paint.blue("="));
        }
        out
    }
}

/// The source line with an underline and its label.
fn snippet(loc: &Location, label: Option<&str>, mark: char, gutter: usize, paint: &Paint) -> String {
    let pad = " ".repeat(gutter);
    let bar = paint.blue("|");
    let number = paint.blue(&format!("{:>gutter$}", loc.line));
    let underline = format!("{}{}", " ".repeat(loc.column.saturating_sub(1)), mark.to_string().repeat(loc.len));
    let underline = match label {
        Some(label) if !label.is_empty() => format!("{underline} {label}"),
        _ => underline,
    };
    format!("{pad} {bar}\n{number} {bar} {}\n{pad} {bar} {}\n", loc.line_text, paint.red_bold(&underline))
}

/// ANSI styling that is a no-op without colour.
struct Paint {
    color: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn red_bold(&self, text: &str) -> String {
        self.wrap("1;31", text)
    }
    fn blue(&self, text: &str) -> String {
        self.wrap("1;34", text)
    }
    fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }
}

/// Every error found in one spec, in source order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn single(diagnostic: Diagnostic) -> Self {
        Diagnostics(vec![diagnostic])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Render every diagnostic, separated by blank lines, with a count at the end.
    pub fn render(&self, color: bool) -> String {
        let mut out: Vec<String> = self.0.iter().map(|d| d.render(color)).collect();
        let n = self.0.len();
        let summary = format!("error: the spec has {n} error{}", if n == 1 { "" } else { "s" });
        out.push(Paint { color }.red_bold(&summary) + "\n");
        out.join("\n")
    }

    /// All diagnostics as a JSON array, for tools.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.0).unwrap_or_else(|_| "[]".to_string())
    }

    /// Sort by file, line, column, and drop exact duplicates (the same error found in several sweep runs).
    pub fn normalise(&mut self) {
        let key = |d: &Diagnostic| d.location.as_ref().map(|l| (l.file.clone(), l.line, l.column));
        self.0.sort_by_key(key);
        // Not just adjacent repeats: runs interleave their errors at one location.
        let mut seen: Vec<Diagnostic> = Vec::with_capacity(self.0.len());
        self.0.retain(|d| {
            let new = !seen.contains(d);
            if new {
                seen.push(d.clone());
            }
            new
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

/// Near misses among `candidates`, best first (Jaro–Winkler ≥ 0.8), for "did you mean …" hints.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `did you mean `x`?`, or a list of what is allowed when nothing is close.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("expected one of {}", backticked(candidates)),
    }
}

/// `` `a`, `b` or `c` ``.
pub fn backticked(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.len() {
        0 => "nothing".to_string(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let mut sources = Sources::default();
        let id = sources.add("a.think", "episode {\n    cul = 0.5\n}\n");
        let span = Span { file: id, start: 14, end: 17 };
        let d = Diagnostic::error("E0203", "unknown key `cul` in `episode`")
            .at(&sources, span, "not a key of `episode`")
            .with_hint("did you mean `cull`?");
        let expected = "error[E0203]: unknown key `cul` in `episode`\n --> a.think:2:5\n  |\n2 |     cul = 0.5\n  |     ^^^ not a key of `episode`\n  |\n  = help: did you mean `cull`?\n";
        assert_eq!(d.render(false), expected);
    }

    #[test]
    fn normalise_drops_interleaved_repeats() {
        let (a, b) = (Diagnostic::error("E0001", "a"), Diagnostic::error("E0002", "b"));
        let mut d = Diagnostics(vec![a.clone(), b.clone(), a.clone(), b.clone()]);
        d.normalise();
        assert_eq!(d.0, vec![a, b]);
    }

    #[test]
    fn json_for_tools() {
        let d = Diagnostics::single(Diagnostic::error("E0203", "unknown key").with_hint("did you mean `cull`?"));
        let v: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
        assert_eq!(v[0]["code"], "E0203");
        assert_eq!(v[0]["hints"][0], "did you mean `cull`?");
    }

    #[test]
    fn colour_only_when_asked() {
        let d = Diagnostic::error("E0101", "syntax error");
        assert!(d.render(true).contains("\x1b[1;31m"));
        assert!(!d.render(false).contains('\x1b'));
    }

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(suggest("cul", ["cull", "rounds"]), Some("cull"));
        assert_eq!(suggest("xyz", ["cull", "rounds"]), None);
    }
}
