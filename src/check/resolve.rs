//! Resolving AST values and settings against the tables: names, types, ranges, arguments.
//!
//! Errors are collected, not returned, so one pass reports every problem of a spec.

use super::schema::{BlockSpec, FnSpec, KeySpec, Ty};
use super::tree::{Node, RBlock, RCall, RVal};
use crate::diagnostic::{backticked, did_you_mean, suggest, Diagnostic, Sources, Span};
use crate::syntax::{Arg, Ident, Value, ValueKind};

/// Collected diagnostics and the sources they point into.
pub struct Ctx<'a> {
    pub sources: &'a Sources,
    pub diags: Vec<Diagnostic>,
}

impl<'a> Ctx<'a> {
    pub fn new(sources: &'a Sources) -> Self {
        Ctx { sources, diags: Vec::new() }
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// An error pointing at `span`.
    pub fn err(&mut self, code: &'static str, span: Span, reason: String, label: &str) -> &mut Diagnostic {
        let d = Diagnostic::error(code, reason).at(self.sources, span, label);
        self.diags.push(d);
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }
}

/// What a value is, for "found …".
pub fn describe_value(v: &Value) -> String {
    match &v.kind {
        ValueKind::Int(i) => format!("the integer `{i}`"),
        ValueKind::Float(f) => format!("the number `{f:?}`"),
        ValueKind::Str(s) => format!("the string `\"{s}\"`"),
        ValueKind::Name(n) => format!("the name `{n}`"),
        ValueKind::Call { callee, .. } => format!("a call of `{}`", callee.name),
        ValueKind::List(_) => "a list".into(),
        ValueKind::Range { .. } => "a range".into(),
    }
}

/// Resolve a value against a type; `what` names the key or argument in messages (e.g. "`cull`").
pub fn value(ctx: &mut Ctx, v: &Value, ty: &Ty, what: &str) -> Option<RVal> {
    let num = match &v.kind {
        ValueKind::Int(i) => Some(*i as f64),
        ValueKind::Float(f) => Some(*f),
        _ => None,
    };
    let out = match (ty, &v.kind) {
        (Ty::Int(r) | Ty::OptInt(r) | Ty::IntOrRange(r), ValueKind::Int(i)) => {
            in_range(ctx, v, *i as f64, r, what).then_some(RVal::Int(*i))
        }
        (Ty::Float(r) | Ty::OptFloat(r), ValueKind::Int(_) | ValueKind::Float(_)) => {
            let x = num.unwrap_or_default();
            in_range(ctx, v, x, r, what).then_some(RVal::Float(x))
        }
        (Ty::OptInt(_) | Ty::OptFloat(_), ValueKind::Name(n)) if n == "none" => Some(RVal::None),
        (Ty::Bool, ValueKind::Name(n)) if n == "true" || n == "false" => Some(RVal::Bool(n == "true")),
        (Ty::Str, ValueKind::Str(s)) => Some(RVal::Str(s.clone())),
        (Ty::Choice(fns), ValueKind::Name(n)) => {
            let callee = Ident { name: n.clone(), span: v.span };
            call(ctx, &callee, &[], fns, what).map(RVal::Call)
        }
        (Ty::Choice(fns), ValueKind::Call { callee, args }) => call(ctx, callee, args, fns, what).map(RVal::Call),
        (Ty::IntOrRange(r), ValueKind::Range { start, end }) => {
            int_range(ctx, v, (*start, *end), r, what).then_some(RVal::Range(*start, *end))
        }
        (_, ValueKind::List(_) | ValueKind::Range { .. }) => {
            ctx.err(
                "E0303",
                v.span,
                format!("{} is only allowed in a `sweep`", describe_value(v)),
                "not a single value",
            )
            .push_hint(format!(
                "{what} takes {}; to try several values, sweep it: `sweep {{ key = [a, b] }}`",
                ty.describe()
            ));
            None
        }
        (Ty::Block(b), _) => {
            ctx.err("E0301", v.span, format!("{what} is a block, not a value"), "expected a block")
                .push_hint(format!("write `{} {{ … }}`", b.name));
            None
        }
        _ => {
            let d = ctx.err(
                "E0301",
                v.span,
                format!("wrong type for {what}: expected {}, found {}", ty.describe(), describe_value(v)),
                &format!("expected {}", short_type(ty)),
            );
            if let (Ty::Int(_) | Ty::IntOrRange(_), ValueKind::Float(f)) = (ty, &v.kind) {
                d.push_hint(format!("{what} counts things: write a whole number such as `{}`", f.round()));
            }
            if let (Ty::Str, ValueKind::Name(n)) = (ty, &v.kind) {
                d.push_hint(format!("strings are quoted: `\"{n}\"`"));
            }
            None
        }
    };
    out
}

/// The type in two or three words, for underline labels.
fn short_type(ty: &Ty) -> String {
    match ty {
        Ty::Int(_) => "an integer".into(),
        Ty::Float(_) => "a number".into(),
        Ty::Bool => "`true` or `false`".into(),
        Ty::Str => "a string".into(),
        Ty::OptInt(_) => "an integer or `none`".into(),
        Ty::OptFloat(_) => "a number or `none`".into(),
        Ty::IntOrRange(_) => "an integer or a range".into(),
        Ty::Choice(_) => "a name or a call".into(),
        Ty::Block(_) => "a block".into(),
    }
}

fn in_range(ctx: &mut Ctx, v: &Value, x: f64, r: &super::schema::Range, what: &str) -> bool {
    if r.contains(x) {
        return true;
    }
    let written = ctx.sources.slice(v.span).to_string();
    // A value that is not what was written (an upgraded `keep`, a sampled point) shows both.
    let found = match written.replace('_', "").parse::<f64>() {
        Ok(w) if w == x => format!("`{written}`"),
        _ => format!("`{x:?}` (from `{written}`)"),
    };
    ctx.err(
        "E0302",
        v.span,
        format!("{what} must be {}, found {found}", r.describe()),
        &format!("not {}", r.describe()),
    );
    false
}

/// A range value `start..end` of an integer-or-range key: not empty, and every value in `r`.
fn int_range(ctx: &mut Ctx, v: &Value, (start, end): (i64, i64), r: &super::schema::Range, what: &str) -> bool {
    if start >= end {
        ctx.err("E0302", v.span, format!("{what} must not be an empty range, found `{start}..{end}`"), "no values")
            .push_hint(format!(
                "a range `a..b` counts from a up to b - 1, so b must exceed a: `{start}..{}` is {start} alone",
                start + 1
            ));
        return false;
    }
    let outside: Vec<i64> = [start, end - 1].into_iter().filter(|&x| !r.contains(x as f64)).collect();
    let Some(&bad) = outside.first() else { return true };
    let written = ctx.sources.slice(v.span).to_string();
    let d = ctx.err(
        "E0302",
        v.span,
        format!("every value of {what} must be {}, found `{written}`, which holds {bad}", r.describe()),
        &format!("not {}", r.describe()),
    );
    if bad == end - 1 {
        d.push_hint(format!("the end of a range is excluded: `{start}..{end}` runs from {start} to {}", end - 1));
    }
    false
}

/// Resolve `callee(args)` against the functions a key accepts.
pub fn call(ctx: &mut Ctx, callee: &Ident, args: &[Arg], fns: &'static [FnSpec], what: &str) -> Option<RCall> {
    let Some(func) = fns.iter().find(|f| f.name == callee.name) else {
        let names: Vec<&str> = fns.iter().map(|f| f.name).collect();
        let d = ctx.err(
            "E0204",
            callee.span,
            format!("unknown function `{}` for {what}", callee.name),
            "not a known function here",
        );
        d.push_hint(did_you_mean(&callee.name, &names));
        return None;
    };
    let mut out = RCall::defaults(func);
    let mut seen: Vec<(&str, Span)> = Vec::new();
    let mut ok = true;
    for (i, arg) in args.iter().enumerate() {
        let spec: Option<&'static KeySpec> = match &arg.name {
            Some(name) => {
                let found = func.arg(&name.name);
                if found.is_none() {
                    let names: Vec<&str> = func.args.iter().map(|a| a.name).collect();
                    let reason = format!("`{}` has no argument `{}`", func.name, name.name);
                    let d = ctx.err("E0205", name.span, reason, "unknown argument");
                    if names.is_empty() {
                        d.push_hint(format!("`{}` takes no arguments: write `{}()`", func.name, func.name));
                    } else {
                        d.push_hint(did_you_mean(&name.name, &names));
                    }
                }
                found
            }
            None => {
                let found = func.args.get(i);
                if found.is_none() {
                    let reason = format!(
                        "`{}` takes {} argument{}, found more",
                        func.name,
                        func.args.len(),
                        plural(func.args.len())
                    );
                    ctx.err("E0207", arg.value.span, reason, "extra argument")
                        .push_hint(format!("the signature is `{}`", func.signature()));
                }
                found
            }
        };
        let Some(spec) = spec else {
            ok = false;
            continue;
        };
        let span = arg.name.as_ref().map_or(arg.value.span, |n| n.span);
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == spec.name) {
            let first = *first;
            let d = Diagnostic::error("E0206", format!("argument `{}` of `{}` is given twice", spec.name, func.name))
                .at(ctx.sources, span, "given again here")
                .with_related(ctx.sources, first, "first given here");
            ctx.push(d);
            ok = false;
            continue;
        }
        seen.push((spec.name, span));
        let arg_what = format!("`{}` of `{}`", spec.name, func.name);
        match value(ctx, &arg.value, &spec.ty, &arg_what) {
            Some(val) => {
                out.args.insert(spec.name, Node { val, span: Some(arg.value.span) });
            }
            None => ok = false,
        }
    }
    for spec in func.args {
        if !out.args.contains_key(spec.name) && !seen.iter().any(|(n, _)| *n == spec.name) {
            let span = Span { start: callee.span.start, end: callee.span.end, ..callee.span };
            ctx.err(
                "E0208",
                span,
                format!("missing argument `{}` of `{}`", spec.name, func.name),
                "needs this argument",
            )
            .push_hint(format!("write `{}({} = …)`: {}", func.name, spec.name, spec.ty.describe()));
            ok = false;
        }
    }
    ok.then_some(out)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Set `path` (relative to `block`) to `v`: descends into sub-blocks and into call arguments
/// (`learn.optimizer.lr`). Returns false (with a diagnostic) if the path names nothing or the value is wrong.
pub fn set(ctx: &mut Ctx, block: &mut RBlock, path: &[Ident], v: &Value) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let spec = block.spec;
    let Some(key) = spec.key(&first.name) else {
        unknown_key(ctx, spec, first);
        return false;
    };
    match key.ty {
        Ty::Block(sub) => {
            if rest.is_empty() {
                ctx.err("E0301", first.span, format!("`{}` is a block, not a value", key.name), "expected a block")
                    .push_hint(format!(
                        "write `{} {{ … }}`, or set one key: `{}.{} = …`",
                        sub.name,
                        sub.name,
                        sub.keys.first().map_or("key", |k| k.name)
                    ));
                return false;
            }
            let entry = block
                .entries
                .entry(key.name)
                .or_insert_with(|| Node { val: RVal::Block(RBlock::defaults(sub)), span: None });
            match &mut entry.val {
                RVal::Block(b) => set(ctx, b, rest, v),
                _ => false,
            }
        }
        ty if rest.is_empty() => match value(ctx, v, &ty, &format!("`{}`", key.name)) {
            Some(val) => {
                block.entries.insert(key.name, Node { val, span: Some(v.span) });
                true
            }
            None => {
                // A required key that was written, wrongly, is not also "missing".
                block.entries.entry(key.name).or_insert(Node { val: RVal::None, span: Some(v.span) });
                false
            }
        },
        Ty::Choice(_) => {
            let what = format!("`{}`", key.name);
            match block.entries.get_mut(key.name) {
                Some(Node { val: RVal::Call(c), .. }) => set_arg(ctx, c, rest, v, &what),
                _ => {
                    ctx.err(
                        "E0209",
                        first.span,
                        format!("`{}` has no value yet, so its arguments cannot be set", key.name),
                        "set this first",
                    )
                    .push_hint(format!("write `{} = …` before `{}.{} = …`", key.name, key.name, rest[0].name));
                    false
                }
            }
        }
        _ => {
            ctx.err(
                "E0210",
                rest[0].span,
                format!("`{}` is {}, it has no field `{}`", key.name, key.ty.describe(), rest[0].name),
                "no such field",
            );
            false
        }
    }
}

/// Set an argument of an already resolved call (`optimizer.lr`).
fn set_arg(ctx: &mut Ctx, c: &mut RCall, path: &[Ident], v: &Value, what: &str) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let func = c.func;
    let Some(spec) = func.arg(&first.name) else {
        let names: Vec<&str> = func.args.iter().map(|a| a.name).collect();
        let d = ctx.err(
            "E0205",
            first.span,
            format!("`{}` has no argument `{}`", func.name, first.name),
            "unknown argument",
        );
        d.push_hint(if names.is_empty() {
            format!("`{}` takes no arguments", func.name)
        } else {
            did_you_mean(&first.name, &names)
        });
        d.notes.push(format!("{what} is `{}` here", func.signature()));
        return false;
    };
    let arg_what = format!("`{}` of `{}`", spec.name, func.name);
    if rest.is_empty() {
        return match value(ctx, v, &spec.ty, &arg_what) {
            Some(val) => {
                c.args.insert(spec.name, Node { val, span: Some(v.span) });
                true
            }
            None => false,
        };
    }
    match c.args.get_mut(spec.name) {
        Some(Node { val: RVal::Call(inner), .. }) => set_arg(ctx, inner, rest, v, &arg_what),
        _ => {
            ctx.err("E0210", rest[0].span, format!("{arg_what} has no field `{}`", rest[0].name), "no such field");
            false
        }
    }
}

/// "unknown key `cul` in `episode`" with a near miss.
pub fn unknown_key(ctx: &mut Ctx, spec: &BlockSpec, key: &Ident) {
    let names: Vec<&str> = spec.keys.iter().map(|k| k.name).collect();
    let is_block = |n: &str| matches!(spec.key(n).map(|k| k.ty), Some(Ty::Block(_)));
    let d = ctx.err(
        "E0203",
        key.span,
        format!("unknown key `{}` in `{}`", key.name, spec.name),
        &format!("not a key of `{}`", spec.name),
    );
    match suggest(&key.name, names.iter().copied()) {
        Some(best) => d.push_hint(format!("did you mean `{best}`?")),
        None => {
            let settings: Vec<&str> = names.iter().copied().filter(|n| !is_block(n)).collect();
            d.push_hint(format!("`{}` takes {}", spec.name, backticked(&settings)));
        }
    }
}
