//! Loading a spec and its imports: `import "base.think"` paths are relative to the importing file; files are
//! returned base first, so later files override earlier ones. Cycles and unreadable files are diagnostics.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, FileId, Sources, Span};
use crate::syntax::{self, Item, SpecAst};

/// Parse `file` (already registered in `sources`) and, depth first, every file it imports.
pub fn load(sources: &mut Sources, file: FileId) -> (Vec<SpecAst>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut diags = Vec::new();
    let name = sources.get(file).map_or(String::new(), |f| f.name.clone());
    let canonical = std::fs::canonicalize(&name).unwrap_or_else(|_| PathBuf::from(&name));
    let mut stack = vec![(canonical, name)];
    load_rec(sources, file, &mut stack, &mut out, &mut diags);
    (out, diags)
}

fn load_rec(
    sources: &mut Sources,
    file: FileId,
    stack: &mut Vec<(PathBuf, String)>,
    out: &mut Vec<SpecAst>,
    diags: &mut Vec<Diagnostic>,
) {
    // Every syntax error of the file; what parsed is still followed and checked.
    let (ast, errors) = syntax::parse_recovering(sources, file);
    diags.extend(errors);
    let Some(ast) = ast else { return };
    let name = sources.get(file).map_or(String::new(), |f| f.name.clone());
    let dir = Path::new(&name).parent().map(Path::to_path_buf).unwrap_or_default();
    for item in &ast.items {
        let Item::Import(import) = item else { continue };
        let path = dir.join(&import.path);
        let shown = path.display().to_string();
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Some(pos) = stack.iter().position(|(c, _)| *c == canonical) {
            let mut chain: Vec<String> = stack[pos..].iter().map(|(_, n)| format!("`{n}`")).collect();
            chain.push(format!("`{shown}`"));
            diags.push(
                Diagnostic::error("E0502", format!("import cycle: {}", chain.join(" → ")))
                    .at(sources, import.span, "imports a file that imports this one")
                    .with_hint("a spec cannot (indirectly) import itself: move the shared settings into a base file both import"),
            );
            continue;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                diags.push(unreadable(sources, import.span, &shown, &err));
                continue;
            }
        };
        let id = sources.add(&shown, &text);
        stack.push((canonical, shown));
        load_rec(sources, id, stack, out, diags);
        stack.pop();
    }
    out.push(ast);
}

fn unreadable(sources: &Sources, span: Span, shown: &str, err: &std::io::Error) -> Diagnostic {
    let reason = match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::InvalidData => "it is not UTF-8 text".to_string(),
        _ => err.to_string(),
    };
    Diagnostic::error("E0501", format!("cannot read imported file `{shown}`: {reason}"))
        .at(sources, span, "imported here")
        .with_hint("import paths are relative to the importing spec's folder")
}
