//! Runs grouped for the reports: runs that differ only in the seed form a group, labelled by their swept values
//! (and, where combined plans' labels agree, by the settings that differ), and each figure's mean ± std over a
//! group's seeds.

use super::results::RunRecord;
use crate::plan::text::param_entries;
use crate::plan::{Plan, RunParams};

/// Runs that differ only in the seed.
pub(super) struct Group<'a> {
    pub label: String,
    pub runs: Vec<&'a RunRecord>,
}

pub(super) fn group<'a>(plan: &Plan, runs: &'a [RunRecord]) -> Vec<Group<'a>> {
    // Runs belong together when their parameters are equal but for the seed (the swept values alone can agree for
    // runs of different plans combined by `thinktok report`).
    let unseeded = |r: &RunRecord| RunParams { seed: 0, ..r.params.clone() };
    let mut groups: Vec<(RunParams, Group<'a>)> = Vec::new();
    for r in runs {
        let label = plan
            .axes
            .iter()
            .filter(|a| a.as_str() != "seed")
            .filter_map(|a| r.swept.get(a).map(|v| format!("{}={v}", a.rsplit('.').next().unwrap_or(a))))
            .collect::<Vec<_>>()
            .join(" ");
        let label = if label.is_empty() { "all runs".to_string() } else { label };
        let key = unseeded(r);
        match groups.iter_mut().find(|(k, g)| *k == key && g.label == label) {
            Some((_, g)) => g.runs.push(r),
            None => groups.push((key, Group { label, runs: vec![r] })),
        }
    }
    // Groups whose labels agree: add the settings in which they differ.
    let entries: Vec<Vec<(String, String)>> = groups.iter().map(|(k, _)| param_entries(k)).collect();
    let labels: Vec<String> = groups.iter().map(|(_, g)| g.label.clone()).collect();
    for (i, (_, g)) in groups.iter_mut().enumerate() {
        let clash: Vec<usize> = (0..labels.len()).filter(|&j| j != i && labels[j] == labels[i]).collect();
        if clash.is_empty() {
            continue;
        }
        let differs = entries[i]
            .iter()
            .filter(|(k, v)| clash.iter().any(|&j| entries[j].iter().any(|(k2, v2)| k2 == k && v2 != v)))
            .map(|(k, v)| format!("{}={v}", k.rsplit('.').next().unwrap_or(k)))
            .collect::<Vec<_>>();
        if !differs.is_empty() {
            g.label = format!("{} {}", g.label, differs.join(" "));
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Mean and sample standard deviation (0 for one value), or `None` without values.
pub(super) fn stats(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    Some((mean, var.sqrt()))
}

/// A figure of every finished run of a group: mean, sample std, and how many runs had it.
pub(super) fn figure(g: &Group<'_>, f: impl Fn(&RunRecord) -> Option<f64>) -> Option<(f64, f64, usize)> {
    let values: Vec<f64> = g.runs.iter().filter_map(|r| f(r)).collect();
    stats(&values).map(|(m, s)| (m, s, values.len()))
}

pub(super) fn nll(r: &RunRecord) -> Option<f64> {
    r.result.eval.as_ref().map(|e| e.real_nll)
}
pub(super) fn accuracy(r: &RunRecord) -> Option<f64> {
    r.result.eval.as_ref()?.accuracy
}
pub(super) fn thoughts(r: &RunRecord) -> Option<f64> {
    Some(r.result.eval.as_ref()?.thoughts.as_ref()?.thoughts_per_100)
}
pub(super) fn positions_per_token(r: &RunRecord) -> Option<f64> {
    Some(r.result.eval.as_ref()?.thoughts.as_ref()?.positions_per_real_token)
}

/// `mean ± std`; one value has no spread, so it is shown alone (a "± 0" would read as a measured spread).
pub(super) fn pm(v: Option<(f64, f64, usize)>, digits: usize) -> String {
    match v {
        None => "–".to_string(),
        Some((m, _, 1)) => format!("{m:.digits$}"),
        Some((m, s, _)) => format!("{m:.digits$} ± {s:.digits$}"),
    }
}
