//! What running a plan returns: one [`RunResult`] per run, gathered in [`Results`] (`OUT/results.json`'s core),
//! and the small table printed at the end; [`write_atomic`] for every file the run step writes.

use std::path::Path;

use anyhow::Context;

use serde::{Deserialize, Serialize};

use crate::engine::eval::EvalReport;

/// What became of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub id: String,
    pub label: String,
    /// `finished`, `skipped` (finished before) or `stopped` (stopped early, resumable).
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

/// Write `bytes` to `path` through a temporary file and a rename, so a crash never leaves a half-written file.
/// The temporary name carries the process id, so two processes writing the same file never rename each other's.
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move `{}` to `{}`", tmp.display(), path.display()))?;
    Ok(())
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
