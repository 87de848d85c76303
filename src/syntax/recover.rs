//! Syntax error recovery: every syntax error of a file in one pass, and the AST of the lines that parsed.
//!
//! pest stops at the first error, so recovery re-parses a patched copy of the text: the line of each error is
//! blanked (same byte length, so every span of the final AST is a span of the original text), keeping the braces
//! that hold the file's block structure together. A kept `{` gets the placeholder block name `_`, and those
//! placeholder blocks (the broken lines' blocks, with their contents) are dropped from the AST, so one typo gives
//! one error and no follow-on errors from the lines after it.

use crate::diagnostic::{Diagnostic, FileId, Sources};

use super::depth::code_bytes;
use super::{convert, Item, SpecAst};

/// At most this many syntax errors per file (each costs one re-parse).
const MAX_ERRORS: usize = 20;

/// The placeholder name of a block whose opening line was broken.
pub(super) const PLACEHOLDER: &str = "_";

/// Every syntax error of `file` (in order of discovery, one per broken line) and, when the patched text parses,
/// its AST without the broken lines.
pub fn parse_recovering(sources: &Sources, file: FileId) -> (Option<SpecAst>, Vec<Diagnostic>) {
    let text = sources.get(file).map_or("", |f| f.text.as_str());
    let mut patched = text.as_bytes().to_vec();
    let mut blanked: Vec<usize> = Vec::new();
    let mut diags: Vec<Diagnostic> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    while diags.len() < MAX_ERRORS {
        // Only ASCII spaces and `_` replace whole lines, so the patched bytes stay UTF-8.
        let Ok(current) = std::str::from_utf8(&patched) else { break };
        match convert(sources, file, current) {
            Ok(ast) if diags.is_empty() => return (Some(ast), diags),
            Ok(ast) => return (Some(drop_placeholders(ast)), diags),
            Err(d) => {
                let Some((line, column)) = d.location.as_ref().map(|l| (l.line, l.column)) else { break };
                if d.code == "E0100" {
                    diags.push(d);
                    break;
                }
                // An error at the first token of a line right after a broken one (the value a broken `key =` was
                // waiting for, say) is a follow-on: not reported again; the line that still dangles is blanked.
                let first_token = lines.get(line - 1).is_some_and(|l| l.len() - l.trim_start().len() + 1 == column);
                let before = previous_line(&lines, line);
                // The same line again (a kept brace still fails) is also the dangling line's doing.
                if blanked.contains(&line) || (first_token && before.is_some_and(|b| blanked.contains(&b))) {
                    let dangling = (1..line)
                        .rev()
                        .find(|&l| !blanked.contains(&l) && lines[l - 1].trim_end().ends_with(['=', ',', '(', '[']));
                    match dangling {
                        Some(l) if blank_line(&mut patched, l) => blanked.push(l),
                        _ => break,
                    }
                    continue;
                }
                diags.push(d);
                if !blank_line(&mut patched, line) {
                    break;
                }
                blanked.push(line);
            }
        }
    }
    (None, diags)
}

/// The 1-based number of the nearest line before `line` that is not blank in `lines`.
fn previous_line(lines: &[&str], line: usize) -> Option<usize> {
    (1..line).rev().find(|&l| !lines[l - 1].trim().is_empty() && !lines[l - 1].trim_start().starts_with('#'))
}

/// Blank the 1-based `line` of `text` in place, keeping the braces that balance the rest of the file. `false` when
/// nothing can be blanked (the end of the file, or a `{` at the start of a line, which has no room for a name).
fn blank_line(text: &mut [u8], line: usize) -> bool {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(p) => start += p + 1,
            None => return false,
        }
    }
    let end = text[start..].iter().position(|&b| b == b'\n').map_or(text.len(), |p| start + p);
    if start >= end {
        return false;
    }
    let mut depth = depth_before(&text[..start]);
    for i in start..end {
        match text[i] {
            b'{' if i > start => {
                text[i - 1] = b'_';
                depth += 1;
            }
            b'{' => return false,
            b'}' if depth > 0 => depth -= 1,
            _ => text[i] = b' ',
        }
    }
    true
}

/// Open blocks at the end of `text`: braces outside strings and comments.
fn depth_before(text: &[u8]) -> usize {
    code_bytes(text).fold(0usize, |depth, (_, b)| match b {
        b'{' => depth + 1,
        b'}' => depth.saturating_sub(1),
        _ => depth,
    })
}

/// The AST without placeholder blocks, at any depth.
fn drop_placeholders(mut ast: SpecAst) -> SpecAst {
    fn keep(items: &mut Vec<Item>) {
        items.retain(|i| !matches!(i, Item::Block(b) if b.kind.name == PLACEHOLDER));
        for item in items {
            if let Item::Block(b) = item {
                keep(&mut b.items);
            }
        }
    }
    keep(&mut ast.items);
    ast
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> (Option<SpecAst>, Vec<(usize, usize)>) {
        let mut sources = Sources::default();
        let id = sources.add("t.think", text);
        let (ast, diags) = parse_recovering(&sources, id);
        (ast, diags.iter().map(|d| d.location.as_ref().map_or((0, 0), |l| (l.line, l.column))).collect())
    }

    #[test]
    fn every_broken_line_is_one_error_and_the_rest_parses() {
        let text = "experiment \"e\" {\n  seed 1\n  model gpt {\n    layers = \n  }\n  learn { steps = 1,, }\n  eval { every = 5 }\n}\n";
        let (ast, found) = errors(text);
        // `layers = ` waits for a value and pest reports the `}` after it (line 5); then `learn`'s line.
        assert_eq!(found, [(2, 8), (5, 3), (6, 20)]);
        let ast = ast.expect("the rest parses");
        let Item::Block(exp) = &ast.items[0] else { panic!() };
        let names: Vec<String> = exp
            .items
            .iter()
            .map(|i| match i {
                Item::Block(b) => b.kind.name.clone(),
                Item::Assign(a) => a.key_text(),
                Item::Import(_) => "import".into(),
            })
            .collect();
        // `learn`'s line was broken: its block is dropped; `model` and `eval` remain.
        assert_eq!(names, ["model", "eval"]);
    }

    #[test]
    fn a_clean_file_and_an_unclosed_block_are_unchanged() {
        assert_eq!(errors("experiment \"e\" { seed = 1 }\n").1, []);
        let (ast, found) = errors("experiment \"e\" {\n  seed = 1\n");
        assert_eq!((ast.is_none(), found.len()), (true, 1), "an unclosed block cannot be recovered: one error");
        assert_eq!(depth_before(b"a { \"{\" # {\n b { } "), 1);
    }
}
