//! Runs of one plan that compute the same thing under different identities.
//!
//! A run's identity hashes every parameter, but a baseline insertion (`none`, `random`, `interval`,
//! `answer_pause`, `dit`) ignores the episode's rounds, culling and gains and the learning phase's reinforce /
//! punish weights, and evaluates by its rule whatever `eval.placement` says (except the `oracle` diagnostic). A
//! sweep that crosses such settings with baseline insertions (DESIGN.md's example crosses `episode.cull`) yields
//! runs that differ only there: the engine would train them all. This is a warning, not an error: the spec is
//! valid, only wasteful.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::plan::{EvalPlacement, Insertion, Plan, RunParams};

/// One group of runs that compute the same thing.
#[derive(Debug, Clone, PartialEq)]
pub struct Redundancy {
    /// Indices into `plan.runs`, in plan order (at least two).
    pub runs: Vec<usize>,
    /// The baseline rule that ignores the differing settings, as plan text.
    pub rule: String,
    /// Dotted paths of the parameters that differ between the runs (all ignored by the rule).
    pub ignored: Vec<String>,
}

/// Every group of two or more runs of `plan` that differ only in settings their baseline rule ignores.
pub fn redundant_runs(plan: &Plan) -> Vec<Redundancy> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, run) in plan.runs.iter().enumerate() {
        if let Some(effective) = effective(&run.params) {
            groups.entry(effective.identity()).or_default().push(i);
        }
    }
    let mut out: Vec<Redundancy> = groups
        .into_values()
        .filter(|runs| runs.len() > 1)
        .map(|runs| {
            let first = json(&plan.runs[runs[0]].params);
            let mut ignored = Vec::new();
            for &r in &runs[1..] {
                differing(&first, &json(&plan.runs[r].params), String::new(), &mut ignored);
            }
            ignored.sort();
            ignored.dedup();
            let rule = crate::plan::text::insertion(&plan.runs[runs[0]].params.episode.insertion);
            Redundancy { runs, rule, ignored }
        })
        .collect();
    out.sort_by_key(|r| r.runs[0]);
    out
}

/// One warning per baseline rule and set of ignored settings (seeds and other axes folded together), with how
/// many runs repeat another and one example pair by label.
pub fn warnings(plan: &Plan) -> Vec<String> {
    struct Folded {
        rule: String,
        ignored: Vec<String>,
        repeats: usize,
        example: (usize, usize),
    }
    let mut by_rule: Vec<Folded> = Vec::new();
    for r in redundant_runs(plan) {
        let repeats = r.runs.len() - 1;
        match by_rule.iter_mut().find(|f| f.rule == r.rule && f.ignored == r.ignored) {
            Some(f) => f.repeats += repeats,
            None => by_rule.push(Folded { rule: r.rule, ignored: r.ignored, repeats, example: (r.runs[0], r.runs[1]) }),
        }
    }
    by_rule
        .into_iter()
        .map(|Folded { rule, ignored, repeats, example: (a, b) }| {
            let ignored = ignored.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
            format!(
                "`{rule}` ignores {ignored}, but the sweep varies it for that rule: {repeats} run{} compute the same \
                 thing as another under a different id (e.g. `{}` and `{}`); sweep such settings only with \
                 `fast_forward()`, e.g. in a `concat` part",
                if repeats == 1 { "" } else { "s" },
                plan.runs[a].label,
                plan.runs[b].label,
            )
        })
        .collect()
}

/// The parameters that matter for a baseline run (ignored ones set to fixed values), or `None` for a run whose
/// insertion is the model's own (every setting matters).
fn effective(p: &RunParams) -> Option<RunParams> {
    if matches!(p.episode.insertion, Insertion::FastForward { .. }) {
        return None;
    }
    let mut e = p.clone();
    let ep = &mut e.episode;
    (ep.samples, ep.rounds, ep.cull, ep.cull_below_cost, ep.every, ep.proposal_size) = (0, 0, 0.0, false, 0, 1);
    ep.gain = crate::plan::GainConfig::default();
    ep.strategy = crate::plan::EpisodeStrategy::Rounds;
    ep.slots = crate::plan::Slots::All;
    (e.learn.reinforce, e.learn.punish, e.learn.real_loss) = (0.0, 0.0, crate::plan::RealLoss::Kept);
    e.learn.thought_norm = crate::plan::ThoughtNorm::PerThought;
    if e.eval.placement != EvalPlacement::Oracle {
        e.eval.placement = EvalPlacement::Rule;
    }
    Some(e)
}

fn json(p: &RunParams) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

/// Collect the dotted paths where `a` and `b` differ (objects by key; anything else compared whole).
pub(crate) fn differing(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let sub = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match y.get(k) {
                    Some(vb) => differing(va, vb, sub, out),
                    None => out.push(sub),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(if path.is_empty() { k.clone() } else { format!("{path}.{k}") });
            }
        }
        _ if a != b => out.push(path),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(spec: &str) -> Plan {
        match crate::compile_str("test.think", spec) {
            Ok(p) => p,
            Err(d) => panic!("{}", d.render(false)),
        }
    }

    const BASE: &str = crate::DEFAULT_SPEC;

    #[test]
    fn cull_crossed_with_baselines_is_redundant_for_the_baselines_only() {
        let p = plan(&format!(
            "{BASE}sweep {{\n  episode.cull = [0.25, 0.5]\n  episode.insertion = [fast_forward(), random(per_sequence = 2), none()]\n}}\n"
        ));
        let r = redundant_runs(&p);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].runs, vec![1, 4]);
        assert_eq!(r[0].rule, "random(per_sequence = 2)");
        assert_eq!(r[0].ignored, vec!["episode.cull".to_string()]);
        assert_eq!(r[1].runs, vec![2, 5]);
        let w = warnings(&p);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("`random(per_sequence = 2)` ignores `episode.cull`"), "{w:?}");
        assert!(w[0].contains("1 run compute"), "{w:?}");
        assert!(w[0].contains("`cull=0.25 insertion=random(per_sequence = 2)`"), "{w:?}");
        // Seeds fold into one warning per rule.
        let p = plan(&format!(
            "{BASE}sweep {{\n  episode.cull = [0.25, 0.5, 0.75]\n  episode.insertion = [none()]\n  seed = 0..3\n}}\n"
        ));
        let w = warnings(&p);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("6 runs compute the same thing"), "{w:?}");
    }

    #[test]
    fn settings_a_baseline_uses_are_not_redundant() {
        // Seeds, steps and the thought budget (text packing) matter to a baseline; fast_forward runs always differ.
        let p = plan(&format!(
            "{BASE}sweep {{\n  learn.steps = [10, 20]\n  episode.thought_budget = [2, 4]\n  episode.insertion = [fast_forward(), random(per_sequence = 2)]\n  seed = 0..2\n}}\n"
        ));
        assert!(redundant_runs(&p).is_empty());
        let p = plan(&format!(
            "{BASE}sweep {{\n  episode.cull = [0.25, 0.5]\n  learn.reinforce = [0.0, 1.0]\n  episode.insertion = [fast_forward()]\n}}\n"
        ));
        assert!(redundant_runs(&p).is_empty(), "every setting matters to fast_forward()");
        // The default spec trains with none(): crossing two ignored settings makes all four runs one.
        let p = plan(&format!("{BASE}sweep {{\n  episode.cull = [0.25, 0.5]\n  learn.reinforce = [0.0, 1.0]\n}}\n"));
        let r = redundant_runs(&p);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].runs, vec![0, 1, 2, 3]);
        assert_eq!(r[0].ignored, vec!["episode.cull".to_string(), "learn.reinforce".to_string()]);
    }
}
