//! Where a position stands in a spec, read from the tokens before it against the schema tables: the enclosing
//! blocks (`experiment "x" {` → `EXPERIMENT`, `episode {` inside it → the episode block), calls and lists, and
//! what the next token would be (an item's key, a value of some type, a call's argument).
//!
//! It works on half-written text: unclosed `{`, `(` and `[` are simply still open at the cursor.

use crate::check::schema::{FnSpec, KeySpec, Ty};

use super::keys::{function, Scope};
use super::scan::{Kind, Token};

#[derive(Debug, Clone, Copy)]
enum Frame {
    /// A block; `pending` after `key =` until its value ends: the value's type and the `=`'s offset.
    Block { scope: Scope, pending: Option<(Option<Ty>, usize)> },
    /// `name(…`: the function (if known), the positional index, and the argument after `arg =`.
    Call { func: Option<&'static FnSpec>, index: usize, arg: Option<Option<&'static KeySpec>> },
    /// `[…`: the elements' type.
    List { elem: Option<Ty> },
}

/// What the next token at a position is expected to be, for completion.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    /// The start of an item of a block (a key, a nested block).
    Item(Scope),
    /// A value of this type: after `key =` on the same line, a named argument's `=`, or in a list.
    Value(Ty),
    /// Right after `name(` or a `,` between its arguments.
    Args(&'static FnSpec),
    Nothing,
}

/// What the token at a position is, for hover.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    /// A key (or block name) of an item in this scope.
    Key(Scope),
    /// A value of this type (if known).
    Value(Option<Ty>),
    /// A named argument of this function (if known).
    ArgName(Option<&'static FnSpec>),
}

/// The state after reading some tokens: the open blocks, calls and lists.
pub struct Walk {
    frames: Vec<Frame>,
    last: Option<Kind>,
}

impl Walk {
    /// Read `tokens` (of `text`) from the start of the file.
    pub fn over(text: &str, tokens: &[Token]) -> Walk {
        let mut walk = Walk { frames: Vec::new(), last: None };
        for (i, token) in tokens.iter().enumerate() {
            walk.step(text, tokens, i);
            walk.last = Some(token.kind);
        }
        walk
    }

    fn top(&self) -> Frame {
        self.frames.last().copied().unwrap_or(Frame::Block { scope: Scope::Top, pending: None })
    }

    /// The type a value at this point has, if the point is a value's.
    fn expected(&self) -> Option<Ty> {
        match self.top() {
            Frame::Block { pending, .. } => pending.and_then(|(ty, _)| ty),
            Frame::Call { func, index, arg } => match arg {
                Some(arg) => arg.map(|k| k.ty),
                None => func.and_then(|f| f.args.get(index)).map(|k| k.ty),
            },
            Frame::List { elem } => elem,
        }
    }

    fn in_value(&self) -> bool {
        !matches!(self.top(), Frame::Block { pending: None, .. })
    }

    /// A value ended: the enclosing block's `key = value` item, or a named argument, is complete.
    fn value_done(&mut self) {
        match self.frames.last_mut() {
            Some(Frame::Block { pending, .. }) => *pending = None,
            Some(Frame::Call { arg, .. }) => *arg = None,
            _ => {}
        }
    }

    fn step(&mut self, text: &str, tokens: &[Token], i: usize) {
        let token = tokens[i];
        let next = tokens.get(i + 1);
        let prev = i.checked_sub(1).map(|p| tokens[p]);
        match token.kind {
            Kind::Punct('{') => {
                let scope = match self.top() {
                    Frame::Block { scope, .. } => {
                        block_name(text, tokens, i).map_or(Scope::Unknown, |(n, label)| scope.child(n, label))
                    }
                    _ => Scope::Unknown,
                };
                self.frames.push(Frame::Block { scope, pending: None });
            }
            Kind::Punct('}') => {
                while let Some(frame) = self.frames.pop() {
                    if matches!(frame, Frame::Block { .. }) {
                        break;
                    }
                }
                self.value_done();
            }
            Kind::Punct('(') => {
                // `f(` as a value: `f` among the choices of the type expected where it stood; else block arguments.
                let func = match prev {
                    Some(p) if p.kind == Kind::Word && self.in_value() => function(self.expected(), p.text(text)),
                    _ => None,
                };
                self.frames.push(Frame::Call { func, index: 0, arg: None });
            }
            Kind::Punct(')') | Kind::Punct(']') => {
                let open = matches!(
                    (self.top(), token.kind),
                    (Frame::Call { .. }, Kind::Punct(')')) | (Frame::List { .. }, Kind::Punct(']'))
                );
                if open {
                    self.frames.pop();
                    self.value_done();
                }
            }
            Kind::Punct('[') => {
                let elem = self.expected();
                self.frames.push(Frame::List { elem });
            }
            Kind::Punct(',') => {
                if let Some(Frame::Call { index, arg, .. }) = self.frames.last_mut() {
                    *index += 1;
                    *arg = None;
                }
            }
            Kind::Punct('=') => match (self.frames.last_mut(), prev) {
                (Some(Frame::Call { .. }), _) => {}
                (Some(Frame::Block { scope, pending }), Some(p)) if p.kind == Kind::Word => {
                    *pending = Some((scope.value_type(p.text(text)), token.start));
                }
                (None, _) => {
                    let pending = Some((None, token.start));
                    self.frames.push(Frame::Block { scope: Scope::Top, pending });
                }
                _ => {}
            },
            Kind::Word if next.is_some_and(|n| n.is('=')) => {
                if let Some(Frame::Call { func, arg, .. }) = self.frames.last_mut() {
                    *arg = Some(func.and_then(|f| f.arg(token.text(text))));
                }
            }
            Kind::Word | Kind::Str | Kind::Num => {
                let called = token.kind == Kind::Word && next.is_some_and(|n| n.is('('));
                if self.in_value() && !called {
                    self.value_done();
                }
            }
            Kind::Punct(_) => {}
        }
        // A top-level `version = 1` is kept as a pseudo-frame only while its value is pending.
        if let Some(Frame::Block { scope: Scope::Top, pending: None }) = self.frames.last() {
            self.frames.pop();
        }
    }

    /// What may come next, for a cursor whose line starts at byte `line_start`.
    pub fn slot(&self, line_start: usize) -> Slot {
        let after_open = matches!(self.last, Some(Kind::Punct('(' | '[' | ',')));
        match self.top() {
            Frame::Block { pending: Some((ty, eq)), .. } if eq >= line_start => ty.map_or(Slot::Nothing, Slot::Value),
            Frame::Block { scope, .. } => Slot::Item(scope),
            Frame::Call { arg: Some(arg), .. } => arg.map_or(Slot::Nothing, |k| Slot::Value(k.ty)),
            Frame::Call { func: Some(f), .. } if after_open => Slot::Args(f),
            Frame::List { elem: Some(ty) } if after_open => Slot::Value(ty),
            _ => Slot::Nothing,
        }
    }

    /// What the next token is, given whether `=` follows it.
    pub fn role(&self, followed_by_eq: bool) -> Role {
        match self.top() {
            Frame::Block { scope, pending: None } => Role::Key(scope),
            Frame::Call { func, .. } if followed_by_eq => Role::ArgName(func),
            _ => Role::Value(self.expected()),
        }
    }
}

/// The name of the block whose `{` is token `i`: `name label? (args)? {`.
fn block_name<'a>(text: &'a str, tokens: &[Token], i: usize) -> Option<(&'a str, Option<&'a str>)> {
    let mut j = i.checked_sub(1)?;
    if tokens[j].is(')') {
        let mut depth = 0usize;
        loop {
            if tokens[j].is(')') {
                depth += 1;
            } else if tokens[j].is('(') {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            j = j.checked_sub(1)?;
        }
        j = j.checked_sub(1)?;
    }
    let word = |k: usize| tokens.get(k).filter(|t| t.kind == Kind::Word).map(|t| t.text(text));
    match tokens[j].kind {
        // `experiment "x" {`
        Kind::Str => Some((word(j.checked_sub(1)?)?, None)),
        // `model gpt {` (a label after a name that is not itself a value: `device = cpu  episode {`)
        Kind::Word => {
            let value_before = j >= 2 && tokens[j - 2].is('=');
            match j.checked_sub(1).and_then(word) {
                Some(name) if !value_before => Some((name, word(j))),
                _ => Some((word(j)?, None)),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan::tokens;
    use super::*;

    fn slot_at_end(text: &str) -> Slot {
        let toks = tokens(text);
        let line_start = text.rfind('\n').map_or(0, |n| n + 1);
        Walk::over(text, &toks).slot(line_start)
    }

    fn item_block(text: &str) -> Option<&'static str> {
        match slot_at_end(text) {
            Slot::Item(Scope::Block(b)) => Some(b.name),
            _ => None,
        }
    }

    #[test]
    fn finds_the_enclosing_block() {
        assert_eq!(item_block("experiment \"x\" {\n  seed = 0\n  model gpt {\n"), Some("model"));
        assert_eq!(item_block("experiment \"x\" {\n  device = cpu\n  episode { "), Some("episode"));
        assert_eq!(item_block("experiment \"x\" { episode { cull = 0.5 } "), Some("experiment"));
        assert_eq!(item_block("version = 1\nexperiment {\n learn { optimizer = adamw(lr = 1) "), Some("learn"));
        assert!(matches!(slot_at_end("experiment \"x\" { }\nsweep { zip { "), Slot::Item(Scope::Sweep)));
        assert!(matches!(slot_at_end("version = 1\n"), Slot::Item(Scope::Top)));
    }

    #[test]
    fn values_arguments_and_lists() {
        let value = |text: &str| match slot_at_end(text) {
            Slot::Value(ty) => ty.describe(),
            _ => String::new(),
        };
        assert!(value("experiment \"x\" { episode { insertion = ").contains("fast_forward"));
        assert!(value("experiment \"x\" { episode { insertion = fast_forward(fallback = ").contains("best_rank"));
        assert!(value("experiment \"x\" { }\nsweep { episode.insertion = [none(), ").contains("fast_forward"));
        assert!(
            value("experiment \"x\" { }\nsweep { sample(count = 4) { learn.optimizer.lr = ").contains("log_uniform")
        );
        assert!(
            matches!(slot_at_end("experiment \"x\" { learn { optimizer = adamw("), Slot::Args(f) if f.name == "adamw")
        );
        // `=` on an earlier line: a new item starts.
        assert!(matches!(slot_at_end("experiment \"x\" { episode { insertion =\n"), Slot::Item(_)));
    }
}
