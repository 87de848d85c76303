//! `thinktok submit SPEC|PLAN --out DIR`: the plan as a Slurm job array (one task per unfinished run) and a
//! dependent report job; `--dry-run` prints the scripts and submits nothing. See [`crate::cluster`].

use std::process::{Command, ExitCode};

use crate::cluster::{array_script, parse_job_id, report_script, SlurmOptions};
use crate::engine::error::invalid;
use crate::engine::files::write_atomic;
use crate::engine::learn::checkpoint;
use crate::engine::run::check_out_folder;
use crate::engine::run::status::SlurmJobs;

pub fn run(args: &super::SubmitArgs) -> anyhow::Result<ExitCode> {
    match submit(args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(err) => super::run::fail(err),
    }
}

fn submit(args: &super::SubmitArgs) -> anyhow::Result<()> {
    let plan = super::run::load(Some(&args.input), &args.set)?;
    check_out_folder(&plan, &args.out)?;
    let dir = if args.out.is_absolute() { args.out.clone() } else { std::env::current_dir()?.join(&args.out) };
    let unfinished: Vec<usize> = plan
        .runs
        .iter()
        .enumerate()
        .filter(|(_, run)| {
            let done = checkpoint::resolve(&dir.join(&run.id).join("final"))
                .and_then(|d| checkpoint::read_meta(&d).ok())
                .is_some_and(|(_, m)| m.finished);
            !done
        })
        .map(|(i, _)| i)
        .collect();
    let opts = SlurmOptions {
        partition: args.partition.clone(),
        time: args.time.clone(),
        gpus_per_run: args.gpus_per_run,
        cpus_per_run: args.cpus_per_run,
        throttle: args.throttle,
        extra: args.sbatch_arg.clone(),
    };
    let thinktok = std::env::current_exe()?;
    let array = array_script(&thinktok, &dir, &plan.experiment, &unfinished, &opts);
    let report = report_script(&thinktok, &dir, &plan.experiment, &opts);
    let (array_path, report_path) = (dir.join("slurm").join("array.sh"), dir.join("slurm").join("report.sh"));
    if args.dry_run {
        println!("# {} ({} of {} runs unfinished)\n{array}", array_path.display(), unfinished.len(), plan.runs.len());
        println!("# {}\n{report}", report_path.display());
        println!(
            "# would run: sbatch --parsable {0}; sbatch --parsable --dependency=afterany:<array job> {1}",
            array_path.display(),
            report_path.display()
        );
        return Ok(());
    }
    if unfinished.is_empty() {
        eprintln!("every run of `{}` in `{}` has finished: nothing to submit", plan.experiment, dir.display());
        return Ok(());
    }
    std::fs::create_dir_all(dir.join("slurm"))?;
    write_atomic(&dir.join("plan.ron"), crate::plan_to_ron(&plan)?)?;
    write_atomic(&array_path, &array)?;
    write_atomic(&report_path, &report)?;
    let array_job = sbatch(&[array_path.display().to_string()])?;
    let report_job = sbatch(&[format!("--dependency=afterany:{array_job}"), report_path.display().to_string()])?;
    let jobs = SlurmJobs {
        array_job: array_job.clone(),
        report_job: report_job.clone(),
        tasks: unfinished.iter().map(|&i| (i, plan.runs[i].id.clone())).collect(),
    };
    write_atomic(&dir.join("slurm").join("jobs.json"), serde_json::to_string_pretty(&jobs)?)?;
    println!(
        "submitted `{}`: array job {array_job} ({} task(s)), report job {report_job}",
        plan.experiment,
        unfinished.len()
    );
    println!("follow it with: thinktok status {}", dir.display());
    Ok(())
}

/// `sbatch --parsable ARGS`: the job id.
fn sbatch(args: &[String]) -> anyhow::Result<String> {
    let out = Command::new("sbatch").arg("--parsable").args(args).output().map_err(|e| {
        invalid(format!(
            "cannot run `sbatch` ({e}): submit needs Slurm's commands on PATH (`--dry-run` prints the scripts)"
        ))
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match (out.status.success(), parse_job_id(&stdout)) {
        (true, Some(id)) => Ok(id),
        _ => Err(invalid(format!(
            "`sbatch {}` failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim(),
            stdout.trim()
        ))),
    }
}
