//! Completion from the schema tables: a block's keys and nested blocks at the start of an item (dotted keys
//! resolved through blocks), a type's functions after `key =`, a function's arguments inside `name(`.

use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Documentation, MarkupContent, MarkupKind, Range, TextEdit,
};

use crate::check::schema::{FnSpec, KeySpec, Ty, EXPERIMENT};

use super::context::{Slot, Walk};
use super::hover::{fn_markdown, key_markdown};
use super::keys::{self, Scope};
use super::scan;

/// Words of the file's top level.
const TOP: &[(&str, &str)] = &[
    ("experiment", "`experiment \"name\" { … }`: the experiment (exactly one per spec, or inherited from an import)."),
    ("sweep", "`sweep { … }`: the runs; each line `key = [values]` or `key = a..b` is an axis."),
    ("import", "`import \"base.think\"`: start from another spec (a path relative to this file)."),
    ("version", "`version = N`: the language version the spec is written in (default: the current one)."),
];

/// Blocks that combine sweep axes.
const COMBINATORS: &[(&str, &str)] = &[
    ("product", "`product { … }`: every combination (what a sweep's lines are by default)."),
    ("zip", "`zip { a = [..]  b = [..] }`: axes that move together."),
    ("concat", "`concat { part  part … }`: sub-sweeps one after another."),
    ("sample", "`sample(count = N, seed = S) { key = dist … }`: N seeded random points."),
];

/// The completion items at byte `offset`.
pub fn complete(text: &str, offset: usize) -> Vec<CompletionItem> {
    if scan::in_comment_or_string(text, offset) {
        return Vec::new();
    }
    let start = scan::word_start(text, offset);
    // A word glued to a number or a string (`0.`, `1e`, `"a"x`) is no key or function being typed.
    if text[..start].chars().next_back().is_some_and(|c| !c.is_whitespace() && !"{([,=".contains(c)) {
        return Vec::new();
    }
    let partial = &text[start..offset];
    let tokens = scan::tokens(&text[..start]);
    let line_start = text[..offset].rfind('\n').map_or(0, |n| n + 1);
    let edit = Edit { range: scan::range(text, start, offset) };
    let mut items = match Walk::over(text, &tokens).slot(line_start) {
        Slot::Item(scope) => match partial.rsplit_once('.') {
            Some((prefix, _)) => match scope.root().and_then(|root| keys::resolve(root, prefix)) {
                Some(key) => keys::members(key).iter().map(|k| edit.key(k, &format!("{prefix}."))).collect(),
                None => Vec::new(),
            },
            None => item_start(scope, &edit),
        },
        Slot::Value(ty) => values(ty, &edit),
        Slot::Args(f) => f.args.iter().map(|a| edit.key(a, "")).collect(),
        Slot::Nothing => Vec::new(),
    };
    // The tables' order, not the alphabet's.
    for (i, item) in items.iter_mut().enumerate() {
        item.sort_text = Some(format!("{i:04}"));
    }
    items
}

fn item_start(scope: Scope, edit: &Edit) -> Vec<CompletionItem> {
    let words = |list: &[(&str, &str)]| -> Vec<CompletionItem> {
        list.iter().map(|(w, doc)| edit.item(w, w, CompletionItemKind::KEYWORD, None, doc.to_string())).collect()
    };
    match scope {
        Scope::Top => words(TOP),
        Scope::Block(b) => b.keys.iter().map(|k| edit.key(k, "")).collect(),
        Scope::Sweep => {
            let mut items: Vec<_> = EXPERIMENT.keys.iter().map(|k| edit.key(k, "")).collect();
            items.extend(words(COMBINATORS));
            items
        }
        Scope::Sample => EXPERIMENT.keys.iter().map(|k| edit.key(k, "")).collect(),
        Scope::Unknown => Vec::new(),
    }
}

fn values(ty: Ty, edit: &Edit) -> Vec<CompletionItem> {
    let word = |w: &str, doc: &str| edit.item(w, w, CompletionItemKind::VALUE, None, doc.to_string());
    match ty {
        Ty::Choice(fns) => fns.iter().map(|f| edit.function(f)).collect(),
        Ty::Bool => vec![word("true", ""), word("false", "")],
        Ty::OptInt(_) | Ty::OptFloat(_) => vec![word("none", "No value.")],
        _ => Vec::new(),
    }
}

/// Items that replace the word being typed (the whole dotted word: `episode.cu` → `episode.cull`).
struct Edit {
    range: Range,
}

impl Edit {
    fn item(
        &self,
        label: &str,
        text: &str,
        kind: CompletionItemKind,
        detail: Option<String>,
        doc: String,
    ) -> CompletionItem {
        CompletionItem {
            label: label.to_string(),
            kind: Some(kind),
            detail,
            documentation: (!doc.is_empty())
                .then_some(Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value: doc })),
            filter_text: (label != text).then(|| text.to_string()),
            text_edit: Some(CompletionTextEdit::Edit(TextEdit { range: self.range, new_text: text.to_string() })),
            ..CompletionItem::default()
        }
    }

    /// A key (or argument); `prefix` is the dotted path already typed before it.
    fn key(&self, key: &KeySpec, prefix: &str) -> CompletionItem {
        let kind = match key.ty {
            Ty::Block(_) => CompletionItemKind::MODULE,
            _ => CompletionItemKind::PROPERTY,
        };
        let text = format!("{prefix}{}", key.name);
        self.item(key.name, &text, kind, Some(key.ty.describe()), key_markdown(&text, key))
    }

    fn function(&self, f: &FnSpec) -> CompletionItem {
        self.item(f.name, f.name, CompletionItemKind::FUNCTION, Some(f.signature()), fn_markdown(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Vec<String> {
        let offset = text.find('|').unwrap_or(text.len());
        let text = text.replacen('|', "", 1);
        complete(&text, offset).into_iter().map(|i| i.label).collect()
    }

    #[test]
    fn offers_what_fits_the_cursor() {
        let episode = labels("experiment \"x\" {\n  episode {\n    |\n  }\n}\n");
        assert!(episode.iter().any(|l| l == "cull") && episode.iter().any(|l| l == "thought_budget"));
        assert!(labels("experiment \"x\" { episode { insertion = | } }").contains(&"fast_forward".to_string()));
        // A label that selects a variant offers the variant's keys.
        let pretrained = labels("experiment \"x\" {\n  model pretrained {\n    |\n  }\n}\n");
        assert!(
            pretrained.contains(&"path".to_string()) && !pretrained.contains(&"layers".to_string()),
            "{pretrained:?}"
        );
        assert!(labels("experiment \"x\" {\n  model gpt {\n    |\n  }\n}\n").contains(&"layers".to_string()));
        assert!(labels("experiment \"x\" { episode.cu| }").contains(&"cull".to_string()));
        assert!(labels("experiment \"x\" { learn { optimizer = adamw(| } }").contains(&"warmup".to_string()));
        assert!(labels("experiment \"x\" { }\nsweep { learn.optimizer.| }").contains(&"lr".to_string()));
        assert!(labels("experiment \"x\" { }\n|").contains(&"sweep".to_string()));
        assert!(labels("experiment \"x\" { # episode.cu| \n}").is_empty());
        assert!(labels("experiment \"x\" { episode { cull = 0.| } }").is_empty());
        assert!(labels("experiment \"x\" { learn { optimizer = adamw(lr = 1e| } }").is_empty());
        let top = labels("experiment \"x\" { | }");
        assert!(top.contains(&"episode".to_string()) && top.contains(&"seed".to_string()));
    }

    #[test]
    fn dotted_items_replace_the_whole_word() {
        let text = "experiment \"x\" { episode.cu }";
        let offset = text.find("cu").map_or(0, |n| n + 2);
        let cull = complete(text, offset).into_iter().find(|i| i.label == "cull");
        let edit = cull.as_ref().and_then(|i| i.text_edit.clone());
        let Some(CompletionTextEdit::Edit(edit)) = edit else { panic!("no edit: {cull:?}") };
        assert_eq!(edit.new_text, "episode.cull");
        assert_eq!((edit.range.start.character, edit.range.end.character), (17, 27));
    }
}
