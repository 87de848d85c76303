//! The resolved settings tree: typed values with the span that set them (none for defaults).
//!
//! The checker starts from the defaults tree, applies the spec's settings in order (imports first), then each
//! run's sweep overrides; `build` turns the result into [`crate::plan::RunParams`].

use std::collections::BTreeMap;

use super::schema::{BlockSpec, Default, FnSpec, Ty};
use crate::diagnostic::Span;

/// A typed value.
#[derive(Debug, Clone)]
pub enum RVal {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    None,
    /// `start..end`, end excluded.
    Range(i64, i64),
    Call(RCall),
    Block(RBlock),
}

/// A resolved call: the function and every argument (defaults filled).
#[derive(Debug, Clone)]
pub struct RCall {
    pub func: &'static FnSpec,
    pub args: BTreeMap<&'static str, Node>,
}

/// A resolved block: its label and keys. Required keys that were never set are absent.
#[derive(Debug, Clone)]
pub struct RBlock {
    pub spec: &'static BlockSpec,
    pub label: Option<String>,
    /// Where the block was written (the last place, with imports), if it was.
    pub span: Option<Span>,
    pub entries: BTreeMap<&'static str, Node>,
}

/// A value and where it was set.
#[derive(Debug, Clone)]
pub struct Node {
    pub val: RVal,
    pub span: Option<Span>,
}

impl RBlock {
    /// A block holding every default of `spec`.
    pub fn defaults(spec: &'static BlockSpec) -> RBlock {
        let mut entries = BTreeMap::new();
        for k in spec.keys {
            if let Some(val) = default_value(&k.ty, k.default) {
                entries.insert(k.name, Node { val, span: None });
            }
        }
        RBlock { spec, label: spec.labels.first().map(|l| l.to_string()), span: None, entries }
    }

    /// A sub-block by key.
    pub fn block(&self, key: &str) -> Option<&RBlock> {
        match self.entries.get(key).map(|n| &n.val) {
            Some(RVal::Block(b)) => Some(b),
            _ => None,
        }
    }

    /// Whether the spec wrote `path` itself (not just an enclosing value).
    pub fn written(&self, path: &[&str]) -> bool {
        let Some((first, rest)) = path.split_first() else { return false };
        let Some(node) = self.entries.get(first) else { return false };
        match (&node.val, rest.is_empty()) {
            (_, true) => node.span.is_some(),
            (RVal::Block(b), false) => b.written(rest),
            (RVal::Call(c), false) => c.written(rest),
            _ => false,
        }
    }

    /// The span that set `path` (a key, then sub-keys or arguments), if the spec set it.
    pub fn span_of(&self, path: &[&str]) -> Option<Span> {
        let (first, rest) = path.split_first()?;
        let node = self.entries.get(first)?;
        match (&node.val, rest.is_empty()) {
            (_, true) => node.span,
            (RVal::Block(b), false) => b.span_of(rest).or(node.span),
            (RVal::Call(c), false) => c.span_of(rest).or(node.span),
            _ => node.span,
        }
    }
}

impl RCall {
    /// A call of `func` with every argument at its default (required ones absent).
    pub fn defaults(func: &'static FnSpec) -> RCall {
        let mut args = BTreeMap::new();
        for a in func.args {
            if let Some(val) = default_value(&a.ty, a.default) {
                args.insert(a.name, Node { val, span: None });
            }
        }
        RCall { func, args }
    }

    fn written(&self, path: &[&str]) -> bool {
        let Some((first, rest)) = path.split_first() else { return false };
        let Some(node) = self.args.get(first) else { return false };
        match (&node.val, rest.is_empty()) {
            (_, true) => node.span.is_some(),
            (RVal::Call(c), false) => c.written(rest),
            _ => false,
        }
    }

    fn span_of(&self, path: &[&str]) -> Option<Span> {
        let (first, rest) = path.split_first()?;
        let node = self.args.get(first)?;
        match (&node.val, rest.is_empty()) {
            (RVal::Call(c), false) => c.span_of(rest).or(node.span),
            _ => node.span,
        }
    }
}

/// The value a default stands for, or `None` for a required key.
pub fn default_value(ty: &Ty, default: Default) -> Option<RVal> {
    Some(match (default, ty) {
        (Default::Required, _) => return None,
        (Default::Int(i), Ty::Float(_) | Ty::OptFloat(_)) => RVal::Float(i as f64),
        (Default::Int(i), _) => RVal::Int(i),
        (Default::Float(f), _) => RVal::Float(f),
        (Default::Bool(b), _) => RVal::Bool(b),
        (Default::None, _) => RVal::None,
        (Default::Range(a, b), _) => RVal::Range(a, b),
        (Default::Call(name), Ty::Choice(fns)) => RVal::Call(RCall::defaults(fns.iter().find(|f| f.name == name)?)),
        (Default::Block, Ty::Block(spec)) => RVal::Block(RBlock::defaults(spec)),
        (Default::Call(_) | Default::Block, _) => return None,
    })
}
