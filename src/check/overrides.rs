//! `--set KEY=VALUE` overrides from the command line, applied after imports as the spec's own last lines.
//!
//! Each override is its own source (`--set #N`), parsed by the spec grammar as one `key = value` line, so it is
//! checked exactly like spec text and its diagnostics point into it. A value that is a list, or a range where the key
//! takes a single value (`seed=0..3`), is a sweep axis: it replaces the spec's axis of that key when the sweep has
//! one at its top level, else it is crossed with the spec's sweep. Any other value is a setting, written as the last
//! line of the experiment block; a setting for a key the sweep varies replaces that axis by the one value.

use super::schema::{Ty, EXPERIMENT};
use crate::diagnostic::{Diagnostic, Sources, Span};
use crate::syntax::{self, Assign, Block, Ident, Item, SpecAst, Value, ValueKind};

/// Apply `overrides` to `files` (base first, the spec last): a synthetic last file carries the settings, and the
/// sweep block of the last file that has one (or a new one) carries the axes. Returns the diagnostics.
pub fn apply(sources: &mut Sources, files: &mut Vec<SpecAst>, overrides: &[String]) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut settings: Vec<Item> = Vec::new();
    let mut axes: Vec<Assign> = Vec::new();
    let mut last_id = 0;
    for (i, text) in overrides.iter().enumerate() {
        let id = sources.add(&format!("--set #{}", i + 1), text);
        last_id = id;
        let whole = Span { file: id, start: 0, end: text.len() };
        let parsed = match syntax::parse(sources, id) {
            Ok(ast) => ast,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let assign = match parsed.items.as_slice() {
            [Item::Assign(a)] => a.clone(),
            _ => {
                diags.push(
                    Diagnostic::error("E0220", "`--set` takes one `KEY=VALUE`")
                        .at(sources, whole, "not one `KEY=VALUE`")
                        .with_hint(
                            "e.g. `--set learn.steps=100` or `--set 'episode.insertion=random(per_sequence = 4)'`",
                        ),
                );
                continue;
            }
        };
        if is_axis(&assign) {
            axes.push(assign);
        } else {
            settings.push(Item::Assign(assign));
        }
    }
    if settings.is_empty() && axes.is_empty() {
        return diags;
    }
    let sweep_at = files.iter().rposition(|f| f.items.iter().any(is_sweep));
    let mut sweep_items: Vec<Item> = match sweep_at {
        Some(at) => files[at].items.iter().find(|i| is_sweep(i)).map_or(Vec::new(), block_items),
        None => Vec::new(),
    };
    // A setting for a key the sweep varies fixes that axis to the one value; an axis for a key the sweep varies
    // replaces its values. Only top-level axes can be replaced: inside `zip`, `concat` or `sample` the values are
    // tied to others.
    for item in &settings {
        let Item::Assign(a) = item else { continue };
        let one = Assign {
            key: a.key.clone(),
            value: Value { kind: ValueKind::List(vec![a.value.clone()]), span: a.value.span },
        };
        replace_axis(sources, &mut sweep_items, one, &mut diags, false);
    }
    settings.retain(|item| !matches!(item, Item::Assign(a) if axis_keys(&sweep_items).contains(&a.key_text())));
    for axis in axes {
        replace_axis(sources, &mut sweep_items, axis, &mut diags, true);
    }
    if let Some(at) = sweep_at {
        for item in &mut files[at].items {
            if let Item::Block(b) = item {
                if b.kind.name == "sweep" {
                    b.items = sweep_items.clone();
                }
            }
        }
    }
    let span = Span { file: last_id, start: 0, end: 0 };
    let ident = |name: &str| Ident { name: name.into(), span };
    let mut items =
        vec![Item::Block(Block { kind: ident("experiment"), label: None, args: None, items: settings, span })];
    if sweep_at.is_none() && !sweep_items.is_empty() {
        items.push(Item::Block(Block { kind: ident("sweep"), label: None, args: None, items: sweep_items, span }));
    }
    files.push(SpecAst { items });
    diags
}

fn is_sweep(item: &Item) -> bool {
    matches!(item, Item::Block(b) if b.kind.name == "sweep")
}

fn block_items(item: &Item) -> Vec<Item> {
    match item {
        Item::Block(b) => b.items.clone(),
        _ => Vec::new(),
    }
}

/// The keys of the sweep's top-level axes.
fn axis_keys(items: &[Item]) -> Vec<String> {
    items.iter().filter_map(|i| if let Item::Assign(a) = i { Some(a.key_text()) } else { None }).collect()
}

/// Whether a key appears anywhere inside the sweep's nested blocks (`zip`, `concat`, `sample`).
fn nested_key(items: &[Item], key: &str) -> bool {
    items.iter().any(|i| match i {
        Item::Block(b) => {
            b.items.iter().any(|j| matches!(j, Item::Assign(a) if a.key_text() == key)) || nested_key(&b.items, key)
        }
        _ => false,
    })
}

/// Put `axis` into the sweep's items: in place of the top-level axis of its key, or appended (`append`; a setting
/// that matches no axis is left to the experiment block). An axis inside a nested block is a diagnostic.
fn replace_axis(sources: &Sources, items: &mut Vec<Item>, axis: Assign, diags: &mut Vec<Diagnostic>, append: bool) {
    let key = axis.key_text();
    if nested_key(items, &key) {
        diags.push(
            Diagnostic::error("E0409", format!("the spec's sweep varies `{key}` together with other keys"))
                .at(sources, axis.key_span(), "swept inside `zip`, `concat` or `sample`")
                .with_hint("edit the spec's sweep, or override another key"),
        );
        return;
    }
    match items.iter_mut().find(|i| matches!(i, Item::Assign(a) if a.key_text() == key)) {
        Some(slot) => *slot = Item::Assign(axis),
        None if append => items.push(Item::Assign(axis)),
        None => {}
    }
}

/// A list, or a range for a key whose type takes one value (a range for a key that takes ranges is its value).
fn is_axis(a: &Assign) -> bool {
    match a.value.kind {
        ValueKind::List(_) => true,
        ValueKind::Range { .. } => !matches!(key_type(&a.key), Some(Ty::IntOrRange(_)) | None),
        _ => false,
    }
}

/// The type of a dotted key in the experiment's tables, where blocks alone lead to it (a call's arguments depend on
/// the function, which the key does not say).
fn key_type(key: &[Ident]) -> Option<&'static Ty> {
    let mut block = &EXPERIMENT;
    let (last, head) = key.split_last()?;
    for part in head {
        match &block.key(&part.name)?.ty {
            Ty::Block(b) => block = b,
            _ => return None,
        }
    }
    Some(&block.key(&last.name)?.ty)
}
