//! Reading output folders back (`thinktok report OUT [OUT2 …]`): per run of a folder's plan, what its run folder
//! says became of it, so reports can be rebuilt from finished runs (also runs trained on another machine) and
//! several output folders combined into one report.

use std::path::{Path, PathBuf};

use super::results::RunResult;
use crate::engine::error::invalid;
use crate::engine::learn::checkpoint;
use crate::plan::Plan;

/// A plan's runs with what became of each and the folder each is read from.
#[derive(Debug, Clone)]
pub struct Collected {
    pub plan: Plan,
    pub results: Vec<RunResult>,
    pub dirs: Vec<PathBuf>,
}

/// What became of each run of `plan` in `out`: `finished` (its final checkpoint), `stopped` (a periodic
/// checkpoint only; resumable) or `not started`. A run folder whose checkpoint belongs to another run is refused.
pub fn collect(plan: Plan, out: &Path) -> anyhow::Result<Collected> {
    let mut results = Vec::with_capacity(plan.runs.len());
    let mut dirs = Vec::with_capacity(plan.runs.len());
    for run in &plan.runs {
        let dir = out.join(&run.id);
        let mut result = RunResult {
            id: run.id.clone(),
            label: run.label.clone(),
            status: "not started".into(),
            steps: 0,
            eval: None,
            wall_s: super::runner::read_wall(&dir).unwrap_or(0.0),
        };
        let found = [("final", "finished"), ("checkpoint", "stopped")]
            .into_iter()
            .find_map(|(name, status)| Some((checkpoint::resolve(&dir.join(name))?, status)));
        if let Some((ckpt, status)) = found {
            let (_, meta) = checkpoint::read_meta(&ckpt)?;
            if meta.run.params.identity() != run.params.identity() {
                return Err(invalid(format!(
                    "the checkpoint in `{}` belongs to another run than `{}` of the folder's plan; remove it or \
                     report the folder it came from",
                    ckpt.display(),
                    run.id
                )));
            }
            result.status = if status == "finished" && !meta.finished { "stopped" } else { status }.into();
            result.steps = meta.step;
            result.eval = if result.status == "finished" { meta.eval } else { None };
        }
        results.push(result);
        dirs.push(dir);
    }
    Ok(Collected { plan, results, dirs })
}

/// Several output folders as one report: experiments named together, the axes of all (in order of first
/// appearance), every run once (a run found in several folders is taken from the first where it finished).
pub fn combine(parts: Vec<Collected>) -> anyhow::Result<Collected> {
    let mut parts = parts.into_iter();
    let Some(mut all) = parts.next() else { return Err(invalid("no output folder to report")) };
    for part in parts {
        if !all.plan.experiment.split(" + ").any(|e| e == part.plan.experiment) {
            all.plan.experiment = format!("{} + {}", all.plan.experiment, part.plan.experiment);
        }
        for axis in &part.plan.axes {
            if !all.plan.axes.contains(axis) {
                all.plan.axes.push(axis.clone());
            }
        }
        for ((run, result), dir) in part.plan.runs.into_iter().zip(part.results).zip(part.dirs) {
            match all.plan.runs.iter().position(|r| r.id == run.id) {
                Some(i) if all.results[i].status != "finished" && result.status == "finished" => {
                    all.results[i] = result;
                    all.dirs[i] = dir;
                }
                Some(_) => {}
                None => {
                    all.plan.runs.push(run);
                    all.results.push(result);
                    all.dirs.push(dir);
                }
            }
        }
    }
    Ok(all)
}
