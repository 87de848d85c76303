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

/// The results as a small Markdown table; an accuracy that is a constant guess is marked, with a note under the
/// table.
pub fn table(results: &Results) -> String {
    let mut out = String::from("| run | label | status | steps | NLL (nats) | bits/token | accuracy | wall (s) |\n");
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|\n");
    for r in &results.runs {
        let (nll, bits, acc) = match &r.eval {
            Some(e) => (
                format!("{:.4}", e.real_nll),
                format!("{:.4}", e.bits_per_token),
                match (e.accuracy, e.constant_guess()) {
                    (None, _) => "–".to_string(),
                    (Some(a), None) => format!("{a:.4}"),
                    (Some(a), Some(_)) => format!("{a:.4} (constant guess)"),
                },
            ),
            None => ("–".into(), "–".into(), "–".into()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {nll} | {bits} | {acc} | {:.1} |\n",
            r.id, r.label, r.status, r.steps, r.wall_s
        ));
    }
    out.push_str(&constant_guesses(results));
    out
}

/// The note under [`table`] on runs whose model gives one answer to nearly every example: their accuracy is the
/// share of examples with that answer, not something learned. Empty when there are none.
fn constant_guesses(results: &Results) -> String {
    let lines: Vec<String> = results
        .runs
        .iter()
        .filter_map(|r| {
            let e = r.eval.as_ref()?;
            let share = e.constant_guess()?;
            let majority = e.majority_accuracy.map_or(String::new(), |m| format!("; majority baseline {m:.4}"));
            Some(format!(
                "- `{}`: the same first answer token for {:.0}% of the examples{majority}.\n",
                r.id,
                100.0 * share
            ))
        })
        .collect();
    match lines.is_empty() {
        true => String::new(),
        false => format!(
            "\n**Constant guesses** (one answer for at least {:.0}% of the held-out examples: the accuracy is a \
             guess's, not a learned figure):\n\n{}",
            100.0 * crate::engine::eval::CONSTANT_GUESS_SHARE,
            lines.concat()
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, share: f64) -> RunResult {
        let eval = EvalReport {
            real_nll: 1.0,
            bits_per_token: 1.0 / std::f64::consts::LN_2,
            accuracy: Some(0.19),
            n_tokens: 200,
            n_sequences: 100,
            thoughts: None,
            groups: BTreeMap::new(),
            same_answer_share: Some(share),
            majority_accuracy: Some(0.2),
        };
        RunResult {
            id: id.into(),
            label: String::new(),
            status: "finished".into(),
            steps: 8,
            eval: Some(eval),
            wall_s: 1.0,
        }
    }

    #[test]
    fn the_table_marks_constant_guesses_and_only_them() {
        let results = Results { experiment: "e".into(), runs: vec![result("stuck", 0.97), result("learned", 0.3)] };
        let text = table(&results);
        assert!(text.contains("| stuck |  | finished | 8 | 1.0000 | 1.4427 | 0.1900 (constant guess) |"), "{text}");
        assert!(text.contains("| learned |  | finished | 8 | 1.0000 | 1.4427 | 0.1900 | 1.0 |"), "{text}");
        assert!(
            text.contains("- `stuck`: the same first answer token for 97% of the examples; majority baseline 0.2000.")
        );
        assert!(!text.contains("`learned`:"), "{text}");
        let fine = Results { experiment: "e".into(), runs: vec![result("learned", 0.3)] };
        assert!(!table(&fine).contains("Constant guesses"));
    }
}
