//! A document's diagnostics: the front end's own (`crate::compile_str`), as LSP diagnostics.
//!
//! A diagnostic located in another file (an imported spec) is attached to the open document, at the `import` that
//! names that file when the document imports it directly (else at the start of line 0), with the file, line and
//! column at the front of its message and a related location pointing into the file itself.

use std::path::Path;

use lsp_types::{DiagnosticRelatedInformation, DiagnosticSeverity, NumberOrString, Position, Range, Uri};

use crate::diagnostic::{Diagnostic, Location};

use super::scan::{self, Kind};
use super::uri;

/// Compile `text` as the spec file `name` (imports relative to it) and convert every error; empty when it is fine.
pub fn diagnostics(doc: &Uri, name: &str, text: &str) -> Vec<lsp_types::Diagnostic> {
    let Err(diags) = crate::compile_str(name, text) else {
        return Vec::new();
    };
    let imports = imports(name, text);
    diags.iter().map(|d| convert(d, doc, name, &imports)).collect()
}

/// The document's `import "…"` strings: the file name the front end gives each (its folder joined with the path,
/// as `check::imports` shows it) and the string's range.
fn imports(name: &str, text: &str) -> Vec<(String, Range)> {
    let dir = Path::new(name).parent().unwrap_or(Path::new(""));
    let tokens = scan::tokens(text);
    let pairs = tokens.windows(2).filter(|w| w[0].kind == Kind::Word && w[0].text(text) == "import");
    pairs
        .filter(|w| w[1].kind == Kind::Str)
        .map(|w| {
            let shown = dir.join(scan::unquote(w[1].text(text))).display().to_string();
            (shown, scan::range(text, w[1].start, w[1].end))
        })
        .collect()
}

fn convert(d: &Diagnostic, doc: &Uri, name: &str, imports: &[(String, Range)]) -> lsp_types::Diagnostic {
    let mut lines = vec![d.reason.clone()];
    lines.extend(d.label.clone());
    lines.extend(d.hints.iter().map(|h| format!("help: {h}")));
    lines.extend(d.notes.iter().map(|n| format!("note: {n}")));
    let mut related = Vec::new();
    let here = d.location.as_ref().filter(|l| l.file == name);
    let range = match (&d.location, here) {
        (_, Some(loc)) => range(loc),
        (None, None) => Range::default(),
        (Some(loc), None) => {
            lines[0] = format!("{}:{}:{}: {}", loc.file, loc.line, loc.column, lines[0]);
            related.extend(related_at(loc, "the error is here", doc, name));
            imports.iter().find(|(file, _)| *file == loc.file).map_or(Range::default(), |(_, r)| *r)
        }
    };
    related.extend(d.related.iter().filter_map(|r| related_at(&r.location, &r.label, doc, name)));
    lsp_types::Diagnostic {
        range,
        severity: Some(DiagnosticSeverity::ERROR),
        code: Some(NumberOrString::String(d.code.to_string())),
        source: Some("thinktok".to_string()),
        message: lines.join("\n"),
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

/// A related location, if it is in a file (the document or an absolute path; not a `--set` source).
fn related_at(loc: &Location, label: &str, doc: &Uri, name: &str) -> Option<DiagnosticRelatedInformation> {
    let uri = if loc.file == name { doc.clone() } else { uri::from_path(Path::new(&loc.file))? };
    let location = lsp_types::Location { uri, range: range(loc) };
    Some(DiagnosticRelatedInformation { location, message: label.to_string() })
}

/// The LSP range of a location: its 1-based char column and length over its line's text, in UTF-16 units.
fn range(loc: &Location) -> Range {
    let chars: Vec<char> = loc.line_text.chars().collect();
    // Past the line's end (the end of the file), one unit per char.
    let units =
        |from: usize, to: usize| -> u32 { (from..to).map(|i| chars.get(i).map_or(1, |c| c.len_utf16() as u32)).sum() };
    let line = loc.line.saturating_sub(1) as u32;
    let column = loc.column.saturating_sub(1);
    let start = units(0, column);
    let end = start + units(column, column + loc.len);
    Range { start: Position { line, character: start }, end: Position { line, character: end } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_count_utf16_units() {
        let loc = Location { file: "a".into(), line: 2, column: 3, line_text: "\u{1f600}é cul".into(), len: 3 };
        assert_eq!(range(&loc), Range::new(Position::new(1, 3), Position::new(1, 6)));
        let eof = Location { file: "a".into(), line: 1, column: 4, line_text: "ab".into(), len: 1 };
        assert_eq!(range(&eof), Range::new(Position::new(0, 3), Position::new(0, 4)));
    }
}
