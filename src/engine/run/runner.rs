//! Running a whole plan: every run in turn into `OUT/<run-id>/`, then `OUT/results.json`, `OUT/report.md` and a
//! results table.
//!
//! Per run folder: `plan.ron` (the resolved run), `metrics.jsonl`, `checkpoint/` (the latest periodic checkpoint) and
//! `final/`. A finished run is skipped unless `force`; an interrupted one continues with `resume`. An output folder
//! that holds another plan's runs is refused before anything is written.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;

use super::results::{Results, RunResult};
use super::{lock, report};
use crate::engine::device::{device, memory_shortfall, precision_refusal};
use crate::engine::error::invalid;
use crate::engine::files::write_atomic;
use crate::engine::learn::checkpoint;
use crate::engine::learn::{describe, train_run, Outcome, TrainOptions};
use crate::plan::{DeviceSpec, Plan, RunPlan};

/// How to run a plan (what the command line adds to it).
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub out: PathBuf,
    /// Run every run here instead of the plan's device (the plan itself is not changed).
    pub device: Option<DeviceSpec>,
    pub resume: bool,
    pub force: bool,
    /// Stop each run after this many steps, with a checkpoint, as if interrupted.
    pub stop_after: Option<usize>,
    /// No progress bar and no evaluation lines.
    pub quiet: bool,
    /// Run only this run of the plan (its id, or its index from 0 in plan order): what one task of a job array
    /// runs. The shared files (results.json, report.*) are then left to `thinktok report`.
    pub only: Option<String>,
}

impl RunOptions {
    /// Run every run of the plan into `out` as the command line does by default: on the plan's device, finished
    /// runs skipped, an interrupted one refused (`resume` continues it), with progress bars.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self { out: out.into(), device: None, resume: false, force: false, stop_after: None, quiet: false, only: None }
    }

    /// [`RunOptions::new`] without progress bars or evaluation lines (library use, tests).
    pub fn quiet(out: impl Into<PathBuf>) -> Self {
        Self { quiet: true, ..Self::new(out) }
    }
}

/// The index of the run `which` names: a run id, or an index from 0 in plan order.
pub fn select_run(plan: &Plan, which: &str) -> anyhow::Result<usize> {
    if let Some(i) = plan.runs.iter().position(|r| r.id == which) {
        return Ok(i);
    }
    match which.parse::<usize>() {
        Ok(i) if i < plan.runs.len() => Ok(i),
        Ok(i) => Err(invalid(format!(
            "`--run {i}`: the plan has {} run(s), indexed 0 to {}",
            plan.runs.len(),
            plan.runs.len().saturating_sub(1)
        ))),
        Err(_) => Err(invalid(format!("`--run {which}`: no run of the plan has this id (nor is it an index)"))),
    }
}

/// A run's status after a signal stopped it (a checkpoint written; `--resume` continues it).
pub const PREEMPTED: &str = "preempted";

/// The file a finished run keeps its training's wall time in, in seconds.
pub const WALL_FILE: &str = "wall_s.txt";

/// The file a run folder keeps its last error in.
pub const ERROR_FILE: &str = "error.txt";

/// Refuse a plan this engine cannot run yet, before any work.
pub fn check_supported(plan: &Plan) -> anyhow::Result<()> {
    if plan.runs.is_empty() {
        return Err(invalid("the plan has no runs"));
    }
    Ok(())
}

fn to_ron<T: Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(ron::ser::to_string_pretty(value, ron::ser::PrettyConfig::new().struct_names(true))?)
}

/// Refuse `out` if it holds runs of another plan: its `plan.ron` lists other runs, or a run folder's `plan.ron`
/// differs from the run of the same id. A plan of the same experiment that keeps every run of the folder's plan
/// *extends* it (a sweep grown by new values): its finished runs are reused and the folder's plan becomes the new one.
pub fn check_out_folder(plan: &Plan, out: &Path) -> anyhow::Result<()> {
    let top = out.join("plan.ron");
    if top.is_file() {
        let text = std::fs::read_to_string(&top)?;
        let theirs: Option<Plan> = ron::from_str(&text).ok();
        // Runs are matched by the identity recomputed from their parameters, never by the id a file states.
        let ids = |p: &Plan| p.runs.iter().map(|r| r.params.identity()).collect::<Vec<_>>();
        let same = theirs.as_ref().is_some_and(|t| {
            let ours = ids(plan);
            ids(t) == ours || (t.experiment == plan.experiment && ids(t).iter().all(|id| ours.contains(id)))
        });
        if !same {
            let what = theirs.map_or("an unreadable plan".to_string(), |t| {
                format!("experiment `{}`, {} run(s)", t.experiment, t.runs.len())
            });
            return Err(invalid(format!(
                "output folder `{}` holds the runs of another plan ({what}); choose another `--out` folder or \
                 remove it (a plan of the same experiment that keeps all of its runs may extend it)",
                out.display()
            )));
        }
    }
    for run in &plan.runs {
        let path = out.join(&run.id).join("plan.ron");
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let theirs: Option<RunPlan> = ron::from_str(&text).ok();
        if theirs.is_none_or(|t| t.params.identity() != run.params.identity()) {
            return Err(invalid(format!(
                "run folder `{}` holds a different plan than run `{}`; choose another `--out` folder or remove it",
                path.parent().map_or(path.clone(), Path::to_path_buf).display(),
                run.id
            )));
        }
    }
    Ok(())
}

/// Remove what a run wrote, for a fresh start.
fn clear_run(dir: &Path) -> anyhow::Result<()> {
    for name in ["final", "final.old", "final.tmp", "checkpoint", "checkpoint.old", "checkpoint.tmp"] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
    }
    let metrics = dir.join("metrics.jsonl");
    if metrics.exists() {
        std::fs::remove_file(metrics)?;
    }
    Ok(())
}

/// Progress bars only on a terminal, and not with `--quiet`: logs stay clean.
fn bars_visible(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

fn progress_bar(multi: &MultiProgress, steps: usize, prefix: String, quiet: bool) -> ProgressBar {
    if !bars_visible(quiet) {
        return ProgressBar::hidden();
    }
    let bar = multi.add(ProgressBar::new(steps as u64).with_prefix(prefix));
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The sweep's bar (plans of several runs): every run's steps, run i of N, and an estimate of the time left at
/// the pace so far (runs differ in speed, so it is rough until the slower runs have started).
fn sweep_bar(multi: &MultiProgress, plan: &Plan, quiet: bool) -> Option<ProgressBar> {
    if !bars_visible(quiet) || plan.runs.len() < 2 {
        return None;
    }
    let total: usize = plan.runs.iter().map(|r| r.params.learn.steps).sum();
    let bar = multi.add(ProgressBar::new(total as u64).with_prefix("sweep"));
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {msg} · {percent}% of all steps · ~{eta} left")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

/// Run every run of `plan` in turn. Returns what became of each; writes `results.json` and `report.md`.
pub fn run_plan(plan: &Plan, opts: &RunOptions) -> anyhow::Result<Results> {
    check_supported(plan)?;
    check_out_folder(plan, &opts.out)?;
    // The memory guard: refuse before any work (and before any allocation a user's sizes set) when a run's
    // estimated peak exceeds what its device has available.
    if let Some(message) = memory_shortfall(&plan.runs, opts.device) {
        return Err(invalid(message));
    }
    if let Some(message) = precision_refusal(&plan.runs, opts.device) {
        return Err(invalid(message));
    }
    std::fs::create_dir_all(&opts.out)?;
    let only = opts.only.as_deref().map(|which| select_run(plan, which)).transpose()?;
    // Array tasks share the folder's plan.ron (written once by `submit`); a single run never rewrites it.
    if only.is_none() || !opts.out.join("plan.ron").is_file() {
        write_atomic(&opts.out.join("plan.ron"), &to_ron(plan)?)?;
    }
    let mut results = Results { experiment: plan.experiment.clone(), runs: Vec::new() };
    let multi = MultiProgress::new();
    let sweep = if only.is_some() { None } else { sweep_bar(&multi, plan, opts.quiet) };
    let mut before = 0u64;
    for (index, run) in plan.runs.iter().enumerate() {
        if only.is_some_and(|i| i != index) {
            continue;
        }
        // A signal between two runs: the next one does not start.
        if crate::engine::stop::requested() {
            break;
        }
        let label = if run.label.is_empty() { run.id.clone() } else { run.label.clone() };
        let prefix = format!("run {}/{} {label}", index + 1, plan.runs.len());
        if let Some(bar) = &sweep {
            bar.set_message(format!("run {}/{}", index + 1, plan.runs.len()));
        }
        let result = run_one(run, &prefix, opts, &multi, sweep.clone().map(|b| (b, before)))?;
        let steps = run.params.learn.steps as u64;
        match &sweep {
            // A run finished before takes no time now: its steps leave the estimate.
            Some(bar) if result.status == "skipped" => bar.set_length(bar.length().unwrap_or(0).saturating_sub(steps)),
            _ => before += steps,
        }
        if !opts.quiet {
            multi.suspend(|| eprintln!("{prefix}: {}", summary(&result)));
        }
        let preempted = result.status == PREEMPTED;
        results.runs.push(result);
        if preempted {
            break;
        }
    }
    if let Some(bar) = sweep {
        bar.finish_and_clear();
    }
    // results.json (every run's parameters and figures), the grouped report.md, report.html and the charts; with
    // one run of several, or after a stop, `thinktok report` writes them from the folders.
    if results.runs.len() == plan.runs.len() {
        report::write(plan, &results, &opts.out)?;
    }
    Ok(results)
}

fn summary(result: &RunResult) -> String {
    match &result.eval {
        Some(eval) => format!("{} after {} steps; {}", result.status, result.steps, describe(eval)),
        None => format!("{} after {} steps", result.status, result.steps),
    }
}

/// One run: skip it, continue it, or train it from the start.
fn run_one(
    run: &RunPlan,
    prefix: &str,
    opts: &RunOptions,
    multi: &MultiProgress,
    sweep: Option<(ProgressBar, u64)>,
) -> anyhow::Result<RunResult> {
    let dir = opts.out.join(&run.id);
    let mut result = RunResult {
        id: run.id.clone(),
        label: run.label.clone(),
        status: "finished".into(),
        steps: 0,
        eval: None,
        wall_s: 0.0,
    };
    if opts.force {
        clear_run(&dir)?;
    }
    if let Some(final_dir) = checkpoint::resolve(&dir.join("final")) {
        let (_, meta) = checkpoint::read_meta(&final_dir)?;
        if meta.finished {
            result.status = "skipped".into();
            result.steps = meta.step;
            result.eval = meta.eval;
            return Ok(result);
        }
    }
    let resume_from = checkpoint::resolve(&dir.join("checkpoint"));
    if let (Some(found), false) = (&resume_from, opts.resume) {
        let (_, meta) = checkpoint::read_meta(found)?;
        return Err(invalid(format!(
            "run `{}` in `{}` stopped at step {}; pass `--resume` to continue it or `--force` to start it again",
            run.id,
            opts.out.display(),
            meta.step
        )));
    }
    std::fs::create_dir_all(&dir)?;
    // One process per run folder, from here until this function returns.
    let _lock = lock::acquire(&dir, &run.id)?;
    let _ = std::fs::remove_file(dir.join(ERROR_FILE));
    write_atomic(&dir.join("plan.ron"), &to_ron(run)?)?;
    // A device this build cannot open is the user's to fix (rebuild, or another `--device`).
    let device = device(opts.device.unwrap_or(run.params.device)).map_err(|e| invalid(format!("{e:#}")))?;
    let progress = progress_bar(multi, run.params.learn.steps, prefix.to_string(), opts.quiet);
    // A resumed run's wall time includes the invocations before it (saved when each stopped), so the report's
    // `wall (s)` is the run's, not the last invocation's.
    let before = match resume_from {
        Some(_) => read_wall(&dir).unwrap_or(0.0),
        None => 0.0,
    };
    let started = Instant::now();
    let outcome = train_run(
        run,
        &dir,
        &device,
        TrainOptions {
            resume_from: resume_from.as_deref(),
            stop_after: opts.stop_after,
            progress: progress.clone(),
            sweep,
            verbose: !opts.quiet,
        },
    );
    progress.finish_and_clear();
    result.wall_s = before + started.elapsed().as_secs_f64();
    let outcome = outcome.inspect_err(|err| {
        // `thinktok status` shows it; the next attempt removes it.
        let _ = write_atomic(&dir.join(ERROR_FILE), format!("{err:#}\n"));
    });
    match outcome? {
        Outcome::Finished { eval, steps } => {
            result.steps = steps;
            result.eval = Some(eval);
            // Kept with the run, so a report built later (`thinktok report`, array tasks) still has it.
            write_atomic(&dir.join(WALL_FILE), format!("{}", result.wall_s))?;
        }
        Outcome::Stopped { step } => {
            result.status = if crate::engine::stop::requested() { PREEMPTED } else { "stopped" }.into();
            result.steps = step;
            write_atomic(&dir.join(WALL_FILE), format!("{}", result.wall_s))?;
        }
    }
    Ok(result)
}

/// The wall time saved in a run folder (seconds), if any.
pub(crate) fn read_wall(dir: &Path) -> Option<f64> {
    std::fs::read_to_string(dir.join(WALL_FILE)).ok()?.trim().parse().ok()
}
