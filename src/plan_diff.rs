//! `thinktok plan --diff OLD NEW`: what an ablation changes, run by run, keyed by run identity.
//!
//! Runs with the same identity are unchanged. Of the rest, runs with the same label (the same swept values) are
//! *changed* (`~`, listing `old -> new` per parameter); the others are *added* (`+`) or *removed* (`-`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::plan::{Plan, RunPlan};
use crate::print::param_entries;

/// A parameter that differs: key, old text, new text.
pub type Change = (String, String, String);

/// The difference between two plans.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanDiff {
    pub unchanged: Vec<String>,
    /// `(id, label)` of runs only in the new plan.
    pub added: Vec<(String, String)>,
    pub removed: Vec<(String, String)>,
    /// `(old id, new id, label, changes)`.
    pub changed: Vec<(String, String, String, Vec<Change>)>,
}

/// Compare two plans.
pub fn diff(old: &Plan, new: &Plan) -> PlanDiff {
    let old_ids: BTreeSet<&str> = old.runs.iter().map(|r| r.id.as_str()).collect();
    let new_ids: BTreeSet<&str> = new.runs.iter().map(|r| r.id.as_str()).collect();
    let mut out = PlanDiff::default();
    let gone: Vec<&RunPlan> = old.runs.iter().filter(|r| !new_ids.contains(r.id.as_str())).collect();
    let fresh: Vec<&RunPlan> = new.runs.iter().filter(|r| !old_ids.contains(r.id.as_str())).collect();
    out.unchanged = new.runs.iter().filter(|r| old_ids.contains(r.id.as_str())).map(|r| r.id.clone()).collect();
    let mut by_label: BTreeMap<&str, &RunPlan> = BTreeMap::new();
    for r in &gone {
        by_label.entry(r.label.as_str()).or_insert(r);
    }
    let mut matched: BTreeSet<&str> = BTreeSet::new();
    for r in &fresh {
        match by_label.get(r.label.as_str()) {
            Some(o) if !matched.contains(o.id.as_str()) => {
                matched.insert(o.id.as_str());
                out.changed.push((o.id.clone(), r.id.clone(), r.label.clone(), changes(o, r)));
            }
            _ => out.added.push((r.id.clone(), r.label.clone())),
        }
    }
    out.removed =
        gone.iter().filter(|r| !matched.contains(r.id.as_str())).map(|r| (r.id.clone(), r.label.clone())).collect();
    out
}

fn changes(old: &RunPlan, new: &RunPlan) -> Vec<Change> {
    let a = param_entries(&old.params);
    let b = param_entries(&new.params);
    a.into_iter().zip(b).filter(|(x, y)| x.1 != y.1).map(|(x, y)| (x.0, x.1, y.1)).collect()
}

impl PlanDiff {
    /// `+`/`-`/`~` lines and a summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let label = |l: &str| if l.is_empty() { String::new() } else { format!("  {l}") };
        for (id, l) in &self.removed {
            let _ = writeln!(out, "- {id}{}", label(l));
        }
        for (id, l) in &self.added {
            let _ = writeln!(out, "+ {id}{}", label(l));
        }
        for (old, new, l, changes) in &self.changed {
            let _ = writeln!(out, "~ {old} -> {new}{}", label(l));
            for (k, a, b) in changes {
                let _ = writeln!(out, "    {k}: {a} -> {b}");
            }
        }
        let _ = writeln!(
            out,
            "Diff: {} added, {} removed, {} changed, {} unchanged",
            self.added.len(),
            self.removed.len(),
            self.changed.len(),
            self.unchanged.len()
        );
        out
    }
}
