//! `thinktok plan --diff OLD NEW`: what an ablation changes, run by run, keyed by run identity.
//!
//! Runs with the same identity are unchanged. Of the rest, a new run is paired with the old run it most plausibly
//! replaces (the same label, else the same values on every axis both plans sweep, fewest changes first): those are
//! *changed* (`~`, listing `old -> new` per parameter); the others are *added* (`+`) or *removed* (`-`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::plan::text::param_entries;
use crate::plan::{Plan, RunPlan};

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
    let common: Vec<&String> = new.axes.iter().filter(|a| old.axes.contains(a)).collect();
    let mut taken = vec![false; gone.len()];
    for r in &fresh {
        match partner(r, &gone, &taken, &common) {
            Some(k) => {
                taken[k] = true;
                let o = gone[k];
                out.changed.push((o.id.clone(), r.id.clone(), r.label.clone(), changes(o, r)));
            }
            None => out.added.push((r.id.clone(), r.label.clone())),
        }
    }
    out.removed = gone.iter().zip(&taken).filter(|(_, t)| !**t).map(|(r, _)| (r.id.clone(), r.label.clone())).collect();
    out
}

/// The old run a new run most plausibly replaced: the same label, else (when the plans share axes) the run with the
/// same values on every shared axis and the fewest changed parameters.
fn partner(new: &RunPlan, gone: &[&RunPlan], taken: &[bool], common: &[&String]) -> Option<usize> {
    let free = |k: &usize| !taken[*k];
    if let Some(k) = (0..gone.len()).filter(free).find(|k| gone[*k].label == new.label) {
        return Some(k);
    }
    if common.is_empty() {
        return None;
    }
    (0..gone.len())
        .filter(free)
        .filter(|k| common.iter().all(|a| gone[*k].swept.get(*a) == new.swept.get(*a)))
        .min_by_key(|k| changes(gone[*k], new).len())
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
