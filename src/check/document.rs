//! The document level: merge a spec and its imports into one settings tree, the experiment's name, its language
//! version and its sweep. Later files (the importing spec) override earlier ones (the imports), key by key.

use std::collections::HashMap;

use super::resolve::{self, Ctx};
use super::schema::{Ty, EXPERIMENT, INSERTIONS};
use super::tree::{Node, RBlock, RCall, RVal};
use super::upgrade;
use crate::diagnostic::{backticked, did_you_mean, suggest, Diagnostic, Span};
use crate::syntax::{Block, Item, SpecAst, ValueKind};

/// The language version this thinktok reads.
pub const LANGUAGE_VERSION: u32 = 1;

/// A spec with its imports merged.
pub struct Document {
    pub name: String,
    pub version: u32,
    pub root: RBlock,
    /// The sweep block of the last file that has one (an importing spec's sweep replaces the import's).
    pub sweep: Option<Block>,
}

/// Merge parsed files, base (imported) first.
pub fn merge(ctx: &mut Ctx, files: &[SpecAst]) -> Document {
    let mut doc =
        Document { name: String::new(), version: LANGUAGE_VERSION, root: RBlock::defaults(&EXPERIMENT), sweep: None };
    let mut found_experiment = false;
    let mut episode_written = false;
    for file in files {
        let upgraded;
        let file = if upgrade::declared_version(file) == Some(0) {
            upgraded = upgrade::from_v0(file);
            &upgraded
        } else {
            file
        };
        let mut seen: HashMap<String, Span> = HashMap::new();
        let mut experiment_span: Option<Span> = None;
        for item in &file.items {
            match item {
                Item::Import(_) => {}
                Item::Assign(a) if a.key_text() == "version" => version(ctx, &mut doc, &a.value),
                Item::Assign(a) => {
                    ctx.err("E0202", a.key_span(), format!("`{}` is set outside any block", a.key_text()), "not inside `experiment { … }`")
                        .push_hint(format!("move it into the `experiment` block (only `version = {LANGUAGE_VERSION}` stands at the top level)"));
                }
                Item::Block(b) if b.kind.name == "experiment" => {
                    if let Some(first) = experiment_span {
                        let d = Diagnostic::error("E0214", "a spec file has one `experiment` block")
                            .at(ctx.sources, b.kind.span, "second `experiment` block")
                            .with_related(ctx.sources, first, "first one here")
                            .with_hint("merge the two blocks");
                        ctx.push(d);
                        continue;
                    }
                    experiment_span = Some(b.kind.span);
                    found_experiment = true;
                    match &b.label {
                        Some(l) => doc.name = l.name.clone(),
                        None if doc.name.is_empty() => {
                            ctx.err("E0215", b.kind.span, "the experiment has no name".into(), "needs a name")
                                .push_hint("write `experiment \"my-name\" { … }`");
                        }
                        None => {}
                    }
                    doc.root.span = Some(b.kind.span);
                    episode_written |= b.items.iter().any(mentions_episode);
                    apply_items(ctx, &mut doc.root, &b.items, "", &mut seen);
                }
                Item::Block(b) if b.kind.name == "sweep" => {
                    if let Some(prev) = seen.get("#sweep") {
                        let d = Diagnostic::error("E0214", "a spec file has one `sweep` block")
                            .at(ctx.sources, b.kind.span, "second `sweep` block")
                            .with_related(ctx.sources, *prev, "first one here")
                            .with_hint("combine axes in one block (`concat { … }` joins sub-sweeps)");
                        ctx.push(d);
                        continue;
                    }
                    seen.insert("#sweep".into(), b.kind.span);
                    doc.sweep = Some(b.clone());
                }
                Item::Block(b) => {
                    let d = ctx.err(
                        "E0201",
                        b.kind.span,
                        format!("unknown block `{}`", b.kind.name),
                        "not a top-level block",
                    );
                    let inner = EXPERIMENT.key(&b.kind.name).is_some();
                    if inner {
                        d.push_hint(format!("`{}` goes inside `experiment \"…\" {{ … }}`", b.kind.name));
                    } else {
                        d.push_hint(did_you_mean(&b.kind.name, &["experiment", "sweep"]));
                    }
                }
            }
        }
    }
    let misspelt = ctx.diags.iter().any(|d| d.code == "E0201" && d.label.as_deref() == Some("not a top-level block"));
    if !found_experiment && !misspelt {
        // The spec itself is the first registered file.
        let span = Span { file: 0, start: 0, end: 0 };
        ctx.err("E0212", span, "the spec has no `experiment` block".into(), "")
            .push_hint("every spec (or a spec it imports) has `experiment \"name\" { … }`");
    }
    if !episode_written {
        // Without an `episode` block there are no thoughts: the plain-training baseline.
        let none = INSERTIONS.iter().find(|f| f.name == "none");
        if let (Some(Node { val: RVal::Block(ep), .. }), Some(none)) = (doc.root.entries.get_mut("episode"), none) {
            ep.entries.insert("insertion", Node { val: RVal::Call(RCall::defaults(none)), span: None });
        }
    }
    if found_experiment {
        required(ctx, &doc.root, doc.root.span.unwrap_or_default());
    }
    doc
}

fn mentions_episode(item: &Item) -> bool {
    match item {
        Item::Block(b) => b.kind.name == "episode",
        Item::Assign(a) => a.key.first().is_some_and(|k| k.name == "episode"),
        Item::Import(_) => false,
    }
}

fn version(ctx: &mut Ctx, doc: &mut Document, v: &crate::syntax::Value) {
    let ValueKind::Int(n) = v.kind else {
        ctx.err("E0601", v.span, "the language version is a whole number".into(), "expected an integer")
            .push_hint(format!("write `version = {LANGUAGE_VERSION}`"));
        return;
    };
    if n == i64::from(LANGUAGE_VERSION) || n == 0 {
        // Version 0 was upgraded before merging (see `upgrade`); the plan is in the current language.
        doc.version = LANGUAGE_VERSION;
    } else if n > i64::from(LANGUAGE_VERSION) {
        ctx.err(
            "E0602",
            v.span,
            format!(
                "this spec is written in language version {n}, newer than this thinktok reads ({LANGUAGE_VERSION})"
            ),
            "too new",
        )
        .push_hint("install a newer thinktok (`cargo install --path .` in an updated checkout)");
    } else {
        ctx.err("E0603", v.span, format!("there is no language version {n}"), "not a version").push_hint(format!(
            "versions are 0 (the notes' draft, upgraded when read) and {LANGUAGE_VERSION} (current)"
        ));
    }
}

/// Apply a block's items to `block`; `prefix` is the dotted path of `block` (for duplicate detection).
fn apply_items(ctx: &mut Ctx, block: &mut RBlock, items: &[Item], prefix: &str, seen: &mut HashMap<String, Span>) {
    for item in items {
        match item {
            Item::Assign(a) => {
                let full = format!("{prefix}{}", a.key_text());
                if let Some(first) = seen.get(&full) {
                    let d = Diagnostic::error("E0211", format!("duplicate key `{}`", a.key_text()))
                        .at(ctx.sources, a.key_span(), "set again here")
                        .with_related(ctx.sources, *first, "first set here")
                        .with_hint("remove one of them (to try several values, use a `sweep`)");
                    ctx.push(d);
                    continue;
                }
                seen.insert(full, a.key_span());
                resolve::set(ctx, block, &a.key, &a.value);
            }
            Item::Block(b) => sub_block(ctx, block, b, prefix, seen),
            Item::Import(i) => {
                ctx.err("E0503", i.span, "`import` is only allowed at the top of a file".into(), "inside a block")
                    .push_hint("move it above the `experiment` block");
            }
        }
    }
}

fn sub_block(ctx: &mut Ctx, block: &mut RBlock, b: &Block, prefix: &str, seen: &mut HashMap<String, Span>) {
    let spec = block.spec;
    let sub = match spec.key(&b.kind.name).map(|k| k.ty) {
        Some(Ty::Block(sub)) => sub,
        Some(_) => {
            ctx.err("E0216", b.kind.span, format!("`{}` is a setting, not a block", b.kind.name), "not a block")
                .push_hint(format!("write `{} = …`", b.kind.name));
            return;
        }
        None => {
            let blocks: Vec<&str> = spec.keys.iter().filter(|k| matches!(k.ty, Ty::Block(_))).map(|k| k.name).collect();
            let d = ctx.err(
                "E0201",
                b.kind.span,
                format!("unknown block `{}` in `{}`", b.kind.name, spec.name),
                "not a block here",
            );
            match suggest(&b.kind.name, blocks.iter().copied()) {
                Some(best) => d.push_hint(format!("did you mean `{best}`?")),
                None if blocks.is_empty() => d.push_hint(format!("`{}` has no inner blocks", spec.name)),
                None => d.push_hint(format!("blocks here are {}", backticked(&blocks))),
            }
            return;
        }
    };
    if let Some(args) = &b.args {
        let span = args.first().map_or(b.kind.span, |a| a.value.span);
        ctx.err("E0217", span, format!("the `{}` block takes no arguments", sub.name), "unexpected arguments");
    }
    // A label may select a variant with its own keys (`model pretrained`); an unlabelled block keeps the kind an
    // earlier file gave it.
    let mut spec_here = None;
    if let Some(label) = &b.label {
        let labels = sub.all_labels();
        if labels.is_empty() {
            ctx.err("E0218", label.span, format!("the `{}` block takes no label", sub.name), "unexpected label")
                .push_hint(format!("write `{} {{ … }}`", sub.name));
        } else if let Some(variant) = sub.with_label(&label.name) {
            spec_here = Some((variant, label.name.clone()));
        } else {
            let d = ctx.err("E0219", label.span, format!("unknown {} `{}`", sub.name, label.name), "not a known kind");
            d.push_hint(did_you_mean(&label.name, &labels));
        }
    }
    let entry =
        block.entries.entry(sub.name).or_insert_with(|| Node { val: RVal::Block(RBlock::defaults(sub)), span: None });
    entry.span = Some(b.kind.span);
    if let Some((variant, _)) = spec_here {
        let same = matches!(&entry.val, RVal::Block(inner) if std::ptr::eq(inner.spec, variant));
        if !same {
            // Another kind than before (an import's `model gpt`): start from this kind's defaults.
            entry.val = RVal::Block(RBlock::defaults(variant));
        }
    }
    let RVal::Block(inner) = &mut entry.val else { return };
    inner.span = Some(b.kind.span);
    if let Some((_, label)) = spec_here {
        inner.label = Some(label);
    }
    let prefix = format!("{prefix}{}.", sub.name);
    apply_items(ctx, inner, &b.items, &prefix, seen);
}

/// Report every required key (or argument) that was never set.
fn required(ctx: &mut Ctx, block: &RBlock, parent_span: Span) {
    let span = block.span.unwrap_or(parent_span);
    for key in block.spec.keys {
        match block.entries.get(key.name) {
            None => {
                let example = match key.ty {
                    Ty::Choice(fns) => fns.first().map_or("…".to_string(), |f| f.signature()),
                    _ => "…".into(),
                };
                ctx.err(
                    "E0213",
                    span,
                    format!("missing key `{}` in `{}`", key.name, block.spec.name),
                    &format!("`{}` needs `{}`", block.spec.name, key.name),
                )
                .push_hint(format!("add `{} = {example}` ({})", key.name, key.doc));
            }
            Some(Node { val: RVal::Block(b), .. }) => required(ctx, b, span),
            Some(_) => {}
        }
    }
}
