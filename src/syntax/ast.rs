//! The spanned syntax tree: close to the text, generic (blocks, `key = value`, values), resolved later by `check`.

use crate::diagnostic::Span;

/// A parsed spec file.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecAst {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Import(Import),
    Block(Block),
    Assign(Assign),
}

/// `import "base.think"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub path: String,
    /// The span of the path string.
    pub span: Span,
}

/// A name with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `kind label? (args)? { items }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub kind: Ident,
    pub label: Option<Ident>,
    pub args: Option<Vec<Arg>>,
    pub items: Vec<Item>,
    pub span: Span,
}

/// `a.b.c = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    pub key: Vec<Ident>,
    pub value: Value,
}

impl Assign {
    /// The whole dotted key's span.
    pub fn key_span(&self) -> Span {
        let first = self.key.first().map(|k| k.span).unwrap_or_default();
        let last = self.key.last().map(|k| k.span).unwrap_or_default();
        Span { end: last.end, ..first }
    }

    pub fn key_text(&self) -> String {
        dotted(&self.key)
    }
}

/// `a.b.c`.
pub fn dotted(parts: &[Ident]) -> String {
    parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(".")
}

/// A value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Int(i64),
    Float(f64),
    Str(String),
    /// A bare (possibly dotted) name: `cpu`, `best_rank`, `true`.
    Name(String),
    /// `callee(args)`; the callee may be dotted (`task.sum3`).
    Call {
        callee: Ident,
        args: Vec<Arg>,
    },
    List(Vec<Value>),
    /// `start..end`, end exclusive.
    Range {
        start: i64,
        end: i64,
    },
}

/// A call argument: named (`lr = 2e-3`) or positional (`"data/train.jsonl"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Value,
}
