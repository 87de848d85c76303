//! The sweep algebra: axes combine by product (the default), `zip { … }` (axes that move together),
//! `concat { … }` (sub-sweeps one after another), and `sample(count = N, seed = S) { … }` (seeded random points from
//! `uniform(lo, hi)`, `log_uniform(lo, hi)`, lists or ranges). Repetition over seeds is the axis `seed = 0..N`.

use super::resolve::{describe_value, Ctx};
use crate::diagnostic::{did_you_mean, Diagnostic, Span};
use crate::engine::rng::Rng;
use crate::syntax::{ast::dotted, Arg, Block, Ident, Item, Value, ValueKind};

/// One swept key.
#[derive(Debug, Clone)]
pub struct AxisKey {
    pub key: Vec<Ident>,
    /// `episode.cull`.
    pub path: String,
    /// The axis's first value (none for sampled axes), to check the key even when the sweep has other errors.
    pub first: Option<Value>,
}

/// One point of the sweep: overrides in spec order, as (axis index, value).
pub type Point = Vec<(usize, Value)>;

/// An expanded sweep.
#[derive(Debug, Default)]
pub struct Expansion {
    pub axes: Vec<AxisKey>,
    pub points: Vec<Point>,
}

/// Expand a sweep block into points; errors are pushed to `ctx` (and the sweep yields no points).
pub fn expand(ctx: &mut Ctx, sweep: &Block) -> Expansion {
    let mut exp = Expansion::default();
    let before = ctx.diags.len();
    if sweep.items.is_empty() {
        ctx.err("E0405", sweep.kind.span, "the sweep is empty: it has no axes".into(), "no axes")
            .push_hint("remove the block for a single run, or add an axis such as `seed = 0..3`");
        return exp;
    }
    if let Some(label) = &sweep.label {
        ctx.err("E0218", label.span, "the `sweep` block takes no label".into(), "unexpected label");
    }
    let points = product(ctx, &mut exp.axes, &sweep.items);
    if ctx.diags.len() > before {
        return exp;
    }
    if points.is_empty() {
        ctx.err("E0405", sweep.kind.span, "the sweep expands to zero runs".into(), "no runs")
            .push_hint("every axis needs at least one value, and `concat` at least one part");
    }
    exp.points = points;
    exp
}

fn axis_index(axes: &mut Vec<AxisKey>, key: &[Ident], first: Option<&Value>) -> usize {
    let path = dotted(key);
    if let Some(i) = axes.iter().position(|a| a.path == path) {
        return i;
    }
    axes.push(AxisKey { key: key.to_vec(), path, first: first.cloned() });
    axes.len() - 1
}

/// The cartesian product of the items' sub-sweeps, first item outermost.
fn product(ctx: &mut Ctx, axes: &mut Vec<AxisKey>, items: &[Item]) -> Vec<Point> {
    let mut points: Vec<Point> = vec![Vec::new()];
    for item in items {
        let part = sub_sweep(ctx, axes, item);
        let runs = points.len() as u128 * part.len() as u128;
        if runs > MAX_RUNS as u128 {
            too_many(ctx, item_span(item), "the sweep", runs);
            return Vec::new();
        }
        let mut next = Vec::with_capacity(points.len() * part.len());
        for p in &points {
            for q in &part {
                let mut r = p.clone();
                r.extend(q.iter().cloned());
                next.push(r);
            }
        }
        points = next;
    }
    points
}

fn sub_sweep(ctx: &mut Ctx, axes: &mut Vec<AxisKey>, item: &Item) -> Vec<Point> {
    match item {
        Item::Assign(a) => {
            let Some(values) = axis_values(ctx, &a.key, &a.value) else {
                return Vec::new();
            };
            let i = axis_index(axes, &a.key, values.first());
            values.into_iter().map(|v| vec![(i, v)]).collect()
        }
        Item::Block(b) => {
            if b.args.is_some() && b.kind.name != "sample" {
                ctx.err("E0217", b.kind.span, format!("`{}` takes no arguments", b.kind.name), "unexpected arguments");
            }
            match b.kind.name.as_str() {
                "product" => product(ctx, axes, &b.items),
                "zip" => zip(ctx, axes, b),
                "concat" => b.items.iter().flat_map(|i| sub_sweep(ctx, axes, i)).collect(),
                "sample" => sample(ctx, axes, b),
                other => {
                    let d = ctx.err(
                        "E0201",
                        b.kind.span,
                        format!("unknown sweep block `{other}`"),
                        "not a sweep combinator",
                    );
                    d.push_hint(did_you_mean(other, &["product", "zip", "concat", "sample"]));
                    Vec::new()
                }
            }
        }
        Item::Import(i) => {
            ctx.err("E0503", i.span, "`import` is only allowed at the top of a file".into(), "inside a block");
            Vec::new()
        }
    }
}

/// The values of one axis: a list, or an integer range.
fn axis_values(ctx: &mut Ctx, key: &[Ident], v: &Value) -> Option<Vec<Value>> {
    let path = dotted(key);
    let values = match &v.kind {
        ValueKind::List(items) => items.clone(),
        ValueKind::Range { start, end } if end.saturating_sub(*start) > MAX_RUNS as i64 => {
            too_many(ctx, v.span, &format!("`{path} = {start}..{end}`"), end.saturating_sub(*start) as u128);
            return None;
        }
        ValueKind::Range { start, end } => {
            (*start..*end).map(|i| Value { kind: ValueKind::Int(i), span: v.span }).collect()
        }
        _ => {
            let text = ctx.sources.slice(v.span).to_string();
            ctx.err(
                "E0401",
                v.span,
                format!("sweep axis `{path}` needs a list or a range, found {}", describe_value(v)),
                "a single value",
            )
            .push_hint(format!("write `{path} = [{text}]`, or set it in the `experiment` block"));
            return None;
        }
    };
    if values.is_empty() {
        let d = ctx.err("E0402", v.span, format!("sweep axis `{path}` is empty"), "no values: zero runs");
        if let ValueKind::Range { start, end } = v.kind {
            d.push_hint(format!(
                "`{start}..{end}` is empty: a range `a..b` counts from a up to b - 1, so b must exceed a"
            ));
        } else {
            d.push_hint("give at least one value, or remove the axis");
        }
        return None;
    }
    Some(values)
}

/// Axes that move together: the i-th point takes the i-th value of every part.
fn zip(ctx: &mut Ctx, axes: &mut Vec<AxisKey>, b: &Block) -> Vec<Point> {
    let parts: Vec<(Span, Vec<Point>)> = b.items.iter().map(|i| (item_span(i), sub_sweep(ctx, axes, i))).collect();
    let Some((first_span, first)) = parts.first() else {
        ctx.err("E0405", b.kind.span, "`zip` is empty: it expands to zero runs".into(), "no axes");
        return Vec::new();
    };
    for (span, part) in &parts[1..] {
        if part.len() != first.len() && !part.is_empty() {
            let d = Diagnostic::error("E0404", format!("`zip` axes differ in length: {} values here, {} in the first", part.len(), first.len()))
                .at(ctx.sources, *span, format!("{} values", part.len()))
                .with_related(ctx.sources, *first_span, format!("{} values", first.len()))
                .with_hint("zipped axes move together, so they need the same number of values (use a product for every combination)");
            ctx.push(d);
            return Vec::new();
        }
    }
    (0..first.len()).map(|i| parts.iter().flat_map(|(_, p)| p.get(i).cloned().unwrap_or_default()).collect()).collect()
}

fn item_span(item: &Item) -> Span {
    match item {
        Item::Assign(a) => a.key_span(),
        Item::Block(b) => b.kind.span,
        Item::Import(i) => i.span,
    }
}

/// `sample(count = N, seed = S) { key = uniform(lo, hi) … }`: N seeded random points.
fn sample(ctx: &mut Ctx, axes: &mut Vec<AxisKey>, b: &Block) -> Vec<Point> {
    let (count, seed) = sample_args(ctx, b);
    let mut dims: Vec<(usize, Dist)> = Vec::new();
    for item in &b.items {
        match item {
            Item::Assign(a) => {
                if let Some(d) = dist(ctx, &a.key, &a.value) {
                    dims.push((axis_index(axes, &a.key, None), d));
                }
            }
            other => {
                ctx.err(
                    "E0407",
                    item_span(other),
                    "`sample` holds only `key = distribution` lines".into(),
                    "not allowed here",
                )
                .push_hint("combine `sample` with other sweeps from outside it");
            }
        }
    }
    let Some(count) = count else { return Vec::new() };
    let mut rng = Rng::derive(seed, "sweep.sample");
    (0..count).map(|_| dims.iter().map(|(i, d)| (*i, d.draw(&mut rng))).collect()).collect()
}

/// The most runs one sweep may expand to: a limit on the points built (each a list of values) before anything else
/// counts them, so a hostile `seed = 0..1000000000` is a diagnostic, not a failed 96 GB allocation.
pub const MAX_RUNS: usize = 100_000;

fn too_many(ctx: &mut Ctx, span: crate::diagnostic::Span, what: &str, runs: u128) {
    ctx.err("E0410", span, format!("{what} expands to {runs} runs, more than {MAX_RUNS}"), "too many runs")
        .push_hint("sweep fewer values (`sample(count = N)` draws N points from a large space)");
}

fn sample_args(ctx: &mut Ctx, b: &Block) -> (Option<usize>, u64) {
    let (mut count, mut seed) = (None, 0u64);
    for (i, Arg { name, value }) in b.args.iter().flatten().enumerate() {
        let which = name.as_ref().map_or(if i == 0 { "count" } else { "seed" }, |n| n.name.as_str());
        let n = match value.kind {
            ValueKind::Int(n) if n >= 0 => Some(n),
            _ => None,
        };
        match (which, n) {
            ("count", Some(n)) if n as u128 > MAX_RUNS as u128 => too_many(ctx, value.span, "`sample`", n as u128),
            ("count", Some(n)) if n >= 1 => count = Some(n as usize),
            ("seed", Some(n)) => seed = n as u64,
            ("count" | "seed", _) => {
                ctx.err(
                    "E0302",
                    value.span,
                    format!("`{which}` of `sample` must be an integer ≥ {}", u8::from(which == "count")),
                    "out of range",
                );
            }
            (other, _) => {
                let span = name.as_ref().map_or(value.span, |n| n.span);
                ctx.err("E0205", span, format!("`sample` has no argument `{other}`"), "unknown argument")
                    .push_hint(did_you_mean(other, &["count", "seed"]));
            }
        }
    }
    let gave_count = b.args.iter().flatten().enumerate().any(|(i, a)| match &a.name {
        Some(n) => n.name == "count",
        None => i == 0,
    });
    if !gave_count {
        ctx.err("E0208", b.kind.span, "missing argument `count` of `sample`".into(), "how many points?")
            .push_hint("write `sample(count = 20, seed = 0) { … }`");
    }
    (count, seed)
}

/// A distribution to draw one axis value from.
enum Dist {
    Uniform { lo: f64, hi: f64, span: Span },
    LogUniform { lo: f64, hi: f64, span: Span },
    Choice(Vec<Value>),
}

impl Dist {
    fn draw(&self, rng: &mut Rng) -> Value {
        let float = |x: f64, span: Span| Value { kind: ValueKind::Float(round3(x)), span };
        match self {
            Dist::Uniform { lo, hi, span } => float(lo + (hi - lo) * rng.next_f64(), *span),
            Dist::LogUniform { lo, hi, span } => float((lo.ln() + (hi.ln() - lo.ln()) * rng.next_f64()).exp(), *span),
            Dist::Choice(values) => values[rng.below(values.len())].clone(),
        }
    }
}

/// Three significant digits, so labels show exactly the value a run uses.
fn round3(x: f64) -> f64 {
    format!("{x:.2e}").parse().unwrap_or(x)
}

fn dist(ctx: &mut Ctx, key: &[Ident], v: &Value) -> Option<Dist> {
    if let ValueKind::List(_) | ValueKind::Range { .. } = v.kind {
        return axis_values(ctx, key, v).map(Dist::Choice);
    }
    let ValueKind::Call { callee, args } = &v.kind else {
        ctx.err(
            "E0408",
            v.span,
            format!("`{}` in `sample` needs a distribution, found {}", dotted(key), describe_value(v)),
            "not a distribution",
        )
        .push_hint("use `uniform(lo, hi)`, `log_uniform(lo, hi)`, a list or a range");
        return None;
    };
    let nums: Vec<Option<f64>> = args
        .iter()
        .map(|a| match a.value.kind {
            ValueKind::Int(i) => Some(i as f64),
            ValueKind::Float(f) => Some(f),
            _ => None,
        })
        .collect();
    let (lo, hi) = match nums.as_slice() {
        [Some(lo), Some(hi)] if lo < hi => (*lo, *hi),
        _ => {
            ctx.err("E0408", v.span, format!("`{}(lo, hi)` needs two numbers with lo < hi", callee.name), "bad bounds");
            return None;
        }
    };
    match callee.name.as_str() {
        "uniform" => Some(Dist::Uniform { lo, hi, span: v.span }),
        "log_uniform" if lo > 0.0 => Some(Dist::LogUniform { lo, hi, span: v.span }),
        "log_uniform" => {
            ctx.err("E0408", v.span, "`log_uniform` needs bounds > 0".into(), "bad bounds");
            None
        }
        other => {
            let d = ctx.err("E0204", callee.span, format!("unknown distribution `{other}`"), "not a distribution");
            d.push_hint(did_you_mean(other, &["uniform", "log_uniform"]));
            None
        }
    }
}
