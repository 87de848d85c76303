//! Upgrading specs written in an older language version, so they are read with their meaning rather than misread.
//!
//! Version 0 was the notes' draft: `budget` for `thought_budget`, `depth` for `unroll`, and `keep` (the fraction of
//! proposals kept) for `cull` (the fraction dropped, `cull = 1 - keep`).

use crate::syntax::{Block, Ident, Item, SpecAst, Value, ValueKind};

/// The version a file declares with a top-level `version = N`, if it is an integer.
pub fn declared_version(ast: &SpecAst) -> Option<i64> {
    ast.items.iter().find_map(|item| match item {
        Item::Assign(a) if a.key_text() == "version" => match a.value.kind {
            ValueKind::Int(n) => Some(n),
            _ => None,
        },
        _ => None,
    })
}

/// A version-0 spec rewritten in version 1.
pub fn from_v0(ast: &SpecAst) -> SpecAst {
    SpecAst { items: ast.items.iter().map(item).collect() }
}

fn item(it: &Item) -> Item {
    match it {
        Item::Assign(a) => {
            let mut a = a.clone();
            if let Some(last) = a.key.last_mut() {
                match last.name.as_str() {
                    "budget" => rename(last, "thought_budget"),
                    "depth" => rename(last, "unroll"),
                    "keep" => {
                        rename(last, "cull");
                        a.value = complement(&a.value);
                    }
                    _ => {}
                }
            }
            Item::Assign(a)
        }
        Item::Block(b) => Item::Block(Block { items: b.items.iter().map(item).collect(), ..b.clone() }),
        Item::Import(i) => Item::Import(i.clone()),
    }
}

fn rename(ident: &mut Ident, to: &str) {
    ident.name = to.to_string();
}

/// `1 - x` for a number (or each number of a list); other values are left for the checker to reject.
fn complement(v: &Value) -> Value {
    let kind = match &v.kind {
        ValueKind::Int(i) => ValueKind::Float(round12(1.0 - *i as f64)),
        ValueKind::Float(f) => ValueKind::Float(round12(1.0 - f)),
        ValueKind::List(items) => ValueKind::List(items.iter().map(complement).collect()),
        other => other.clone(),
    };
    Value { kind, span: v.span }
}

/// Twelve significant digits: `1 - 0.9` is `0.1`, not `0.09999999999999998`.
fn round12(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}
