//! Hover (a key's type, default and doc; a function's signature, arguments and doc, as `docs/language.md` shows
//! them) and go to definition (an `import "path"` string → the imported file).

use std::path::{Path, PathBuf};

use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind};

use crate::check::schema::{FnSpec, KeySpec, Ty, EXPERIMENT};

use super::context::{Role, Walk};
use super::keys::{self, Scope};
use super::scan::{self, Kind};

/// Markdown for a key or argument: `path`, its type and default, its doc (and a block's own doc).
pub fn key_markdown(path: &str, key: &KeySpec) -> String {
    let mut out = format!("`{path}`: {}, default `{}`", key.ty.describe(), key.default.describe());
    if !key.doc.is_empty() {
        out += &format!("\n\n{}", key.doc);
    }
    if let Ty::Block(b) = key.ty {
        out += &format!("\n\n{}", b.doc);
    }
    out
}

/// Markdown for a function: its signature and doc, then one line per argument (as the reference lists them).
pub fn fn_markdown(f: &FnSpec) -> String {
    let mut out = format!("`{}`\n\n{}", f.signature(), f.doc);
    if !f.args.is_empty() {
        out.push('\n');
    }
    for a in f.args {
        out += &format!("\n- `{}`: {}, default `{}`. {}", a.name, a.ty.describe(), a.default.describe(), a.doc);
    }
    out
}

/// The hover at byte `offset`: over a key (or one segment of a dotted key), a named argument or a function name.
pub fn hover(text: &str, offset: usize) -> Option<Hover> {
    let tokens = scan::tokens(text);
    let k = scan::token_at(&tokens, offset)?;
    let token = tokens[k];
    if token.kind != Kind::Word {
        return None;
    }
    let word = token.text(text);
    let followed_by_eq = tokens.get(k + 1).is_some_and(|t| t.is('='));
    let (markdown, start, end) = match Walk::over(text, &tokens[..k]).role(followed_by_eq) {
        Role::Key(Scope::Top) if word == "experiment" => {
            (format!("`experiment \"name\" {{ … }}`\n\n{}", EXPERIMENT.doc), token.start, token.end)
        }
        Role::Key(scope) => {
            // The segment under the cursor, and the key the path names up to it.
            let within = offset.saturating_sub(token.start).min(word.len());
            let seg_end = word[within..].find('.').map_or(word.len(), |n| within + n);
            let seg_start = word[..within].rfind('.').map_or(0, |n| n + 1);
            let path = &word[..seg_end];
            let key = keys::resolve(scope.root()?, path)?;
            (key_markdown(path, key), token.start + seg_start, token.start + seg_end)
        }
        Role::ArgName(func) => (key_markdown(word, func?.arg(word)?), token.start, token.end),
        Role::Value(ty) => (fn_markdown(keys::function(ty, word)?), token.start, token.end),
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: markdown }),
        range: Some(scan::range(text, start, end)),
    })
}

/// The file an `import "path"` string at `offset` names (relative to the document `name`'s folder), if it exists.
pub fn definition(name: &str, text: &str, offset: usize) -> Option<PathBuf> {
    let tokens = scan::tokens(text);
    let k = scan::token_at(&tokens, offset)?;
    let is_import = k > 0 && tokens[k - 1].kind == Kind::Word && tokens[k - 1].text(text) == "import";
    if tokens[k].kind != Kind::Str || !is_import {
        return None;
    }
    let dir = Path::new(name).parent().unwrap_or(Path::new(""));
    let path = dir.join(scan::unquote(tokens[k].text(text)));
    path.is_file().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hover_text(text: &str, needle: &str) -> String {
        let offset = text.find(needle).map_or(0, |n| n + 1);
        match hover(text, offset).map(|h| h.contents) {
            Some(HoverContents::Markup(m)) => m.value,
            _ => String::new(),
        }
    }

    #[test]
    fn hovers_keys_arguments_and_functions() {
        let text = "experiment \"x\" {\n  episode { cull = 0.5 insertion = fast_forward(fallback = uniform) }\n  \
                    learn.optimizer.lr = 1e-3\n}\nsweep { episode.rounds = [4, 8] }\n";
        assert!(hover_text(text, "cull").starts_with("`cull`: a number in (0, 1), default `0.5`"));
        assert!(hover_text(text, "fast_forward").starts_with("`fast_forward(fallback, threshold, max_consecutive)`"));
        assert!(hover_text(text, "fallback").contains("default `best_rank()`"));
        assert!(hover_text(text, "uniform").contains("A uniformly random free slot."));
        assert!(hover_text(text, "lr =").starts_with("`learn.optimizer.lr`: a number > 0"));
        assert!(hover_text(text, "optimizer").starts_with("`learn.optimizer`: one of `adamw("));
        assert!(hover_text(text, "rounds").starts_with("`episode.rounds`: an integer ≥ 1"));
        assert!(hover_text(text, "experiment").contains("One experiment"));
        assert_eq!(hover_text(text, "0.5"), "");
    }
}
