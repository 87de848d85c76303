//! Syntax: spec text → spanned AST ([`SpecAst`]), with the first syntax error translated into a [`Diagnostic`].

// The error is a whole `Diagnostic`, built at most once per parse and never on a hot path.
#![allow(clippy::result_large_err)]

pub mod ast;
mod depth;
mod recover;
mod rules;

use pest::iterators::Pair;
use pest::Parser;

pub use ast::{Arg, Assign, Block, Ident, Import, Item, SpecAst, Value, ValueKind};
pub use recover::parse_recovering;

use crate::diagnostic::{Diagnostic, FileId, Sources, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/thinktok.pest"]
struct SpecParser;

/// Parse one registered source file into a spanned AST (the first syntax error; [`parse_recovering`] finds all).
pub fn parse(sources: &Sources, file: FileId) -> Result<SpecAst, Diagnostic> {
    let text = sources.get(file).map_or("", |f| f.text.as_str());
    convert(sources, file, text)
}

/// Parse `text` (the registered text of `file`, or a same-length patch of it) into an AST.
fn convert(sources: &Sources, file: FileId, text: &str) -> Result<SpecAst, Diagnostic> {
    // Collect the literal tokens pest tried, so "expected `=`" can be said (a process-wide switch).
    pest::set_error_detail(true);
    // Fuzzing finding (issue 13): deep nesting overflowed the stack in pest and `Converter`; refuse it first.
    depth::check(sources, file, text)?;
    let mut pairs = SpecParser::parse(Rule::spec, text).map_err(|err| syntax_error(sources, file, text, &err))?;
    let conv = Converter { file, sources };
    let spec = pairs.next().map(|p| p.into_inner());
    let mut items = Vec::new();
    for pair in spec.into_iter().flatten() {
        if pair.as_rule() != Rule::EOI {
            items.push(conv.item(pair)?);
        }
    }
    Ok(SpecAst { items })
}

/// Turns pest pairs into AST nodes. Pairs have the shapes the grammar guarantees; a surprise is reported as an
/// internal error rather than a panic.
struct Converter<'a> {
    file: FileId,
    sources: &'a Sources,
}

type Res<T> = Result<T, Diagnostic>;

impl Converter<'_> {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        Span { file: self.file, start: s.start(), end: s.end() }
    }

    fn internal(&self, pair: &Pair<Rule>, what: &str) -> Diagnostic {
        Diagnostic::error("E0100", format!("internal parser error: {what}")).at(self.sources, self.span(pair), "")
    }

    fn item(&self, pair: Pair<Rule>) -> Res<Item> {
        match pair.as_rule() {
            Rule::import => {
                let span = self.span(&pair);
                let s = pair.into_inner().next().ok_or_else(|| Diagnostic::error("E0100", "internal: empty import"))?;
                Ok(Item::Import(Import { path: unescape(s.as_str()), span: Span { ..span } }))
            }
            Rule::block => self.block(pair).map(Item::Block),
            Rule::assign => self.assign(pair).map(Item::Assign),
            _ => Err(self.internal(&pair, "unexpected item")),
        }
    }

    fn block(&self, pair: Pair<Rule>) -> Res<Block> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let kind_pair = inner.next().ok_or_else(|| Diagnostic::error("E0100", "internal: empty block"))?;
        let kind = self.ident(&kind_pair);
        let (mut label, mut args, mut items) = (None, None, Vec::new());
        for p in inner {
            match p.as_rule() {
                Rule::label => {
                    let l = p
                        .into_inner()
                        .next()
                        .ok_or_else(|| Diagnostic::error("E0100", "internal: empty block label"))?;
                    let span = self.span(&l);
                    let name = match l.as_rule() {
                        Rule::string => unescape(l.as_str()),
                        _ => l.as_str().to_string(),
                    };
                    label = Some(Ident { name, span });
                }
                Rule::block_args => {
                    args = Some(p.into_inner().map(|a| self.arg(a)).collect::<Res<_>>()?);
                }
                _ => items.push(self.item(p)?),
            }
        }
        Ok(Block { kind, label, args, items, span })
    }

    fn ident(&self, pair: &Pair<Rule>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(pair) }
    }

    fn assign(&self, pair: Pair<Rule>) -> Res<Assign> {
        let mut inner = pair.into_inner();
        let (Some(key), Some(value)) = (inner.next(), inner.next()) else {
            return Err(Diagnostic::error("E0100", "internal: malformed setting"));
        };
        Ok(Assign { key: key.into_inner().map(|p| self.ident(&p)).collect(), value: self.value(value)? })
    }

    fn arg(&self, pair: Pair<Rule>) -> Res<Arg> {
        let inner = pair.into_inner().next().ok_or_else(|| Diagnostic::error("E0100", "internal: empty argument"))?;
        if inner.as_rule() == Rule::named_arg {
            let mut parts = inner.into_inner();
            let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                return Err(Diagnostic::error("E0100", "internal: malformed argument"));
            };
            Ok(Arg { name: Some(self.ident(&name)), value: self.value(value)? })
        } else {
            Ok(Arg { name: None, value: self.value(inner)? })
        }
    }

    fn value(&self, pair: Pair<Rule>) -> Res<Value> {
        let pair = if pair.as_rule() == Rule::value {
            pair.into_inner().next().ok_or_else(|| Diagnostic::error("E0100", "internal: empty value"))?
        } else {
            pair
        };
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::int => ValueKind::Int(self.int(&pair)?),
            Rule::float => {
                let text = pair.as_str().replace('_', "");
                // `1e400` parses as infinity: out of range like an integer past 64 bits, never a value.
                let x: f64 = text.parse().map_err(|_| self.bad_number(&pair))?;
                if !x.is_finite() {
                    return Err(self.bad_number(&pair));
                }
                ValueKind::Float(x)
            }
            Rule::string => ValueKind::Str(unescape(pair.as_str())),
            Rule::path => ValueKind::Name(pair.as_str().to_string()),
            Rule::range => {
                let mut ends = pair.clone().into_inner();
                let (Some(a), Some(b)) = (ends.next(), ends.next()) else {
                    return Err(self.internal(&pair, "malformed range"));
                };
                ValueKind::Range { start: self.int(&a)?, end: self.int(&b)? }
            }
            Rule::list => ValueKind::List(pair.into_inner().map(|v| self.value(v)).collect::<Res<_>>()?),
            Rule::call => {
                let mut inner = pair.into_inner();
                let callee = inner.next().ok_or_else(|| Diagnostic::error("E0100", "internal: empty call"))?;
                ValueKind::Call { callee: self.ident(&callee), args: inner.map(|a| self.arg(a)).collect::<Res<_>>()? }
            }
            _ => return Err(self.internal(&pair, "unexpected value")),
        };
        Ok(Value { kind, span })
    }

    fn int(&self, pair: &Pair<Rule>) -> Res<i64> {
        pair.as_str().replace('_', "").parse().map_err(|_| self.bad_number(pair))
    }

    fn bad_number(&self, pair: &Pair<Rule>) -> Diagnostic {
        Diagnostic::error("E0102", format!("number `{}` is out of range", pair.as_str())).at(
            self.sources,
            self.span(pair),
            "does not fit in 64 bits",
        )
    }
}

/// The text inside a string literal's quotes, with escapes resolved.
fn unescape(quoted: &str) -> String {
    let inner = quoted.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(quoted);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

mod error;
use error::syntax_error;

/// A debug view of the AST (`thinktok debug ast`); the format is prone to change.
pub fn debug_ast(ast: &SpecAst) -> String {
    format!("{ast:#?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<SpecAst, Diagnostic> {
        let mut sources = Sources::default();
        let id = sources.add("t.think", text);
        parse(&sources, id)
    }

    fn first_value(text: &str) -> ValueKind {
        let ast = parse_text(text).unwrap();
        match &ast.items[0] {
            Item::Assign(a) => a.value.kind.clone(),
            other => panic!("not a setting: {other:?}"),
        }
    }

    #[test]
    fn numbers_ranges_and_strings() {
        assert_eq!(first_value("x = 2e-3"), ValueKind::Float(2e-3));
        assert_eq!(first_value("x = -0.5"), ValueKind::Float(-0.5));
        // A float past f64's range would parse as infinity.
        assert!(parse_text("x = 2.1e4000").is_err_and(|d| d.code == "E0102"));
        assert_eq!(first_value("x = 20_000"), ValueKind::Int(20000));
        assert_eq!(first_value("x = 0..3"), ValueKind::Range { start: 0, end: 3 });
        assert_eq!(first_value(r#"x = "a\"b""#), ValueKind::Str("a\"b".into()));
        assert_eq!(first_value("x = best_rank # comment"), ValueKind::Name("best_rank".into()));
    }

    #[test]
    fn calls_with_dotted_callee_and_mixed_arguments() {
        let ValueKind::Call { callee, args } = first_value(r#"x = task.sum3(6, count = 10,)"#) else {
            panic!("not a call")
        };
        assert_eq!(callee.name, "task.sum3");
        assert_eq!(args.len(), 2);
        assert!(args[0].name.is_none());
        assert_eq!(args[1].name.as_ref().map(|n| n.name.as_str()), Some("count"));
    }

    #[test]
    fn blocks_labels_args_and_dotted_keys() {
        let ast = parse_text(
            "experiment \"e\" { model gpt { width = 8 } episode.cull = 0.5 }\nsweep { sample(count = 2) { a = [1] } }",
        )
        .unwrap();
        let Item::Block(b) = &ast.items[0] else { panic!() };
        assert_eq!(b.label.as_ref().map(|l| l.name.as_str()), Some("e"));
        let Item::Assign(a) = &b.items[1] else { panic!() };
        assert_eq!(a.key_text(), "episode.cull");
        let Item::Block(s) = &ast.items[1] else { panic!() };
        let Item::Block(sample) = &s.items[0] else { panic!() };
        assert_eq!(sample.args.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn syntax_error_points_at_the_problem() {
        let err = parse_text("experiment \"e\" {\n  seed 1\n}").unwrap_err();
        assert_eq!(err.code, "E0101");
        let loc = err.location.unwrap();
        assert_eq!((loc.line, loc.column), (2, 8));
        assert!(err.reason.contains("`=`"), "{}", err.reason);
    }
}
