//! `thinktok status OUT`: each run finished / running / failed / stopped / not started; exit code 0 when every run
//! has finished, 10 otherwise.

use std::process::ExitCode;

use crate::engine::error::invalid;
use crate::engine::run::status::{slurm_jobs, status, State};

/// Exit code of `status` when not every run has finished.
pub const EXIT_UNFINISHED: u8 = 10;

pub fn run(args: &super::StatusArgs) -> anyhow::Result<ExitCode> {
    let outcome = (|| {
        let path = args.out.join("plan.ron");
        if !path.is_file() {
            return Err(invalid(format!("`{}` is not an output folder (it has no `plan.ron`)", args.out.display())));
        }
        let plan = crate::load_plan(&path).map_err(|e| invalid(format!("{e:#}")))?;
        Ok((plan.experiment.clone(), status(&plan, &args.out)))
    })();
    let (experiment, runs) = match outcome {
        Ok(done) => done,
        Err(err) => return super::run::fail(err),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    println!("`{experiment}` in `{}`: {} run(s)", args.out.display(), runs.len());
    if let Some(jobs) = slurm_jobs(&args.out) {
        println!("slurm: array job {} ({} task(s)), report job {}", jobs.array_job, jobs.tasks.len(), jobs.report_job);
    }
    let mut finished = 0;
    for r in &runs {
        let what = match &r.state {
            State::Finished => {
                finished += 1;
                "finished".to_string()
            }
            State::Running { host, pid, since } => format!(
                "running on {host} (pid {pid}) for {} s, step {}/{}",
                now.saturating_sub(*since),
                r.step,
                r.steps
            ),
            State::Failed { error } => format!("failed at step {}/{}: {error}", r.step, r.steps),
            State::Stopped => format!("stopped at step {}/{} (`run --resume` continues it)", r.step, r.steps),
            State::NotStarted => "not started".to_string(),
        };
        let label = if r.label.is_empty() { String::new() } else { format!("  {}", r.label) };
        println!("{}  {what}{label}", r.id);
    }
    println!("{finished} of {} finished", runs.len());
    Ok(if finished == runs.len() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_UNFINISHED) })
}
