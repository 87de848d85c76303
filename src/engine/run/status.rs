//! `thinktok status OUT`: what became of each run of an output folder's plan — finished, running (host, process,
//! step, since when), failed (its last error line), stopped (resumable) or not started — and the Slurm job that
//! `thinktok submit` recorded, if any.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::lock::{held, holder};
use super::results::jsonl;
use super::runner::ERROR_FILE;
use crate::engine::learn::checkpoint;
use crate::plan::Plan;

/// The Slurm jobs of a submitted folder (`OUT/slurm/jobs.json`, written by `thinktok submit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlurmJobs {
    /// The job array: one task per unfinished run.
    pub array_job: String,
    /// The dependent job that writes the report.
    pub report_job: String,
    /// Array task index → run id.
    pub tasks: Vec<(usize, String)>,
}

/// One run's state.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Finished,
    Running { host: String, pid: u32, since: u64 },
    Failed { error: String },
    Stopped,
    NotStarted,
}

/// One run's line of the status.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStatus {
    pub id: String,
    pub label: String,
    pub state: State,
    /// Steps done (from the checkpoint or the latest logged step) and the plan's steps.
    pub step: usize,
    pub steps: usize,
}

/// Every run of `plan` in `out`.
pub fn status(plan: &Plan, out: &Path) -> Vec<RunStatus> {
    plan.runs
        .iter()
        .map(|run| {
            let dir = out.join(&run.id);
            let logged = jsonl(&dir.join("metrics.jsonl")).iter().rev().find_map(|v| v.get("step")?.as_u64());
            let meta = |name: &str| checkpoint::resolve(&dir.join(name)).and_then(|d| checkpoint::read_meta(&d).ok());
            let finished = meta("final").filter(|(_, m)| m.finished);
            let state = match (finished, holder(&dir)) {
                (Some(_), _) => State::Finished,
                (None, Some(h)) if held(&h) => State::Running { host: h.host, pid: h.pid, since: h.since },
                _ => match std::fs::read_to_string(dir.join(ERROR_FILE)) {
                    Ok(text) => State::Failed { error: text.lines().last().unwrap_or_default().to_string() },
                    Err(_) if meta("checkpoint").is_some() || logged.is_some() => State::Stopped,
                    Err(_) => State::NotStarted,
                },
            };
            // The latest of the log and the checkpoint (the log is written every few steps).
            let saved = meta("checkpoint").map_or(0, |(_, m)| m.step);
            let step = match state {
                State::Finished => run.params.learn.steps,
                _ => logged.map_or(0, |s| s as usize).max(saved),
            };
            RunStatus { id: run.id.clone(), label: run.label.clone(), state, step, steps: run.params.learn.steps }
        })
        .collect()
}

/// The Slurm jobs recorded in `out`, if it was submitted.
pub fn slurm_jobs(out: &Path) -> Option<SlurmJobs> {
    serde_json::from_str(&std::fs::read_to_string(out.join("slurm").join("jobs.json")).ok()?).ok()
}
