//! Checking: a parsed spec (and its imports) → a fully resolved [`Plan`], or every error found.
//!
//! Stages inside: merge the files into one settings tree against the tables ([`schema`]), expand the sweep
//! ([`sweep`]), then per run apply the sweep's overrides, build typed parameters, check relations between keys and
//! estimate costs. Errors are collected throughout and deduplicated, so one pass reports all of them.

mod build;
mod document;
pub mod estimate;
pub mod imports;
pub mod memorise;
pub mod overrides;
mod pretrained;
pub mod redundant;
pub mod reference;
mod relations;
mod resolve;
pub mod schema;
mod schema_data;
mod schema_models;
pub mod sweep;
mod table;
mod tree;
mod upgrade;

use std::collections::{BTreeMap, HashMap};

pub use document::LANGUAGE_VERSION;

use crate::diagnostic::{Diagnostic, Diagnostics, Sources, Span};
use crate::plan::{Plan, RunPlan, FORMAT_VERSION};
use crate::syntax::{SpecAst, Value, ValueKind};
use resolve::Ctx;

/// Check parsed files (base first, the spec itself last) and compile them into a plan.
pub fn check(sources: &Sources, files: &[SpecAst]) -> Result<Plan, Diagnostics> {
    let mut ctx = Ctx::new(sources);
    let doc = document::merge(&mut ctx, files);
    let mut expansion = match &doc.sweep {
        Some(block) => sweep::expand(&mut ctx, block),
        None => sweep::Expansion { axes: Vec::new(), points: vec![Vec::new()] },
    };
    let mut points = std::mem::take(&mut expansion.points);
    if points.is_empty() {
        // The sweep has errors: still check every axis's key and the base run, so one pass reports everything.
        points = vec![Vec::new()];
        for axis in &expansion.axes {
            if let Some(first) = &axis.first {
                resolve::set(&mut ctx, &mut doc.root.clone(), &axis.key, first);
            }
        }
    }
    let labels = short_names(&expansion.axes);
    let mut inspections = pretrained::Inspections::default();
    let mut runs: Vec<RunPlan> = Vec::with_capacity(expansion.points.len());
    let mut spans: Vec<Vec<Span>> = Vec::with_capacity(expansion.points.len());
    for point in &points {
        let mut root = doc.root.clone();
        let mut ok = true;
        for (axis, value) in point {
            ok &= resolve::set(&mut ctx, &mut root, &expansion.axes[*axis].key, value);
        }
        let model = match pretrained::model(&mut ctx, &root, &mut inspections) {
            Some(None) => continue,
            Some(Some(model)) => Some(model),
            None => None,
        };
        let Some(params) = build::params(&root, model).filter(|_| ok) else { continue };
        relations::relations(&mut ctx, &root, &params);
        let mut swept = BTreeMap::new();
        let mut label = Vec::new();
        for (axis, value) in point {
            let text = value_text(value);
            label.push(format!("{}={text}", labels[*axis]));
            swept.insert(expansion.axes[*axis].path.clone(), text);
        }
        runs.push(RunPlan {
            id: params.identity(),
            label: label.join(" "),
            swept,
            estimates: estimate::estimate(&params),
            params,
        });
        spans.push(point.iter().map(|(_, v)| v.span).collect());
    }
    if ctx.diags.is_empty() {
        duplicates(&mut ctx, &runs, &spans, doc.sweep.as_ref().map(|b| b.kind.span));
    }
    if !ctx.diags.is_empty() {
        let mut diags = Diagnostics(ctx.diags);
        diags.normalise();
        return Err(diags);
    }
    Ok(Plan {
        format_version: FORMAT_VERSION,
        language_version: doc.version,
        experiment: doc.name,
        axes: expansion.axes.iter().map(|a| a.path.clone()).collect(),
        runs,
        overrides: Vec::new(),
    })
}

/// Axis names for labels: the last key segment, or the whole path where two axes share it.
fn short_names(axes: &[sweep::AxisKey]) -> Vec<String> {
    let last = |a: &sweep::AxisKey| a.key.last().map_or(String::new(), |k| k.name.clone());
    axes.iter()
        .map(|a| {
            let short = last(a);
            if axes.iter().filter(|b| last(b) == short).count() > 1 {
                a.path.clone()
            } else {
                short
            }
        })
        .collect()
}

/// Runs with equal parameters: one error per repeated value, pointing at the value that repeats.
fn duplicates(ctx: &mut Ctx, runs: &[RunPlan], spans: &[Vec<Span>], sweep_span: Option<Span>) {
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    let mut reported: BTreeMap<Span, (Span, String, usize)> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        let Some(&j) = first_of.get(run.id.as_str()) else {
            first_of.insert(&run.id, i);
            continue;
        };
        let differing = spans[i].iter().zip(&spans[j]).find(|(a, b)| a != b);
        let (here, there) = match differing {
            Some((a, b)) => (*a, *b),
            None => (sweep_span.unwrap_or_default(), sweep_span.unwrap_or_default()),
        };
        let entry = reported.entry(here).or_insert((there, format!("`{}` and `{}`", runs[j].label, run.label), 0));
        entry.2 += 1;
    }
    for (here, (there, example, count)) in reported {
        let d = Diagnostic::error("E0406", "the sweep has duplicate runs: this value repeats runs that already exist")
            .at(ctx.sources, here, "gives the same parameters as an earlier run")
            .with_related(ctx.sources, there, "the earlier run's value")
            .with_note(format!("{count} duplicate run{}, e.g. {example}", if count == 1 { "" } else { "s" }))
            .with_hint(
                "remove the repeated value (runs are identified by their parameters, so a repeat would be skipped)",
            );
        ctx.push(d);
    }
}

/// A value as spec text, e.g. `fast_forward(fallback = best_rank)`, `0.25`, `"data/x.jsonl"`.
pub fn value_text(v: &Value) -> String {
    match &v.kind {
        ValueKind::Int(i) => i.to_string(),
        ValueKind::Float(f) => format!("{f:?}"),
        ValueKind::Str(s) => format!("{s:?}"),
        ValueKind::Name(n) => n.clone(),
        ValueKind::Call { callee, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{} = {}", n.name, value_text(&a.value)),
                    None => value_text(&a.value),
                })
                .collect();
            format!("{}({})", callee.name, args.join(", "))
        }
        ValueKind::List(items) => format!("[{}]", items.iter().map(value_text).collect::<Vec<_>>().join(", ")),
        ValueKind::Range { start, end } => format!("{start}..{end}"),
    }
}
