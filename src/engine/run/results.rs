//! What running a plan returns: one [`RunResult`] per run, gathered in [`Results`] (`OUT/results.json`'s core),
//! and the small table printed at the end.

use std::path::Path;

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::engine::eval::EvalReport;
use crate::plan::RunParams;

/// What became of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub id: String,
    pub label: String,
    /// `finished`, `skipped` (finished before), `stopped` (stopped early, resumable) or `preempted` (stopped by a
    /// signal, resumable).
    pub status: String,
    pub steps: usize,
    /// Held-out figures at the end (`None` when stopped before any evaluation).
    pub eval: Option<EvalReport>,
    /// Wall time of this invocation's training, in seconds.
    pub wall_s: f64,
}

/// `OUT/results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub experiment: String,
    pub runs: Vec<RunResult>,
}

/// The results as a small Markdown table.
pub fn table(results: &Results) -> String {
    let mut out = String::from("| run | label | status | steps | NLL (nats) | bits/token | accuracy | wall (s) |\n");
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|\n");
    for r in &results.runs {
        let (nll, bits, acc) = match &r.eval {
            Some(e) => (
                format!("{:.4}", e.real_nll),
                format!("{:.4}", e.bits_per_token),
                e.accuracy.map_or("–".to_string(), |a| format!("{a:.4}")),
            ),
            None => ("–".into(), "–".into(), "–".into()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {nll} | {bits} | {acc} | {:.1} |\n",
            r.id, r.label, r.status, r.steps, r.wall_s
        ));
    }
    out
}

/// One run in `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// The runner's fields (id, label, status, steps, eval, wall time), at the top level of the JSON; a skipped
    /// run's wall time is the one saved when it finished.
    #[serde(flatten)]
    pub result: RunResult,
    /// CPU threads of the training (`None` for runs logged before it was recorded).
    pub threads: Option<usize>,
    pub swept: BTreeMap<String, String>,
    /// Positions processed in training (see the module docs).
    pub train_positions: Option<f64>,
    /// Held-out NLL at each evaluation: `(step, positions processed, real_nll)`.
    pub curve: Vec<(usize, f64, f64)>,
    pub params: RunParams,
}

/// `results.json`: the runner's fields plus the parameters, so a later reader needs nothing else.
#[derive(Debug, Clone, Serialize)]
pub struct RichResults {
    pub experiment: String,
    pub axes: Vec<String>,
    pub runs: Vec<RunRecord>,
}

/// The JSON lines of a run folder's log (`metrics.jsonl`, `episodes.jsonl`); unreadable lines are skipped, a missing
/// file is empty.
pub(super) fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}
