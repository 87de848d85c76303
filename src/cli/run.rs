//! `thinktok run [SPEC|PLAN]`: run every run of a plan (the built-in default spec without one) and print the results.

use std::path::Path;
use std::process::ExitCode;

use crate::engine::device::parse_device;
use crate::engine::error::{invalid, is_invalid_input};
use crate::engine::run::{run_plan, table, RunOptions, PREEMPTED};
use crate::engine::stop::EXIT_PREEMPTED;
use crate::plan::Plan;

/// The plan to run: the default spec, a spec file, or a plan file. Diagnostics are rendered here.
pub(super) fn load(input: Option<&Path>, set: &[String]) -> anyhow::Result<Plan> {
    let compiled = match input {
        None => crate::compile_str_with("<default spec>", crate::DEFAULT_SPEC, set),
        Some(path) if path.extension().is_some_and(|e| e == "think") => crate::compile_file_with(path, set),
        Some(path) if !set.is_empty() => return Err(super::set_on_plan_file(path)),
        Some(path) => return crate::load_plan(path).map_err(|e| invalid(format!("{e:#}"))),
    };
    compiled.map_err(|diags| invalid(diags.render(super::check::stderr_color()).trim_end().to_string()))
}

/// Print `err` and give its exit code: 1 for invalid input, 3 for a runtime failure.
pub(super) fn fail(err: anyhow::Error) -> anyhow::Result<ExitCode> {
    if is_invalid_input(&err) {
        eprintln!("error: {err:#}");
        Ok(ExitCode::from(super::EXIT_INVALID))
    } else {
        Err(err)
    }
}

pub fn run(args: &super::RunArgs) -> anyhow::Result<ExitCode> {
    let outcome = (|| {
        let plan = load(args.input.as_deref(), &args.set)?;
        let device = args.device.as_deref().map(parse_device).transpose().map_err(|e| invalid(format!("{e:#}")))?;
        let opts = RunOptions {
            out: args.out.clone(),
            device,
            resume: args.resume,
            force: args.force,
            stop_after: args.stop_after,
            quiet: args.quiet,
            only: args.run.clone(),
        };
        // SIGTERM (Slurm, before a preemption) and Ctrl-C stop a run at the end of its step, with a checkpoint.
        crate::engine::stop::install_handlers();
        if !args.quiet && args.run.is_none() {
            eprintln!(
                "running `{}`: {} run{} into `{}`",
                plan.experiment,
                plan.runs.len(),
                if plan.runs.len() == 1 { "" } else { "s" },
                args.out.display()
            );
        }
        // Said even with `--quiet`: hours may go into runs that compute the same thing.
        for w in crate::check::redundant::warnings(&plan).into_iter().chain(crate::check::memorise::warnings(&plan)) {
            eprintln!("warning: {w}");
        }
        run_plan(&plan, &opts)
    })();
    match outcome {
        Ok(results) if results.runs.iter().any(|r| r.status == PREEMPTED) => {
            println!("{}", table(&results));
            eprintln!(
                "stopped by a signal with a checkpoint written: `thinktok run … --resume` continues (exit code {})",
                EXIT_PREEMPTED
            );
            Ok(ExitCode::from(EXIT_PREEMPTED))
        }
        Ok(results) => {
            println!("{}", table(&results));
            if args.run.is_none() {
                println!("results: {}", args.out.join("results.json").display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => fail(err),
    }
}
